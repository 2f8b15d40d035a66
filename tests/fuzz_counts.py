"""Inputs the fuzz campaign generated, by input path and outcome (accepted, or rejected in
one line); conftest.py prints the table at the end of a run."""

from __future__ import annotations

from collections import Counter

COUNTS: Counter[tuple[str, str]] = Counter()


def record(path: str, outcome: str) -> None:
    COUNTS[(path, outcome)] += 1


def table() -> list[str]:
    """One line per input path: accepted, rejected, total; and the grand total."""
    paths = sorted({p for p, _ in COUNTS})
    lines = [f"{'input path':<24} {'accepted':>9} {'rejected':>9} {'total':>7}"]
    for p in paths:
        a, r = COUNTS[(p, "accepted")], COUNTS[(p, "rejected")]
        lines.append(f"{p:<24} {a:>9,} {r:>9,} {a + r:>7,}")
    lines.append(f"{'all':<24} {'':>9} {'':>9} {sum(COUNTS.values()):>7,}")
    return lines
