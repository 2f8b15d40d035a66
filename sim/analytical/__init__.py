"""The analytical engine: op graphs on a chip -> time, bound, memory fit, energy, cost."""
