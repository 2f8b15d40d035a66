"""Benchmark datasets as workloads: a run on a dataset is costed at its mean lengths (stated
where they came from) instead of being refused, and validation cases may name one."""

from __future__ import annotations

import json

import pytest

from sim import catalog
from sim.cli import main
from sim.errors import ConfigError, UnknownNameError
from sim.validate.cases import Case
from sim.validate.predict import predict_case

ECON = catalog.load_economics({})


def test_every_dataset_a_validation_case_names_is_in_the_catalog():
    """A case naming a dataset the catalog lacks would be reported as an error, not predicted."""
    from sim.validate.cases import load_cases

    named = {c.workload.dataset for c in load_cases(catalog.scenarios_dir() / "validation") if c.workload.dataset}
    assert named and named <= set(catalog.names("dataset"))
    for name in named:
        assert catalog.load_dataset(name).samples  # the shipped ones all say how many requests they hold


def test_an_unknown_dataset_is_one_line_with_close_names():
    with pytest.raises(UnknownNameError, match="Did you mean: .*mlperf-llama2-70b"):
        catalog.load_dataset("mlperf-llama2-7b")
    assert main(["predict", "--chip", "H100", "--model", "Llama-2-70B", "--dataset", "mlperf-lama2-70b"]) != 0


def test_predict_on_a_dataset_runs_at_its_means_and_says_so(capsys):
    ds = catalog.load_dataset("mlperf-llama2-70b")
    mean_in, mean_out = ds.lengths()
    assert main(["predict", "--chip", "H200", "--model", "Llama-2-70B", "--dataset", ds.name,
                 "--precision", "fp8", "--batch", "32", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert (out["input_len"], out["output_len"]) == (mean_in, mean_out) == (222, 294)
    assert "from dataset mlperf-llama2-70b" in captured.err
    assert main(["predict", "--chip", "H200", "--model", "Llama-2-70B", "--input-len", str(mean_in),
                 "--output-len", str(mean_out), "--precision", "fp8", "--batch", "32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["throughput_tokens_per_s"] == out["throughput_tokens_per_s"]


def test_a_length_given_beside_a_dataset_wins(capsys):
    assert main(["predict", "--chip", "H200", "--model", "Llama-2-70B", "--dataset", "mlperf-llama2-70b",
                 "--output-len", "100", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert (out["input_len"], out["output_len"]) == (222, 100)
    assert "input from dataset" in captured.err


def _case(**workload) -> Case:
    return Case.model_validate({
        "id": "t", "category": "inference_offline", "hardware": {"chip": "H200", "count": 8},
        "model": "Llama-2-70B", "metric": "throughput_tokens_per_s", "value": 1.0, "source": "test",
        "workload": {"mode": "inference", "phase": "generate", "precision": "fp8", **workload}})


def test_a_case_on_a_dataset_predicts_as_the_same_case_with_its_lengths_written_out():
    by_name = predict_case(_case(dataset="mlperf-llama2-70b", parallelism={"tp": 2, "dp": 4}), ECON)
    written = predict_case(_case(input_len=222, output_len=294, parallelism={"tp": 2, "dp": 4}), ECON)
    assert by_name.status == written.status == "ok"
    assert by_name.predicted == written.predicted


def test_an_offline_case_stating_neither_batch_nor_split_takes_the_best_split():
    """MLPerf Offline submitters choose the engine width and replica count: the prediction
    is the best over every tensor x data-parallel split of the chips, no worse than any."""
    best = predict_case(_case(dataset="mlperf-llama2-70b"), ECON)
    assert best.status == "ok"
    splits = []
    for tp in (1, 2, 4, 8):
        one = predict_case(_case(dataset="mlperf-llama2-70b", parallelism={"tp": tp, "dp": 8 // tp}), ECON)
        if one.status == "ok":
            splits.append(one.predicted)
    assert len(splits) >= 3 and best.predicted == pytest.approx(max(splits), rel=1e-12)


def test_a_server_case_with_latency_limits_is_declined_not_costed_as_offline():
    out = predict_case(_case(dataset="mlperf-llama2-70b", ttft_limit_s=2.0, tpot_limit_s=0.2), ECON)
    assert out.status == "unsupported" and "serving simulation" in out.reason



def test_a_dataset_file_whose_mean_passes_its_limit_is_one_line_naming_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmean_input_tokens: 2000\nmean_output_tokens: 10\nmax_input_tokens: 1024\n"
                   "sources: {mean_input_tokens: t, mean_output_tokens: t, max_input_tokens: t}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*mean_input_tokens 2000 is above max_input_tokens 1024"):
        catalog.load_dataset(str(bad))


def test_dataset_with_training_is_refused_not_ignored(capsys):
    assert main(["predict", "--chip", "H100", "--count", "8", "--model", "Llama-3.1-8B", "--mode", "training",
                 "--global-batch", "8", "--seq-len", "1024", "--dataset", "mlperf-llama2-70b"]) != 0
    assert "--dataset sets inference lengths" in capsys.readouterr().err


def test_a_case_file_may_not_set_the_origin_the_loader_records(tmp_path):
    from sim.validate.cases import load_cases

    bad = tmp_path / "cases.yaml"
    bad.write_text("- id: a\n  category: microbench_gemm\n  hardware: {chip: H100}\n  metric: gemm_tflops\n"
                   "  workload: {mode: microbench, m: 8, n: 8, k: 8, dtype: bf16}\n  value: 1\n  source: t\n"
                   "  origin: elsewhere.yaml\n")
    with pytest.raises(ConfigError, match=r"cases.yaml:\d+: origin: set by the loader"):
        load_cases(bad)
    good = tmp_path / "good.yaml"
    good.write_text(bad.read_text().replace("  origin: elsewhere.yaml\n", ""))
    assert [c.origin for c in load_cases(good)] == ["good.yaml"]
