"""``repro paper add``: fetch a paper's metadata from the arXiv API, cache its text, create ``paper.yaml``.

The only module that imports ``arxiv`` (and the only one that goes on the network, docs/design.md §7).
The client is polite (reference/anchors.md §4.4): one request at a time with ``delay_s`` between them,
and retries with exponential backoff on HTTP 429/5xx, connection failures, empty pages and malformed
XML (the arXiv API produces all of these under load). The arxiv package's own retries are switched
off so that every retry here waits for its backoff; its query URL is pointed at ``base_url`` (the
tests replay recorded Atom responses from 127.0.0.1).

Full text comes from the PDF (``<base_url>/pdf/<id><version>``), extracted with pypdf; when the PDF
cannot be had (or every download of it broke off), the abstract alone is cached and the record says so. Nothing
is written before everything is fetched, and then through :mod:`repro.paper_cache`, which writes a version's folder
whole or not at all.
"""

from __future__ import annotations

import http.client
import io
import re
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import arxiv
import yaml
from pypdf.errors import PyPdfError

from repro import __version__
from repro.files import write_text
from repro.paper_cache import PAPERS_DIR, CachedText, PaperRecord, cached_versions, read_record, write_version

DEFAULT_BASE_URL = "https://export.arxiv.org"
USER_AGENT = f"repro/{__version__} (claim verification; https://github.com/lukasschwab/arxiv.py client)"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
ARXIV_REF = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5})(v\d+)?$", re.IGNORECASE)


class PaperError(RuntimeError):
    """A paper could not be fetched or cached; the message says which paper, from where, and why."""


