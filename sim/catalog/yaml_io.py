"""Read YAML and remember where each field is, so errors can name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.errors import ConfigError


class LocatedYaml:
    """A parsed YAML document plus a map from field path to its 1-based line."""

    def __init__(self, path: Path, data: Any, lines: dict[tuple, int]):
        self.path = path
        self.data = data
        self.lines = lines

    def line_of(self, loc: tuple) -> int | None:
        """Line of the deepest known prefix of ``loc``."""
        for i in range(len(loc), -1, -1):
            key = tuple(str(p) for p in loc[:i])
            if key in self.lines:
                return self.lines[key]
        return None

    def where(self, loc: tuple) -> str:
        line = self.line_of(loc)
        return f"{self.path}:{line}" if line else str(self.path)


def _walk(node: yaml.Node, prefix: tuple, lines: dict[tuple, int]) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            lines[path] = key.start_mark.line + 1
            _walk(value, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            path = (*prefix, str(i))
            lines[path] = value.start_mark.line + 1
            _walk(value, path, lines)


def read_yaml(path: Path) -> LocatedYaml:
    """Parse ``path``; a syntax error becomes one ConfigError line with file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: YAML syntax error: {err.problem or err.context}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return LocatedYaml(path, data, lines)


def dump_yaml(data: Any) -> str:
    """``data`` as block-style YAML in the order given (resolved inputs, ``sim show``)."""
    return yaml.safe_dump(data, sort_keys=False, width=100)
