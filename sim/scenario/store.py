"""results/<scenario>/: the results CSV (written row by row), summary tables, and the resolved inputs."""

from __future__ import annotations

import csv
import io
import math
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.catalog.yaml_io import dump_yaml


def fmt(value: Any) -> Any:
    """A CSV cell: floats to 6 significant figures, NaN as empty."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def exact(value: Any) -> Any:
    """A CSV cell that reads back as the same float (a run's partial file, which a resumed
    run reads its finished rows from: the sweep-wide columns then come out the same)."""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


class ResultWriter:
    """Appends rows to a CSV as they arrive; flushed every 100 rows or half a second, so
    an interrupted run keeps what it finished. The columns are fixed up front; a row
    fills what it has (a failed point leaves its metrics empty)."""

    FLUSH_ROWS, FLUSH_S = 100, 0.5

    def __init__(self, path: Path, columns: list[str], cell: Callable[[Any], Any] = fmt) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.columns = columns
        self._cell = cell
        self._file = path.open("w", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="ignore")
        self._csv.writeheader()
        self._since_flush, self._flushed_at = 0, time.monotonic()

    def write(self, row: dict[str, Any]) -> dict[str, Any]:
        self._csv.writerow({k: self._cell(row.get(k, "")) for k in self.columns})
        self._since_flush += 1
        now = time.monotonic()
        if self._since_flush >= self.FLUSH_ROWS or now - self._flushed_at >= self.FLUSH_S:
            self._file.flush()
            self._since_flush, self._flushed_at = 0, now
        return row

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def write_rows(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """A results CSV rewritten whole (after columns computed over the sweep were added)."""
    writer = ResultWriter(path, columns)
    for r in rows:
        writer.write(r)
    writer.close()


def write_table(path: Path, rows: list[dict[str, Any]], cell: Callable[[Any], Any] = fmt) -> None:
    """A whole CSV at once (a summary table): every key of any row is a column, each value
    written by ``cell``."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows({k: cell(v) for k, v in r.items()} for r in rows)


def git_revision(cwd: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_resolved(out_dir: Path, scenario: dict, chips: dict, models: dict, economics: dict,
                   revision: str) -> None:
    """Everything the run used, so a result can be reproduced and audited (systems are
    among ``chips``, with the chip they hold)."""
    resolved = {"git_revision": revision, "scenario": scenario, "economics": economics,
                "chips": chips, "models": models}
    (out_dir / "resolved.yaml").write_text(dump_yaml(resolved), encoding="utf-8")


def point_key(row: dict[str, Any], input_columns: list[str]) -> tuple:
    """What identifies a point: its input columns as the CSV writes them."""
    return tuple(str(fmt(row.get(c, ""))) for c in input_columns)


def finished_rows(path: Path, input_columns: list[str]) -> dict[tuple, dict[str, Any]]:
    """The rows of a results CSV that ran without error, by point key, with numbers read
    back as numbers ("" stays empty, True/False as booleans); nothing when it is missing or
    its header lacks the inputs."""
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        if not text.endswith("\n"):  # a run killed mid-write: its last line is cut short
            text = text[:text.rfind("\n") + 1]
        table = list(csv.DictReader(io.StringIO(text, newline="")))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    if not table or any(c not in table[0] for c in input_columns):
        return {}
    whole = [r for r in table if None not in r and None not in r.values()]  # no short or long rows
    rows = [{k: _value(v) for k, v in r.items()} for r in whole if not r.get("error")]
    return {point_key(r, input_columns): r for r in rows}


def _value(text: str | None) -> Any:
    if not text:
        return ""
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_table(path: Path) -> list[dict[str, str]]:
    """A CSV written by ``write_table`` or ``ResultWriter``, as rows of strings."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
