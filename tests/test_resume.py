"""A 100,000-point sweep killed mid-run (SIGKILL, as a crash or an out-of-memory kill
would) resumes with ``sim run --resume`` and ends with the same results.csv, byte for
byte, as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

SIZES = [1024 * (i + 1) for i in range(5_000)]
# 2 systems x 5 card counts x 2 kinds x 5,000 sizes = 100,000 points (collective points are
# the cheapest the runner has, so the test fits CI; the runner and its files are the same
# for every mode)
SCENARIO = {"name": "resume-1e5", "title": "A 100,000-point collective sweep", "mode": "collective",
            "systems": ["HGX-H100-8GPU", "TX81-Mesh-64"], "cards": [2, 4, 8, 16, 32],
            "collective": {"kind": ["all_reduce", "all_to_all"], "size_bytes": SIZES}}
POINTS = 2 * 5 * 2 * len(SIZES)


def _sim(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sim.cli", "run", *args, "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen) -> str:
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    return err


def _rows(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f) - 1


def test_a_killed_sweep_of_100000_points_resumes_to_the_same_results(tmp_path):
    scenario = tmp_path / "resume.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _finish(_sim(str(scenario), "--out", str(whole)))
    expected = (whole / "resume-1e5" / "results.csv").read_bytes()
    assert expected.count(b"\n") == 1 + POINTS

    proc = _sim(str(scenario), "--out", str(killed))
    partial = killed / "resume-1e5" / "results.csv.partial"
    deadline = time.monotonic() + 600
    while not (partial.is_file() and _rows(partial) >= 20_000):  # a fifth done, then killed
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: the run and its workers
    proc.communicate(timeout=60)  # reaps it and closes its pipe
    done = _rows(partial)
    assert 20_000 <= done < POINTS
    assert not (killed / "resume-1e5" / "results.csv").exists()

    err = _finish(_sim(str(scenario), "--out", str(killed), "--resume"))
    assert "resuming:" in err and "points kept" in err
    got = (killed / "resume-1e5" / "results.csv").read_bytes()
    assert not partial.exists()
    assert got == expected
