"""A config file's top-level ``name``, ``aliases`` and ``chip``, read from their own lines.

The catalog index needs only these keys of every file; parsing whole files for them cost
about half a second per command. Each key's lines (the key at column 0 and the indented or
``-`` lines that continue it) are parsed alone, which gives what parsing the whole file
gives for the plain layouts configs use. Anything else (no top-level ``name:`` line, a key
written twice, a value YAML cannot read on its own: an alias, a multi-document file) falls
back to parsing the whole file, so its errors and values stay the parser's own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from sim.catalog.yaml_io import LOADER, read_yaml

HEADER_KEYS = ("name", "aliases", "chip")
_KEY_LINE = re.compile(r"^(name|aliases|chip)\s*:")
_CONTINUES = re.compile(r"^(\s|-|#|$)")
_UNSAFE = re.compile(r"^(---|\.\.\.|%)", re.MULTILINE)


def _snippets(text: str) -> dict[str, str] | None:
    """Each header key's lines, or None where a key appears twice."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if match:
            if match.group(1) in found:
                return None
            current = found[match.group(1)] = [line]
        elif current is not None and _CONTINUES.match(line):
            current.append(line)
        else:
            current = None
    return {key: "\n".join(lines) for key, lines in found.items()}


def read_header(path: Path) -> dict[str, Any]:
    """``path``'s top-level ``name``, ``aliases`` and ``chip`` (the keys it has); {} for a
    file whose top level is not a mapping. A malformed file is one ConfigError line, as
    ``read_yaml`` gives it, when the fallback has to parse it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    snippets = None if text is None or _UNSAFE.search(text) else _snippets(text)
    if snippets is not None and "name" in snippets:
        try:
            parsed = yaml.load("\n".join(snippets.values()), Loader=LOADER)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            parsed = None
        if isinstance(parsed, dict) and set(parsed) == set(snippets):
            return parsed
    data = read_yaml(path).data
    return {k: data[k] for k in HEADER_KEYS if k in data} if isinstance(data, dict) else {}
