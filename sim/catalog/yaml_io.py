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


# Bounds on a config's structure: deeper nesting or more aliases than any config needs is
# a mistake or an attack (a few hundred bytes of nested aliases expand to gigabytes).
MAX_DEPTH = 32
MAX_ALIASES = 64
# libyaml's parser where PyYAML was built with it (about 15x faster on the validation set),
# the pure-Python one otherwise; both give the same nodes, marks and errors.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _walk(node: yaml.Node, prefix: tuple, lines: dict[tuple, int], path: Path) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name, line = str(key.value), key.start_mark.line + 1
            if name in seen:
                raise ConfigError(f"{path}:{line}: duplicate key '{name}' (first on line {seen[name]})")
            seen[name] = line
            where = (*prefix, name)
            lines[where] = line
            _walk(value, where, lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            where = (*prefix, str(i))
            lines[where] = value.start_mark.line + 1
            _walk(value, where, lines, path)


def _check_structure(text: str, path: Path) -> None:
    """Refuse nesting deeper than MAX_DEPTH and more than MAX_ALIASES aliases, reading
    events only (nothing is built or expanded yet)."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(f"{path}:{event.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError(f"{path}:{event.start_mark.line + 1}: more than {MAX_ALIASES} YAML aliases "
                                  "(*name); write the values out")


def read_yaml(path: Path) -> LocatedYaml:
    """Parse ``path``; every malformed file (unreadable, not UTF-8 text, a syntax error,
    duplicate keys, too deep or too many aliases) becomes one ConfigError line."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {err.start} is 0x{raw[err.start]:02x})") from None
    try:
        _check_structure(text, path)
        loader = LOADER(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: YAML syntax error: {err.problem or err.context}") from None
    except yaml.YAMLError as err:  # a reader error: a character YAML does not allow (NUL, control codes)
        raise ConfigError(f"{path}: not valid YAML text: {str(err).splitlines()[0]}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines, path)
    return LocatedYaml(path, data, lines)


def dump_yaml(data: Any) -> str:
    """``data`` as block-style YAML in the order given (resolved inputs, ``sim show``)."""
    return yaml.safe_dump(data, sort_keys=False, width=100)
