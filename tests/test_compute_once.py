"""Each thing computed once (issue 14, item 3): the lanes of a solve are built once (the
validation's pre-check needs none: it asks a KD-tree, tests/test_reach.py; preparing the model
data builds them, and copies of the instance share them), a scenario's overrides
are applied once, a run sends back only what is written, and the plan's values are copied from
HiGHS's column values."""

from __future__ import annotations

import dataclasses
import io
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pyomo.environ as pyo
import pytest

import network_opt.inputs.lanes as lanes_module
import network_opt.inputs.overrides as overrides_module
import network_opt.model.constraints.targets as targets_module
from network_opt.inputs.instance import Instance
from network_opt.inputs.lanes import build_lanes, supply_and_lanes
from network_opt.inputs.load import load, load_for_scenarios
from network_opt.inputs.overrides import Override, copy_instance
from network_opt.inputs.scenarios import VALID, check_scenario, scenario_names
from network_opt.model.data import ModelData
from network_opt.results.tables import extract
from network_opt.runs.compare import compare, facility_diff
from network_opt.runs.executors import RunResult, RunSpec, solve_one
from network_opt.runs.pipeline import solve
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "instances" / "toy"
CHINA_EAST = ROOT / "instances" / "china-east"
SCENARIOS = ROOT / "instances" / "toy-scenarios"
#: toy-scenarios: the scenarios whose lanes differ from the base's (a facility closed); the others
#: change targets, prices or supply tonnes only and reuse the base's lanes
DISTINCT_LANES = 1 + 2


