"""Discrete-event serving simulation (the only package that imports simpy)."""
