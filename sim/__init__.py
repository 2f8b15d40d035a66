"""Accelerator performance simulator: GPUs, systolic ASICs, dataflow, wafer-scale and LPU
chips on LLM inference, with an analytical (roofline) engine.

Public API (docs/api.md has runnable examples, executed by the tests)::

    from sim import load_chip, load_model, predict, Workload, default_economics
    chip, model = load_chip("H100"), load_model("Llama-3.1-8B")
    pred = predict(chip, model, Workload(phase="decode", batch=8, input_len=2048), default_economics())

The names load on first use (PEP 562), so ``import sim`` or ``python -m sim.cli`` does not
pay for the engine before it is needed (the CLI starts its figure process first).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sim.errors import CapacityError, ConfigError, SimError, UnknownNameError, UnsupportedError

if TYPE_CHECKING:
    from sim.analytical.inference import Prediction, predict
    from sim.analytical.training import TrainingPrediction, predict_training
    from sim.catalog import load_chip, load_deployment, load_model, load_system
    from sim.deployment import Deployment
    from sim.des import Arrivals, Lengths, Requests, Scheduler, Serving, Slo
    from sim.parts.economics import Economics
    from sim.studies.search import SearchResult, Targets, search
    from sim.studies.serving import serve_once as serve
    from sim.workload.parallel import Parallelism
    from sim.workload.spec import Precision, Workload
    from sim.workload.training import TrainingJob

_LAZY = {"Prediction": "sim.analytical.inference", "predict": "sim.analytical.inference",
         "TrainingPrediction": "sim.analytical.training", "predict_training": "sim.analytical.training",
         "load_chip": "sim.catalog", "load_model": "sim.catalog", "load_system": "sim.catalog",
         "load_deployment": "sim.catalog", "Deployment": "sim.deployment", "Economics": "sim.parts.economics",
         "Parallelism": "sim.workload.parallel", "Precision": "sim.workload.spec", "Workload": "sim.workload.spec",
         "TrainingJob": "sim.workload.training", "Arrivals": "sim.des", "Lengths": "sim.des", "Requests": "sim.des",
         "Scheduler": "sim.des", "Serving": "sim.des", "Slo": "sim.des", "SearchResult": "sim.studies.search",
         "Targets": "sim.studies.search", "search": "sim.studies.search",
         "serve": "sim.studies.serving:serve_once"}  # "module" (same name there) or "module:its name there"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attr = _LAZY[name].partition(":")
        value = getattr(importlib.import_module(module), attr or name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute '{name}'")


def default_economics() -> Economics:
    """configs/economics.yaml as an Economics spec."""
    from sim.catalog import load_economics

    return load_economics({})


def run_scenario(name: str, **kwargs):
    """Run a scenario by name, path or mapping and return its ScenarioRun (rows as dicts,
    summary text, output folder); see sim.studies.run_scenario for the keywords."""
    from sim.studies import run_scenario as _run

    return _run(name, **kwargs)


__all__ = ["Arrivals", "CapacityError", "ConfigError", "Deployment", "Economics", "Lengths", "Parallelism",
           "Precision", "Prediction", "Requests", "Scheduler", "SearchResult", "Serving", "SimError", "Slo", "Targets",
           "TrainingJob", "TrainingPrediction", "UnknownNameError", "UnsupportedError", "Workload",
           "default_economics", "load_chip", "load_deployment", "load_model", "load_system", "predict",
           "predict_training", "run_scenario", "search", "serve"]
