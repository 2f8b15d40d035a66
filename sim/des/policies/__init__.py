"""Batching policies, one module each; importing this package registers them all."""

from importlib import import_module
from pkgutil import iter_modules

from sim.des.policies.base import Iteration, Policy, policy_class, registered_policies, token_budget

for _m in iter_modules(__path__):
    import_module(f"{__name__}.{_m.name}")

__all__ = ["Iteration", "Policy", "policy_class", "registered_policies", "token_budget"]
