"""Resolve a scenario: read its document, and once its study has validated it, load its
chips (and what-if variants), systems, models and economics, each error pointing at the
scenario's file and line."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.catalog import (
    build_chip,
    chip_path,
    config_path,
    load_chip,
    load_economics,
    load_model,
    load_stack,
    load_system,
    scenario_path,
    suggest,
    validated,
)
from sim.catalog.plausible import check_plausible, overrides_of
from sim.catalog.provenance import is_covered
from sim.catalog.yaml_io import LocatedYaml, read_yaml
from sim.chips.base import ChipSpec
from sim.errors import ConfigError, SimError
from sim.parts.economics import Economics
from sim.parts.stack import StackSpec
from sim.scenario.spec import ChipVariant, ScenarioBase, SystemVariant
from sim.system import SystemSpec
from sim.workload.model import ModelSpec


@dataclass(frozen=True)
class ResolvedScenario:
    """A scenario with every name turned into a spec (keys are canonical names)."""

    spec: ScenarioBase
    path: Path
    chips: dict[str, ChipSpec]
    models: dict[str, ModelSpec]
    economics: Economics
    aliases: dict[str, str]  # name as written in the scenario -> canonical chip or system name
    systems: dict[str, SystemSpec] = field(default_factory=dict)
    stacks: dict[str, StackSpec] = field(default_factory=dict)  # as written in the scenario -> spec

    def canonical_chip(self, name: str) -> str:
        return self.aliases.get(name, name)

    @property
    def statuses(self) -> dict[str, str]:
        """Config status (confirmed / partly_assumed / assumed) of every chip and system
        the scenario uses, systems' chips included."""
        return {**{n: c.status for n, c in self.chips.items()}, **{n: s.status for n, s in self.systems.items()},
                **{s.chip.name: s.chip.status for s in self.systems.values()}}


def derive_chip(variant: ChipVariant, doc: LocatedYaml, loc: tuple, econ: Economics) -> ChipSpec:
    """``variant.base`` with ``variant.set`` applied; replaced subtrees drop their sources.
    A variant that swaps memory and names no price costs the base price minus the old
    memory plus the new, at ``econ``'s price per GB of each technology."""
    base = load_chip(variant.base)
    raw = copy.deepcopy(read_yaml(chip_path(variant.base)).data)  # re-validated after the edits
    sources = _apply_set(raw, variant.set, f"{doc.where(loc)}: chip_variants", base.name)
    raw.update(name=variant.name, aliases=[], status=variant.status,
               sources={**sources, **variant.sources})
    _need_sources(variant.set, variant.sources, f"{doc.where(loc)}: chip variant {variant.name}")
    try:
        chip = build_chip(LocatedYaml(doc.path, raw, {}))
        if _touches(variant, "memory") and not _touches(variant, "price"):
            chip = _repriced_for_memory(base, chip, econ)
        return chip
    except (ConfigError, ValueError) as err:
        raise ConfigError(f"{doc.where(loc)}: chip variant {variant.name}: {err}") from None


def _need_sources(sets: dict[str, Any], sources: dict[str, str], where: str) -> None:
    """Every number a variant sets carries a source (a what-if's own or one over its block)."""
    missing = [k for k in set_leaves(sets) if not is_covered(k, sources)]
    if missing:
        raise ConfigError(f"{where}: give a source for {', '.join(missing)} "
                          "(sources: {field: where the number comes from, or ASSUMED: why})")


def _touches(variant: ChipVariant, field_name: str) -> bool:
    return any(k == field_name or k.startswith(field_name + ".") for k in variant.set)


def _repriced_for_memory(base: ChipSpec, chip: ChipSpec, econ: Economics) -> ChipSpec:
    """``chip`` (``base`` with other memory) at base price - old memory + new memory."""
    if base.price.purchase_USD is None:
        raise ValueError(f"it changes memory of {base.name}, which is priced as a cloud rate; "
                         "give the variant's price (set: price.cloud_USD_per_hour)")
    old_USD, new_USD = econ.memory_cost_USD(base.memory), econ.memory_cost_USD(chip.memory)
    price_USD = base.price.purchase_USD - old_USD + new_USD
    if price_USD <= 0:
        raise ValueError(f"its memory costs ${old_USD:,.0f} less than {base.name}'s price; give its price")
    note = (f"DERIVED: {base.name} ${base.price.purchase_USD:,.0f} - its memory ${old_USD:,.0f} + this memory "
            f"${new_USD:,.0f} (economics memory_USD_per_GB)")
    return chip.model_copy(update={"price": chip.price.model_copy(update={"purchase_USD": price_USD}),
                                   "sources": {**chip.sources, "price.purchase_USD": note}})


def _apply_set(raw: dict, sets: dict[str, Any], where: str, base_name: str, leaf_must_exist: bool = False) -> dict:
    """Merge ``sets`` into the parsed config ``raw`` (in place) the JSON Merge Patch way
    (RFC 7386): each key may be dotted (``memory.hbm.bandwidth_GBps``); a mapping merges
    into the mapping there, key by key, so one field changes and the rest stay; ``null``
    deletes the key (``memory: {gddr: null, hbm: {...}}`` swaps a memory); anything else
    replaces. Returns the sources left: the base's, less those of every replaced or
    deleted field. ``leaf_must_exist``: a dotted key's last part must already be a field
    (a typo is refused with close names)."""
    sources = dict(raw.get("sources", {}))
    for dotted, value in sets.items():
        node = raw
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"{where}: '{dotted}' is not a field of {base_name}")
            node = node[part]
        if leaf_must_exist and parts[-1] not in node:
            raise ConfigError(f"{where}: '{dotted}' is not a field of {base_name}.{suggest(parts[-1], list(node))}")
        for changed in _merge(node, parts[-1], value, dotted):
            sources = {k: v for k, v in sources.items() if not (k == changed or k.startswith(changed + "."))}
    return sources


