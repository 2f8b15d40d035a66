"""Scenarios: every shipped one loads; a run writes CSV, summary and figures; a failing
point is recorded and the others still run; what-if variants and bad files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from sim.catalog import load_chip, scenarios_dir
from sim.cli import main
from sim.errors import ConfigError
from sim.studies import load_scenario, run_scenario

SCENARIOS = sorted(scenarios_dir().glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads(path: Path):
    from sim.studies import study_for

    scn = load_scenario(str(path))
    st = study_for(scn.spec.mode)
    assert st.points(scn, st.context(scn)) if scn.spec.mode != "serving" else scn.spec.serving.rates


def _write(tmp_path: Path, data: dict) -> str:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


BASE = {
    "name": "tiny", "title": "tiny test scenario",
    "chips": ["H100", "L20"],
    "chip_variants": [{"name": "H100-slow-hbm", "base": "H100", "set": {"memory.hbm.bandwidth_GBps": 1000},
                       "sources": {"memory.hbm.bandwidth_GBps": "what-if"}}],
    "models": ["Llama-3.1-8B", "Llama-3.1-70B"],
    "workload": {"phase": ["prefill", "decode"], "batch": [1, 8], "input_len": [512]},
    "findings": [{"kind": "compare", "of": "H100-slow-hbm", "to": "H100", "by": ["phase"]},
                 {"kind": "bound", "by": ["phase"]}],
}


def test_run_writes_csv_summary_figures_and_keeps_failures(tmp_path):
    run = run_scenario(_write(tmp_path, BASE), results_root=tmp_path / "out", workers=1, progress=False)
    with (run.out_dir / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2 * 2 * 2  # chips x models x phases x batches
    failed = [r for r in rows if r["error"]]
    assert failed and all("does not fit" in r["error"] for r in failed)  # 70B bf16 on one card
    assert any(not r["error"] for r in rows if r["model"] == "Llama-3.1-8B")
    assert {"chip", "batch", "ttft_s", "tpot_s", "energy_j_per_token", "bound"} <= set(rows[0])
    summary = (run.out_dir / "summary.md").read_text()
    assert "H100-slow-hbm's throughput_tokens_per_s is" in summary
    assert "failed" in summary
    figures = list((run.out_dir / "figures").glob("*.png"))
    assert any("roofline" in f.name for f in figures) and any("tpot" in f.name for f in figures)
    assert (run.out_dir / "resolved.yaml").exists()


def test_variant_with_less_bandwidth_is_slower_at_decode(tmp_path):
    run = run_scenario(_write(tmp_path, {**BASE, "findings": []}), results_root=tmp_path / "o", workers=1,
                       progress=False)
    dec = {(r["chip"], r["batch"]): r for r in run.rows
           if r["phase"] == "decode" and r["model"] == "Llama-3.1-8B" and not r["error"]}
    assert dec[("H100-slow-hbm", 1)]["tpot_s"] > 2.5 * dec[("H100-SXM5-80GB", 1)]["tpot_s"]


def test_parallel_sweep_matches_serial(tmp_path):
    data = {**BASE, "name": "wide", "chip_variants": [], "findings": [], "models": ["Llama-3.1-8B"],
            "roofline": False, "workload": {"phase": ["decode"], "batch": list(range(1, 121)), "input_len": [256]}}
    path = _write(tmp_path, data)
    par = run_scenario(path, results_root=tmp_path / "p", workers=2, progress=False)
    ser = run_scenario(path, results_root=tmp_path / "s", workers=1, progress=False)
    assert len(par.rows) == 240
    assert [r["tpot_s"] for r in par.rows] == [r["tpot_s"] for r in ser.rows]


@pytest.mark.parametrize("change,needle", [
    ({"chips": ["H100", "H1OO-SXM"]}, r"tiny\.yaml:\d+: unknown chip 'H1OO-SXM'"),
    ({"workload": {"phase": ["decoding"], "batch": [1], "input_len": [8]}}, r"workload\.phase\.0"),
    ({"bogus": 1}, "bogus: unknown field"),
    ({"findings": [{"kind": "compare", "of": "H100", "to": "B200"}]}, "'B200' is not a chip or system of this scenario"),
    ({"chip_variants": [{"name": "v", "base": "H100", "set": {"memory.hbm.bandwidth_GBps": -5},
                         "sources": {"memory.hbm.bandwidth_GBps": "x"}}]},
     "chip variant v: .*greater than 0"),
    ({"chip_variants": [{"name": "v", "base": "H100", "set": {"memory": {"hbm": {"bandwidth_GBps": 5}}}}]},
     "chip variant v: give a source for memory.hbm.bandwidth_GBps"),
    ({"plots": [{"x": "batch", "y": "tpot"}]}, r"plots: 'tpot' is not a results column\. Did you mean: tpot_s"),
    ({"findings": [{"kind": "bound", "by": ["phasee"]}]}, "findings: 'phasee' is not a results column"),
    ({"cards": [1, 8]}, "cards: counts cards of systems, and this scenario names none"),
    ({"system_variants": [{"name": "s", "base": "HGX-H100-8GPU", "set": {"scale_up.link_bandwidth_GBps": 50}}]},
     "system variant s: give a source for scale_up.link_bandwidth_GBps"),
    ({"system_variants": [{"name": "s", "base": "HGX-H100-8GPU", "set": {"scale_up.link_bandwith_GBps": 50},
                           "sources": {"scale_up.link_bandwith_GBps": "x"}}]},
     r"system_variants: 'scale_up.link_bandwith_GBps' is not a field of HGX-H100-8GPU\. Did you mean: link_bandwidth_GBps"),
    ({"system_variants": [{"name": "s", "base": "HGX-H100-8GPU", "chip": "H1OO"}]}, "unknown chip 'H1OO'"),
    ({"system_variants": [{"name": "s", "base": "HGX-H10"}]}, r"tiny\.yaml:\d+: unknown system 'HGX-H10'"),
    ({"system_variants": [{"name": "s", "base": "HGX-H100-8GPU", "set": {"scale_up.link_bandwidth_GBps": -5},
                           "sources": {"scale_up.link_bandwidth_GBps": "x"}}]},
     "system variant s: scale_up.link_bandwidth_GBps: Input should be greater than 0"),
])
def test_bad_scenario_files_give_one_clear_line(tmp_path, change, needle):
    with pytest.raises(ConfigError, match=needle) as err:
        load_scenario(_write(tmp_path, {**BASE, **change}))
    assert "\n" not in str(err.value)


def test_interrupted_sweep_keeps_the_rows_it_finished(tmp_path, monkeypatch):
    from sim.scenario import runner

    real = runner.evaluate
    calls = {"n": 0}

    def stop_after_five(point):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(point)

    monkeypatch.setattr(runner, "evaluate", stop_after_five)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(_write(tmp_path, BASE), results_root=tmp_path / "out", workers=1, progress=False)
    with (tmp_path / "out" / "tiny" / "results.csv.partial").open() as f:  # results.csv only when complete
        assert len(list(csv.DictReader(f))) == 5
    assert not (tmp_path / "out" / "tiny" / "results.csv").exists()


SERVING = {
    "name": "serve-tiny", "title": "tiny serving scenario", "mode": "serving",
    "chips": ["H100"], "systems": ["HGX-H100"],
    "models": [{"name": "Llama-3.1-8B", "precision": "bf16", "cards": [2]}],
    "serving": {"requests": {"count": 40, "arrivals": {"kind": "poisson"}, "input": {"value": 256},
                             "output": {"value": 16}},
                "rates": [1.0, 1000.0], "scheduler": {"policy": "chunked", "max_seqs": 32},
                "slo": {"ttft_s": 0.5, "tpot_s": 0.05},
                "deployments": [{"replicas": 1},
                                {"name": "1P+1D", "disaggregation": {"prefill_replicas": 1, "decode_replicas": 1,
                                                                     "link_GBps": 50}}]},
}


def test_serving_scenario_streams_rows_and_writes_a_table_figures_and_a_trace(tmp_path):
    run = run_scenario(_write(tmp_path, SERVING), results_root=tmp_path / "out", workers=1, progress=False)
    assert run.csv_name == "serving.csv" and not (run.out_dir / "results.csv").exists()
    with (run.out_dir / "serving.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 2 and not any(r["error"] for r in rows)  # (chip, system tp2) x deployments x rates
    tp2 = [r for r in rows if r["system"]]
    assert {r["plan"] for r in tp2} == {"tp2"} and {r["chips_total"] for r in tp2} == {"2", "4"}
    assert {r["saturated"] for r in rows if r["rate_per_s"] == "1000"} == {"True"}
    assert all(float(r["goodput_req_per_s"]) >= 0 for r in rows)
    summary = (run.out_dir / "summary.md").read_text()
    assert "| HGX-H100-8GPU tp2 1P+1D | 4 |" in summary and "saturates at" in summary
    assert (run.out_dir / "figures" / "llama-3-1-8b_latency_vs_throughput.png").stat().st_size > 0
    assert (run.out_dir / "figures" / "llama-3-1-8b_throughput_vs_rate.png").is_file()
    assert (run.out_dir / "trace.json").is_file() and (run.out_dir / "saturation.csv").is_file()


def test_interrupted_serving_sweep_keeps_the_rows_it_finished(tmp_path, monkeypatch):
    from sim.scenario import runner

    real = runner.evaluate
    calls = {"n": 0}

    def stop_after_three(point):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(point)

    monkeypatch.setattr(runner, "evaluate", stop_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(_write(tmp_path, SERVING), results_root=tmp_path / "out", workers=1, progress=False)
    with (tmp_path / "out" / "serve-tiny" / "serving.csv.partial").open() as f:
        assert len(list(csv.DictReader(f))) == 3


@pytest.mark.parametrize("change,needle", [
    ({"serving": None}, r"serving: Field required"),
    ({"serving": {**SERVING["serving"], "scheduler": {"policy": "chunky"}}},
     r"serve-tiny\.yaml:\d+: unknown scheduler policy 'chunky'\. Did you mean: chunked"),
    ({"serving": {**SERVING["serving"], "rates": []}}, "rates"),
    ({"serving": {**SERVING["serving"], "replicas": 2}}, "not both"),
    ({"findings": [{"kind": "bound"}]}, "drop findings and plots"),
    ({"mode": "inference", "workload": {"phase": ["decode"], "batch": [1], "input_len": [8]}, "serving": None},
     "cards per model are only for mode: serving"),
])
def test_bad_serving_scenarios_give_one_clear_line(tmp_path, change, needle):
    data = {k: v for k, v in {**SERVING, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=needle) as err:
        load_scenario(_write(tmp_path, data))
    assert "\n" not in str(err.value)


def test_a_serving_plan_that_does_not_fit_is_a_row_not_a_crash(tmp_path):
    data = {**SERVING, "chips": [], "models": [{"name": "Llama-3.1-70B", "precision": "bf16", "cards": [1, 2]}],
            "serving": {**SERVING["serving"], "deployments": [{"replicas": 1}]}}
    run = run_scenario(_write(tmp_path, data), results_root=tmp_path / "out", workers=1, progress=False)
    failed = [r for r in run.rows if r["error"]]
    assert len(failed) == 1 and "no room for a KV cache" in failed[0]["error"]  # one card: one row, no rates
    assert len(run.rows) == 1 + 2  # tp2 runs both rates


def test_system_variant_swaps_the_chip_and_changes_one_field(tmp_path):
    """A what-if system on a what-if chip: the chip variant is used inside the system,
    and `set` replaces one link field while the rest of scale_up stays as the base's."""
    data = {**BASE, "name": "sysvar", "chips": [], "findings": [], "models": ["Llama-3.1-70B"],
            "systems": ["HGX-H100-8GPU"], "cards": [4],
            "system_variants": [{"name": "HGX-slow", "base": "HGX-H100-8GPU", "chip": "H100-slow-hbm",
                                 "set": {"scale_up.link_bandwidth_GBps": 5},
                                 "sources": {"scale_up.link_bandwidth_GBps": "what-if"}}],
            "workload": {"phase": ["decode"], "batch": [8], "input_len": [512], "precision": ["fp8"]}}
    scn = load_scenario(_write(tmp_path, data))
    base, var = scn.systems["HGX-H100-8GPU"], scn.systems["HGX-slow"]
    assert var.chip.name == "H100-slow-hbm" and var.scale_up.link_bandwidth_GBps == 5
    assert var.scale_up.links_per_chip == base.scale_up.links_per_chip
    assert var.scale_up.base_latency_us == base.scale_up.base_latency_us and var.status == "assumed"
    run = run_scenario(_write(tmp_path, data), results_root=tmp_path / "o", workers=1, progress=False)
    tpot = {r["system"]: r["tpot_s"] for r in run.rows if not r["error"]}
    assert tpot["HGX-slow"] > tpot["HGX-H100-8GPU"]


