"""A wheel carries the whole catalog: installed outside the checkout (here: the wheel
unpacked on PYTHONPATH, run from another folder), ``sim list`` shows every shipped chip,
system, model and scenario, and results go to the working folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from sim.catalog import checkout_dir, names

ROOT = checkout_dir()


def _sim(args: list[str], site: Path, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("SIM_PATH", None)
    proc = subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return proc.stdout


def test_a_wheel_installed_elsewhere_lists_the_full_catalog(tmp_path):
    assert ROOT is not None
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT),
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True, timeout=300)
    site = tmp_path / "site"
    with zipfile.ZipFile(next((tmp_path / "dist").glob("sim-*.whl"))) as whl:
        whl.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = "import sim, sim.catalog as c; print(sim.__file__); print(c.results_dir())"
    env = {**os.environ, "PYTHONPATH": str(site)}
    where, results = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True,
                                    text=True, check=True).stdout.split()
    assert Path(where).is_relative_to(site) and Path(results) == elsewhere / "results"
    for kind in ("chip", "system", "model", "scenario"):
        listed = _sim(["list", f"{kind}s"], site, elsewhere)
        assert all(name in listed for name in names(kind)), kind
