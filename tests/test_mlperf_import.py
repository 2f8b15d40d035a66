"""MLPerf Inference results as validation cases: every mappable row becomes a case that
loads and predicts; what cannot be mapped is counted by reason, not dropped silently."""

from __future__ import annotations

import json

from sim import catalog
from sim.validate.cases import load_cases
from sim.validate.mlperf import cases_from_summary, main
from sim.validate.predict import predict_case


def _row(**over) -> dict:
    row = {"ID": "5.1-0001", "Submitter": "Acme", "Category": "closed", "Suite": "datacenter", "System": "box",
           "Platform": "8xB200", "Model": "llama2-70b-99", "Scenario": "Offline", "Nodes": 1, "a#": 8,
           "Accelerator": "NVIDIA B200-SXM-180GB", "Accuracy": "ROUGE1: 44.4  TOKENS_PER_SAMPLE: 273.1",
           "Software": "TensorRT 10.11, CUDA 12.9", "weight_data_types": "fp4", "version": "v5.1",
           "Location": "closed/Acme/results/8xB200/llama2-70b-99/Offline", "Performance_Result": 100000.0,
           "Performance_Units": "Tokens/s"}
    return row | over


def test_a_summary_becomes_cases_that_load_and_predict(tmp_path):
    rows = [_row(), _row(Scenario="Server"), _row(Accelerator="", Platform="cpu"),
            _row(Model="llama3.1-8b", Accuracy="ROUGE1: 38.8  GEN_LEN: 8167644"),
            _row(Performance_Units="Queries/s", Platform="q"), _row(Model="resnet50", Platform="r")]
    summary = tmp_path / "summary_results.json"
    summary.write_text(json.dumps(rows))
    out = tmp_path / "mlperf.yaml"
    main([str(summary), "--commit", "abc123", "--out", str(out)])
    cases = load_cases(out)
    assert [c.id for c in cases] == ["mlpinf51-llama2-70b-99-off-acme-8xb200", "mlpinf51-llama2-70b-99-ser-acme-8xb200",
                                     "mlpinf51-llama3-1-8b-off-acme-8xb200"]
    offline, server, eight = cases
    assert offline.workload.output_len == 273 and offline.workload.dataset == "mlperf-llama2-70b"
    assert eight.workload.output_len is None  # GEN_LEN counts characters: the dataset's mean is used
    assert (server.workload.ttft_limit_s, server.workload.tpot_limit_s) == (2.0, 0.2)
    assert "@abc123" in offline.source
    econ = catalog.load_economics({})
    assert predict_case(offline, econ).status == "ok"
    assert predict_case(server, econ).status == "unsupported"
    header = out.read_text().split("\n- ")[0]
    assert "accelerator (none: CPU): 1" in header and "units Queries/s: 1" in header


def test_rows_it_cannot_map_are_counted_by_reason():
    _, skipped = cases_from_summary([_row(weight_data_types="INT4"), _row(Accelerator="Acme X1")], "c")
    assert skipped == {"weights INT4": 1, "accelerator Acme X1": 1}
