"""run_serving: a rate sweep per chip and model written to results/<name>/."""

from __future__ import annotations

import csv
import json

import pytest

from sim.errors import ConfigError
from sim.serving_app import run_serving

REQUESTS = {"count": 60, "arrivals": {"rate_per_s": 1.0}, "input": {"value": 256}, "output": {"value": 32}}


def test_run_serving_writes_rows_figures_and_a_trace(tmp_path):
    run = run_serving("serve-test", ["H100", "A100"], ["llama-3.1-8b", "llama-3.1-70b"], REQUESTS,
                      [2.0, 2000.0], serving={"scheduler": {"policy": "chunked", "max_seqs": 16}},
                      slo={"ttft_s": 0.5, "tpot_s": 0.05}, results_root=tmp_path)
    out = tmp_path / "serve-test"
    with (out / "serving.csv").open() as f:
        rows = list(csv.DictReader(f))
    ok = [r for r in rows if not r["error"]]
    assert len(ok) == 4  # 2 chips x 2 rates for the 8B model
    assert {r["chip"] for r in ok} == {"H100-SXM5-80GB", "A100-SXM4-80GB"}
    assert all("goodput_req_per_s" in r and "ttft_p99_s" in r for r in ok)
    assert sum(1 for r in rows if "KV cache" in r["error"]) == 2  # 70B fits neither card
    assert len(run.saturation) == 2
    assert (out / "figures" / "llama-3-1-8b_latency_vs_throughput.png").stat().st_size > 0
    assert (out / "figures" / "timeline.png").is_file()
    assert json.loads((out / "trace.json").read_text())["traceEvents"]


def test_bad_arguments_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="rates"):
        run_serving("x", ["H100"], ["llama-3.1-8b"], REQUESTS, [], results_root=tmp_path)
    with pytest.raises(ConfigError, match="arrivals"):
        run_serving("x", ["H100"], ["llama-3.1-8b"], {**REQUESTS, "arrivals": {"kind": "gamma", "rate_per_s": 1}},
                    [1.0], results_root=tmp_path)