@pytest.mark.parametrize("name", ["../../escape", "/tmp/abs", ".hidden", "a/b"])
def test_a_scenario_name_cannot_point_outside_results(tmp_path, name):
    path = tmp_path / "escape.yaml"
    path.write_text(yaml.safe_dump({**BASE, "name": name}, sort_keys=False))
    with pytest.raises(ConfigError, match="name: String should match pattern") as err:
        load_scenario(str(path))
    assert "\n" not in str(err.value)


def test_a_variant_set_merges_one_field_and_null_deletes():
    """``set:`` is a merge patch: a nested mapping changes only the fields it names (the
    H100's HBM keeps its capacity and type), and ``null`` removes a block."""
    from sim.catalog import load_economics
    from sim.catalog.yaml_io import LocatedYaml
    from sim.scenario.load import derive_chip
    from sim.scenario.spec import ChipVariant

    def variant(set_: dict):
        return derive_chip(ChipVariant(name="v", base="H100", set=set_, sources={"*": "test"}),
                           LocatedYaml(Path("t.yaml"), {}, {}), ("chip_variants", 0), load_economics())

    base = load_chip("H100")
    merged = variant({"memory": {"hbm": {"bandwidth_GBps": 1000}}})
    assert merged.memory["hbm"].bandwidth_GBps == 1000
    assert merged.memory["hbm"].capacity_GB == base.memory["hbm"].capacity_GB
    assert merged.memory["hbm"].type == base.memory["hbm"].type
    swapped = variant({"memory": {"hbm": None, "gddr": {"type": "GDDR7", "capacity_GB": 96, "bandwidth_GBps": 1792,
                                                         "achievable_bandwidth_fraction": 0.8,
                                                         "energy_pJ_per_bit": 5.5}}})
    assert list(swapped.memory) == ["gddr"]


