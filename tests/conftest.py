"""Shared fixtures: the default economics, tiny chips of every kind, small models; the fuzz profiles."""

from __future__ import annotations

import pytest
from hypothesis import settings

from sim.chips import registered_chip_kinds
from sim.parts.economics import Economics
from sim.workload.model import ModelSpec

# Fuzz profiles (tests/test_fuzz.py): "ci" by default, a few hundred cases in seconds;
# "fuzz" (--hypothesis-profile=fuzz) thousands. No deadline: the first example of a
# property pays for imports and catalog loading.
settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("fuzz", max_examples=3000, deadline=None)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def econ() -> Economics:
    return Economics(electricity_price_per_kWh=0.1, amortization_years=4)


@pytest.fixture(params=sorted(registered_chip_kinds()))
def tiny_chip(request):
    """A small chip of each registered architecture class (contract tests run on all)."""
    return registered_chip_kinds()[request.param].tiny()


def small_model(**overrides) -> ModelSpec:
    """A 4-layer GQA model with a gated MLP (fictional), for fast accounting tests."""
    data = dict(name="small", family="test", layers=4, hidden=512, heads=8, kv_heads=2, head_dim=64,
                ffn=1536, gated_mlp=True, vocab=1000, attention="gqa", max_context=8192,
                sources={"*": "test"})
    data.update(overrides)
    return ModelSpec.model_validate(data)
