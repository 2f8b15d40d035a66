"""The sim command: JSON contract, and user mistakes as one line with a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim.cli import main

REQUIRED = {"ttft_s", "tpot_s", "throughput_tokens_per_s", "memory_required_bytes",
            "memory_available_bytes", "bound", "energy_j_per_token"}


def test_predict_json_has_the_contract_keys(capsys):
    assert main(["predict", "--chip", "H100", "--model", "Llama-3.1-8B", "--phase", "generate",
                 "--batch", "4", "--input-len", "512", "--output-len", "64", "--precision", "bf16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= REQUIRED
    assert out["ttft_s"] > 0 and out["tpot_s"] > 0 and out["bound"] in ("compute", "memory", "overhead")


def test_predict_training_on_a_system_json(capsys):
    assert main(["predict", "--system", "HGX-H100", "--count", "64", "--model", "GPT-3-175B", "--mode", "training",
                 "--tp", "8", "--pp", "8", "--sp", "--recompute", "selective", "--global-batch", "64",
                 "--seq-len", "2048", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"step_time_s", "mfu", "memory_required_bytes", "share_communication", "share_bubble"} <= set(out)
    assert 0 < out["mfu"] < 1 and out["share_communication"] > 0


def test_predict_tensor_parallel_inference_on_count_chips(capsys):
    assert main(["predict", "--chip", "H100", "--count", "8", "--tp", "8", "--model", "Llama-3.1-70B",
                 "--phase", "decode", "--batch", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hardware"].startswith("HGX-H100") and out["share_communication"] > 0


@pytest.mark.parametrize("argv,needle", [
    (["predict", "--chip", "H100", "--count", "4", "--tp", "2", "--model", "Llama-3.1-8B"], "tp*pp*dp"),
    (["predict", "--system", "HGX-H100", "--tp", "3", "--model", "Llama-3.1-8B"], "does not divide"),
    (["predict", "--system", "HGX-H100", "--model", "Llama-3.1-8B", "--mode", "training"], "--global-batch"),
    (["predict", "--system", "HGX-H10", "--model", "Llama-3.1-8B"], "Did you mean"),
    (["predict", "--chip", "H1000", "--model", "Llama-3.1-8B"], "Did you mean"),
    (["predict", "--chip", "H100", "--model", "Llama-9"], "unknown model"),
    (["predict", "--chip", "H100", "--model", "Llama-3.1-405B"], "short by"),
    (["predict", "--chip", "H100", "--model", "Llama-3.1-8B", "--batch", "0"], "--batch"),
    (["run", "no-such-scenario"], "unknown scenario"),
    (["predict", "--chip", "H100", "--model", "Llama-2-7B", "--input-len", "4096", "--output-len", "64"],
     "supports 4096 tokens of context"),
    (["show", "chip", "tpu v9"], "unknown chip"),
    (["show", "system", "HGX-H10"], "Did you mean"),
    (["predict", "--chip", "H100", "--model", "Llama-3.1-8B", "--phase", "generate", "--output-len", "1"],
     "output_len >= 2"),
    (["serve", "--chip", "H100", "--model", "Llama-3.1-8B", "--rate", "1", "--seed", "-1"], "--seed: -1 is outside"),
    (["serve", "--chip", "H100", "--model", "Llama-3.1-8B", "--rate", "1", "--requests", "1e9"],
     "--requests: a whole number is needed"),
    (["serve", "--chip", "H100", "--model", "Llama-3.1-8B", "--rate", "1", "--input-len", "100000000000000000000"],
     "--input-len: 100000000000000000000 is outside 1..10,000,000"),
    (["serve", "--chip", "H100", "--model", "Llama-3.1-8B", "--rate", "1", "--cv", "1e-400"], "--cv: a finite number"),
    (["run", "c1-b30-vs-h20", "--workers", "0"], "--workers: 0 is outside"),
    (["run", "c1-b30-vs-h20", "--out", "/proc/no-such-dir", "--no-progress"], "/proc/no-such-dir"),
    (["predict", "--chip", "H100", "--modle", "Llama-3.1-8B"], "required: --model"),
    (["predict", "--chip", "H100", "--model", "Llama-3.1-8B", "--currency", "EUR"],
     "currency EUR needs --currency-per-usd and --electricity-price"),
    (["predict", "--chip", "H100", "--model", "Llama-3.1-8B", "--electricity-price", "-1"],
     "economics flags: economics: --electricity-price: Input should be greater than 0"),
    (["predict", "--chip", "H100", "--model", "tests/data/hf/no-such/config.json"], "cannot read it"),
])
def test_user_mistakes_exit_nonzero_with_one_line(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "sim.cli", *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_list_and_show(capsys):
    assert main(["list", "chips"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["name", "kind", "status", "bf16_TFLOPS", "memory_GB", "bandwidth_GBps"]
    assert "H100-SXM5-80GB" in out
    assert main(["list", "models", "--json"]) == 0
    models = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert models["Llama-3.1-8B"]["params_B"] == pytest.approx(8.03, abs=0.01) and models["Llama-3.1-8B"]["mlp"] == "dense"
    assert main(["show", "chip", "H100"]) == 0
    out = capsys.readouterr().out
    assert "sources:" in out and "3350" in out
    assert main(["list", "scenarios"]) == 0
    assert main(["show", "system", "HGX-H100"]) == 0
    out = capsys.readouterr().out
    assert "chip: H100-SXM5-80GB" in out and "link_bandwidth_GBps: 25" in out and "scale_up.links_per_chip:" in out
    assert main(["show", "stack", "vllm-v0.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "vLLM-v0.5"


def test_version_prints_the_package_version():
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("sim ") and proc.stdout.strip() != "sim"


def test_predict_training_timeline_writes_the_trace_table_and_figure(tmp_path, capsys):
    assert main(["predict", "--chip", "H100", "--count", "8", "--model", "Llama-3.1-8B", "--mode", "training",
                 "--tp", "2", "--pp", "4", "--global-batch", "16", "--seq-len", "2048", "--timeline",
                 str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    trace = tmp_path / "trace_llama-3-1-8b.json"
    assert str(trace) in out["timeline_files"]
    assert {e["pid"] for e in json.loads(trace.read_text())["traceEvents"]} == {1, 2, 3, 4}  # one per stage
    assert (tmp_path / "figures" / "llama-3-1-8b_pipeline_stages.png").stat().st_size > 0
    assert len((tmp_path / "pipeline_stages.csv").read_text().splitlines()) == 1 + 4


@pytest.fixture
def user_catalog(tmp_path, monkeypatch):
    """A user catalog folder with one chip; the shipped catalog is restored afterwards."""
    from sim import catalog
    from sim.catalog import roots

    chips = tmp_path / "cat" / "chips"
    chips.mkdir(parents=True)
    text = (catalog.chips_dir() / "h100-sxm5-80gb.yaml").read_text()
    text = text.replace("name: H100-SXM5-80GB", "name: My-H100-slow").replace(
        "aliases: [H100, H100-SXM, H100-SXM5]", "aliases: []").replace("bandwidth_GBps: 3350", "bandwidth_GBps: 2000")
    (chips / "my-h100.yaml").write_text(text)
    monkeypatch.setattr(roots, "_user", [])
    yield tmp_path / "cat"
    monkeypatch.setattr(roots, "_user", [])
    catalog.use_catalog()  # forget what the user folder added


def test_a_user_catalog_adds_to_the_shipped_one(user_catalog, capsys):
    assert main(["--catalog", str(user_catalog), "list", "chips"]) == 0
    listed = capsys.readouterr().out
    assert "My-H100-slow" in listed and "H100-SXM5-80GB" in listed and "B200" in listed


def test_a_user_chip_that_takes_a_shipped_name_is_one_line(user_catalog, capsys):
    path = user_catalog / "chips" / "my-h100.yaml"
    path.write_text(path.read_text().replace("name: My-H100-slow", "name: B200"))
    assert main(["--catalog", str(user_catalog), "list", "chips"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'B200' is already the name of" in err and "\n" not in err


@pytest.mark.parametrize("system,chips", [("Groq-LPU-Cluster", (300, 700)), ("Cerebras-CS3-Cluster", (4, 4)),
                                          ("SN40L-Rack-16", (3, 4)), ("TPU-v7-Ironwood-Pod", (1, 1)),
                                          ("TX81-Mesh-64", (3, 3))])
def test_predict_on_a_system_without_a_plan_takes_the_smallest_that_fits(capsys, system, chips):
    assert main(["predict", "--system", system, "--model", "Llama-3.1-70B", "--phase", "decode", "--batch", "1",
                 "--input-len", "1024", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert captured.err.startswith("plan: smallest plan that fits:")
    assert chips[0] <= out["tp"] * out["pp"] * out["dp"] <= chips[1] and out["tpot_s"] > 0


def test_run_where_every_point_fails_exits_nonzero(tmp_path, capsys):
    """Llama-3.1-405B in bf16 fits no single L2 (24 GB): all points fail, the run says so
    in one line and exits 1 (the CSV and summary are still written)."""
    scenario = tmp_path / "all-fail.yaml"
    scenario.write_text("name: all-fail\ntitle: t\nchips: [L2]\nmodels: [Llama-3.1-405B]\n"
                        "workload: {phase: [decode], batch: [1, 2], input_len: [512]}\nroofline: false\n")
    assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "error: every point failed" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "out" / "all-fail" / "summary.md").is_file()


def test_tensor_parallelism_across_nodes_is_warned(capsys):
    argv = ["predict", "--system", "HGX-H100-8GPU", "--model", "Llama-3.1-70B", "--phase", "decode", "--batch", "1",
            "--input-len", "512", "--json"]
    assert main([*argv, "--count", "16", "--tp", "16"]) == 0
    assert "warning: tensor parallelism over 16 spans 2 scale-up domains of 8 chips" in capsys.readouterr().err
    assert main([*argv, "--count", "8", "--tp", "8"]) == 0
    assert "spans" not in capsys.readouterr().err


def test_help_shows_every_default(capsys):
    assert main(["predict", "--help"]) == 0
    out = capsys.readouterr().out
    for flag, default in (("--phase", "generate"), ("--batch", "1"), ("--input-len", "1024"), ("--zero", "0"),
                          ("--precision", "bf16")):
        block = out[out.index(f"  {flag} "):]
        assert f"(default: {default})" in block[:block.index("\n  --", 3)], flag


def test_every_command_has_json():
    from sim.cli import _parser

    sub = next(a for a in _parser()._actions if a.dest == "command")
    lacking = [name for name, cmd in sub.choices.items()
               if not any("--json" in a.option_strings for a in cmd._actions)]
    assert not lacking, lacking


def test_validate_and_import_model_json(tmp_path, capsys):
    assert main(["validate", "scenarios/validation/collective_sweeps.yaml", "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cases"] == len(out["outcomes"]) > 0 and out["predicted"] <= out["cases"]
    held = out["groups"]["held-out"]
    assert held["cases"] == sum(1 for o in out["outcomes"] if o["status"] == "ok" and o["fitted"] == "no")
    assert set(held) == {"cases", "median_abs_error_pct", "p90_abs_error_pct", "median_optimism_pct"}
    assert main(["import-model", "tests/data/hf/gpt-oss-20b/config.json", "--json"]) == 0
    model = json.loads(capsys.readouterr().out)
    assert model["layers"] > 0 and model["name"]


def test_run_json(tmp_path, capsys):
    assert main(["run", "c1-b30-vs-h20", "--out", str(tmp_path), "--no-progress", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["points"] > 0 and out["failed"] < out["points"] and "summary.md" in out["files"]
    assert (tmp_path / "c1-b30-vs-h20" / out["csv"]).is_file()
