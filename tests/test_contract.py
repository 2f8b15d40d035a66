"""Contract suite: every registered architecture class obeys the same physics."""

from __future__ import annotations

import pytest

from sim.analytical.inference import predict
from sim.chips.costing import Placement
from sim.workload.ops import Block, matmul
from sim.workload.spec import Precision, Workload
from tests.conftest import small_model

BF16 = Precision()
PL = Placement(1e12, 1e12, 1e12, 1e-11, 1e-11, 1e-11)


def _time(chip, op) -> float:
    return sum(c.time_s for c in chip.cost_model().block_costs(Block("b", (op,), 1), PL))


def test_op_never_beats_roofline(tiny_chip):
    cm = tiny_chip.cost_model()
    for m in (1, 7, 64, 1000, 4096):
        op = matmul("mm", "mlp", m, 1024, 3000, BF16)
        c = cm.block_costs(Block("b", (op,), 1), PL)[0]
        assert c.time_s >= op.flops / cm.peak_flops("bf16")
        assert c.time_s >= op.compulsory_bytes / PL.weight_Bps


def test_bigger_matmul_never_takes_less_time(tiny_chip):
    times = [_time(tiny_chip, matmul("mm", "mlp", m, 2048, 2048, BF16)) for m in (1, 16, 128, 1024, 8192)]
    assert times == sorted(times)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_more_bandwidth_never_slower(tiny_chip, phase, econ):
    model = small_model()
    wl = Workload(phase=phase, batch=4, input_len=256)
    slow = predict(tiny_chip, model, wl, econ).e2e_latency_s
    mem = {k: t.model_copy(update={"bandwidth_GBps": t.bandwidth_GBps * 2}) for k, t in tiny_chip.memory.items()}
    fast = predict(tiny_chip.model_copy(update={"memory": mem}), model, wl, econ).e2e_latency_s
    assert fast <= slow


def test_every_kind_reports_a_bound_and_positive_energy(tiny_chip, econ):
    pred = predict(tiny_chip, small_model(), Workload(phase="generate", batch=2, input_len=64, output_len=8), econ)
    assert pred.bound in ("compute", "memory", "overhead")
    assert pred.energy_j_per_token > 0
    assert sum(pred.bound_share.values()) == pytest.approx(1.0)
    assert sum(pred.category_share.values()) == pytest.approx(1.0)
