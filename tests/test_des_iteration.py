"""The iteration cost oracle: serving-iteration graphs, bucketing error, KV budget."""

from __future__ import annotations

import random

import pytest

from sim.analytical.evaluate import evaluate
from sim.analytical.iteration import ChipIterationCost, serving_memory
from sim.catalog import load_chip, load_model
from sim.errors import CapacityError, ConfigError
from sim.workload.graph import decode_graph, iteration_graph, prefill_graph
from sim.workload.spec import Precision
from tests.conftest import small_model

P = Precision()


def _ops(graph):
    return [(b.name, b.count, op) for b in graph.blocks for op in b.ops]


@pytest.mark.parametrize("name", ["llama-3.1-8b", "mixtral-8x7b", "deepseek-v3"])
def test_one_group_is_the_prefill_or_decode_graph(name):
    """Dense, MoE and MLA models: a single group rebuilds the analytical graphs op for op."""
    model = load_model(name)
    assert _ops(iteration_graph(model, [(2, 300, 0)], 2, P)) == _ops(prefill_graph(model, 2, 300, P))
    assert _ops(iteration_graph(model, [(8, 1, 1000)], 8, P)) == _ops(decode_graph(model, 8, 1000, P))


def _random_iterations(n: int, max_seqs: int, seed: int = 0):
    rng = random.Random(seed)
    while n:
        count = rng.randint(0, max_seqs)
        chunks = [(rng.randint(1, 2000), rng.randint(0, 4000)) for _ in range(rng.randint(0, 2))]
        if count or chunks:
            n -= 1
            yield chunks, count, sum(rng.randint(100, 4000) for _ in range(count))


def test_pieces_add_up_to_the_whole_iteration():
    """On a per-op cost model the cached pieces sum to the unsplit iteration graph."""
    cost = ChipIterationCost(load_chip("H100"), load_model("llama-3.1-8b"), P, max_batched_tokens=2048, max_seqs=256)
    for chunks, count, cached in _random_iterations(30, 256):
        groups = [(1, new, c) for new, c in chunks] + ([(count, 1, cached // count)] if count else [])
        whole = evaluate(iteration_graph(cost.model, groups, count + len(chunks), P), cost._cm, cost._energy, cost._pl).time_s
        whole += cost.stack.host_overhead_us_per_sequence * 1e-6 * (count + len(chunks))  # host work per sampled sequence
        # only the decode mean is rounded here (cached // count): well under the bucketing bound
        assert cost.time_s(chunks, count, cached) == pytest.approx(whole, rel=2e-3)


def test_bucketing_error_under_one_percent_on_h100():
    chip, model = load_chip("H100"), load_model("llama-3.1-8b")
    fast = ChipIterationCost(chip, model, P, max_batched_tokens=2048, max_seqs=256)
    exact = ChipIterationCost(chip, model, P, max_batched_tokens=2048, max_seqs=256, exact=True)
    for chunks, count, cached in _random_iterations(200, 256):
        assert fast.time_s(chunks, count, cached) == pytest.approx(exact.time_s(chunks, count, cached), rel=0.01)


def test_bucketing_error_under_one_percent_on_every_kind(tiny_chip):
    model = small_model()
    fast = ChipIterationCost(tiny_chip, model, P, max_batched_tokens=512, max_seqs=32)
    exact = ChipIterationCost(tiny_chip, model, P, max_batched_tokens=512, max_seqs=32, exact=True)
    for chunks, count, cached in _random_iterations(40, 32, seed=1):
        assert fast.time_s(chunks, count, cached) == pytest.approx(exact.time_s(chunks, count, cached), rel=0.01)


def test_kv_budget_is_free_memory():
    chip, model = load_chip("H100"), load_model("llama-3.1-8b")
    mem = serving_memory(chip, model, P, 2048, 256, memory_fraction=0.9)
    assert mem.weights_bytes == model.params * 2
    assert mem.kv_bytes == pytest.approx(0.9 * chip.capacity_bytes - mem.weights_bytes - mem.workspace_bytes)
    assert mem.kv_bytes_per_token == model.kv_elements_per_token * 2
    cost = ChipIterationCost(chip, model, P, max_batched_tokens=2048, max_seqs=256)
    assert cost.kv_capacity_tokens == mem.kv_tokens


def test_bad_memory_inputs_are_clear_errors():
    chip = load_chip("H100")
    with pytest.raises(CapacityError, match="no room for a KV cache"):
        ChipIterationCost(chip, load_model("llama-3.1-70b"), P, max_batched_tokens=2048, max_seqs=256)
    with pytest.raises(ConfigError, match="memory_fraction"):
        serving_memory(chip, load_model("llama-3.1-8b"), P, 2048, 256, memory_fraction=1.5)