@dataclass(frozen=True)
class ClientSettings:
    base_url: str = DEFAULT_BASE_URL
    delay_s: float = 3.0
    """Seconds between any two requests (arXiv asks for at most one every three seconds)."""
    retries: int = 3
    backoff_s: float = 3.0
    """First retry waits this long, each further retry twice as long as the previous one."""
    timeout_s: float = 60.0
    """Socket timeout for PDF downloads (the arxiv client sets none of its own)."""


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``2405.14953v5`` -> ("2405.14953", "v5"); ``2405.14953`` -> ("2405.14953", None)."""
    match = ARXIV_REF.match(ref.strip())
    if not match:
        raise PaperError(f"{ref!r} is not a new-style arXiv id (expected e.g. 2405.14953 or 2405.14953v5)")
    return match.group(1), match.group(2)


class PoliteFetcher:
    """Fetches metadata and PDFs one request at a time, with delays and backoff."""

    def __init__(self, settings: ClientSettings, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self.sleep = sleep
        self.client = arxiv.Client(page_size=1, delay_seconds=settings.delay_s, num_retries=0)
        self.client.query_url_format = settings.base_url.rstrip("/") + "/api/query?{}"
        self._last_body: bytes = b""
        self._last_request = 0.0
        self.client._session.hooks["response"].append(self._remember)  # raw body, to diagnose empty feeds

    def _remember(self, response, *args, **kwargs) -> None:
        self._last_body = response.content

    def _wait_turn(self) -> None:
        wait = self._last_request + self.settings.delay_s - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last_request = time.monotonic()

    def _retrying(self, what: str, attempt_once: Callable[[], object]):
        """Run ``attempt_once`` until it returns; retry ``_Retry`` with backoff, up to ``retries`` times."""
        reasons = []
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self.sleep(self.settings.backoff_s * 2 ** (attempt - 1))
            try:
                return attempt_once()
            except _Retry as exc:
                reasons.append(str(exc))
        tries = self.settings.retries + 1
        raise PaperError(f"{what}: gave up after {tries} tries ({'; '.join(reasons)})")

    def fetch_metadata(self, arxiv_id: str, version: str | None) -> arxiv.Result:
        ref = arxiv_id + (version or "")
        search = arxiv.Search(id_list=[ref], max_results=1)
        url = f"{self.settings.base_url}/api/query?id_list={ref}"

        def once() -> arxiv.Result:
            self._wait_turn()
            self._last_body = b""
            try:
                results = list(self.client.results(search))
            except arxiv.HTTPError as exc:
                if exc.status in RETRY_STATUS:
                    raise _Retry(f"HTTP {exc.status}") from None
                raise PaperError(f"arXiv API answered HTTP {exc.status} for {ref} ({url})") from None
            except OSError as exc:  # requests' ConnectionError and timeouts are OSErrors
                raise _Retry(f"cannot connect to {self.settings.base_url} ({type(exc).__name__})") from None
            try:  # the arxiv parser recovers from broken XML; a truncated feed must not pass as a paper
                root = ET.fromstring(self._last_body)
            except ET.ParseError as exc:
                raise _Retry(f"malformed XML from the API ({exc})") from None
            if results:
                return results[0]
            total = root.findtext("{http://a9.com/-/spec/opensearch/1.1/}totalResults")
            if total is None:
                raise _Retry("the response is not an arXiv Atom feed (no opensearch:totalResults)")
            raise _Retry(f"empty page (totalResults {total.strip()})")

        try:
            result = self._retrying(f"arXiv metadata of {ref} from {self.settings.base_url}", once)
        except PaperError as exc:
            message = str(exc)
            if "cannot connect" in message:
                message += "; are you offline? `repro paper add --offline` works from the cache alone"
            elif "empty page" in message:
                message = f"arXiv has no paper {ref}: {message}"
            raise PaperError(message) from None
        if "/api/errors" in result.entry_id:
            raise PaperError(f"arXiv API rejected {ref}: {result.summary.strip()}")
        got_id, got_version = parse_ref(result.get_short_id())
        if got_id != arxiv_id or got_version is None or (version and got_version != version):
            raise PaperError(f"asked arXiv for {ref}, got {result.get_short_id()}")
        return result

    def fetch_pdf(self, url: str) -> bytes:
        def once() -> bytes:
            self._wait_turn()
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            try:
                with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                    data = response.read()
            except urllib.error.HTTPError as exc:
                if exc.code in RETRY_STATUS:
                    raise _Retry(f"HTTP {exc.code}") from None
                raise PaperError(f"{url}: HTTP {exc.code}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                raise _Retry(f"cannot fetch ({exc})") from None
            except http.client.IncompleteRead as exc:  # the connection dropped mid-download
                got = len(exc.partial)
                raise _Retry(f"the download broke off after {got} of {got + (exc.expected or 0)} bytes") from None
            except http.client.HTTPException as exc:
                raise _Retry(f"broken HTTP response ({type(exc).__name__}: {exc})") from None
            if not data.startswith(b"%PDF"):
                raise _Retry("the response is not a PDF")
            if data.rfind(b"%%EOF") < 0:  # cut off without a Content-Length to tell: a PDF ends with %%EOF
                raise _Retry(f"the PDF is cut off after {len(data)} bytes (no %%EOF marker)")
            return data

        return self._retrying(f"PDF {url}", once)


class _Retry(Exception):
    """A failure worth retrying (rate limit, server error, connection, empty or malformed page)."""


def pdf_text(data: bytes) -> str:
    """Text of a PDF, pages separated by form feeds, words split across lines re-joined."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    pages = [page.extract_text() or "" for page in reader.pages]
    text = "\n\f\n".join(pages)
    return re.sub(r"(\w)-\n(\w)", r"\1\2", text)


def _pdf_url(base_url: str, versioned_id: str) -> str:
    return f"{base_url.rstrip('/')}/pdf/{versioned_id}"


