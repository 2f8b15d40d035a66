"""A property-based fuzz campaign (hypothesis): malformed bytes, YAML, chip, system and
model files, scenarios, serving traces and command lines give one clear line and never a
traceback; predictions obey the roofline and more bandwidth is never slower.

The default profile ("ci", in conftest.py) runs a few dozen cases per property in
seconds; the long one (``pytest -m fuzz``) runs 3,000 per property with a 10 s deadline on
each input (a hang fails it) and prints how many inputs each path accepted and rejected.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from fuzz_counts import record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.analytical.inference import predict
from sim.catalog import (
    chips_dir,
    load_chip,
    load_economics,
    load_model,
    load_system,
    models_dir,
    systems_dir,
)
from sim.catalog.yaml_io import read_yaml
from sim.cli import main
from sim.des.arrivals import read_trace
from sim.errors import SimError
from sim.studies import load_scenario
from sim.workload.spec import Precision, Workload

pytestmark = pytest.mark.fuzz
ECON = load_economics({})
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=12), st.lists(st.integers(-5, 300), max_size=4))
BASE = {"name": "fuzz", "title": "fuzz", "chips": ["H100"], "models": ["Llama-3.1-8B"],
        "workload": {"phase": ["decode"], "batch": [1, 8], "input_len": [512]}, "roofline": False}
FIELDS = ["name", "title", "chips", "models", "workload", "workload.phase", "workload.batch", "workload.input_len",
          "workload.output_len", "workload.precision", "cards", "systems", "parallelism", "findings", "plots",
          "economics", "economics.electricity_price_per_kWh", "chip_variants", "mode", "bogus"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_any_bytes_read_as_yaml_are_data_or_one_clear_error(tmp_path, data):
    path = tmp_path / "x.yaml"
    path.write_bytes(data)
    try:
        read_yaml(path)
    except SimError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
        return record("bytes as YAML", "rejected")
    record("bytes as YAML", "accepted")


@given(text=st.text(alphabet=st.sampled_from(list("ab: -[]{},&*!|>'\"#\n 0123.e")), max_size=200))
def test_yaml_like_text_is_data_or_one_clear_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("y") / "x.yaml"
    path.write_text(text)
    try:
        read_yaml(path)
    except SimError as err:
        assert "\n" not in str(err)
        return record("YAML-like text", "rejected")
    record("YAML-like text", "accepted")


@given(changes=st.dictionaries(st.sampled_from(FIELDS), SCALARS, min_size=1, max_size=3))
def test_a_mangled_scenario_loads_or_is_one_clear_error(changes):
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for dotted, value in changes.items():
        head, _, leaf = dotted.partition(".")
        if leaf:
            if not isinstance(data.get(head), dict):
                data[head] = {}
            data[head][leaf] = value
        else:
            data[head] = value
    try:
        load_scenario(data)
    except SimError as err:
        assert "\n" not in str(err).strip()
        return record("scenario", "rejected")
    record("scenario", "accepted")


FLAG_VALUES = st.one_of(st.integers(-3, 10**9).map(str), st.floats(allow_nan=True).map(str),
                        st.sampled_from(["", "x", "1e400", "-0", "nan", "inf", "bf16", "fp4", "H100", "generate"]))
FLAGS = ["--batch", "--input-len", "--output-len", "--phase", "--precision", "--count", "--tp", "--pp", "--dp",
         "--electricity-price", "--currency", "--currency-per-usd", "--kv-cache", "--stack"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # capsys is read out per example
@given(flags=st.dictionaries(st.sampled_from(FLAGS), FLAG_VALUES, max_size=4))
def test_predict_with_any_flags_exits_with_a_code_never_a_traceback(flags, capsys):
    argv = ["predict", "--chip", "H100", "--model", "Llama-3.1-8B"] + [x for kv in flags.items() for x in kv]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code in (0, 1, 2)
    if code:
        assert err.startswith("error:") and "Traceback" not in err and "\n" not in err
    record("sim predict flags", "rejected" if code else "accepted")


CHIPS = ["H100", "B30", "TPU v6e", "SN40L", "Cerebras-WSE-3", "Groq-LPU", "MI300X", "Gaudi3"]
MODELS = ["Llama-3.1-8B", "Qwen3-30B-A3B"]


@given(chip=st.sampled_from(CHIPS), model=st.sampled_from(MODELS), phase=st.sampled_from(["prefill", "decode"]),
       batch=st.integers(1, 64), input_len=st.integers(1, 8192), fmt=st.sampled_from(["bf16", "fp8"]))
def test_a_prediction_never_beats_the_roofline_and_more_bandwidth_is_never_slower(chip, model, phase, batch,
                                                                                   input_len, fmt):
    c, m = load_chip(chip), load_model(model)
    wl = Workload(phase=phase, batch=batch, input_len=input_len, precision=Precision.uniform(fmt))
    try:
        p = predict(c, m, wl, ECON)
    except SimError:
        return record("prediction invariants", "rejected")  # does not fit / no such format: one line elsewhere
    record("prediction invariants", "accepted")
    peak = max(c.compute.peak_flops(f) for f in ("bf16", fmt) if f in c.compute.peak_dense_TFLOPS)
    assert p.e2e_latency_s * (1 + 1e-9) >= p.flops / p.chips / peak
    mem = {k: t.model_copy(update={"bandwidth_GBps": t.bandwidth_GBps * 2}) for k, t in c.memory.items()}
    faster = predict(c.model_copy(update={"memory": mem}), m, wl, ECON)
    assert faster.e2e_latency_s <= p.e2e_latency_s * (1 + 1e-9)


# ------------------------------------------------------------------ config files, traces, serve

_FILE_NUMBER = itertools.count()


def _mangled_file(base: Path, changes: dict, folder: Path) -> str:
    """``base``'s YAML with each dotted field of ``changes`` set (made where missing), in a
    new file (the loaders cache by path)."""
    data = yaml.safe_load(base.read_text())
    for dotted, value in changes.items():
        *heads, leaf = dotted.split(".")
        node = data
        for h in heads:
            if not isinstance(node.get(h), dict):
                node[h] = {}
            node = node[h]
        node[leaf] = value
    path = folder / f"f{next(_FILE_NUMBER)}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


CHIP_FIELDS = ["kind", "name", "memory.hbm.capacity_GB", "memory.hbm.bandwidth_GBps", "compute.peak_dense_TFLOPS.bf16",
               "compute.peak_dense_TFLOPS", "power.tdp_W", "power.idle_W", "gpu.sm_count", "gpu.cta_tiles",
               "gpu.kernel_overhead_us", "price.purchase_USD", "onchip_sram_MiB", "status", "sources", "bogus",
               "plausibility_override", "default_stack"]
SYSTEM_FIELDS = ["chip", "chips_per_node", "scale_up.topology", "scale_up.link_bandwidth_GBps",
                 "scale_up.links_per_chip", "scale_up.step_latency_us", "scale_out", "scale_out.link_bandwidth_GBps",
                 "node.power_W", "slice_chips", "status", "sources", "bogus", "plausibility_override"]
MODEL_FIELDS = ["layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab", "attention", "max_context",
                "gated_mlp", "moe", "moe.experts", "moe.top_k", "sources", "bogus", "family"]


@pytest.mark.parametrize("kind,base,fields,load", [
    ("chip file", chips_dir() / "h100-sxm5-80gb.yaml", CHIP_FIELDS, load_chip),
    ("system file", systems_dir() / "hgx-h100-8gpu.yaml", SYSTEM_FIELDS, load_system),
    ("model file", models_dir() / "llama-3.1-8b.yaml", MODEL_FIELDS, load_model),
])
def test_a_mangled_config_file_loads_or_is_one_clear_error(kind, base, fields, load, tmp_path_factory):
    folder = tmp_path_factory.mktemp("configs")

    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(changes=st.dictionaries(st.sampled_from(fields), SCALARS, min_size=1, max_size=3))
    def check(changes):
        path = _mangled_file(base, changes, folder)
        try:
            load(path)
        except SimError as err:
            assert "\n" not in str(err) and path in str(err), str(err)
            return record(kind, "rejected")
        record(kind, "accepted")

    check()


TRACE_CELLS = st.one_of(st.floats(allow_nan=True).map(str), st.integers(-5, 10**6).map(str),
                        st.sampled_from(["", "x", "inf", "1e400", "-0"]))


@given(header=st.sampled_from(["arrival_s,input_len,output_len", "arrival_s,input_len", "a,b,c", ""]),
       rows=st.lists(st.lists(TRACE_CELLS, min_size=0, max_size=4), max_size=6), raw=st.binary(max_size=40))
def test_a_serving_trace_is_rows_or_one_clear_error(tmp_path_factory, header, rows, raw):
    path = tmp_path_factory.mktemp("t") / "trace.csv"
    path.write_bytes("\n".join([header, *(",".join(r) for r in rows)]).encode() + raw)
    try:
        got = read_trace(path)
    except SimError as err:
        assert "\n" not in str(err) and str(path) in str(err), str(err)
        return record("serving trace", "rejected")
    assert all(a >= 0 and i >= 1 and o >= 1 for a, i, o in got)
    record("serving trace", "accepted")


SERVE_VALUES = st.one_of(st.integers(-3, 300).map(str), st.floats(allow_nan=True).map(str),
                         st.sampled_from(["", "x", "1e9", "1e20", "1e-200", "nan", "inf", "gamma", "fcfs", "bf16"]))
SERVE_FLAGS = ["--rate", "--requests", "--input-len", "--output-len", "--seed", "--cv", "--arrivals", "--tp",
               "--replicas", "--max-seqs", "--policy", "--slo-ttft", "--precision"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=st.dictionaries(st.sampled_from(SERVE_FLAGS), SERVE_VALUES, max_size=4))
def test_serve_with_any_flags_exits_with_a_code_never_a_traceback(flags, capsys):
    flags = {"--rate": "5", "--requests": "20", **flags}
    if flags["--requests"].lstrip("-").isdigit() and int(flags["--requests"]) > 300:
        flags["--requests"] = "300"  # a long simulation is not a hang; the size guard has its own case
    argv = ["serve", "--chip", "H100", "--model", "Llama-3.1-8B", "--input-len", "256", "--output-len", "32"]
    code = main(argv + [x for kv in flags.items() for x in kv])
    err = capsys.readouterr().err.strip()
    assert code in (0, 1, 2)
    if code:
        assert err.startswith("error:") and "Traceback" not in err and "\n" not in err, err
    record("sim serve flags", "rejected" if code else "accepted")
