"""Validation cases from an MLPerf Inference round's ``summary_results.json`` (the results
repository's table of every submission): each closed-division datacenter LLM result on an
accelerator the catalog has becomes one case, so the set holds the whole round, not
chosen rows. ``python -m sim.validate.mlperf SUMMARY.json --commit SHA --out FILE.yaml``.

Offline results are costed at the benchmark dataset's mean input length and the
submission's own mean output length (its accuracy run's TOKENS_PER_SAMPLE); Server and
Interactive results carry the round's p99 TTFT / TPOT limits, and validation declines
them (their throughput depends on arrival bursts and queueing). Results it cannot map
(CPUs, accelerators not in the catalog, clusters of mixed parts, other units) are counted
in the file's header by reason.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from sim.catalog.yaml_io import dump_yaml

# Accelerator names as submitters wrote them -> catalog chips.
CHIPS = {
    "NVIDIA B200-SXM-180GB": "B200", "NVIDIA H200-SXM-141GB": "H200", "Virtualized NVIDIA H200-SXM-141GB": "H200",
    "AMD Instinct MI325X 256GB HBM3e": "MI325X", "AMD Instinct MI300X 192GB HBM3": "MI300X",
    "NVIDIA H200-NVL-141GB": "H200-NVL-141GB", "NVIDIA GB200": "GB200-B200", "NVIDIA GB300": "GB300",
    "NVIDIA H100-SXM-80GB": "H100-SXM5-80GB", "NVIDIA RTX PRO 6000 Blackwell Server Edition": "RTX-PRO-6000-Server",
    "NVIDIA L40S": "L40S",
}
# Benchmark -> (catalog model, catalog dataset, loadgen's benchmark name in mlperf.conf).
# DeepSeek-R1 is DeepSeek-V3's architecture (the catalog model).
BENCHMARKS = {
    "llama2-70b-99": ("Llama-2-70B", "mlperf-llama2-70b", "llama2-70b"),
    "llama2-70b-99.9": ("Llama-2-70B", "mlperf-llama2-70b", "llama2-70b"),
    "llama3.1-405b": ("Llama-3.1-405B", "mlperf-llama3.1-405b", "llama3_1-405b"),
    "llama3.1-8b": ("Llama-3.1-8B", "mlperf-llama3.1-8b", "llama3_1-8b"),
    "mixtral-8x7b": ("Mixtral-8x7B", "mlperf-mixtral-8x7b", "mixtral-8x7b"),
    "deepseek-r1": ("DeepSeek-V3", "mlperf-deepseek-r1", "deepseek-r1"),
}
# (loadgen benchmark, scenario) -> (p99 TTFT, p99 TPOT) in ms: loadgen's mlperf.conf as the
# v5.1 submissions ran it (mlcommons/inference_results_v5.1 @965182b0,
# closed/AMD/measurements/8xMI300X_2xEPYC_9575F/llama2-70b-99/Offline/mlperf.conf:
# <name>.Server.ttft_latency / tpot_latency; the Interactive rows are <name>-interactive).
LIMITS_MS = {
    ("llama2-70b", "Server"): (2000, 200), ("llama2-70b", "Interactive"): (450, 40),
    ("mixtral-8x7b", "Server"): (2000, 200),
    ("llama3_1-405b", "Server"): (6000, 175), ("llama3_1-405b", "Interactive"): (4500, 80),
    ("llama3_1-8b", "Server"): (2000, 100), ("llama3_1-8b", "Interactive"): (500, 30),
    ("deepseek-r1", "Server"): (2000, 80),
}
FORMATS = {"fp8": "fp8", "FP8": "fp8", "fp4": "fp4", "FP4": "fp4"}
SCENARIOS = ("Offline", "Server", "Interactive")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _case(r: dict[str, Any], version: str, commit: str, skipped: Counter) -> dict[str, Any] | None:
    """One result as a case, or None (the reason counted in ``skipped``)."""
    if r["Category"] != "closed" or r["Suite"] != "datacenter" or r["Model"] not in BENCHMARKS:
        return None
    if r["Scenario"] not in SCENARIOS:
        return None
    if r["Performance_Units"] != "Tokens/s":
        skipped[f"units {r['Performance_Units']}"] += 1
        return None
    chip = CHIPS.get(r["Accelerator"])
    if chip is None:
        skipped[f"accelerator {r['Accelerator'] or '(none: CPU)'}"] += 1
        return None
    precision = FORMATS.get(r["weight_data_types"])
    if precision is None:
        skipped[f"weights {r['weight_data_types']}"] += 1
        return None
    model, dataset, loadgen = BENCHMARKS[r["Model"]]
    found = re.search(r"TOKENS_PER_SAMPLE: ([0-9.]+)", r["Accuracy"])
    if found is None and dataset != "mlperf-llama3.1-8b":  # llama3.1-8b reports characters (GEN_LEN) instead
        skipped["no tokens per sample"] += 1
        return None
    tokens = float(found.group(1)) if found else None
    scenario, count = r["Scenario"], int(r["a#"]) * int(r["Nodes"])
    workload: dict[str, Any] = {"mode": "inference", "phase": "generate", "dataset": dataset, "precision": precision}
    if tokens is not None:
        workload["output_len"] = round(tokens)
    software = r["Software"]
    notes = (f"{r['System']} ({r['Platform']}), {count} x {r['Accelerator']} on {r['Nodes']} node(s); software: "
             f"{software}; weights {r['weight_data_types']}. Output tokens/s of the whole system. "
             + (f"output_len = the submission's own TOKENS_PER_SAMPLE ({tokens}, mean generated tokens of its "
                "accuracy run); input_len = " if tokens is not None else "input and output lengths = ")
             + f"the dataset's mean (configs/datasets/{dataset}.yaml). Batch and tensor/data-parallel split are the "
             "submitter's (not stated in the summary): the prediction takes the best of each.")
    if scenario != "Offline":
        if (loadgen, scenario) not in LIMITS_MS:
            skipped[f"no latency limits for {loadgen} {scenario}"] += 1
            return None
        ttft_ms, tpot_ms = LIMITS_MS[(loadgen, scenario)]
        workload |= {"ttft_limit_s": ttft_ms / 1000, "tpot_limit_s": tpot_ms / 1000}
        notes += (f" {scenario}: Poisson arrivals, p99 TTFT <= {ttft_ms} ms and p99 TPOT <= {tpot_ms} ms (loadgen "
                  "mlperf.conf). Declined by the analytical validation: such a throughput depends on arrival bursts "
                  "and queueing.")
    case: dict[str, Any] = {
        "id": f"mlpinf{version.replace('.', '')}-{_slug(r['Model'])}-{scenario[:3].lower()}-{_slug(r['Submitter'])}-"
              f"{_slug(r['Platform'])}",
        "category": "inference_offline" if scenario == "Offline" else "inference_server",
        "hardware": {"chip": chip, "count": count}, "model": model, "workload": workload,
        "metric": "throughput_tokens_per_s"}
    stack = "trtllm" if "TensorRT" in software else "vllm" if "vLLM" in software else None
    if stack is not None:
        case["stack"] = stack
    case |= {"value": float(r["Performance_Result"]),
             "source": (f"MLCommons MLPerf Inference v{version} closed datacenter, result {r['ID']} ({r['Submitter']}), "
                        f"{r['Location']}: Performance_Result {r['Performance_Result']} {r['Performance_Units']} "
                        f"(mlcommons/inference_results_v{version} @{commit}, summary_results.json)"),
             "notes": notes, "used_for_fitting": []}
    return case


def cases_from_summary(results: list[dict[str, Any]], commit: str) -> tuple[list[dict[str, Any]], Counter]:
    """The cases of a round's summary rows, and how many rows were left out for each reason."""
    skipped: Counter = Counter()
    cases, seen = [], set()
    for r in results:
        case = _case(r, str(r.get("version", "")).removeprefix("v"), commit, skipped)
        if case is None:
            continue
        if case["id"] in seen:
            skipped["duplicate id"] += 1
            continue
        seen.add(case["id"])
        cases.append(case)
    return cases, skipped


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summary", type=Path, help="the round's summary_results.json")
    ap.add_argument("--commit", required=True, help="the results repository's commit the file was read at")
    ap.add_argument("--out", type=Path, required=True, help="case file to write")
    args = ap.parse_args(argv)
    try:
        results = json.loads(args.summary.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SystemExit(f"{args.summary}: not a readable summary_results.json ({err})") from None
    if not isinstance(results, list):
        raise SystemExit(f"{args.summary}: a summary_results.json is a JSON list of results")
    try:
        cases, skipped = cases_from_summary(results, args.commit)
    except (KeyError, TypeError, ValueError) as err:
        raise SystemExit(f"{args.summary}: a result lacks a field this reads ({err})") from None
    rounds = sorted({str(r.get("version", "?")) for r in results if isinstance(r, dict)})
    header = (f"# MLPerf Inference {', '.join(rounds)} (closed, datacenter): every LLM result on an accelerator\n"
              f"# in the catalog, Offline, Server and Interactive, generated by sim.validate.mlperf from the round's\n"
              f"# summary_results.json at {args.commit}.\n"
              "# Skipped (not in the catalog or not modelled): "
              + ("; ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) or "none") + ".\n"
              "# Nothing here was fitted.\n")
    try:
        args.out.write_text(header + dump_yaml(cases), encoding="utf-8")
    except OSError as err:
        raise SystemExit(f"--out {args.out}: cannot write there ({err.strerror})") from None
    print(f"{len(cases)} cases -> {args.out}")


if __name__ == "__main__":
    main()
