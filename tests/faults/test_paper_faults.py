"""Faults in the paper cache (issue 15).

- ``repro paper add`` interrupted mid-download (the connection cut off, Ctrl-C, SIGKILL) or mid-write (Ctrl-C,
  SIGKILL): no half-written entry is left that a later call or the workflow could take for a complete one, and the
  next call completes, leaving the cache an uninterrupted call leaves.
- Hostile cached text (huge, binary, not UTF-8): the textual claim grounded in it is ``error`` with a reason naming the
  file and what is wrong with it; the workflow runs to its end and the other claims are unaffected.

Everything is served by the local replay server (tests/arxiv_replay.py); nothing goes on the network.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from repro.cli import main
from repro.cli.common import load_one
from repro.paper_cache import MAX_TEXT_BYTES, CachedText, PaperRecord, cached_versions, write_version
from repro.papers import add_paper
from repro.plan import plan_claim
from repro.verdict import decide_claim

from ..arxiv_replay import ReplayServer
from ..conftest import snakemake, verdict_table
from ..test_papers import PDF, REF, fast

pytestmark = pytest.mark.workflow

VERSIONED = f"{REF}v2"
FETCHED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class CuttingServer(ReplayServer):
    """The replay server, with its PDF answers scripted by ``pdf_plan`` (played in order, the last one repeats):
    ``whole`` sends the PDF; ``cut`` announces the whole PDF (Content-Length), sends half of it and hangs up;
    ``cut-unannounced`` sends half with no Content-Length (the client cannot tell the end from a hang-up);
    ``stall`` sends half, sets ``midway`` and waits for ``release`` before hanging up."""

    def __init__(self, pdf_plan: list[str]):
        super().__init__({REF: [(200, "2401.00001v2.atom")]}, {VERSIONED: PDF})
        self.pdf_plan = list(pdf_plan)
        self.midway = threading.Event()
        self.release = threading.Event()
        server = self

        class Handler(self.httpd.RequestHandlerClass):
            def _send(self, status: int, body: bytes, content_type: str) -> None:
                if content_type != "application/pdf":
                    return super()._send(status, body, content_type)
                plan = server.pdf_plan
                how = plan.pop(0) if len(plan) > 1 else plan[0]
                if how == "whole":
                    return super()._send(status, body, content_type)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if how != "cut-unannounced":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if how == "stall":
                    server.midway.set()
                    server.release.wait(60)
                self.close_connection = True

        self.httpd.RequestHandlerClass = Handler

    def pdf_requests(self) -> int:
        return sum(1 for _, path, _ in self.requests if path == "/pdf")

    def __exit__(self, *exc) -> None:
        self.release.set()
        super().__exit__(*exc)


def cache_snapshot(papers: Path, base_url: str, hidden: bool = True) -> dict[str, str]:
    """Every file under the cache (hidden leftovers too, unless ``hidden`` is False) with its text, the server's
    address and the fetch times blanked: what must equal an uninterrupted call's cache."""
    out = {}
    for path in sorted(Path(papers).rglob("*")):
        rel = path.relative_to(papers)
        if path.is_file() and (hidden or not any(part.startswith(".") for part in rel.parts)):
            text = path.read_text(encoding="utf-8").replace(base_url, "<server>")
            out[str(rel)] = FETCHED_AT.sub("<time>", text)
    return out


def paper_add_cli(server: ReplayServer, tmp_path: Path, *extra: str) -> list[str]:
    claims, papers = tmp_path / "claims", tmp_path / "papers"
    args = ["paper", "add", REF, "--claims", str(claims), "--papers", str(papers), "--base-url", server.base_url]
    return [*args, "--delay", "0.02", "--backoff", "0.02", *extra]


