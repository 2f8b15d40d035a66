"""Every number in a config carries a source: check that, and find the YAML line of a field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def numeric_paths(data: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every number in a parsed YAML tree (list items by index)."""
    if isinstance(data, bool):
        return
    if isinstance(data, (int, float)):
        yield prefix
    elif isinstance(data, dict):
        for key, value in data.items():
            if key != "sources":
                yield from numeric_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from numeric_paths(value, f"{prefix}.{i}" if prefix else str(i))


def is_covered(path: str, sources: dict[str, str]) -> bool:
    """A source for ``path`` itself, one of its parents, or ``'*'`` (the whole file)."""
    if "*" in sources:
        return True
    parts = path.split(".")
    return any(".".join(parts[:i]) in sources for i in range(len(parts), 0, -1))


def unsourced(data: dict) -> list[str]:
    """Numeric fields of ``data`` that no entry of ``data['sources']`` covers."""
    sources = data.get("sources") or {}
    if not isinstance(sources, dict):
        return []
    return [p for p in numeric_paths(data) if not is_covered(p, sources)]


def dangling_sources(data: dict) -> list[str]:
    """Keys of ``data['sources']`` that name no field (typos, stale entries)."""
    sources = data.get("sources") or {}
    if not isinstance(sources, dict):
        return []
    out = []
    for key in sources:
        if key == "*":
            continue
        node: Any = data
        for part in str(key).split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                out.append(str(key))
                break
    return out


def source_of(path: str, sources: dict[str, str]) -> str:
    """The source that covers ``path``: its own entry, the nearest parent's, or ``'*'``."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in sources:
            return sources[key]
    return sources.get("*", "")


def sourced_numbers(data: dict) -> list[tuple[str, Any, str]]:
    """(field path, value, source) for every number in a config: what a report shows as
    the provenance of a chip's numbers."""
    sources = data.get("sources") or {}
    out = []
    for path in numeric_paths(data):
        node: Any = data
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        out.append((path, node, source_of(path, sources)))
    return out
