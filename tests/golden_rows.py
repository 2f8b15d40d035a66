"""A fixed subset of every shipped scenario's points, evaluated, for the golden test.

The golden CSVs under tests/data/golden/ were written by this module; a refactor must give
the same rows. After a deliberate physics change, rewrite them with
``python tests/golden_rows.py --update`` and say why in the commit.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
POINTS_PER_SCENARIO = 24
SERVING_CURVES, SERVING_REQUESTS = 3, 120
WALL_CLOCK = ("wall_s", "us_per_event")  # how long the simulation took here: not a result
PRIVATE = ("plan_index", "roofline", "ops", "curve")  # inputs the runner uses, not results


def subset(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when n <= k)."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def scenario_rows(path: Path) -> list[dict[str, Any]]:
    """The golden subset of one shipped scenario, evaluated by today's code."""
    from sim.scenario import runner
    from sim.studies import load_scenario, study_for

    scn = load_scenario(str(path))
    st = study_for(scn.spec.mode)
    if scn.spec.mode == "serving":
        return _serving_rows(scn, st)
    context = st.context(scn)
    pts = st.points(scn, context)
    runner._init(st.fill, context)
    return [_public(runner.evaluate(pts[i])) for i in subset(len(pts), POINTS_PER_SCENARIO)]


def _serving_rows(scn, st) -> list[dict[str, Any]]:
    from sim.scenario import runner

    sv = scn.spec.serving
    fewer = sv.model_copy(update={"requests": sv.requests.model_copy(update={"count": SERVING_REQUESTS})})
    scn = dataclasses.replace(scn, spec=scn.spec.model_copy(update={"serving": fewer}))
    context = st.context(scn)
    runner._init(st.fill, context)
    rates = [min(sv.rates), max(sv.rates)]
    rows: list[dict[str, Any]] = []
    for i in subset(len(context.curves), SERVING_CURVES):
        c = context.curves[i]
        if isinstance(c, dict):
            rows.append(c)
        else:
            rows += [runner.evaluate({**c.key, "rate_per_s": r, "curve": i}) for r in rates]
    return [{k: v for k, v in _public(r).items() if k not in WALL_CLOCK} for r in rows]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A row without the runner's bookkeeping (parallelism entry index, op lists)."""
    return {k: v for k, v in row.items() if k not in PRIVATE}


def validation_rows() -> list[dict[str, Any]]:
    from sim.catalog import load_economics
    from sim.validate.cases import load_cases
    from sim.validate.predict import predict_case

    econ = load_economics({})
    out = []
    for case in load_cases(ROOT / "scenarios" / "validation"):
        o = predict_case(case, econ)
        out.append({"id": case.id, "status": o.status, "predicted": o.predicted if o.predicted is not None else "",
                    "reason": o.reason})
    return out


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    from sim.scenario.store import write_table

    write_table(path, rows, _cell)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def differences(golden: list[dict[str, str]], rows: list[dict[str, Any]], rel: float = 1e-9) -> list[str]:
    """Cells of ``rows`` that differ from ``golden`` (numbers within ``rel``), as lines."""
    if len(golden) != len(rows):
        return [f"{len(rows)} rows, golden has {len(golden)}"]
    out = []
    for i, (want, got) in enumerate(zip(golden, rows, strict=True)):
        for col, expected in want.items():
            value = _cell(got.get(col, ""))
            if value == expected:
                continue
            try:
                a, b = float(expected), float(value)
            except ValueError:
                out.append(f"row {i} {col}: {value!r} != {expected!r}")
                continue
            if not (math.isclose(a, b, rel_tol=rel, abs_tol=1e-300) or (math.isnan(a) and math.isnan(b))):
                out.append(f"row {i} {col}: {value} != {expected}")
    return out


def main() -> None:
    if "--update" not in sys.argv:
        sys.exit("usage: python tests/golden_rows.py --update  (rewrites tests/data/golden/)")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        write(GOLDEN / f"{path.stem}.csv", scenario_rows(path))
    write(GOLDEN / "validation.csv", validation_rows())


if __name__ == "__main__":
    main()