def quiet_add(server: ReplayServer, tmp_path: Path, **kwargs):
    return add_paper(REF, tmp_path / "claims", tmp_path / "papers", fast(server), log=lambda _: None, **kwargs)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, str]:
    """The cache one uninterrupted ``repro paper add`` leaves."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    with CuttingServer(["whole"]) as server:
        assert main(paper_add_cli(server, folder)) == 0
        found = cache_snapshot(folder / "papers", server.base_url)
    assert set(found) == {f"{REF}/v2/{name}" for name in ("metadata.json", "abstract.txt", "fulltext.txt", "SOURCE.md")}
    return found


# ------------------------------------------------------------------ interrupted downloads


@pytest.mark.parametrize(
    ("cut", "reason"),
    [("cut", "the download broke off after {half} of {whole} bytes"), ("cut-unannounced", "is cut off after {half}")],
)
def test_cut_off_pdf_download_is_retried_never_cached_as_text_and_the_next_call_completes(
    tmp_path, uninterrupted, cut, reason
):
    """The connection drops halfway through the PDF: the download is retried; when every try is cut off, the abstract
    is cached and SOURCE.md says why, and the next call caches the full text."""
    with CuttingServer([cut]) as server:
        assert main(paper_add_cli(server, tmp_path, "--retries", "1")) == 0
        assert server.pdf_requests() == 2
        folder = tmp_path / "papers" / REF / "v2"
        meta = json.loads((folder / "metadata.json").read_text())
        assert [t["file"] for t in meta["texts"]] == ["abstract.txt"]
        assert not (folder / "fulltext.txt").exists()
        assert reason.format(half=len(PDF) // 2, whole=len(PDF)) in (folder / "SOURCE.md").read_text()

        server.pdf_plan = [cut, "whole"]
        assert main(paper_add_cli(server, tmp_path)) == 0
        assert server.pdf_requests() == 4  # one cut off, retried, whole
        assert cache_snapshot(tmp_path / "papers", server.base_url) == uninterrupted


def _start_cli(argv: list[str], patch: str = "") -> subprocess.Popen:
    """``repro`` with ``argv`` in a child process that takes Ctrl-C as a terminal's foreground process does (a test run
    started in the background by a shell inherits SIGINT ignored, and so would its child)."""
    code = (
        "import os, signal, sys\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"{patch}\nfrom repro.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_paper_add_killed_mid_download_leaves_nothing_and_the_next_call_completes(tmp_path, uninterrupted, sig):
    with CuttingServer(["stall", "whole"]) as server:
        proc = _start_cli(paper_add_cli(server, tmp_path))
        if not server.midway.wait(60):
            proc.kill()
            pytest.fail(f"the PDF download never started: {proc.communicate()}")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        server.release.set()
        if sig == signal.SIGINT:  # Ctrl-C: a clean message and the shell's status for it, no traceback
            assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
        else:
            assert proc.returncode == -signal.SIGKILL
        assert cache_snapshot(tmp_path / "papers", server.base_url) == {}  # not even a hidden temporary file
        assert not (tmp_path / "claims").exists()

        quiet_add(server, tmp_path)
        assert cache_snapshot(tmp_path / "papers", server.base_url) == uninterrupted


_INTERRUPT_WRITE = (
    "import repro.paper_cache as cache\ndef stop(*args, **kwargs):\n    {action}\ncache.write_json = stop\n"
)
"""Patched into ``repro paper add``: metadata.json, the last file of an entry, is never written: the process is
interrupted (Ctrl-C) or killed (SIGKILL) after the entry's texts and SOURCE.md have been written."""


@pytest.mark.parametrize("before", ["none", "abstract-only"], ids=["new-entry", "over-an-entry"])
@pytest.mark.parametrize(
    "action",
    ["raise KeyboardInterrupt", "os.kill(os.getpid(), signal.SIGKILL)"],
    ids=["ctrl-c", "sigkill"],
)
def test_paper_add_interrupted_mid_write_keeps_the_previous_entry_whole(tmp_path, uninterrupted, before, action):
    """Killed while writing the entry: the version folder is the previous entry or none at all, never a mix (here:
    new texts beside an old metadata.json, or texts with no metadata.json), and the next call completes."""
    papers = tmp_path / "papers"
    with CuttingServer(["whole"]) as server:
        if before == "abstract-only":
            quiet_add(server, tmp_path, fulltext=False)
        previous = cache_snapshot(papers, server.base_url)
        proc = _start_cli(paper_add_cli(server, tmp_path), patch=_INTERRUPT_WRITE.format(action=action))
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (130, -signal.SIGKILL), err
        assert cache_snapshot(papers, server.base_url, hidden=False) == previous
        assert cached_versions(REF, papers) == (["v2"] if previous else [])
        if "KeyboardInterrupt" in action:  # interrupted, not killed: it also cleans up after itself
            assert cache_snapshot(papers, server.base_url) == previous

        quiet_add(server, tmp_path)  # the next call completes, and clears what a killed one left behind
        assert cache_snapshot(papers, server.base_url) == uninterrupted


def test_paper_add_interrupted_between_the_renames_puts_the_previous_entry_back(tmp_path, monkeypatch, uninterrupted):
    """Ctrl-C after the previous entry was moved aside, before the new one took its place: the previous one is put
    back, and nothing else is left."""
    papers = tmp_path / "papers"
    with CuttingServer(["whole"]) as server:
        quiet_add(server, tmp_path, fulltext=False)
        previous = cache_snapshot(papers, server.base_url)
        rename, calls = os.rename, []

        def interrupted_rename(src, dst):
            calls.append((Path(src).name, Path(dst).name))
            if len(calls) == 2:  # the staged entry into the version folder's place
                raise KeyboardInterrupt
            rename(src, dst)

        monkeypatch.setattr(os, "rename", interrupted_rename)
        with pytest.raises(KeyboardInterrupt):
            quiet_add(server, tmp_path)
        monkeypatch.undo()
        assert calls[0][0] == calls[1][1] == "v2"  # interrupted with the previous entry moved aside
        assert cache_snapshot(papers, server.base_url) == previous

        quiet_add(server, tmp_path)
        assert cache_snapshot(papers, server.base_url) == uninterrupted