def add_paper(
    ref: str,
    claims_dir: Path,
    papers_dir: Path = PAPERS_DIR,
    settings: ClientSettings | None = None,
    offline: bool = False,
    fulltext: bool = True,
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> PaperRecord:
    """Fetch (or, offline, read from the cache) one paper version and make sure ``paper.yaml`` lists it."""
    arxiv_id, version = parse_ref(ref)
    if offline:
        record = _from_cache(arxiv_id, version, papers_dir)
        log(f"{record.versioned_id}: from the cache ({papers_dir / arxiv_id / record.version})")
    else:
        settings = settings or ClientSettings()
        fetcher = PoliteFetcher(settings, sleep=sleep)
        result = fetcher.fetch_metadata(arxiv_id, version)
        _, version = parse_ref(result.get_short_id())
        abstract = " ".join(result.summary.split()) + "\n"
        query = f"{settings.base_url}/api/query?id_list={arxiv_id}{version}"
        api_note = f"arXiv API ({query}) via arxiv.py {arxiv.__version__}"
        texts = {"abstract.txt": abstract}
        entries = [CachedText(file="abstract.txt", kind="abstract", complete=True, source=api_note)]
        pdf_note = "not requested (--no-fulltext)"
        if fulltext:
            url = _pdf_url(settings.base_url, f"{arxiv_id}{version}")
            try:
                text = pdf_text(fetcher.fetch_pdf(url))
            except (PaperError, PyPdfError) as exc:  # a PDF we cannot have or read leaves the abstract usable
                pdf_note = f"unavailable: {exc}"
                log(f"{arxiv_id}{version}: no full text ({exc}); caching the abstract only")
            else:
                if len(text.split()) < 200:
                    pdf_note = f"unavailable: the PDF at {url} yields only {len(text.split())} words of text"
                    log(f"{arxiv_id}{version}: {pdf_note}; caching the abstract only")
                else:
                    texts["fulltext.txt"] = text
                    pdf_note = f"{url}, text extracted with pypdf (pages separated by form feeds, hyphenation joined)"
                    entries.append(
                        CachedText(
                            file="fulltext.txt",
                            kind="fulltext",
                            complete=True,
                            source=url,
                            note="extracted with pypdf; tables and equations may be garbled",
                        )
                    )
        fetched = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = PaperRecord(
            arxiv_id=arxiv_id,
            version=version,
            title=result.title,
            authors=[a.name for a in result.authors],
            published=result.published.isoformat(),
            updated=result.updated.isoformat(),
            primary_category=result.primary_category or None,
            categories=list(result.categories),
            links={(link.title or link.rel or "link"): link.href for link in result.links},
            doi=result.doi,
            journal_ref=result.journal_ref,
            comment=result.comment,
            metadata_source=f"{api_note}, fetched {fetched}",
            texts=entries,
        )
        note = (
            f"# {arxiv_id}{version}: {record.title}\n\n"
            f"Written by `repro paper add` (repro {__version__}) on {fetched}.\n\n"
            f"- metadata.json, abstract.txt: {api_note}\n"
            f"- fulltext.txt: {pdf_note}\n"
        )
        write_version(record, texts, note, papers_dir)
        log(f"{record.versioned_id}: cached under {papers_dir / arxiv_id / version} ({', '.join(texts)})")
    ensure_paper_yaml(record, claims_dir, log)
    return record


def _from_cache(arxiv_id: str, version: str | None, papers_dir: Path) -> PaperRecord:
    versions = cached_versions(arxiv_id, papers_dir)
    if not versions or (version and version not in versions):
        want = arxiv_id + (version or "")
        have = f" (cached: {', '.join(versions)})" if versions else ""
        raise PaperError(
            f"{want} is not in the cache {papers_dir / arxiv_id}{have}; run `repro paper add {want}` with network"
        )
    return read_record(arxiv_id, version or versions[-1], papers_dir)


_FLOW_VERSIONS = re.compile(r"^versions:\s*\[([^\]\n]*)\]\s*$", re.MULTILINE)


def ensure_paper_yaml(record: PaperRecord, claims_dir: Path, log: Callable[[str], None] = print) -> Path:
    """Create ``claims/<id>/paper.yaml``, or add the version to an existing one (keeping its comments)."""
    path = Path(claims_dir) / record.arxiv_id / "paper.yaml"
    if not path.is_file():
        data = {
            "arxiv_id": record.arxiv_id,
            "versions": [record.version],
            "title": record.title,
            "authors": record.authors,
            "notes": f"Created by `repro paper add`; text cached under papers/{record.arxiv_id}/{record.version}/.",
        }
        write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))
        log(f"created {path}")
        return path
    text = path.read_text(encoding="utf-8")
    listed = yaml.safe_load(text).get("versions") or []
    if record.version in listed:
        return path
    match = _FLOW_VERSIONS.search(text)
    if match is None:
        raise PaperError(f"{path}: add {record.version} to versions by hand (not a one-line [..] list)")
    versions = sorted({*listed, record.version}, key=lambda v: int(v[1:]))
    write_text(path, text[: match.start()] + f"versions: [{', '.join(versions)}]" + text[match.end() :])
    log(f"{path}: added version {record.version}")
    return path
