"""Every shipped scenario (a fixed subset of its points) and every validation case give the
numbers recorded in tests/data/golden/: refactors must not move results."""

from __future__ import annotations

from pathlib import Path

import pytest
from golden_rows import GOLDEN, ROOT, differences, read, scenario_rows, validation_rows

SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_gives_the_golden_rows(path: Path):
    diff = differences(read(GOLDEN / f"{path.stem}.csv"), scenario_rows(path))
    assert not diff, "\n".join(diff[:20])


def test_validation_cases_give_the_golden_predictions():
    diff = differences(read(GOLDEN / "validation.csv"), validation_rows())
    assert not diff, "\n".join(diff[:20])
