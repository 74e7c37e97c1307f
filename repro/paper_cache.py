"""The paper text cache: what ``repro paper add`` writes and textual grounding reads.

Layout, keyed by arXiv id **and** version (a quote is read in one version of a paper)::

    papers/<arxiv_id>/<version>/metadata.json   PaperRecord: bibliographic data + one entry per text file
    papers/<arxiv_id>/<version>/abstract.txt    the abstract, as the source shows it
    papers/<arxiv_id>/<version>/fulltext.txt    optional: the paper's text (whole, or excerpts)
    papers/<arxiv_id>/<version>/SOURCE.md       where every file came from and how it was cleaned

``metadata.json`` says for each text whether it is the *complete* text of the paper: only then can
"not found in the text" mean "not in the paper". This module reads and writes the cache; it never touches the
network. A version's folder is written whole or not at all (:func:`write_version`), and a cached text is read only
if it is one (:func:`read_cached_text`: UTF-8, no NUL bytes, at most ``MAX_TEXT_BYTES``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from repro.files import write_json, write_text

PAPERS_DIR = Path("papers")
ARXIV_ID = r"^\d{4}\.\d{4,5}$"
VERSION = r"^v\d+$"
MAX_TEXT_BYTES = 8 << 20
"""The largest cached text that is read: 8 MiB is over a million words, several times the longest paper with all its
appendices. Grounding reads about 1 MB a second and holds ~80 bytes per byte of text, so a bigger file is not a
paper's text but a fault, and would tie a workflow job up for minutes and gigabytes."""


class CacheError(ValueError):
    """The cache is missing, unreadable or inconsistent; the message names the file and the reason."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CachedText(_Model):
    file: Literal["abstract.txt", "fulltext.txt"]
    kind: Literal["abstract", "fulltext"]
    complete: bool
    """True when the file holds the whole of what ``kind`` names (the whole abstract, the whole paper)."""
    source: str
    """Where the text came from: a URL, with how it was obtained."""
    note: str | None = None
    """Cleaning applied, sections left out, extraction caveats."""


class PaperRecord(_Model):
    arxiv_id: Annotated[str, StringConstraints(pattern=ARXIV_ID)]
    version: Annotated[str, StringConstraints(pattern=VERSION)]
    title: str
    authors: list[str] = Field(min_length=1)
    published: str | None = None
    """First version's submission date (ISO 8601), when known."""
    updated: str | None = None
    """This version's date (ISO 8601), when known."""
    primary_category: str | None = None
    categories: list[str] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None
    metadata_source: str
    """Where the bibliographic fields came from (the arXiv API, or the pages they were copied from)."""
    texts: list[CachedText] = Field(min_length=1)

    @property
    def versioned_id(self) -> str:
        return f"{self.arxiv_id}{self.version}"


def version_dir(arxiv_id: str, version: str, papers_dir: Path = PAPERS_DIR) -> Path:
    if not re.match(ARXIV_ID, arxiv_id) or not re.match(VERSION, version):
        raise CacheError(f"not an arXiv id and version: {arxiv_id!r} {version!r}")
    return Path(papers_dir) / arxiv_id / version


def cached_versions(arxiv_id: str, papers_dir: Path = PAPERS_DIR) -> list[str]:
    """Versions with a metadata.json, oldest first (v2 before v10)."""
    folder = Path(papers_dir) / arxiv_id
    if not folder.is_dir():
        return []
    found = [p.parent.name for p in folder.glob("v*/metadata.json") if re.match(VERSION, p.parent.name)]
    return sorted(found, key=lambda v: int(v[1:]))


def cache_files(arxiv_id: str, version: str, papers_dir: Path = PAPERS_DIR) -> list[Path]:
    """The files grounding reads for this version (those that exist): the workflow's inputs."""
    folder = version_dir(arxiv_id, version, papers_dir)
    return [folder / name for name in ("metadata.json", "abstract.txt", "fulltext.txt") if (folder / name).is_file()]


