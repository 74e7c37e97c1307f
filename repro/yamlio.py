"""Strict YAML reading for claim files.

PyYAML's ``safe_load`` still accepts explicit tags (``!!binary``, ``!!timestamp``), anchors and
aliases (``<<`` merge keys can smuggle values in), and silently keeps the *last* of two duplicate
keys. A claim file is data a reviewer reads top to bottom, so all of these are rejected here, with
the line and the key path they occur at.
"""

from __future__ import annotations

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


def _check_anchors(text: str) -> None:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise YamlError("YAML anchors and aliases are not allowed in claim files", event.start_mark.line + 1)


class _TagMarkingLoader(yaml.SafeLoader):
    """Composes nodes and marks those whose tag was written explicitly (``!!str x``, ``!foo``)."""

    def compose_node(self, parent, index):
        tag = getattr(self.peek_event(), "tag", None)
        node = super().compose_node(parent, index)
        node.explicit_tag = tag not in (None, "!")
        return node


def _to_data(node: yaml.Node, path: tuple) -> Any:
    """Build plain Python data from a composed node, rejecting tags, duplicate and non-string keys."""
    line = node.start_mark.line + 1
    if node.explicit_tag:
        raise YamlError(f"YAML tag {node.tag!r} is not allowed in claim files", line, path)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                raise YamlError("mapping keys must be plain strings", key_line, path)
            if key_node.value in out:
                raise YamlError(f"duplicate key {key_node.value!r}", key_line, (*path, key_node.value))
            out[key_node.value] = _to_data(value_node, (*path, key_node.value))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*path, i)) for i, item in enumerate(node.value)]
    return _LOADER.construct_object(node, deep=True)


def load_yaml(path: Path) -> tuple[Any, yaml.Node]:
    """Read ``path`` as plain YAML data. Returns ``(data, root_node)`` (the node serves line lookups)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"not UTF-8 text ({exc.reason})") from exc
    if not text.strip():
        raise YamlError("file is empty")
    try:
        _check_anchors(text)
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
