"""The Python API the CLI and notebooks share: load -> prepare -> build -> solve -> extract."""

from __future__ import annotations

import time
from pathlib import Path

from network_opt.instance import Instance, load
from network_opt.model import build_model, prepare
from network_opt.network import lane_count_by_commodity
from network_opt.results import Solution, extract
from network_opt.solve import SolveOptions, solve_model


def model_size(m: object) -> dict[str, int]:
    """Variables, binaries and constraints of a built Pyomo model (nonzeros come from HiGHS)."""
    import pyomo.environ as pyo

    variables = binaries = constraints = 0
    for v in m.component_data_objects(pyo.Var, active=True):  # type: ignore[attr-defined]
        variables += 1
        binaries += int(v.is_binary())
    for _ in m.component_data_objects(pyo.Constraint, active=True):  # type: ignore[attr-defined]
        constraints += 1
    return {"variables": variables, "binaries": binaries, "constraints": constraints}


def solve(instance: str | Path | Instance, options: SolveOptions | None = None) -> Solution:
    """Load (if a path is given), build and solve an instance; return its :class:`Solution`.

    Raises :class:`~network_opt.errors.InputError` on invalid input. The solution's ``status``
    tells whether a plan was found; its tables are empty when none was.
    """
    t0 = time.perf_counter()
    inst = instance if isinstance(instance, Instance) else load(instance)
    t1 = time.perf_counter()
    data = prepare(inst)
    m = build_model(data)
    t2 = time.perf_counter()
    outcome = solve_model(m, options)
    t3 = time.perf_counter()
    tables = extract(m, data) if outcome.has_plan else {}
    t4 = time.perf_counter()
    summary: dict[str, object] = {
        "instance": inst.name,
        "status": outcome.status,
        "termination": outcome.termination,
        "objective": outcome.objective,
        "bound": outcome.bound,
        "mip_gap": outcome.mip_gap,
        "currency": inst.setting("currency"),
        "periods": inst.years,
        "timings": {"load_s": t1 - t0, "build_s": t2 - t1, "solve_s": t3 - t2, "extract_s": t4 - t3},
        "model": {**model_size(m), "nonzeros": outcome.extra.get("nonzeros")},
        "lanes": lane_count_by_commodity(data.lanes),
        "solver": {"name": outcome.solver_name, "version": outcome.solver_version},
        "warnings": [str(w) for w in inst.warnings],
    }
    sol = Solution(outcome=outcome, tables=tables, summary=summary)
    sol.model = m  # type: ignore[attr-defined]  # kept for notebooks and diagnostics
    sol.data = data  # type: ignore[attr-defined]
    return sol