def _merge(node: dict, key: str, value: Any, dotted: str) -> list[str]:
    """Merge-patch ``value`` into ``node[key]``; the dotted names of what it replaced."""
    if value is None:
        node.pop(key, None)
        return [dotted]
    if isinstance(value, dict) and isinstance(node.get(key), dict):
        return [c for k, v in value.items() for c in _merge(node[key], k, v, f"{dotted}.{k}")]
    node[key] = copy.deepcopy(value)
    return [dotted]


def set_leaves(sets: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted fields a ``set`` gives a value (deletions need no source)."""
    out = []
    for k, v in sets.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out += set_leaves(v, name + ".")
        elif v is not None:
            out.append(name)
    return out


def derive_system(variant: SystemVariant, doc: LocatedYaml, loc: tuple, chips: dict[str, ChipSpec]) -> SystemSpec:
    """``variant.base`` with its chip swapped (a catalog chip or a chip variant of the
    scenario) and each dotted field of ``set`` replaced; replaced fields drop their sources."""
    where = doc.where(loc)
    base = _named(lambda: read_yaml(config_path("system", variant.base)), doc, (*loc, "base"))
    raw = copy.deepcopy(base.data)
    sources = _apply_set(raw, variant.set, f"{where}: system_variants", variant.base,
                         leaf_must_exist=not any(k.startswith("node.") for k in variant.set))
    chip_name = variant.chip or raw["chip"]
    chip = chips.get(chip_name) or _named(lambda: load_chip(chip_name), doc, (*loc, "chip"))
    raw.update(name=variant.name, aliases=[], status=variant.status, chip=chip,
               sources={**sources, **variant.sources})
    _need_sources(variant.set, variant.sources, f"{where}: system variant {variant.name}")
    raw, overrides = overrides_of(doc, raw)
    try:
        system = validated(SystemSpec.model_validate, LocatedYaml(doc.path, raw, {}))
        check_plausible(LocatedYaml(doc.path, raw, {}), raw, overrides)
        return system
    except ConfigError as err:
        raise ConfigError(f"{where}: system variant {variant.name}: {str(err).split(': ', 1)[-1]}") from None


def read_scenario(source: str | Path | dict[str, Any]) -> LocatedYaml:
    """A scenario document: by catalog name, from a path, or a mapping built in code."""
    if isinstance(source, dict):
        return LocatedYaml(Path(f"<scenario {source.get('name', '?')}>"), source, {})
    path = scenario_path(str(source))
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{path}: a scenario file must be a mapping of fields")
    return doc


def resolve(spec: ScenarioBase, doc: LocatedYaml, columns: list[str]) -> ResolvedScenario:
    """Every name of a validated scenario turned into a spec; findings and plots may only
    name ``columns`` (the study's results columns). Errors point at the file and line."""
    chips: dict[str, ChipSpec] = {}
    aliases: dict[str, str] = {}
    for i, chip_name in enumerate(spec.chips):
        chip = _named(lambda n=chip_name: load_chip(n), doc, ("chips", i))
        chips[chip.name] = chip
        aliases[chip_name] = chip.name
    stacks = {name: _named(lambda n=name: load_stack(n), doc, ("stacks", i)) for i, name in enumerate(spec.stacks)}
    econ = load_economics(spec.economics, doc.where(("economics",)))
    for i, variant in enumerate(spec.chip_variants):
        chips[variant.name] = derive_chip(variant, doc, ("chip_variants", i), econ)
    systems: dict[str, SystemSpec] = {}
    for i, system_name in enumerate(spec.systems):
        system = _named(lambda n=system_name: load_system(n), doc, ("systems", i))
        systems[system.name] = system
        aliases[system_name] = system.name
    for i, sv in enumerate(spec.system_variants):
        systems[sv.name] = derive_system(sv, doc, ("system_variants", i), chips)
    models = {}
    for i, model_name in enumerate(spec.model_names()):
        model = _named(lambda n=model_name: load_model(n), doc, ("models", i))
        models[model.name] = model
    for i, f in enumerate(spec.findings):
        for who in (f.of, f.to):
            if who is not None and aliases.get(who, who) not in {**chips, **systems}:
                raise ConfigError(f"{doc.where(('findings', i))}: findings: '{who}' is not a chip or system "
                                  "of this scenario")
        _check_columns(doc, ("findings", i), [f.metric, f.axis, *f.by, *f.where, *f.slo], columns)
    for i, plot in enumerate(spec.plots):
        _check_columns(doc, ("plots", i), [plot.x, plot.y, plot.lines, plot.panels], columns)
    return ResolvedScenario(spec, doc.path, chips, models, econ, aliases, systems, stacks)


def _check_columns(doc: LocatedYaml, loc: tuple, used: list[str], known: list[str]) -> None:
    """Findings and plots may only name results columns."""
    for name in used:
        if name not in known:
            raise ConfigError(f"{doc.where(loc)}: {loc[0]}: '{name}' is not a results column."
                              f"{suggest(name, known)}")


def _named(load, doc: LocatedYaml, loc: tuple):
    try:
        return load()
    except SimError as err:
        raise type(err)(f"{doc.where(loc)}: {err}") from None
