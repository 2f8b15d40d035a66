"""Energy, power and cost as results: the activity power model, the TDP cap, memory
swaps, node power at the wall and the cost bases."""

from __future__ import annotations

import math

import pytest

from sim.analytical.inference import predict
from sim.catalog import load_chip, load_deployment, load_economics, load_model
from sim.catalog.yaml_io import LocatedYaml
from sim.deployment import Deployment
from sim.errors import ConfigError
from sim.scenario.load import derive_chip
from sim.scenario.spec import ChipVariant
from sim.workload.parallel import Parallelism
from sim.workload.spec import Precision, Workload

ECON = load_economics()
HBM3E = {"hbm": {"type": "HBM3e", "capacity_GB": 141, "bandwidth_GBps": 4800,
                 "achievable_bandwidth_fraction": 0.95, "energy_pJ_per_bit": 4.0}}


def _variant(base: str, set_: dict, **kw) -> object:
    doc = LocatedYaml(__file__, {}, {})  # type: ignore[arg-type]
    return derive_chip(ChipVariant(name=f"{base}-what-if", base=base, set=set_, sources={"*": "test"}, **kw),
                       doc, ("chip_variants", 0), ECON)


def test_swapping_memory_changes_memory_energy_and_price_not_compute_energy():
    """B30's GDDR7 (84 GB, 5.5 pJ/bit) for H200's HBM3e (141 GB, 4.0 pJ/bit)."""
    base = load_chip("B30")
    swapped = _variant("B30", {"memory": {"gddr": None, **HBM3E}})
    assert swapped.compute == base.compute  # energy per flop of every format included
    assert swapped.power == base.power
    old_tier, new_tier = base.main_tier, swapped.main_tier
    assert new_tier.energy_J_per_byte / old_tier.energy_J_per_byte == pytest.approx(4.0 / 5.5)
    expected = base.price.purchase_USD - 84 * ECON.memory_USD_per_GB["GDDR7"] + 141 * ECON.memory_USD_per_GB["HBM3e"]
    assert swapped.price.purchase_USD == pytest.approx(expected)
    assert swapped.price.purchase_USD > base.price.purchase_USD + 1000  # HBM is dearer per GB
    assert "memory_USD_per_GB" in swapped.sources["price.purchase_USD"]

    # End to end: the same decode spends the same compute energy and less memory energy per byte.
    model, wl = load_model("Llama-3.1-8B"), Workload(phase="decode", batch=1, input_len=512)
    a, b = (predict(Deployment.one_chip(c), model, wl, ECON) for c in (base, swapped))
    assert a.flops == pytest.approx(b.flops) and a.dram_bytes == pytest.approx(b.dram_bytes)


def test_a_variant_that_names_its_price_keeps_it():
    swapped = _variant("B30", {"memory": {"gddr": None, **HBM3E}, "price": {"purchase_USD": 9999}})
    assert swapped.price.purchase_USD == 9999


def test_memory_swap_on_a_rented_chip_asks_for_a_price():
    with pytest.raises(ConfigError, match="cloud rate; give the variant's price"):
        _variant("TPU-v7-Ironwood", {"memory": HBM3E})


def test_unpriced_memory_technology_is_an_error():
    with pytest.raises(ConfigError, match="has no price in economics memory_USD_per_GB"):
        derive_chip(ChipVariant(name="x", base="B30", set={"memory": HBM3E}, sources={"*": "t"}),
                    LocatedYaml(__file__, {}, {}), ("chip_variants", 0),  # type: ignore[arg-type]
                    ECON.model_copy(update={"memory_USD_per_GB": {"GDDR7": 2.86}}))


