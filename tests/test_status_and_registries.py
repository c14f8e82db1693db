"""Issue 14, typed results and single registries: the status enum is the string written to
summary.json, the summary is a typed record with the file's keys, no live HiGHS model is reachable
from a solution, and the registry of constraint families lists every built component once."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from test_docs import _full_model
from test_handoff import small_mip
from test_model_hand_solved import two_technology_instance

import network_opt as no
from network_opt.common.outdir import PLAN_TABLES, RESULT_TABLES
from network_opt.model.build import CONSTRAINT_FAMILIES, TARGET_CONSTRAINTS
from network_opt.model.families import ELASTIC_FAMILIES, FAMILIES, PLACEMENT_FAMILIES
from network_opt.results.read import TABLES
from network_opt.results.summary import Summary
from network_opt.results.tables import Solution
from network_opt.results.write import write_results
from network_opt.solver.handoff import HighsModel
from network_opt.solver.highs import SolveOutcome, solve_model
from network_opt.solver.options import SolveOptions
from network_opt.solver.status import SolveStatus, Termination

#: the keys of summary.json of a plain solve, in the file's order
SUMMARY_KEYS = ["instance", "status", "termination", "objective", "bound", "mip_gap", "currency", "objective_label",
                "cost_terms", "periods", "soft_targets", "timings", "resolve", "model", "projected", "pruning", "lanes",
                "solver", "warnings", "numerics", "tool", "command", "options", "instance_path", "input_files"]


def _written_status(sol: Solution, out: Path) -> dict:
    write_results(sol, out)
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_status_of_an_optimal_and_an_infeasible_instance_is_the_string_in_summary_json(tmp_path: Path) -> None:
    ok = no.solve(two_technology_instance(tmp_path / "ok"))
    assert ok.status is SolveStatus.OPTIMAL
    summary = _written_status(ok, tmp_path / "ok-out")
    assert summary["status"] == SolveStatus.OPTIMAL.value == "optimal"
    assert summary["termination"] == Termination.CONVERGED.value
    target = [{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": 0.95,
               "from_period": 2025}]
    bad = no.solve(two_technology_instance(tmp_path / "bad", target))
    assert bad.status is SolveStatus.INFEASIBLE
    summary = _written_status(bad, tmp_path / "bad-out")
    assert summary["status"] == SolveStatus.INFEASIBLE.value == "infeasible"
    assert list(summary) == [*SUMMARY_KEYS]


def test_status_of_an_unbounded_model_is_the_string_in_summary_json(tmp_path: Path) -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(domain=pyo.NonNegativeReals)
    m.y = pyo.Var(domain=pyo.NonNegativeReals)
    m.c = pyo.Constraint(expr=m.x - m.y <= 1)
    m.o = pyo.Objective(expr=-m.x)
    out = solve_model(m, SolveOptions())
    # HiGHS may only prove "infeasible or unbounded"
    assert out.status in (SolveStatus.UNBOUNDED, SolveStatus.INFEASIBLE)
    assert isinstance(out.status, SolveStatus)
    sol = Solution(outcome=out, summary=Summary(instance="lp", status=out.status, termination=out.termination))
    summary = _written_status(sol, tmp_path / "lp-out")
    assert summary["status"] == out.status.value
    assert SolveStatus(summary["status"]) is out.status
    assert summary["termination"] in (Termination.UNBOUNDED.value, Termination.INFEASIBLE_OR_UNBOUNDED.value)


def test_statuses_are_strings() -> None:
    assert {s.value for s in SolveStatus} >= {"optimal", "feasible", "infeasible", "unbounded", "no_solution",
                                              "invalid", "error"}
    assert json.dumps({"s": SolveStatus.NO_SOLUTION}) == '{"s": "no_solution"}'
    assert pd.Series(["optimal", "infeasible"]).eq(SolveStatus.OPTIMAL).tolist() == [True, False]
    assert SolveStatus.FEASIBLE.has_plan and not SolveStatus.INFEASIBLE.has_plan
    # a status read back from a file becomes the member
    read_back: Any = "feasible"
    assert SolveOutcome(status=read_back, termination="", objective=None, bound=None, mip_gap=None).status \
        is SolveStatus.FEASIBLE


def test_summary_as_dict_has_the_keys_of_summary_json(tmp_path: Path) -> None:
    sol = no.solve(two_technology_instance(tmp_path / "i"))
    assert isinstance(sol.summary, Summary)
    d = sol.summary.as_dict()
    assert list(d) == SUMMARY_KEYS
    assert Summary.keys_in_file()[:len(SUMMARY_KEYS)] == tuple(SUMMARY_KEYS)
    # typed fields and the dict interface agree
    assert sol.summary.status is SolveStatus.OPTIMAL and sol.summary["status"] == "optimal"
    assert sol.summary.objective == pytest.approx(d["objective"])
    assert "aggregation" not in sol.summary and sol.summary.get("aggregation") is None
    sol.summary["scenario"] = "base"  # keys added after the solve come last
    assert list(sol.summary.as_dict())[-1] == "scenario" and dict(sol.summary)["scenario"] == "base"
    # a summary read back from a file round-trips exactly
    written = _written_status(sol, tmp_path / "out")
    assert Summary.from_dict(written).as_dict() == written
    assert Summary.from_dict({"timings": {}}).as_dict() == {"timings": {}}


def _reachable(root: object, limit: int = 200_000) -> list[object]:
    """Objects reachable from ``root`` through attributes, dataclass fields, containers, pandas and
    Pyomo components (not into numpy arrays or strings)."""
    seen: set[int] = set()
    todo = [root]
    found = []
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | bool | type(None) | np.ndarray | type):
            continue
        seen.add(id(obj))
        found.append(obj)
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            todo.extend(obj)
        elif isinstance(obj, pd.DataFrame | pd.Series | pd.Index):
            continue  # plain values
        if dataclasses.is_dataclass(obj):
            todo.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
        if hasattr(obj, "__dict__"):
            todo.extend(vars(obj).values())
        for slot in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, slot):
                todo.append(getattr(obj, slot))
    return found


def test_no_highs_model_is_reachable_from_a_solution(tmp_path: Path) -> None:
    sol = no.solve(two_technology_instance(tmp_path / "i"))
    assert sol.status == SolveStatus.OPTIMAL
    hits = [o for o in _reachable(sol) if isinstance(o, HighsModel) or type(o).__module__.startswith("highspy")]
    assert hits == []
    assert "extra" not in {f.name for f in dataclasses.fields(SolveOutcome)}


def test_duals_and_start_are_fields_of_the_outcome() -> None:
    out = solve_model(small_mip(), SolveOptions())
    assert out.status is SolveStatus.OPTIMAL and out.nonzeros is not None and out.nonzeros > 0
    assert out.mip_node_count is not None and isinstance(out.numerics, dict)


def test_the_registry_lists_every_constraint_component_once(tmp_path: Path) -> None:
    m = _full_model(tmp_path)
    built = [c.local_name for c in m.component_objects(pyo.Constraint, descend_into=True)]
    names = [f.name for f in FAMILIES]
    assert sorted(built) == sorted(names)
    assert len(set(names)) == len(names)
    assert built == names  # in the order the model adds them
    # the others read the registry
    assert tuple(dict.fromkeys(f.builder for f in FAMILIES)) == CONSTRAINT_FAMILIES
    assert {f.target_metric: f.name for f in FAMILIES if f.target_metric} == TARGET_CONSTRAINTS
    assert set(ELASTIC_FAMILIES) <= set(names) and set(PLACEMENT_FAMILIES) <= set(ELASTIC_FAMILIES)
    formulation = (Path(__file__).resolve().parents[1] / "docs" / "formulation.md").read_text(encoding="utf-8")
    for f in FAMILIES:
        assert f"**{f.doc}** (" in formulation, f.name
        assert f"`{f.name}" in formulation and f.builder.__name__ in formulation


def test_one_list_of_result_tables(tmp_path: Path) -> None:
    assert TABLES == PLAN_TABLES == RESULT_TABLES[:len(PLAN_TABLES)]
    sol = no.solve(two_technology_instance(tmp_path / "i"))
    assert tuple(sol.tables) == PLAN_TABLES
