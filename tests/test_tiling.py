"""Tile and array quantisation: never above 1, exactly 1 when shapes divide evenly."""

from __future__ import annotations

import pytest

from sim.chips.dataflow import balanced_pipeline_s, split_sections
from sim.chips.tiling import gpu_tile_efficiency, systolic_efficiency
from sim.workload.ops import matmul
from sim.workload.spec import Precision

TILES = ((128, 128, 64), (64, 64, 64))


def test_gpu_tiles_exact_fit_is_full_efficiency():
    assert gpu_tile_efficiency(1, 128 * 132, 128, 64, 132, TILES) == 1.0


def test_gpu_padding_and_partial_waves_lose_efficiency():
    assert gpu_tile_efficiency(1, 129, 128, 64, 1, TILES) < 1.0
    one_wave_plus = gpu_tile_efficiency(1, 128 * 133, 128, 64, 132, ((128, 128, 64),))
    assert one_wave_plus == (133 / (2 * 132))
    for shape in [(1, 1, 4096, 4096), (3, 77, 1000, 129), (64, 1, 128, 8192)]:
        assert 0 < gpu_tile_efficiency(*shape, 132, TILES) <= 1.0


def test_systolic_fill_drain_and_padding():
    big = systolic_efficiency(1, 100_000, 128, 128, 128, 128, 1, 1 << 30)
    assert 0.99 < big < 1.0  # fill/drain amortised over a long stream
    skinny = systolic_efficiency(1, 1, 128, 128, 128, 128, 1, 1 << 30)
    assert skinny < 0.01  # one row through a 128x128 array: mostly fill and drain
    chunked = systolic_efficiency(1, 100_000, 128, 128, 128, 128, 1, 256)
    assert chunked < big  # SRAM-bounded chunks pay fill/drain again


def test_dataflow_pipeline_balance():
    assert balanced_pipeline_s([1.0, 1.0], 2) == 1.0
    assert balanced_pipeline_s([3.0, 1.0], 4) == 1.0
    assert balanced_pipeline_s([1.0, 1.0, 1.0], 2) == 3.0  # more stages than units
    assert balanced_pipeline_s([2.0, 1.0], 2) == 2.0  # integer units: imbalance costs


def test_sections_split_when_intermediates_exceed_sram():
    p = Precision()
    ops = tuple(matmul(f"mm{i}", "mlp", 1000, 100, 100, p) for i in range(4))  # 200 kB outputs
    assert len(split_sections(ops, 1e9)) == 1
    assert len(split_sections(ops, 250e3)) == 2  # each section can hold one 200 kB intermediate
    assert len(split_sections(ops, 1.0)) == 4


def _array_chip(hbm_GBps: float = 1e9, load_cycles: float | None = None):
    """A weight-stationary chip: 4 arrays of 64x64 at 100 bf16 TFLOPS, so clock =
    1e14 / (2 * 64 * 64 * 4) = 3.05 GHz; HBM fast enough (by default) never to bind."""
    from sim.chips.systolic import SystolicSpec

    structure = {"array_rows": 64, "array_cols": 64, "array_count": 4, "op_overhead_us": 1e-9}
    if load_cycles is not None:
        structure["weight_load_cycles"] = load_cycles
    return SystolicSpec.tiny(systolic=structure, onchip_sram_MiB=None,
                             compute={"peak_dense_TFLOPS": {"bf16": 100.0}, "max_matmul_fraction": 1.0,
                                      "energy_pJ_per_flop": {"bf16": 1e-6}},
                             memory={"main": {"type": "HBM3", "capacity_GB": 64.0, "bandwidth_GBps": hbm_GBps,
                                              "achievable_bandwidth_fraction": 1.0, "energy_pJ_per_bit": 1e-9}})


def _gemm_cost(chip, m: int, k: int = 1024, n: int = 1024):
    from sim.chips.costing import Placement
    from sim.workload.ops import Block

    bw = chip.main_tier.sustained_bandwidth_Bps
    pl = Placement(bw, bw, bw, 0.0, 0.0, 0.0)
    return chip.cost_model().block_costs(Block("g", (matmul("g", "mlp", m, k, n, Precision()),), 1), pl)[0]


def test_a_weight_stationary_array_at_batch_1_waits_on_weight_loads():
    """A 1024x1024 weight matrix is 16 x 16 = 256 folds of 64x64 over 4 arrays: 64 rounds.
    With one streaming row, each fold lasts the 64 cycles its weights take to load, so the
    GEMV takes (64 rounds x 64 + fill/drain 2*64 + 64 - 2) cycles at 3.05 GHz, and it is
    bound by moving weights into the arrays, not by the MACs."""
    chip = _array_chip()
    clock = 100e12 / (2 * 64 * 64 * 4)
    one = _gemm_cost(chip, m=1)
    assert one.time_s == pytest.approx((64 * 64 + 2 * 64 + 64 - 2) / clock, rel=1e-6)
    assert one.bound == "memory"
    flat = _gemm_cost(chip, m=63)  # below the array's rows, more rows ride on the same weight loads
    assert flat.time_s == pytest.approx(one.time_s, rel=1e-9) and flat.bound == "memory"
    assert _gemm_cost(chip, m=64).time_s == pytest.approx(one.time_s, rel=1e-9)  # streaming = loading
    assert _gemm_cost(chip, m=128).time_s > 1.9 * one.time_s  # past the rows, streaming binds
    assert _gemm_cost(chip, m=4096).bound == "compute"


def test_a_faster_weight_load_shortens_the_decode_gemv():
    """32-cycle weight loads (e.g. a fast load path) halve the fold time of a batch-1 GEMV."""
    slow, fast = _gemm_cost(_array_chip(), m=1), _gemm_cost(_array_chip(load_cycles=32), m=1)
    clock = 100e12 / (2 * 64 * 64 * 4)
    assert fast.time_s == pytest.approx((64 * 32 + 2 * 64 + 64 - 2) / clock, rel=1e-6)
    assert fast.time_s < slow.time_s


def test_a_slow_memory_still_binds_the_gemv():
    """When HBM cannot deliver the weights as fast as the arrays load them, HBM binds."""
    cost = _gemm_cost(_array_chip(hbm_GBps=100.0), m=1)
    assert cost.memory_s == pytest.approx(1024 * 1024 * 2 / 100e9 + (1024 + 1024) * 2 / 100e9, rel=1e-6)
    assert cost.time_s == pytest.approx(cost.memory_s + 1e-15, rel=1e-6)


def test_a_fractional_weight_load_is_an_average_rate_and_never_slower_than_fewer_cycles():
    """A load of 207.3 cycles per 256-row fold (Gaudi2's, fitted: several rows a cycle on
    average) is accepted as is; the batch-1 GEMV's fold time follows it exactly, and the
    time never falls as the load takes more cycles."""
    clock = 100e12 / (2 * 64 * 64 * 4)
    cost = _gemm_cost(_array_chip(load_cycles=51.8), m=1)
    assert cost.time_s == pytest.approx((64 * 51.8 + 2 * 64 + 64 - 2) / clock, rel=1e-6)
    times = [_gemm_cost(_array_chip(load_cycles=c), m=m).time_s
             for m in (1, 8, 48) for c in (8.5, 16.0, 31.2, 51.8, 64.0)]
    for m_times in (times[0:5], times[5:10], times[10:15]):
        assert m_times == sorted(m_times)