def test_an_axis_the_mode_ignores_is_warned_about_and_kept_in_the_summary(tmp_path, capsys):
    data = {**BASE, "name": "ignored-axis", "chip_variants": [], "findings": [], "models": ["Llama-3.1-8B"],
            "workload": {"phase": ["decode"], "batch": [1], "input_len": [512], "output_len": [128, 256]}}
    run = run_scenario(data, results_root=tmp_path, workers=1, progress=False)
    err = capsys.readouterr().err
    assert "warning: ignored-axis: workload.output_len [128, 256] is ignored" in err
    assert "## Warnings" in run.summary_md and "only phase generate has output tokens" in run.summary_md


def _tiny(name: str) -> dict:
    return {**BASE, "name": name, "chip_variants": [], "findings": [], "models": ["Llama-3.1-8B"],
            "workload": {"phase": ["decode"], "batch": [1, 2, 4, 8], "input_len": [512]}, "roofline": False}


def test_an_interrupted_rerun_keeps_the_earlier_results_and_resume_finishes_it(tmp_path, monkeypatch, capsys):
    """A rerun writes results.csv.partial and moves it over results.csv only when complete:
    interrupted after 3 points, the earlier results.csv is whole and the partial holds the 3;
    --resume then runs only the other 5 and gives the same rows as a fresh run."""
    from sim.studies import study_for

    first = run_scenario(_tiny("resume"), results_root=tmp_path, workers=1, progress=False)
    final = first.out_dir / "results.csv"
    before = final.read_text()
    st = study_for("inference")
    fill, calls = st.fill, []

    def interrupted(context, row):
        calls.append(row["batch"])
        if len(calls) > 3:
            raise KeyboardInterrupt
        fill(context, row)

    monkeypatch.setattr(type(st), "fill", staticmethod(interrupted))
    with pytest.raises(KeyboardInterrupt):
        run_scenario(_tiny("resume"), results_root=tmp_path, workers=1, progress=False)
    assert final.read_text() == before
    assert len((first.out_dir / "results.csv.partial").read_text().splitlines()) == 1 + 3
    calls.clear()
    monkeypatch.setattr(type(st), "fill", staticmethod(lambda context, row: (calls.append(1), fill(context, row))))
    again = run_scenario(_tiny("resume"), results_root=tmp_path, workers=1, progress=False, resume=True)
    assert len(calls) == len(first.rows) - 3
    assert "3 of 8 points kept, 5 to run" in capsys.readouterr().err
    assert not (first.out_dir / "results.csv.partial").exists()
    with final.open() as f_now, io.StringIO(before) as f_then:  # the same numbers (kept ones as the CSV holds them)
        for now, then in zip(csv.DictReader(f_now), csv.DictReader(f_then), strict=True):
            for k, v in then.items():
                assert now[k] == v or float(now[k]) == pytest.approx(float(v), rel=1e-5), k
    assert [r["batch"] for r in again.rows] == [r["batch"] for r in first.rows]


