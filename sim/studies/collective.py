"""Collective study (``mode: collective``): each collective kind at each size over every
system and card count, by the fastest algorithm that applies, reported the nccl-tests way
(time, algorithm and bus bandwidth)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sim.comm.pricing import CollectiveResult, measure_collective
from sim.report import figure_server, summary
from sim.report.spec import PlotSpec
from sim.scenario.load import ResolvedScenario
from sim.scenario.spec import ListAxes, ScenarioBase
from sim.studies.base import Row, Study, line_figure_jobs, study
from sim.studies.derived import band_columns
from sim.studies.inference import INPUT_COLUMNS, blank_row


class CollectiveAxes(ListAxes):
    """Each kind at each size (nccl-tests size, bytes)."""

    kind: list[Literal["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast"]] = ["all_reduce"]
    size_bytes: list[float] = Field(min_length=1)


class CollectiveScenario(ScenarioBase):
    mode: Literal["collective"] = "collective"
    collective: CollectiveAxes
    needs_models = False
    needs_systems = True


DEFAULT_PLOTS = (PlotSpec(x="size_bytes", y="busbw_GBps", panels="collective"),
                 PlotSpec(x="size_bytes", y="time_s", panels="collective", logy=True))


@study("collective")
class CollectiveStudy(Study):
    scenario = CollectiveScenario
    input_columns = INPUT_COLUMNS
    tiny = {"systems": ["HGX-H100-8GPU"], "cards": [8], "collective": {"kind": ["all_reduce"], "size_bytes": [1e6, 1e9]}}

    def columns(self, spec: Any = None) -> list[str]:
        return [*CollectiveResult.columns(), *band_columns(CollectiveResult.columns())]

    def points(self, scn: ResolvedScenario, context: Any) -> list[Row]:
        spec: CollectiveScenario = scn.spec  # type: ignore[assignment]
        c = spec.collective
        return [{**blank_row(), "chip": system, "system": system, "cards": n, "model": "", "phase": "collective",
                 "collective": kind, "size_bytes": size, "precision": ""}
                for system in scn.systems for n in spec.cards for kind in c.kind for size in c.size_bytes]

    @staticmethod
    def fill(context: ResolvedScenario, row: Row) -> None:
        system = context.systems[row["system"]].sized(row["cards"])
        row.update(measure_collective(system, row["collective"], row["size_bytes"], row["cards"]).metrics())

    def figures(self, scn: ResolvedScenario, rows: list[Row], out: Path) -> list[str]:
        return figure_server.draw(line_figure_jobs(rows, [*DEFAULT_PLOTS, *scn.spec.plots], scn.spec.title, out))

    def sections(self, scn: ResolvedScenario, rows: list[Row]) -> list[str]:
        return ["## Collectives (fastest algorithm per point)", "", summary.collective_table(rows), ""]
