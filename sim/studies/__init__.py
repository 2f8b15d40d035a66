"""Studies: one module per scenario ``mode`` (inference, training, collective, serving),
registered on import as chip classes are; ``run_scenario`` runs any of them end to end."""

import importlib
import pkgutil

from sim.studies.base import (
    ScenarioRun,
    Study,
    evaluate_scenario,
    load_scenario,
    registered_studies,
    run_scenario,
    study,
    study_for,
)

_INFRA = {"base", "sensitivity"}
for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _INFRA:
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["ScenarioRun", "Study", "evaluate_scenario", "load_scenario", "registered_studies", "run_scenario", "study", "study_for"]