def test_figures_of_an_earlier_run_do_not_stay_beside_new_results(tmp_path):
    run = run_scenario(_tiny("stale"), results_root=tmp_path, workers=1, progress=False)
    stale = run.out_dir / "figures" / "old_metric_vs_batch.png"
    stale.write_bytes(b"")
    run_scenario(_tiny("stale"), results_root=tmp_path, workers=1, progress=False)
    assert not stale.exists()


def test_a_sweep_too_big_is_refused_before_it_is_built_and_a_large_one_warned(tmp_path, capsys):
    big = {**BASE, "name": "big", "chip_variants": [], "findings": [], "models": ["Llama-3.1-8B"],
           "workload": {"phase": ["decode"], "batch": list(range(1, 1001)), "input_len": list(range(1, 2001))}}
    assert main(["run", _write(tmp_path, big), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "up to 4,000,000 points (hardware 2 x workload.batch 1000 x workload.input_len 2000)" in err
    assert "the limit is 1,000,000" in err and len(err.splitlines()) == 1
    from sim.studies.base import size_warnings

    large = {**big, "workload": {"phase": ["decode"], "batch": list(range(1, 301)), "input_len": list(range(1, 301))}}
    assert "a large sweep: up to 180,000 points" in size_warnings(load_scenario(_write(tmp_path, large)))[0]


def test_a_row_cut_short_by_a_killed_run_is_not_kept(tmp_path):
    """SIGKILL can land mid-line: the cut line (a number that lost its last digits, or a
    row missing cells) is run again, never kept."""
    from sim.scenario.store import finished_rows

    path = tmp_path / "results.csv.partial"
    path.write_text("batch,input_len,time_s\r\n1,512,0.0051094\r\n2,512,0.005\r\n3,51")
    assert list(finished_rows(path, ["batch", "input_len"])) == [("1", "512"), ("2", "512")]
    path.write_text("batch,input_len,time_s\r\n1,512,0.0051094\r\n2,512\r\n")
    assert list(finished_rows(path, ["batch", "input_len"])) == [("1", "512")]