@pytest.fixture
def lane_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of :func:`build_lanes` (the instance's name), counted."""
    calls: list[str] = []
    real = lanes_module.build_lanes

    def counted(inst: Instance, supply: pd.DataFrame | None = None, **kwargs: Any) -> pd.DataFrame:
        calls.append(inst.name)
        return real(inst, supply, **kwargs)

    monkeypatch.setattr(lanes_module, "build_lanes", counted)
    return calls


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every override applied to an instance (its key), counted."""
    calls: list[str] = []
    for op in ("set", "scale", "remove", "open", "close", "add"):
        real = getattr(overrides_module, f"_{op}")

        def counted(inst: Instance, o: Override, _real: Any = real) -> None:
            calls.append(f"{o.op} {o.target}")
            return _real(inst, o)

        monkeypatch.setattr(overrides_module, f"_{op}", counted)
    return calls


def test_one_solve_builds_the_lanes_once(lane_builds: list[str]) -> None:
    sol = solve(TOY)
    assert sol.outcome.has_plan
    assert len(lane_builds) == 1  # by prepare (through prepare_sized); the validation builds none


def test_a_solve_of_a_loaded_instance_with_soft_targets_builds_no_lanes_again(lane_builds: list[str]) -> None:
    inst = load(TOY)
    assert len(lane_builds) == 0  # the validation's reachability check builds no lane
    solve(inst)
    assert len(lane_builds) == 1
    solve(inst, soft_targets=True)  # a copy with other settings: the lanes do not depend on them
    assert len(lane_builds) == 1
    solve(inst.with_settings({"transport.max_lane_km": 1000.0}))  # they depend on these
    assert len(lane_builds) == 2


def test_a_solve_finds_each_metrics_target_rows_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The size projection, the build and the result tables read the same target rows: found once
    per metric (china-east: pooled, chain and step rows of material recovery; before, three times)."""
    calls: list[str] = []
    real = targets_module._target_rows

    def counted(d: ModelData, metric: str) -> dict[int, Any]:
        calls.append(metric)
        return real(d, metric)

    monkeypatch.setattr(targets_module, "_target_rows", counted)
    sol = solve(CHINA_EAST)
    assert sol.outcome.has_plan
    metrics = set(sol.tables["targets"]["metric"])
    assert metrics
    assert sorted(calls) == sorted(set(calls))  # no metric twice
    assert metrics <= set(calls)


def test_lanes_are_built_again_when_their_inputs_change(lane_builds: list[str]) -> None:
    inst = load(TOY)
    _, lanes = supply_and_lanes(inst)
    assert len(lane_builds) == 1
    changed = copy_instance(inst)  # the copy hands the lanes on ...
    supply_and_lanes(changed)
    assert len(lane_builds) == 1
    changed.tables["sites"] = changed["sites"].assign(latitude=changed["sites"]["latitude"] + 1.0)
    again = supply_and_lanes(changed)[1]  # ... until an input they depend on changes
    assert len(lane_builds) == 2
    pd.testing.assert_frame_equal(again, build_lanes(changed))
    other = inst.with_settings({"transport.max_lane_km": 1.0})
    supply_and_lanes(other)
    assert len(lane_builds) == 3
    # the frames handed out are copies: changing one leaves the kept lanes as they were
    lanes["cost_per_t"] = 0.0
    assert (supply_and_lanes(inst)[1]["cost_per_t"] != 0.0).any()


def test_the_lanes_handed_on_are_those_a_fresh_build_gives() -> None:
    inst = load_for_scenarios(SCENARIOS)
    for name in scenario_names(inst):
        checked = check_scenario(inst, name)
        assert checked.status == VALID and checked.instance is not None
        _, lanes = supply_and_lanes(checked.instance)
        fresh = copy_instance(checked.instance)
        fresh._derived.clear()
        pd.testing.assert_frame_equal(lanes, build_lanes(fresh), obj=name)


def test_compare_builds_lanes_once_per_distinct_network_and_applies_each_override_once(
        lane_builds: list[str], applied: list[str], tmp_path: Path) -> None:
    result = compare(SCENARIOS, tmp_path / "cmp")
    assert set(result.runs["status"]) <= {"optimal", "feasible", "infeasible"}
    assert len(result.runs) == 7
    assert len(lane_builds) == DISTINCT_LANES
    inst = load_for_scenarios(SCENARIOS)
    from network_opt.inputs.scenarios import resolve

    expected = sorted(f"{o.op} {o.target}" for name in scenario_names(inst) for o in resolve(inst, name))
    assert sorted(applied) == expected  # li-70-volumes-up: li-70's override and its own, once each
    # facility_diff came from the tables in memory: the same as read back from the files
    assert len(result.facility_diff) > 0
    on_disk = facility_diff(tmp_path / "cmp", [RunResult(str(n), str(s)) for n, s in
                                               zip(result.runs["name"], result.runs["status"], strict=True)])
    pd.testing.assert_frame_equal(result.facility_diff.reset_index(drop=True), on_disk.reset_index(drop=True),
                                  check_dtype=False)


def test_facility_diff_uses_the_tables_in_memory(tmp_path: Path) -> None:
    def plan(level: str, cap: float) -> pd.DataFrame:
        return pd.DataFrame({"facility": ["F"], "site": ["S"], "kind": ["recycler"], "period": [2025],
                             "open": [True], "level": [level], "modules": [0], "capacity_t": [cap]})

    results = [RunResult("base", "optimal", tables={"facilities": plan("S", 10.0)}),
               RunResult("big", "optimal", tables={"facilities": plan("L", 20.0)})]
    diff = facility_diff(tmp_path / "nothing-written", results)  # no CSV is read
    assert diff["change"].tolist() == ["larger"]


class _Finder(pickle.Pickler):
    """A pickler noting the objects of the classes it is asked about."""

    def __init__(self, kinds: tuple[type, ...]):
        super().__init__(io.BytesIO())
        self.kinds, self.found = kinds, set[str]()

    def reducer_override(self, obj: object) -> Any:
        if isinstance(obj, self.kinds):
            self.found.add(type(obj).__name__)
        return NotImplemented


def test_a_run_sends_back_only_what_is_written() -> None:
    inst = load_for_scenarios(SCENARIOS)
    spec = RunSpec("base", (), SolveOptions(reuse=False), "hash", check=True)
    res = solve_one(inst, spec)
    assert res.status in ("optimal", "feasible") and res.solution is not None
    finder = _Finder((ModelData, pyo.ConcreteModel, HighsModel))
    finder.dump(res)
    assert not finder.found
    written = res.solution
    assert written.data is None and written.model is None
    assert written.instance is not None and not written.instance._derived  # no lanes
    # structural bound: the result pickles to what is written (tables, summary, instance, outcome)
    # plus its own small fields, each part measured alone (the slack covers class names, not data)
    parts = len(pickle.dumps((written.tables, written.summary, written.instance, written.outcome)))
    assert len(pickle.dumps(written)) <= parts + 2048
    rest = dataclasses.replace(res, solution=None)
    assert len(pickle.dumps(rest)) <= len(pickle.dumps((res.summary, res.tables))) + 2048


def test_values_copied_from_the_column_values_equal_those_of_the_variables() -> None:
    sol = solve(TOY)
    assert sol.model is not None and sol.data is not None
    read = extract(sol.model, sol.data)  # variable by variable, from the Pyomo model
    for name, frame in read.items():
        got = sol.tables[name].drop(columns=["shadow_price", "shadow_price_note"], errors="ignore")
        pd.testing.assert_frame_equal(got, frame, obj=name)
