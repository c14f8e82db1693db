"""Whole runs: one solve from an instance to a solution (:mod:`~network_opt.runs.pipeline`), and many
side by side (compare, sweep, executors). Imports every stage below it, never plot or cli."""