@pytest.mark.parametrize("chip_name", ["H100-SXM5-80GB", "B30", "TPU-v6e", "MI300X", "SambaNova-SN40L", "Cerebras-WSE-3", "Gaudi3"])
@pytest.mark.parametrize("batch", [1, 64])
def test_average_power_lies_between_idle_and_tdp(chip_name, batch):
    chip = load_chip(chip_name)
    wl = Workload(phase="generate", batch=batch, input_len=512, output_len=64)
    pred = predict(Deployment.one_chip(chip), load_model("Llama-3.1-8B"), wl, ECON)
    assert chip.power.idle_W < pred.avg_power_W <= chip.power.tdp_W * (1 + 1e-9)


def test_a_lower_power_limit_is_never_faster_and_throttles_compute_bound_work():
    """A compute-bound prefill at 450 W instead of 700 W is slower; a batch-1 decode
    (HBM at full speed: about 370 W, ANL measured 363 W) is not."""
    chip = load_chip("H100-SXM5-80GB")
    capped = chip.model_copy(update={"power": chip.power.model_copy(update={"tdp_W": 450})})
    model = load_model("Llama-3.1-8B")
    prefill = Workload(phase="prefill", batch=8, input_len=2048)
    decode = Workload(phase="decode", batch=1, input_len=512)
    full_p, cap_p = (predict(Deployment.one_chip(c), model, prefill, ECON) for c in (chip, capped))
    full_d, cap_d = (predict(Deployment.one_chip(c), model, decode, ECON) for c in (chip, capped))
    assert cap_p.ttft_s > 1.3 * full_p.ttft_s
    assert cap_p.avg_power_W <= 450 * (1 + 1e-9)
    assert cap_d.tpot_s >= full_d.tpot_s  # never faster
    assert cap_d.tpot_s < 1.01 * full_d.tpot_s


def test_wall_power_adds_the_nodes_and_is_unknown_without_them():
    model, wl = load_model("Llama-3.1-70B"), Workload(phase="generate", batch=16, input_len=512, output_len=64,
                                                      precision=Precision.uniform("fp8"))
    on_hgx = predict(load_deployment(Parallelism(tp=8), system="HGX-H100-8GPU"), model, wl, ECON)
    assert on_hgx.system_power_W == pytest.approx(on_hgx.avg_power_W * 8 + 1750)
    assert on_hgx.wall_energy_j_per_token > on_hgx.energy_j_per_token
    one = predict(Deployment.one_chip(load_chip("H100-SXM5-80GB")), load_model("Llama-3.1-8B"), wl, ECON)
    assert math.isnan(one.system_power_W) and one.cost_basis == "owned, chips' electricity only"


def test_pue_and_utilisation_scale_what_they_should():
    model, wl = load_model("Llama-3.1-8B"), Workload(phase="generate", batch=8, input_len=512, output_len=64)
    dep = load_deployment(Parallelism(tp=8), system="HGX-H100-8GPU")
    base = predict(dep, model, wl, ECON)
    no_pue = predict(dep, model, wl, ECON.model_copy(update={"pue": 1.0}))
    half_busy = predict(dep, model, wl, ECON.model_copy(update={"utilization": 0.5}))
    assert base.energy_j_per_token == no_pue.energy_j_per_token  # PUE is the facility's, not the chips'
    electricity = base.cost_per_million_tokens - no_pue.cost_per_million_tokens
    assert electricity > 0
    hardware = no_pue.cost_per_million_tokens - electricity / (ECON.pue - 1)  # cost at PUE 1 minus its power
    assert half_busy.cost_per_million_tokens - base.cost_per_million_tokens == pytest.approx(hardware, rel=1e-6)


def test_a_rented_chip_pays_no_electricity_on_top():
    model, wl = load_model("Llama-3.1-8B"), Workload(phase="generate", batch=8, input_len=512, output_len=64)
    dep = Deployment.one_chip(load_chip("TPU-v6e"))
    a = predict(dep, model, wl, ECON)
    b = predict(dep, model, wl, ECON.model_copy(update={"electricity_price_per_kWh": 10.0}))
    assert a.cost_basis == "rented" and a.cost_per_million_tokens == b.cost_per_million_tokens
