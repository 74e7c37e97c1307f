"""Strict YAML reading for claim files.

PyYAML's ``safe_load`` still accepts explicit tags (``!!binary``, ``!!timestamp``), anchors and
aliases (``<<`` merge keys can smuggle values in), and silently keeps the *last* of two duplicate
keys. A claim file is data a reviewer reads top to bottom, so all of these are rejected here, with
the line and the key path they occur at.

Each file is parsed once. Where PyYAML has libyaml, a plain file (no tag, anchor or alias, nothing libyaml reads
differently) is parsed by it, ~8x faster than PyYAML's pure-Python parser, into the same nodes; anything else, and
every error, is read again by the pure-Python loader, whose words and line numbers the messages keep.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class YamlError(ValueError):
    """A YAML document that is not plain data. ``line`` is 1-based (0 when unknown); ``path`` is the key path."""

    def __init__(self, reason: str, line: int = 0, path: tuple = ()):
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.path = path


_LOADER = yaml.SafeLoader("")
_STR = "tag:yaml.org,2002:str"
_SCALAR_CONSTRUCTORS = {
    tag: _LOADER.yaml_constructors[tag]
    for tag in (_STR, *(f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null")))
}
"""Constructors of the implicitly resolved scalar tags, called directly: ``construct_object`` would do the same but
also remember every node it built, for the life of the process."""


class _TagMarkingLoader(yaml.SafeLoader):
    """Composes nodes, rejects anchors and aliases as their events arrive (one parse; the first one in the
    document, before a later syntax error, as a separate pass over the events would) and marks the nodes whose tag
    was written explicitly (``!!str x``, ``!foo``)."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
            raise YamlError("YAML anchors and aliases are not allowed in claim files", event.start_mark.line + 1)
        node = super().compose_node(parent, index)
        node.explicit_tag = event.tag not in (None, "!")
        return node


class _Unusual(Exception):
    """The fast path met something (a tag, an anchor, an odd character) it leaves to :class:`_TagMarkingLoader`."""


# What libyaml and PyYAML's pure-Python reader may treat differently (tabs, CR, NEL, LS/PS line breaks, a byte
# order mark, control characters): a file with any of these takes the pure-Python path.
_ODD_CHARACTER = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
# A block scalar's header as PyYAML reads it: indicators, then a space or the line's end (libyaml also takes `|#`).
_BLOCK_HEADER = re.compile(r"[|>](?:[-+][1-9]?|[1-9][-+]?)?(?: |$)")

try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml: every file takes the pure-Python path
    _CComposer = None
else:

    class _CComposer(yaml.composer.Composer, CParser, yaml.resolver.Resolver):
        """PyYAML's composer and resolver over libyaml's events, ~8x faster than PyYAML's pure-Python parser.

        Only for plain documents, where both parsers give the same nodes (tags, values, styles, marks): a tag, an
        anchor, an alias, and what libyaml 0.2.5 reads otherwise (as YAML 1.2 does: a plain scalar with ``?`` or
        ``:`` or an empty one inside ``[]`` / ``{}``, a block scalar header followed by ``#``) are
        :class:`_Unusual`, and so is every error, which the pure-Python loader then reports in its own words.
        """

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)
            self.lines = stream.split("\n")
            self.flow_level = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or event.anchor is not None or event.tag is not None:
                raise _Unusual
            node = yaml.composer.Composer.compose_node(self, parent, index)
            node.explicit_tag = False
            return node

        def compose_scalar_node(self, anchor):
            node = yaml.composer.Composer.compose_scalar_node(self, anchor)
            if node.style == "":  # libyaml's plain style; PyYAML's parser says None
                node.style = None
                if self.flow_level and (not node.value or "?" in node.value or ":" in node.value):
                    raise _Unusual
            elif node.style in ("|", ">"):
                mark = node.start_mark
                if not _BLOCK_HEADER.match(self.lines[mark.line], mark.column):
                    raise _Unusual
            return node

        def compose_sequence_node(self, anchor):
            return self._collection(yaml.composer.Composer.compose_sequence_node, anchor)

        def compose_mapping_node(self, anchor):
            return self._collection(yaml.composer.Composer.compose_mapping_node, anchor)

        def _collection(self, compose, anchor):
            flow = bool(self.peek_event().flow_style)
            self.flow_level += flow
            node = compose(self, anchor)
            self.flow_level -= flow
            return node


