"""Architecture classes: one module each, registered by its ``kind`` tag on import."""

import importlib
import pkgutil

from sim.chips.base import ChipSpec, chip_kind, registered_chip_kinds

_INFRA = {"base", "costing", "tiling"}
for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _INFRA:
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["ChipSpec", "chip_kind", "registered_chip_kinds"]
