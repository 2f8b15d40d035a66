"""sim search: the plans that meet latency targets, their Pareto front, and a serving
simulation that confirms the one it stands by (sim/studies/search.py)."""

from __future__ import annotations

import json

import pytest

from sim.catalog import load_economics, load_model, load_system
from sim.cli import main
from sim.studies.search import Targets, pareto, search
from sim.workload.spec import Precision


@pytest.fixture(scope="module")
def result():
    """Issue 15's case: Llama-3.1-70B on up to 16 H100s, TTFT <= 1 s, TPOT <= 50 ms."""
    return search(load_model("Llama-3.1-70B"), load_system("HGX-H100-8GPU"), 16, load_economics({}),
                  Precision.uniform("fp8"), 2048, 256, Targets(ttft_s=1.0, tpot_s=0.05))


def test_every_front_point_meets_the_targets_and_none_is_dominated(result):
    ok = [r for r in result.points if not r["error"] and r["meets"]]
    assert result.front and all(r["ttft_s"] <= 1.0 and r["tpot_s"] <= 0.05 for r in result.front)
    for f in result.front:
        assert not any(o["tokens_per_s_per_chip"] > f["tokens_per_s_per_chip"]
                       and o["tokens_per_s_per_user"] > f["tokens_per_s_per_user"] for o in ok)
    assert {r["chips"] for r in result.points} >= {1, 2, 4, 8, 16}


def test_the_best_plan_is_confirmed_by_a_serving_simulation(result):
    assert result.confirmed is not None
    assert result.confirmed["sim_ttft_p90_s"] <= 1.0 and result.confirmed["sim_tpot_p90_s"] <= 0.05
    assert result.simulations[0]["plan"] == result.front[0]["plan"]


def test_pareto_keeps_only_undominated_rows():
    rows = [{"tokens_per_s_per_chip": c, "tokens_per_s_per_user": u} for c, u in ((10, 1), (8, 2), (9, 1.5), (7, 1))]
    assert [(r["tokens_per_s_per_chip"], r["tokens_per_s_per_user"]) for r in pareto(rows)] == [(10, 1), (9, 1.5), (8, 2)]


def test_cli_search_writes_the_front_and_says_when_nothing_meets(tmp_path, capsys):
    argv = ["search", "--model", "Llama-3.1-8B", "--system", "HGX-H100-8GPU", "--max-chips", "2", "--no-confirm",
            "--out", str(tmp_path)]
    assert main([*argv, "--tpot", "0.05", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["front"]
    assert (tmp_path / "front.csv").is_file() and (tmp_path / "front.png").is_file()
    assert main([*argv, "--tpot", "0.0001"]) == 1
    assert "no plan within the card budget meets the targets" in capsys.readouterr().err
