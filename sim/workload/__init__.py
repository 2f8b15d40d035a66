"""Hardware-free description of what runs: models, workloads, and their op graphs."""
