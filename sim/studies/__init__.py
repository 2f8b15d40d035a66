"""Studies: one module per scenario ``mode`` (inference, training, collective, serving),
named after its mode and registered on import as chip classes are; a mode's module is
imported when a scenario first asks for it (so an inference run does not load the
discrete-event engine). ``run_scenario`` runs any of them end to end."""

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

__all__ = ["ScenarioRun", "Study", "evaluate_scenario", "load_scenario", "registered_studies", "run_scenario", "study", "study_for"]
