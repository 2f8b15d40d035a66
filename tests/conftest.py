"""Shared fixtures: the default economics, tiny chips of every kind, small models; the fuzz profiles."""

from __future__ import annotations

import pytest
from hypothesis import settings

from sim.chips import registered_chip_kinds
from sim.parts.economics import Economics
from sim.workload.model import ModelSpec

# Fuzz profiles (tests/test_fuzz.py): "ci" by default, a few dozen cases per property in
# seconds, no deadline (the first example of a property pays for imports and catalog
# loading); "fuzz" (``pytest -m fuzz``, or --hypothesis-profile=fuzz) 3,000 per property,
# each input within 10 s (a slower one fails as a hang).
settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("fuzz", max_examples=3000, deadline=10_000)


def pytest_configure(config) -> None:
    """The profile is loaded here, not at import: some tests import this module again as
    ``tests.conftest``, which must not reset it. --hypothesis-profile wins."""
    if not config.getoption("--hypothesis-profile", None):
        settings.load_profile("fuzz" if config.getoption("markexpr", "") == "fuzz" else "ci")


def pytest_terminal_summary(terminalreporter) -> None:
    """How many generated inputs each fuzzed input path accepted and rejected."""
    from fuzz_counts import COUNTS, table

    if COUNTS:
        terminalreporter.write_line("fuzz inputs by path:")
        for line in table():
            terminalreporter.write_line("  " + line)


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
