"""Where the catalog lives: the shipped configs and scenarios, plus user catalog folders.

The shipped catalog is the checkout's ``configs/`` and ``scenarios/`` when the package runs
from a checkout (an editable install), else the copy a wheel carries in ``sim/_shipped/``.
User folders (``SIM_PATH``, os.pathsep-separated, or ``--catalog``) add to it; each may
hold ``chips/``, ``systems/``, ``models/``, ``stacks/``, ``datasets/``, ``scenarios/`` (also under ``configs/``).
"""

from __future__ import annotations

import os
from pathlib import Path

from sim.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parents[1]
_CHECKOUT = _PACKAGE.parent
KINDS = ("chip", "system", "model", "stack", "dataset", "scenario")
_SUBDIR = {"chip": "chips", "system": "systems", "model": "models", "stack": "stacks", "dataset": "datasets",
           "scenario": "scenarios"}

_user: list[Path] = []


def checkout_dir() -> Path | None:
    """The source checkout the package runs from, or None for an installed wheel."""
    return _CHECKOUT if (_CHECKOUT / "configs").is_dir() and (_CHECKOUT / "pyproject.toml").is_file() else None


def shipped_dir() -> Path:
    """The folder holding the shipped ``configs/`` and ``scenarios/``."""
    return checkout_dir() or _PACKAGE / "_shipped"


def configs_dir() -> Path:
    return shipped_dir() / "configs"


def user_dirs() -> list[Path]:
    """User catalog folders: SIM_PATH's, then those added with ``add_user_dirs``."""
    env = [Path(p) for p in os.environ.get("SIM_PATH", "").split(os.pathsep) if p]
    return [*env, *_user]


def add_user_dirs(*dirs: str | Path) -> None:
    """Add user catalog folders (``--catalog DIR``); each must exist. ``sim.catalog.use_catalog``
    also forgets what was loaded before."""
    for d in map(Path, dirs):
        if not d.is_dir():
            raise ConfigError(f"--catalog {d}: no such folder")
        if d not in _user:
            _user.append(d)


def kind_dirs(kind: str) -> list[Path]:
    """Every folder holding files of ``kind`` (chip, system, model, scenario), shipped first."""
    sub = _SUBDIR[kind]
    shipped = shipped_dir() / (sub if kind == "scenario" else f"configs/{sub}")
    found = [shipped]
    for root in user_dirs():
        found += [p for p in (root / sub, root / "configs" / sub) if p.is_dir()]
    return found


def results_dir() -> Path:
    """Default results root: SIM_RESULTS, the checkout's ``results/``, or ``./results``."""
    env = os.environ.get("SIM_RESULTS")
    if env:
        return Path(env)
    root = checkout_dir()
    return (root if root is not None else Path.cwd()) / "results"