# ------------------------------------------------------------------ hostile cached text

ABSTRACT = "We study how to spend a sampling budget across prompts.\n"
FULLTEXT = "1 Introduction\nSampling budgets matter. Our budgeter allocates rollouts to hard prompts.\n"
QUOTE = "Our budgeter allocates rollouts to hard prompts."
HUGE = 24 << 20
HOSTILE = {
    # case: (fulltext.txt's bytes, what the reason must say)
    "huge": ((FULLTEXT + "Padding that says nothing at all. " * (HUGE // 34)).encode(), "MiB"),
    "binary": (bytes(range(128)) * 4096, "NUL byte"),  # valid UTF-8, but not text
    "not-utf8": (("Caf\xe9 culture. " + FULLTEXT).encode("latin-1"), "not UTF-8"),
}


def _textual_paper(root: Path, number: int, fulltext: bytes | None) -> str:
    """Claims folder and cache of a fictional paper with one textual claim, quoted from its full text; ``fulltext``
    overwrites the cached full text. Returns the claim's id."""
    arxiv_id, claim = f"0000.{number:05d}", f"quote-{number}"
    folder = root / "claims" / arxiv_id
    folder.mkdir(parents=True)
    (folder / "paper.yaml").write_text(f'arxiv_id: "{arxiv_id}"\nversions: [v1]\ntitle: A paper\nauthors: [Someone]\n')
    (folder / f"{claim}.yaml").write_text(
        f'id: {claim}\npaper: {{arxiv: {arxiv_id}v1, locator: "Section 1"}}\nstatement: The budgeter allocates.\n'
        f'quote: "{QUOTE}"\nkind: textual\n'
    )
    texts = [
        CachedText(file="abstract.txt", kind="abstract", complete=True, source="test"),
        CachedText(file="fulltext.txt", kind="fulltext", complete=True, source="test"),
    ]
    record = PaperRecord(
        arxiv_id=arxiv_id, version="v1", title="A paper", authors=["Someone"], metadata_source="test", texts=texts
    )
    cached = write_version(record, {"abstract.txt": ABSTRACT, "fulltext.txt": FULLTEXT}, "test", root / "papers")
    if fulltext is not None:
        (cached / "fulltext.txt").write_bytes(fulltext)
    return claim


@pytest.mark.parametrize("case", [None, *HOSTILE], ids=["intact", *HOSTILE])
def test_hostile_cached_text_makes_the_claim_an_error_naming_file_and_reason(tmp_path, case):
    assert HUGE > MAX_TEXT_BYTES
    fulltext, named = HOSTILE[case] if case else (None, None)
    claim = _textual_paper(tmp_path, 1, fulltext)
    plan = plan_claim(load_one(tmp_path / "claims" / "0000.00001" / f"{claim}.yaml"), "ci")
    verdict = decide_claim(plan, tmp_path, tmp_path / "papers")
    if case is None:
        assert verdict.verdict == "verified", verdict.reason
        return
    assert verdict.verdict == "error", verdict.reason
    assert str(tmp_path / "papers/0000.00001/v1/fulltext.txt") in verdict.reason and named in verdict.reason


def test_workflow_runs_to_the_end_with_hostile_cached_texts(tmp_path):
    """One paper per hostile text and one intact: the hostile ones' claims are errors naming the file, the intact
    one is verified, and Snakemake finishes."""
    claims = {case: _textual_paper(tmp_path, n, HOSTILE[case][0]) for n, case in enumerate(HOSTILE, start=2)}
    intact = _textual_paper(tmp_path, 1, None)
    snakemake(tmp_path, claims=tmp_path / "claims", config={"job_server": "False"})
    table = verdict_table(tmp_path)
    assert table.loc[intact, "verdict"] == "verified"
    for n, (case, claim) in enumerate(claims.items(), start=2):
        verdict = json.loads((tmp_path / f"results/verdicts/ci/{claim}.json").read_text())
        assert (table.loc[claim, "verdict"], verdict["verdict"]) == ("error", "error"), (case, verdict["reason"])
        assert f"papers/0000.{n:05d}/v1/fulltext.txt" in verdict["reason"] and HOSTILE[case][1] in verdict["reason"]
        assert f"papers/0000.{n:05d}/v1/fulltext.txt" in (tmp_path / f"results/verdicts/ci/{claim}.md").read_text()
