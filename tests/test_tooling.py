"""The code stays mypy- and ruff-clean (configured in pyproject.toml): CI runs both here."""

from __future__ import annotations

import subprocess
import sys

from sim.catalog import checkout_dir

ROOT = checkout_dir()


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_is_clean():
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_ruff_is_clean():
    proc = _run("ruff", "check", "sim", "tests", "benchmarks", "setup.py")
    assert proc.returncode == 0, proc.stdout[-3000:]
