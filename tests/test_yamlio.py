"""Strict YAML reading (repro/yamlio.py): tags, anchors, aliases, duplicate and non-string keys are rejected with
their line and key path, and the libyaml fast path reads every file exactly as the pure-Python loader does."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from repro import yamlio
from repro.yamlio import YamlError, line_of, load_yaml

from .conftest import ROOT

needs_libyaml = pytest.mark.skipif(yamlio._CComposer is None, reason="PyYAML built without libyaml")


@pytest.fixture(params=["libyaml", "python"])
def loader(request, monkeypatch):
    """Run a test through the libyaml fast path (where PyYAML has it) and through the pure-Python loader alone."""
    if request.param == "libyaml" and yamlio._CComposer is None:
        pytest.skip("PyYAML built without libyaml")
    if request.param == "python":
        monkeypatch.setattr(yamlio, "_CComposer", None)
    return request.param


def _load(tmp_path: Path, text: str):
    path = tmp_path / "claim.yaml"
    path.write_text(text, encoding="utf-8", newline="")
    return load_yaml(path)


REJECTED = [
    # text, reason, line, key path
    ("a: &x 1\nb: 2\n", "YAML anchors and aliases are not allowed in claim files", 1, ()),
    ("a: 1\nb: *x\n", "YAML anchors and aliases are not allowed in claim files", 2, ()),
    # The first anchor wins over a later syntax error, and a syntax error over a later anchor.
    ("a: &x 1\nb: [\n", "YAML anchors and aliases are not allowed in claim files", 1, ()),
    ("a: 1\nb: ]\nc: &x 1\n", "malformed YAML: expected the node content, but found ']'", 2, ()),
    ("a:\n  b: !!str x\n", "YAML tag 'tag:yaml.org,2002:str' is not allowed in claim files", 2, ("a", "b")),
    ("a:\n  b: !foo x\n", "YAML tag '!foo' is not allowed in claim files", 2, ("a", "b")),
    (
        "a:\n  - 1\n  - !!binary aGk=\n",
        "YAML tag 'tag:yaml.org,2002:binary' is not allowed in claim files",
        3,
        ("a", 1),
    ),
    ("a:\n  1: x\n", "mapping keys must be plain strings", 2, ("a",)),
    ("a:\n  [b]: x\n", "mapping keys must be plain strings", 2, ("a",)),
    ("a:\n  b: 1\n  b: 2\n", "duplicate key 'b'", 3, ("a", "b")),
    ("a:\n  - 1\n  - {b: 1, b: 2}\n", "duplicate key 'b'", 3, ("a", 1, "b")),
    ("a: 1\n---\nb: 2\n", "expected exactly one YAML document", 0, ()),
    ("a: [1, 2\n", "malformed YAML: expected ',' or ']', but got '<stream end>'", 2, ()),
    # Where libyaml 0.2.5 reads YAML 1.2 and accepts, PyYAML's YAML 1.1 rejection stands.
    ("a: {b: c?d}\n", "malformed YAML: expected ',' or '}', but got '?'", 1, ()),
    ("a: >-#\n  x\n", "malformed YAML: expected chomping or indentation indicators, but found '#'", 1, ()),
    ("a:\tb\n", "malformed YAML: found character '\\t' that cannot start any token", 1, ()),
    ("", "file is empty", 0, ()),
    # Plain scalars that YAML resolves to types it cannot build: an error naming the value, never a traceback.
    (
        "a:\n  b: <<\n",
        "cannot read the plain value '<<' (could not determine a constructor for the tag 'tag:yaml.org,2002:merge'); "
        "quote it to keep it as text",
        2,
        ("a", "b"),
    ),
    (
        "a: =\n",
        "cannot read the plain value '=' (could not determine a constructor for the tag 'tag:yaml.org,2002:value'); "
        "quote it to keep it as text",
        1,
        ("a",),
    ),
    (
        "a: [2024-02-30]\n",
        "cannot read the plain value '2024-02-30' (day is out of range for month); quote it to keep it as text",
        1,
        ("a", 0),
    ),
]


@pytest.mark.parametrize(("text", "reason", "line", "path"), REJECTED)
def test_rejected_with_line_and_key_path(tmp_path, loader, text, reason, line, path):
    with pytest.raises(YamlError) as info:
        _load(tmp_path, text)
    assert (info.value.reason, info.value.line, info.value.path) == (reason, line, path)


ACCEPTED = [
    ("a: ! x\n", {"a": "x"}),  # the non-specific tag `!` only says "a string"
    ("!!str a: 1\n", {"a": 1}),  # a tagged key that is a string anyway
    ("a: [b:]\n", {"a": [{"b": None}]}),
    ("a: {b: , c: 1}\n", {"a": {"b": None, "c": 1}}),
    ("a: 1", {"a": 1}),
    ("a: 1\r\nb: 2\r\n", {"a": 1, "b": 2}),
    ("a: 0x1F\nb: 1_000\nc: .inf\nd: ~\ne: yes\nf: 1.5e3\ng: '1'\n", {"a": 31, "b": 1000, "c": float("inf")}),
]


@pytest.mark.parametrize(("text", "data"), ACCEPTED)
def test_accepted(tmp_path, loader, text, data):
    loaded, _ = _load(tmp_path, text)
    assert {key: loaded[key] for key in data} == data


def test_line_of_follows_keys_and_indices(tmp_path, loader):
    _, root = _load(tmp_path, "a:\n  b:\n    - x\n    - {c: 1,\n       d: 2}\n")
    assert line_of(root, ("a", "b", 1, "d")) == 5
    assert line_of(root, ("a", "b", 0)) == 3
    assert line_of(root, ("a", "missing")) == 1


# ---------------------------------------------------------------- the libyaml fast path


def _outcome(path: Path):
    """Everything load_yaml gives: the data with its types, every node's tag, value, style and marks; or the error."""
    try:
        data, root = load_yaml(path)
    except Exception as exc:  # the outcome compared is whatever happens
        return "error", type(exc).__name__, str(exc), getattr(exc, "line", None), getattr(exc, "path", None)
    return "ok", _typed(data), _shape(root)


