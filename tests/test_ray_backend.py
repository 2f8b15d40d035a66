"""--backend ray: the same rows as the local pool, finished points kept when a worker dies,
one-line errors when Ray is missing or misused. Runs on a local Ray instance (the test
extra installs Ray)."""

from __future__ import annotations

import os
import sys

import pytest

from sim.errors import SimError
from sim.scenario.runner import run_points
from sim.scenario.store import ResultWriter, read_table
from sim.studies.serving import run_serving
from tests.golden_rows import WALL_CLOCK

pytest.importorskip("ray")

REQUESTS = {"count": 40, "arrivals": {"rate_per_s": 1.0}, "input": {"value": 256}, "output": {"value": 32}}


def _results(root, name):
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in read_table(root / name / "serving.csv")]


def test_serving_sweep_is_identical_on_ray_and_the_local_pool(tmp_path):
    for backend in ("local", "ray"):
        run_serving("ray-eq", ["H100", "A100"], ["llama-3.1-8b"], REQUESTS, [2.0, 50.0],
                    results_root=tmp_path / backend, workers=2, backend=backend)
    local, ray_rows = _results(tmp_path / "local", "ray-eq"), _results(tmp_path / "ray", "ray-eq")
    assert len(local) == 4 and not any(r["error"] for r in local)
    differing = [(i, k, r[k], ray_rows[i][k]) for i, r in enumerate(local) for k in r if ray_rows[i][k] != r[k]]
    assert not differing


def test_a_dying_worker_loses_no_finished_point(tmp_path):
    marker = tmp_path / "died-once"

    def fill(context, row):  # a closure: Ray ships it by value to its workers
        if row["i"] == 3 and not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the worker process dies mid-point; Ray retries the task
        if row["i"] == 5:
            os._exit(1)  # dies every time: after the retries its point fails, the others stand
        row["y"] = row["i"] ** 2 + context

    writer = ResultWriter(tmp_path / "rows.csv", ["i", "y", "error"])
    rows = run_points([{"i": i} for i in range(8)], fill, 100, writer, workers=2, progress=False, heavy=True,
                      backend="ray")
    assert [r["i"] for r in rows] == list(range(8))  # point order, as the local pool gives
    assert marker.exists() and rows[3]["y"] == 109 and not rows[3]["error"]
    assert "ray worker lost" in rows[5]["error"] and "y" not in rows[5]
    assert all(rows[i]["y"] == i * i + 100 for i in range(8) if i != 5)
    assert len(read_table(tmp_path / "rows.csv")) == 8  # every row reached the CSV as it finished


def test_missing_ray_and_a_stray_address_are_one_line_errors(tmp_path, monkeypatch, capsys):
    from sim.cli import main

    assert main(["run", "c1-b30-vs-h20", "--ray-address", "127.0.0.1:6379", "--out", str(tmp_path)]) == 2
    assert "--ray-address is for --backend ray" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(SimError, match=r"pip install 'sim\[ray\]'"):
        run_points([{"i": 0}], lambda c, r: None, None, ResultWriter(tmp_path / "x.csv", ["i", "error"]),
                   backend="ray")
