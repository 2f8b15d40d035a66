"""Perfetto trace export and the rate sweep."""

from __future__ import annotations

import json

import pytest

from sim.catalog import load_chip, load_model
from sim.des import (
    Arrivals,
    Disaggregation,
    Lengths,
    Requests,
    Scheduler,
    Serving,
    iteration_cost,
    make_requests,
    perfetto_trace,
    rate_sweep,
    saturation,
    simulate,
    time_series,
)
from sim.workload.spec import Precision


@pytest.fixture(scope="module")
def setup():
    chip, model = load_chip("H100"), load_model("llama-3.1-8b")
    spec = Requests(count=150, arrivals=Arrivals(rate_per_s=20.0), input=Lengths(value=300),
                    output=Lengths(kind="uniform", low=8, high=64))
    sched = Scheduler(policy="chunked", max_seqs=32)
    return iteration_cost(chip, model, Precision(), sched, make_requests(spec)), spec, sched


def test_trace_is_valid_json_with_chip_and_request_tracks(setup):
    cost, spec, sched = setup
    res = simulate(cost, Serving(scheduler=sched, disaggregation=Disaggregation(link_GBps=50.0)), make_requests(spec))
    trace = json.loads(json.dumps(perfetto_trace(res, max_requests=20)))
    ev = trace["traceEvents"]
    names = {e["args"]["name"] for e in ev if e["ph"] == "M"}
    assert {"requests", "chip 0", "chip 1", "compute", "request 0", "request 19"} <= names
    assert "request 20" not in names
    spans = [e for e in ev if e["ph"] == "X"]
    assert all(e["dur"] >= 0 and e["ts"] >= 0 and {"pid", "tid"} <= e.keys() for e in spans)
    assert {"queued", "prefill", "transfer", "decode"} <= {e["name"] for e in spans if e["pid"] == 0}
    assert sum(1 for e in spans if e["pid"] > 0) == res.iterations
    assert any(e["ph"] == "C" for e in ev)


def test_time_series_covers_every_iteration(setup):
    cost, spec, sched = setup
    res = simulate(cost, Serving(scheduler=sched), make_requests(spec))
    ts = time_series(res)
    assert len(ts["t_s"]) == res.iterations
    assert ((ts["kv_util"] >= 0) & (ts["kv_util"] <= 1)).all()


def test_rate_sweep_finds_the_saturation_point(setup):
    cost, spec, sched = setup
    rows = rate_sweep(cost, Serving(scheduler=sched), spec, [1.0, 4.0, 400.0, 2000.0])
    sat = saturation(rows)
    assert [r["saturated"] for r in rows] == [False, False, True, True]
    assert sat["max_sustained_rate_per_s"] == 4.0 and sat["saturation_rate_per_s"] == 400.0
    tput = [r["output_tokens_per_s"] for r in rows]
    assert tput[0] < tput[1] < tput[2]
    assert rows[-1]["ttft_p90_s"] > rows[0]["ttft_p90_s"]
