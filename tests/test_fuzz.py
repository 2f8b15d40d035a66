"""A property-based fuzz campaign (hypothesis): malformed files, scenarios and command
lines give one clear error and never a traceback; predictions obey the roofline and more
bandwidth is never slower.

The default profile ("ci", in conftest.py) runs a few hundred cases in seconds; the long
one runs thousands: ``pytest tests/test_fuzz.py --hypothesis-profile=fuzz``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.analytical.inference import predict
from sim.catalog import load_chip, load_economics, load_model
from sim.catalog.yaml_io import read_yaml
from sim.cli import main
from sim.errors import SimError
from sim.studies import load_scenario
from sim.workload.spec import Precision, Workload

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


@given(text=st.text(alphabet=st.sampled_from(list("ab: -[]{},&*!|>'\"#\n 0123.e")), max_size=200))
def test_yaml_like_text_is_data_or_one_clear_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("y") / "x.yaml"
    path.write_text(text)
    try:
        read_yaml(path)
    except SimError as err:
        assert "\n" not in str(err)


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
        assert err.startswith("error:") and "Traceback" not in err


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
        return  # does not fit, or the format is not there: said in one line elsewhere
    peak = max(c.compute.peak_flops(f) for f in ("bf16", fmt) if f in c.compute.peak_dense_TFLOPS)
    assert p.e2e_latency_s * (1 + 1e-9) >= p.flops / p.chips / peak
    mem = {k: t.model_copy(update={"bandwidth_GBps": t.bandwidth_GBps * 2}) for k, t in c.memory.items()}
    faster = predict(c.model_copy(update={"memory": mem}), m, wl, ECON)
    assert faster.e2e_latency_s <= p.e2e_latency_s * (1 + 1e-9)
