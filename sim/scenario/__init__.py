"""Scenarios: chips x models x workload axes, run as a parallel sweep into results/."""