def _typed(value):
    if isinstance(value, dict):
        return [(key, _typed(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return type(value).__name__, repr(value)


def _shape(node):
    marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    if isinstance(node, yaml.MappingNode):
        children = [(_shape(key), _shape(value)) for key, value in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = [_shape(item) for item in node.value]
    else:
        children = [node.value, node.style]
    # flow_style is not compared: an indentless block sequence is None in PyYAML's parser, False in libyaml's
    flow = bool(getattr(node, "flow_style", False))
    return type(node).__name__, node.tag, node.explicit_tag, marks, flow, children


MUTATIONS = ["?", ": ", ":", "- ", "[", "]", "{", "}", ", ", "#", " #", "|", ">-", "'", '"', "\n", "\n  ", "  ", "!"]
MUTATIONS += ["&a ", "*a", "%", "\n---\n", "...", "\t", "\r", "é", "\\x41", "0", "1.5", "~", "yes", "<<", "x"]


def _mutate(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(chars) + 1)
        if rng.random() < 0.4 and chars:
            del chars[min(at, len(chars) - 1)]
        else:
            chars.insert(at, rng.choice(MUTATIONS))
    return "".join(chars)


@needs_libyaml
def test_fast_path_reads_every_file_as_the_python_loader(tmp_path, monkeypatch):
    shipped = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "claims").rglob("*.yaml"))]
    shipped += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests" / "fixtures").rglob("*.yaml"))]
    rng = random.Random(17)
    texts = shipped + [text for text, *_ in REJECTED + ACCEPTED]
    texts += [_mutate(rng.choice(shipped), rng) for _ in range(300)]
    path = tmp_path / "claim.yaml"
    fast = []
    for text in texts:
        path.write_text(text, encoding="utf-8", newline="")
        fast.append(_outcome(path))
    monkeypatch.setattr(yamlio, "_CComposer", None)
    for text, got in zip(texts, fast, strict=True):
        path.write_text(text, encoding="utf-8", newline="")
        assert got == _outcome(path), text


@needs_libyaml
def test_fast_path_takes_the_plain_files():
    """Every shipped claim and fixture is read by libyaml (the pure-Python loader is for the unusual ones)."""
    files = sorted((ROOT / "claims").rglob("*.yaml")) + sorted((ROOT / "tests" / "fixtures").rglob("*.yaml"))
    for path in files:
        data, root = yamlio._load_fast(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict) and isinstance(root, yaml.MappingNode), path


@needs_libyaml
@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\n",
        "a: !!str x\n",
        "a: ! x\n",
        "a: {b: c?d}\n",
        "a: [b:]\n",
        "a: {b: , c: 1}\n",
        "a: >-#\n  x\n",
        "a: 1",
        "a: 1\r\n",
        "a:\tb\n",
        "a: 1\nb: 2\na: 3\n",
        "a: [\n",
        "a: 1\n---\nb: 2\n",
    ],
)
def test_fast_path_leaves_the_unusual_to_the_python_loader(text):
    with pytest.raises(yamlio._Unusual):
        yamlio._load_fast(text)