def _to_data(node: yaml.Node, path: tuple) -> Any:
    """Build plain Python data from a composed node, rejecting tags, duplicate and non-string keys."""
    if node.explicit_tag:
        raise YamlError(f"YAML tag {node.tag!r} is not allowed in claim files", node.start_mark.line + 1, path)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                raise YamlError("mapping keys must be plain strings", key_node.start_mark.line + 1, path)
            key = key_node.value
            if key in out:
                raise YamlError(f"duplicate key {key!r}", key_node.start_mark.line + 1, (*path, key))
            out[key] = _to_data(value_node, (*path, key))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*path, i)) for i, item in enumerate(node.value)]
    construct = _SCALAR_CONSTRUCTORS.get(node.tag)
    try:
        return construct(_LOADER, node) if construct is not None else _LOADER.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        # a plain scalar YAML resolves to a type it cannot build: a bare `<<` (merge key), `=` (value key), or a
        # date that does not exist (2024-02-30)
        reason = getattr(exc, "problem", None) or str(exc)
        raise YamlError(
            f"cannot read the plain value {node.value!r} ({reason}); quote it to keep it as text",
            node.start_mark.line + 1,
            path,
        ) from exc


def _load_fast(text: str) -> tuple[Any, yaml.Node]:
    """:func:`load_yaml`'s result through libyaml for a plain document; :class:`_Unusual` for anything else."""
    if _CComposer is None or not text.endswith("\n") or _ODD_CHARACTER.search(text):
        raise _Unusual  # (at the end of a file without a final newline libyaml's marks are a line on)
    try:
        nodes = list(yaml.compose_all(text, Loader=_CComposer))
        if len(nodes) != 1 or nodes[0] is None:
            raise _Unusual
        return _to_data(nodes[0], ()), nodes[0]
    except Exception as exc:  # a problem of any kind is reported by the pure-Python path, in its words
        raise _Unusual from exc


MAX_BYTES = 1 << 20
"""Largest claim file read (1 MiB; the shipped ones are under 10 kB): a bigger one is refused before parsing."""


def load_yaml(path: Path) -> tuple[Any, yaml.Node]:
    """Read ``path`` as plain YAML data. Returns ``(data, root_node)`` (the node serves line lookups)."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise YamlError(f"file is {size / 2**20:.1f} MiB; claim files are limited to {MAX_BYTES >> 20} MiB")
    try:
        return _load_text(path)
    except RecursionError as exc:
        raise YamlError("nested too deeply to read (lists or mappings inside each other hundreds of levels)") from exc


def _load_text(path: Path) -> tuple[Any, yaml.Node]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"not UTF-8 text ({exc.reason})") from exc
    if not text.strip():
        raise YamlError("file is empty")
    try:
        return _load_fast(text)
    except _Unusual:
        pass
    try:
        nodes = list(yaml.compose_all(text, Loader=_TagMarkingLoader))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise YamlError(f"malformed YAML: {exc.problem}", line) from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"malformed YAML: {exc}") from exc
    if len(nodes) != 1 or nodes[0] is None:
        raise YamlError("expected exactly one YAML document")
    return _to_data(nodes[0], ()), nodes[0]


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest node along ``loc`` (keys / indices); 0 when unknown."""
    node = root
    line = node.start_mark.line + 1 if node is not None else 0
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    nxt = value_node
                    line = key_node.start_mark.line + 1
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def load_mapping(path: Path) -> tuple[dict[str, Any], yaml.Node]:
    """:func:`load_yaml` for a file that must hold one mapping (a claim file, ``paper.yaml``): every problem,
    an unreadable file or another top-level value included, is a :class:`YamlError`."""
    try:
        data, node = load_yaml(path)
    except OSError as exc:
        raise YamlError(f"cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise YamlError("expected a mapping at the top level", 1)
    return data, node
