"""Tile and array quantisation: never above 1, exactly 1 when shapes divide evenly."""

from __future__ import annotations

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
