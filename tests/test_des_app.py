"""run_serving: a rate sweep per chip and model written to results/<name>/."""

from __future__ import annotations

import csv
import json

import pytest

from sim.errors import ConfigError
from sim.scenario.store import read_table
from sim.studies.serving import run_serving

REQUESTS = {"count": 60, "arrivals": {"rate_per_s": 1.0}, "input": {"value": 256}, "output": {"value": 32}}


def test_run_serving_writes_rows_figures_and_a_trace(tmp_path):
    run_serving("serve-test", ["H100", "A100"], ["llama-3.1-8b", "llama-3.1-70b"], REQUESTS,
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
    assert len(read_table(out / "saturation.csv")) == 2
    assert (out / "figures" / "llama-3-1-8b_latency_vs_throughput.png").stat().st_size > 0
    assert (out / "figures" / "timeline.png").is_file()
    assert json.loads((out / "trace.json").read_text())["traceEvents"]


def test_bad_arguments_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="rates"):
        run_serving("x", ["H100"], ["llama-3.1-8b"], REQUESTS, [], results_root=tmp_path)
    with pytest.raises(ConfigError, match="arrivals"):
        run_serving("x", ["H100"], ["llama-3.1-8b"], {**REQUESTS, "arrivals": {"kind": "gamma", "rate_per_s": 1}},
                    [1.0], results_root=tmp_path)


def test_parallel_sweep_matches_serial(tmp_path):
    runs = []
    for workers in (1, 2):
        run_serving("par", ["H100"], ["llama-3.1-8b"], REQUESTS, [2.0, 20.0, 2000.0], results_root=tmp_path / str(workers),
                    workers=workers)
        rows = read_table(tmp_path / str(workers) / "par" / "serving.csv")
        runs.append([{k: v for k, v in r.items() if k not in ("wall_s", "us_per_event")} for r in rows])
    assert len(runs[0]) == 3 and runs[0] == runs[1]


def test_sim_serve_prints_the_summary_metrics(capsys):
    from sim.cli import main

    assert main(["serve", "--system", "HGX-H100", "--tp", "2", "--model", "Llama-3.1-8B", "--rate", "2",
                 "--requests", "30", "--input-len", "256", "--output-len", "16", "--policy", "chunked",
                 "--slo-ttft", "0.5", "--slo-tpot", "0.05", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hardware"] == "HGX-H100-8GPU tp2" and out["chips_total"] == 2 and out["requests"] == 30
    assert {"ttft_p90_s", "tpot_p90_s", "output_tokens_per_s", "goodput_req_per_s", "saturated"} <= set(out)
    assert main(["serve", "--chip", "H100", "--model", "Llama-3.1-8B", "--rate", "1", "--requests", "10"]) == 0
    assert "ttft_p50_s" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["--chip", "H100", "--model", "Llama-3.1-8B", "--rate", "0"], "--rate: a finite number above 0 is needed"),
    (["--chip", "H100", "--model", "Llama-3.1-8B", "--rate", "1", "--policy", "chunky"], "unknown scheduler policy"),
    (["--chip", "H100", "--model", "Llama-3.1-70B", "--rate", "1"], "no room for a KV cache"),
    (["--chip", "H100", "--tp", "3", "--model", "Llama-3.1-8B", "--rate", "1"], "does not divide"),
    (["--chip", "H100", "--model", "Llama-3.1-8B", "--rate", "1", "--slo-ttft", "1"], "--slo-tpot"),
])
def test_sim_serve_mistakes_are_one_line(capsys, argv, needle):
    from sim.cli import main

    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
