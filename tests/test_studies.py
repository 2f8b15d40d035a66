"""Every registered study runs a tiny scenario end to end: rows without errors, its CSV,
summary.md opening with the title, every figure it lists on disk."""

from __future__ import annotations

import pytest

from sim.errors import ConfigError
from sim.scenario.store import read_table
from sim.studies import load_scenario, registered_studies, run_scenario


@pytest.mark.parametrize("mode", sorted(registered_studies()))
def test_every_study_runs_a_tiny_scenario(tmp_path, mode):
    st = registered_studies()[mode]
    scenario = {"name": f"tiny-{mode}", "title": f"tiny {mode} study", "mode": mode, **st.tiny}
    run = run_scenario(scenario, results_root=tmp_path, workers=1, progress=False)
    assert run.rows and not any(r["error"] for r in run.rows), [r["error"] for r in run.rows]
    table = read_table(run.out_dir / st.csv_name)
    assert len(table) == len(run.rows)
    assert list(table[0]) == st.input_columns + st.columns(load_scenario(scenario).spec) + ["error"]
    assert run.summary_md.startswith(f"# tiny {mode} study")
    for name in run.files:
        assert (run.out_dir / name).is_file(), name
    assert any(f.startswith("figures/") for f in run.files)


def test_a_training_scenario_on_the_des_engine_writes_a_trace_and_the_stage_figure(tmp_path):
    st = registered_studies()["training"]
    run = run_scenario({"name": "t", "title": "t", "mode": "training", **st.tiny}, results_root=tmp_path,
                       workers=1, progress=False)
    assert "trace_llama-3-1-8b.json" in run.files and "figures/llama-3-1-8b_pipeline_stages.png" in run.files
    stages = read_table(run.out_dir / "pipeline_stages.csv")
    assert [int(s["stage"]) for s in stages] == [0, 1]
    row = run.rows[0]
    assert row["des_step_time_s"] == pytest.approx(row["step_time_s"], rel=0.02)


def test_an_unknown_mode_names_the_studies():
    with pytest.raises(ConfigError, match="'servng' is not a study .*Did you mean: serving"):
        load_scenario({"name": "x", "title": "x", "mode": "servng", "chips": ["H100"]})


def test_a_block_of_another_mode_is_an_unknown_field():
    with pytest.raises(ConfigError, match="workload: unknown field"):
        load_scenario({"name": "x", "title": "x", "mode": "training", "systems": ["HGX-H100-8GPU"],
                       "models": ["Llama-3.1-8B"], "training": {"global_batch": [8], "seq_len": [1024]},
                       "workload": {"phase": ["decode"], "batch": [1], "input_len": [8]}})