def read_record(arxiv_id: str, version: str, papers_dir: Path = PAPERS_DIR) -> PaperRecord:
    path = version_dir(arxiv_id, version, papers_dir) / "metadata.json"
    if not path.is_file():
        raise CacheError(f"{path}: not cached")
    try:
        record = PaperRecord.model_validate(json.loads(read_cached_text(path)))
    except json.JSONDecodeError as exc:
        raise CacheError(f"{path}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        raise CacheError(f"{path}: {exc}") from None
    if (record.arxiv_id, record.version) != (arxiv_id, version):
        raise CacheError(f"{path}: records {record.versioned_id}, but sits in the folder of {arxiv_id}{version}")
    for text in record.texts:
        if not (path.parent / text.file).is_file():
            raise CacheError(f"{path}: lists {text.file}, which is missing")
    return record


def read_text(arxiv_id: str, version: str, file: str, papers_dir: Path = PAPERS_DIR) -> str:
    return read_cached_text(version_dir(arxiv_id, version, papers_dir) / file)


def read_cached_text(path: Path) -> str:
    """The text of a cache file, read as ``Path.read_text`` would (UTF-8, universal newlines); a
    :class:`CacheError` naming the file when it is not a text to read: unreadable, larger than ``MAX_TEXT_BYTES``
    (checked before it is read whole), not UTF-8, or binary (a NUL byte)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT_BYTES + 1)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise CacheError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_TEXT_BYTES:
        raise CacheError(
            f"{path}: {size / 2**20:.1f} MiB, more than the {MAX_TEXT_BYTES / 2**20:g} MiB a cached text may hold "
            f"(not a paper's text; fetch it again with `repro paper add`)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CacheError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    if "\x00" in text:
        raise CacheError(f"{path}: binary data, not text (NUL byte at offset {data.index(0)})")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def write_version(record: PaperRecord, texts: dict[str, str], source_note: str, papers_dir: Path = PAPERS_DIR) -> Path:
    """Write one version's folder (texts, SOURCE.md, metadata.json) whole or not at all.

    The files go to a hidden folder beside it (``.<version>.<pid>.<random>.new``), which then takes the version
    folder's place: a write interrupted before that leaves the previous entry as it was (or none); one killed between
    the two renames of a replacement leaves none (the next call writes it). A killed writer's hidden folders are
    removed by the next write of that version.
    """
    folder = version_dir(record.arxiv_id, record.version, papers_dir)
    listed = {t.file for t in record.texts}
    if listed != set(texts):
        raise CacheError(f"record lists {sorted(listed)} but texts {sorted(texts)} were given")
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    staged = _scratch(folder, "new")
    try:
        staged.mkdir()
        for name, text in texts.items():
            write_text(staged / name, text)
        write_text(staged / "SOURCE.md", source_note)
        write_json(staged / "metadata.json", record.model_dump(mode="json"))
        _replace_folder(staged, folder)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return folder


def _scratch(folder: Path, role: str) -> Path:
    return folder.with_name(f".{folder.name}.{os.getpid()}.{secrets.token_hex(4)}.{role}")


def _replace_folder(staged: Path, folder: Path) -> None:
    """Put ``staged`` in the place of ``folder``; the previous folder is back in place if this is interrupted."""
    if not folder.exists():
        os.rename(staged, folder)
        return
    previous = _scratch(folder, "old")
    os.rename(folder, previous)
    try:
        os.rename(staged, folder)
    except BaseException:
        if not folder.exists():
            os.rename(previous, folder)
        raise
    shutil.rmtree(previous, ignore_errors=True)


_SCRATCH = re.compile(r"^\.(v\d+)\.(\d+)\.[0-9a-f]+\.(new|old)$")


def _remove_leftovers(folder: Path) -> None:
    """Remove the hidden folders that writers of this version, killed before they could, left behind."""
    for path in folder.parent.iterdir():
        match = _SCRATCH.match(path.name)
        if match and match.group(1) == folder.name and not _running(int(match.group(2))):
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether process ``pid`` may still be writing (always True where that cannot be asked safely)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True
