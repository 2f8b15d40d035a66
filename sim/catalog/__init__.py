"""The only code that reads config files: name -> YAML -> validated, frozen spec.

Chips live in ``configs/chips``, systems in ``configs/systems``, models in ``configs/models``,
scenarios in ``scenarios`` (``sim.catalog.roots``: the shipped catalog plus user folders).
A name matches a file's ``name``, one of its ``aliases`` or its file stem, ignoring case
and punctuation; two files claiming one name is an error. Every error names the file, the
line and the field.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from sim.catalog.header import read_header
from sim.catalog.plausible import check_plausible, overrides_of
from sim.catalog.provenance import dangling_sources, unsourced
from sim.catalog.roots import (
    add_user_dirs,
    checkout_dir,
    configs_dir,
    kind_dirs,
    results_dir,
    shipped_dir,
)
from sim.catalog.yaml_io import LocatedYaml, read_yaml
from sim.chips import ChipSpec, registered_chip_kinds
from sim.deployment import Deployment
from sim.errors import ConfigError, UnknownNameError
from sim.parts.economics import Economics
from sim.parts.stack import StackSpec
from sim.system import SystemSpec
from sim.workload.dataset import DatasetSpec
from sim.workload.model import ModelSpec
from sim.workload.parallel import Parallelism

T = TypeVar("T")

def chips_dir() -> Path:
    """The shipped chip configs."""
    return kind_dirs("chip")[0]


def systems_dir() -> Path:
    return kind_dirs("system")[0]


def models_dir() -> Path:
    return kind_dirs("model")[0]


def scenarios_dir() -> Path:
    return kind_dirs("scenario")[0]


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def suggest(name: str, known: list[str] | dict[str, str]) -> str:
    """' Did you mean: a, b?' naming the closest known names, or '' when none is close.
    ``known`` is a list of names, or a map from every alias to the name it stands for."""
    by_key = {_key(k): v for k, v in known.items()} if isinstance(known, dict) else {_key(k): k for k in known}
    close = difflib.get_close_matches(_key(name), list(by_key), n=6, cutoff=0.6)
    if not close:
        close = [k for k in by_key if len(_key(name)) >= 2 and _key(name) in k]
    picks = list(dict.fromkeys(by_key[c] for c in close))[:3]
    return f" Did you mean: {', '.join(picks)}?" if picks else ""


@lru_cache(maxsize=16)
def _index_of(directories: tuple[Path, ...]) -> dict[str, tuple[str, Path]]:
    """normalised name/alias/stem -> (display name, file) for every YAML in ``directories``
    (from each file's header lines, ``sim.catalog.header``); a key claimed by two files is
    an error naming both."""
    index: dict[str, tuple[str, Path]] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            header = read_header(path)
            name = header.get("name", path.stem)
            aliases = header.get("aliases", [])
            for alias in [name, path.stem, *(aliases if isinstance(aliases, list) else [])]:
                hit = index.setdefault(_key(str(alias)), (str(name), path))
                if hit[1] != path:
                    raise ConfigError(f"{path}: '{alias}' is already the name of {hit[1]}; give it another name")
    return index


def _index(kind: str) -> dict[str, tuple[str, Path]]:
    return _index_of(tuple(kind_dirs(kind)))


def _find(kind: str, name: str) -> Path:
    index = _index(kind)
    hit = index.get(_key(name))
    if hit is None:
        names = sorted({n for n, _ in index.values()})
        aliases = {alias: display for alias, (display, _) in index.items()}
        raise UnknownNameError(f"unknown {kind} '{name}'.{suggest(name, aliases)} "
                               f"(`sim list {kind}s` shows all {len(names)})")
    return hit[1]


def names(kind: str) -> list[str]:
    """Display names of every chip / system / model / scenario in the catalog."""
    return sorted({n for n, _ in _index(kind).values()})


def validation_message(doc: LocatedYaml, err: ValidationError, strip: int = 0) -> str:
    """One line per problem: 'file:line: field: message' (first three, then a count)."""
    rows = []
    for e in err.errors():
        loc = tuple(e["loc"])[strip:]
        field = ".".join(str(p) for p in loc) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif "input" in e and not isinstance(e["input"], (dict, list)):
            msg = f"{msg} (got {e['input']!r})"
        rows.append(f"{doc.where(loc)}: {field}: {msg}")
    extra = f" (and {len(rows) - 3} more)" if len(rows) > 3 else ""
    return "; ".join(rows[:3]) + extra


def check_sources(doc: LocatedYaml, data: dict) -> None:
    """Every number needs a source; every source key must name a field."""
    missing = unsourced(data)
    if missing:
        path = missing[0]
        raise ConfigError(f"{doc.where(tuple(path.split('.')))}: {path}: no source "
                          f"(add it under 'sources:'; {len(missing)} field(s) unsourced)")
    dangling = dangling_sources(data)
    if dangling:
        raise ConfigError(f"{doc.where(('sources', dangling[0]))}: sources.{dangling[0]}: "
                          "names no field in this file")


def build_chip(doc: LocatedYaml, data: Any | None = None) -> ChipSpec:
    """Validate a chip mapping (``doc.data`` unless ``data`` is given) against its kind."""
    data = doc.data if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{doc.path}: a chip file must be a mapping of fields")
    kinds = registered_chip_kinds()
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise ConfigError(f"{doc.where(('kind',))}: kind: '{kind}' is not an architecture class "
                          f"(one of: {', '.join(sorted(kinds))}).{suggest(str(kind), list(kinds))}")
    data, overrides = overrides_of(doc, data)
    resolved = dict(data)
    for key in ("default_stack", "default_training_stack"):
        if isinstance(resolved.get(key), str):
            resolved[key] = _named_stack(doc, (key,), resolved[key])
    chip = validated(kinds[kind].model_validate, doc, resolved)
    check_plausible(doc, data, overrides)
    check_sources(doc, data)
    return chip


def _named_stack(doc: LocatedYaml, loc: tuple, name: str) -> StackSpec:
    """The catalog stack a file names; an unknown name points at the file's line."""
    try:
        return load_stack(name)
    except UnknownNameError as err:
        raise UnknownNameError(f"{doc.where(loc)}: {loc[-1]}: {err}") from None


@lru_cache(maxsize=64)
def load_stack(name: str) -> StackSpec:
    """The software stack called ``name`` (or a path to a stack YAML)."""
    doc = _read_config("stack", name)
    stack = validated(StackSpec.model_validate, doc)
    check_sources(doc, doc.data)
    chips = names("chip")
    for field in ("matmul_rate_fraction_by_chip", "weight_read_bandwidth_fraction_by_chip"):
        for chip in getattr(stack, field):  # a key that names no chip would never apply
            if chip not in chips:
                raise ConfigError(f"{doc.where((field, chip))}: {field}: "
                                  f"no catalog chip is called '{chip}' (keys are chip names).{suggest(chip, chips)}")
    return stack


@lru_cache(maxsize=64)
def load_dataset(name: str) -> DatasetSpec:
    """The benchmark dataset called ``name`` (or a path to a dataset YAML): its lengths."""
    doc = _read_config("dataset", name)
    dataset = validated(DatasetSpec.model_validate, doc)
    check_sources(doc, doc.data)
    return dataset


def validated(validate: Callable[[Any], T], doc: LocatedYaml, data: Any = None) -> T:
    """``validate(data)`` (``doc.data`` by default); a pydantic error becomes one
    ConfigError line naming the file, line and field."""
    try:
        return validate(doc.data if data is None else data)
    except ValidationError as err:
        raise ConfigError(validation_message(doc, err)) from None


def config_path(kind: str, name: str) -> Path:
    """The YAML file of the ``kind`` called ``name`` (or ``name`` itself when it is a path)."""
    return Path(name) if name.endswith((".yaml", ".yml")) else _find(kind, name)


def chip_path(name: str) -> Path:
    """The YAML file of the chip called ``name`` (or ``name`` itself when it is a path)."""
    return config_path("chip", name)


@lru_cache(maxsize=256)
def load_chip(name: str) -> ChipSpec:
    """The chip called ``name`` (or a path to a chip YAML)."""
    return build_chip(read_yaml(chip_path(name)))


def _read_config(kind: str, name: str) -> LocatedYaml:
    """The YAML of the ``kind`` called ``name`` (or at path ``name``); it must be a mapping."""
    path = config_path(kind, name)
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{path}: a {kind} file must be a mapping of fields")
    return doc


@lru_cache(maxsize=256)
def load_model(name: str) -> ModelSpec:
    """The model called ``name``, or a path to a model YAML or to a Hugging Face
    ``config.json`` (``sim.catalog.hf``)."""
    from sim.catalog import hf

    if hf.is_hf_config(name):
        return hf.model_from_config(Path(name))
    doc = _read_config("model", name)
    model = validated(ModelSpec.model_validate, doc)
    check_sources(doc, doc.data)
    return model


@lru_cache(maxsize=64)
def load_system(name: str) -> SystemSpec:
    """The system called ``name`` (or a path to a system YAML); its ``chip`` is loaded."""
    doc = _read_config("system", name)
    plain, overrides = overrides_of(doc, doc.data)
    data = dict(plain)
    if isinstance(data.get("chip"), str):
        data["chip"] = _system_chip(doc, data["chip"])
    system = validated(SystemSpec.model_validate, doc, data)
    check_plausible(doc, plain, overrides)
    check_sources(doc, plain)
    return system


def _system_chip(doc: LocatedYaml, name: str) -> ChipSpec:
    """The catalog chip a system file names; an unknown name points at the file's line."""
    try:
        return load_chip(name)
    except UnknownNameError as err:
        raise UnknownNameError(f"{doc.where(('chip',))}: chip: {err}") from None


def system_with_chip(chip_name: str, count: int | None = None) -> SystemSpec:
    """The catalog system built from ``chip_name`` with the smallest scale-up domain (for
    "N of this chip": an 8-GPU board rather than a rack), among those that can hold
    ``count`` chips when it is given."""
    chip = load_chip(chip_name)
    hosts = [load_system(str(path)) for path in _systems_naming(chip_path(chip_name))]
    hosts = [s for s in hosts if s.chip.name == chip.name]
    if not hosts:
        raise UnknownNameError(f"no system in configs/systems has {chip.name}; name one "
                               f"(systems: {', '.join(names('system'))})")
    if count is not None:
        holding = [s for s in hosts if _holds(s, count)]
        if not holding:
            raise ConfigError(f"no catalog system with {chip.name} holds {count} chips "
                              f"({', '.join(s.name for s in hosts)}); name a system")
        hosts = holding
    return min(hosts, key=lambda s: (s.chips_per_node, s.name))


def _systems_naming(chip_file: Path) -> list[Path]:
    """The system files whose ``chip`` names the chip in ``chip_file`` (read from their
    header lines, so only those systems are loaded); a name no chip has is left to
    ``load_system`` to report."""
    chip_index = _index("chip")
    files = sorted({path for _, path in _index("system").values()})
    picked = []
    for path in files:
        named = read_header(path).get("chip")
        hit = chip_index.get(_key(str(named))) if isinstance(named, str) else None
        if hit is None or hit[1] == chip_file:
            picked.append(path)
    return picked


def _holds(system: SystemSpec, count: int) -> bool:
    try:
        system.sized(count)
    except ConfigError:
        return False
    return True


def load_sized_system(count: int, chip: str | None = None, system: str | None = None) -> SystemSpec | None:
    """The named ``system`` sized to ``count`` chips; for a named ``chip``, None for one
    card, else the catalog system holding that chip with the smallest scale-up domain."""
    if system is not None:
        return load_system(system).sized(count)
    if chip is None:
        raise ConfigError("name a chip or a system")
    return None if count == 1 else system_with_chip(chip, count).sized(count)


def load_deployment(plan: Parallelism, chip: str | None = None, system: str | None = None,
                    chip_spec: ChipSpec | None = None) -> Deployment:
    """``plan`` on the hardware ``load_sized_system`` names for its chips; ``chip_spec``
    replaces the catalog chip (a what-if, a fit)."""
    sized = load_sized_system(plan.chips, chip, system)
    dep = Deployment.one_chip(load_chip(chip)) if sized is None else Deployment.on_system(sized, plan)
    return dep.with_chip(chip_spec) if chip_spec is not None else dep


def scenario_path(name: str) -> Path:
    """A scenario by name, or a path to a scenario file."""
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        path = Path(name)
        if not path.is_file():
            raise UnknownNameError(f"no scenario file {path}")
        return path
    return _find("scenario", name)


def load_economics(overrides: dict[str, Any] | None = None, where: str = "",
                   labels: dict[str, str] | None = None) -> Economics:
    """configs/economics.yaml with ``overrides`` on top (a scenario's ``economics:`` block,
    or command-line flags); an invalid value names ``where`` (the scenario line or the
    flags) and the field as the user wrote it (``labels``: field -> flag), or the file
    when the file itself is wrong."""
    labels = labels or {}
    overrides = overrides or {}
    doc = read_yaml(configs_dir() / "economics.yaml")
    currency = overrides.get("currency")
    if currency is not None and currency != doc.data.get("currency", "USD"):
        missing = [k for k in ("currency_per_USD", "electricity_price_per_kWh") if k not in overrides]
        if missing:
            raise ConfigError(f"{where or doc.path}: economics: currency {currency} needs "
                              f"{' and '.join(labels.get(m, m) for m in missing)} in {currency} too (the defaults are in "
                              f"{doc.data.get('currency', 'USD')}; nothing is converted silently)")
    data = {**doc.data, **overrides}
    for merged in ("sources", "memory_USD_per_GB"):  # a scenario adds or replaces entries
        data[merged] = {**doc.data.get(merged, {}), **overrides.get(merged, {})}
    try:
        return Economics.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        name = labels.get(field, field)
        raise ConfigError(f"{where or doc.path}: economics: {name}: {first['msg']}") from None


def load_calibration() -> dict[str, Any]:
    """configs/calibration.yaml: the uncertainty bands measured on held-out validation
    cases (``sim.validate.bands``); empty when the file is missing."""
    path = configs_dir() / "calibration.yaml"
    if not path.is_file():
        return {}
    data = read_yaml(path).data
    bands = data.get("bands") if isinstance(data, dict) else None
    if not isinstance(bands, dict):
        raise ConfigError(f"{path}: calibration: 'bands' must be a mapping (regenerate: python -m sim.validate.bands)")
    return bands


def use_catalog(*dirs: str | Path) -> None:
    """Add user catalog folders to the shipped one and forget what was loaded before."""
    add_user_dirs(*dirs)
    for cached in (_index_of, load_chip, load_model, load_system, load_stack, load_dataset):
        cached.cache_clear()


__all__ = ["Economics", "LocatedYaml", "build_chip", "check_sources", "checkout_dir", "chip_path", "chips_dir", "configs_dir",
           "load_chip", "load_dataset", "load_deployment", "load_economics", "load_sized_system", "load_model", "load_stack", "load_system", "models_dir", "names", "read_yaml",
           "results_dir", "scenario_path", "scenarios_dir", "shipped_dir", "suggest", "system_with_chip",
           "systems_dir", "use_catalog", "validated", "validation_message"]
