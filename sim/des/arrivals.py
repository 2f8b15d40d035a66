"""The request stream: arrival times and token lengths drawn from a seeded numpy
Generator (same seed, same stream), or replayed from a CSV trace."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sim.des.request import Request
from sim.des.spec import Arrivals, Lengths, Requests
from sim.errors import ConfigError

TRACE_COLUMNS = ("arrival_s", "input_len", "output_len")


def make_requests(spec: Requests) -> list[Request]:
    """The requests of ``spec`` in arrival order."""
    rng = np.random.default_rng(spec.seed)
    if spec.trace is not None:
        rows = read_trace(spec.trace)[: spec.count]
        n = len(rows)
        times = np.array([r[0] for r in rows]) if spec.arrivals.kind == "trace" else arrival_times(spec.arrivals, n, rng)
        ins = np.array([r[1] for r in rows]) if spec.input is None else draw_lengths(spec.input, n, rng)
        outs = np.array([r[2] for r in rows]) if spec.output is None else draw_lengths(spec.output, n, rng)
    else:
        assert spec.count is not None and spec.input is not None and spec.output is not None
        n = spec.count
        times = arrival_times(spec.arrivals, n, rng)
        ins, outs = draw_lengths(spec.input, n, rng), draw_lengths(spec.output, n, rng)
    order = np.argsort(times, kind="stable")
    return [Request(i, float(times[j]), int(ins[j]), int(outs[j])) for i, j in enumerate(order)]


def arrival_times(spec: Arrivals, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` arrival times in seconds, the first gap included (the stream starts at 0)."""
    if spec.kind == "trace":
        raise ConfigError("trace arrivals need a trace: CSV path")
    assert spec.rate_per_s is not None
    mean = 1.0 / spec.rate_per_s
    if spec.kind == "constant":
        gaps = np.full(n, mean)
    elif spec.kind == "poisson":
        gaps = rng.exponential(mean, n)
    else:  # gamma: shape k = 1/cv^2, scale = mean/k keeps the mean gap at 1/rate
        assert spec.cv is not None
        k = 1.0 / spec.cv**2
        gaps = rng.gamma(k, mean / k, n)
    return np.cumsum(gaps)


def draw_lengths(spec: Lengths, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` token lengths (integers >= 1)."""
    if spec.kind == "fixed":
        return np.full(n, spec.value, dtype=np.int64)
    assert spec.high is not None
    if spec.kind == "uniform":
        return rng.integers(spec.low, spec.high, n, endpoint=True)
    assert spec.median is not None and spec.sigma is not None
    x = rng.lognormal(np.log(spec.median), spec.sigma, n)
    return np.clip(np.rint(x), spec.low, spec.high).astype(np.int64)


# Rows read from one trace at most: sim serve's --requests limit (sim.cli.MAX_REQUESTS);
# beyond it the requests alone outgrow a laptop's memory.
MAX_TRACE_ROWS = 10_000_000


def read_trace(path: str | Path) -> list[tuple[float, int, int]]:
    """Rows (arrival_s, input_len, output_len) of a CSV with those column names. Only a
    ``.csv`` file is read (a trace is named by its path; a mistyped field never reads an
    arbitrary file), and a file that is not UTF-8 text, not CSV or too long is one error."""
    p = Path(path)
    if p.suffix.lower() != ".csv":
        raise ConfigError(f"trace {p}: a trace is a .csv file with columns {', '.join(TRACE_COLUMNS)}")
    if not p.is_file():
        raise ConfigError(f"trace file not found: {p}")
    try:
        return _trace_rows(p)
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text (a trace is a CSV file)") from None
    except csv.Error as err:
        raise ConfigError(f"{p}: not a readable CSV ({err})") from None
    except OSError as err:
        raise ConfigError(f"{p}: cannot read it ({err.strerror or err})") from None


def _trace_rows(p: Path) -> list[tuple[float, int, int]]:
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in TRACE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{p}: trace needs columns {', '.join(TRACE_COLUMNS)}; missing {', '.join(missing)}")
        rows: list[tuple[float, int, int]] = []
        for line, row in enumerate(reader, start=2):
            try:
                t, i, o = float(row["arrival_s"]), int(row["input_len"]), int(row["output_len"])
            except (TypeError, ValueError):
                raise ConfigError(f"{p}:{line}: arrival_s must be a number and lengths integers") from None
            if not (0 <= t < float("inf")) or i < 1 or o < 1:
                raise ConfigError(f"{p}:{line}: arrival_s must be finite and >= 0 and lengths >= 1")
            if len(rows) == MAX_TRACE_ROWS:
                raise ConfigError(f"{p}: more than {MAX_TRACE_ROWS:,} rows; split the trace")
            rows.append((t, i, o))
    if not rows:
        raise ConfigError(f"{p}: trace has no rows")
    return rows
