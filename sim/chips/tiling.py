"""Quantisation efficiency of tiled matmuls: how much of the padded work is useful.

Pure functions of integers, cached: sweeps reuse the same shapes many times.
"""

from __future__ import annotations

from functools import lru_cache


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@lru_cache(maxsize=1 << 16)
def gpu_tile_efficiency(batch: int, m: int, n: int, k: int, sm_count: int,
                        tiles: tuple[tuple[int, int, int], ...]) -> float:
    """Best useful/padded work over the library's CTA tiles, either operand orientation.

    Work is split into units of one CTA tile x one k-step and spread evenly over the SMs
    (stream-K / split-K), so the loss is tile padding on m, n, k plus the last partial
    wave: eff = useful MACs / (waves * SMs * tile_m * tile_n * tile_k).
    """
    useful = batch * m * n * k
    best = 0.0
    for tm, tn, tk in tiles:
        for a, b in ((m, n), (n, m)):
            units = batch * _ceil(a, tm) * _ceil(b, tn) * _ceil(k, tk)
            waves = _ceil(units, sm_count)
            eff = useful / (waves * sm_count * tm * tn * tk)
            best = max(best, eff)
    return best


@lru_cache(maxsize=1 << 16)
def systolic_efficiency(batch: int, m: int, n: int, k: int, rows: int, cols: int,
                        arrays: int, m_chunk: int, load_cycles: float | None = None) -> float:
    """Useful/occupied PE-cycles of a weight-stationary systolic array.

    The stationary operand (k x n, or k x m when that is better) is cut into rows x cols
    folds spread over ``arrays``; the streaming operand passes in chunks of at most
    ``m_chunk`` rows (what on-chip SRAM can stage). The next fold's weights load while the
    current one streams (double-buffered weights, as in the TPU's weight FIFO: Jouppi et
    al., ISCA 2017), so a chunk costs max(its rows, the ``load_cycles`` a weight load
    takes: ``rows`` by default, one row per cycle); the pipeline fills and drains once,
    2*rows + cols - 2 cycles (SCALE-Sim's per-fold latency, Samajdar et al. 2018).
    """
    load = rows if load_cycles is None else load_cycles
    useful = batch * m * n * k
    best = 0.0
    for stream, stat in ((m, n), (n, m)):
        folds = batch * _ceil(k, rows) * _ceil(stat, cols)
        rounds = _ceil(folds, arrays)
        chunks = _ceil(stream, m_chunk)
        per_chunk = max(_ceil(stream, chunks), load)
        cycles = rounds * chunks * per_chunk + 2 * rows + cols - 2
        eff = useful / (cycles * arrays * rows * cols)
        best = max(best, eff)
    return best
