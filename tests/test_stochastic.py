"""Two-stage stochastic design (issue 18), checked by hand on a micro instance.

The micro instance: one collection point C1 with 100 t/yr of packs in the base instance, one
candidate recycler R with two capacity levels, S (100 t/yr, opening cost 1000) and L (200 t/yr,
opening cost 1800), processing 10/t, free lanes, no revenue, one period (2025, no discounting);
packs may stay uncollected at 25/t. Two declared scenarios of probability 0.5 each: ``low``
(supply x 0.2 = 20 t) and ``high`` (supply x 1.8 = 180 t); their mean is the base (100 t), the
expected-value scenario.

Cost of each first-stage plan (uncollected = what R cannot take):

=========  =====================  =========================================  ===========  ============
plan       low (20 t)             high (180 t)                               expected     base (100 t)
=========  =====================  =========================================  ===========  ============
none       25 x 20 = 500          25 x 180 = 4500                            2500         2500
S          1000 + 10 x 20 = 1200  1000 + 10 x 100 + 25 x 80 = 4000           2600         2000
L          1800 + 10 x 20 = 2000  1800 + 10 x 180 = 3600                     2800         2800
=========  =====================  =========================================  ===========  ============

Risk neutral: the expected-value plan is S (2000 < 2500 < 2800 in the base); the stochastic plan
opens nothing (2500 < 2600 < 2800). RP = 2500, EEV = 2600 (S over the scenarios), WS = 0.5 x 500
+ 0.5 x 3600 = 2050 (each scenario with its own best plan: none in low, L in high),
VSS = EEV - RP = 100, EVPI = RP - WS = 450.

With two equally likely scenarios, CVaR at alpha = 0.5 is the cost of the worse one
(min over eta of eta + (1/0.5) x 0.5 x (c_high - eta)^+ is reached at eta = c_low or c_high, both
giving c_high). Objective E + lambda x CVaR: none 2500 + 4500 lambda, S 2600 + 4000 lambda,
L 2800 + 3600 lambda; none is best below lambda = 0.2, S between 0.2 and 0.5, L above 0.5.
At lambda = 1: L, RP = 6400; EEV = 2600 + 4000 = 6600 (the expected-value plan is S whatever the
risk); WS = 2050 + 3600 = 5650; VSS = 200, EVPI = 750. At lambda = 0.25: S, RP = 2600 + 1000 = 3600.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from builders import lanes, objective_of, one_material_tables, site, write_instance

import network_opt as no
from network_opt.common.errors import InputError
from network_opt.inputs.stochastic import read_stochastic
from network_opt.model.data import prepare
from network_opt.model.stages import FIRST_STAGE, first_stage_names, plan_values
from network_opt.model.stochastic import build_extensive_form, cvar, risk_objective
from network_opt.runs.stochastic import StochasticOptions, scenario_set, solve_stochastic, write_stochastic
from network_opt.solver.highs import solve_model

TOL = 1e-6
TOY = Path(__file__).resolve().parents[1] / "instances" / "toy-scenarios"


def micro(folder: Path, stochastic: dict[str, Any] | None = None, **extra: Any) -> Path:
    """The micro instance of the module docstring."""
    tables = {
        "sites": [site("C1", "collection_point"), site("S1", "facility", lat=1.0, lon=1.0)],
        "jurisdictions": [{"id": "XX", "name": "", "groups": ""}],
        **one_material_tables(),
        "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": 100}],
        "technologies": [{"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": [{"technology": "HYDRO", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [{"id": "R", "site": "S1", "kind": "recycler", "technology": "HYDRO", "status": "candidate",
                        "variable_cost_per_t": 10}],
        "facility_levels": [{"facility": "R", "level": "S", "capacity_t": 100, "opening_cost": 1000},
                            {"facility": "R", "level": "L", "capacity_t": 200, "opening_cost": 1800}],
        "lanes": lanes(("C1", "S1", 0)),
    }
    settings: dict[str, Any] = {
        "uncollected": {"allowed": True, "cost_per_t": 25},
        "scenarios": {"low": {"overrides": [{"scale": "supply.tonnes", "by": 0.2}]},
                      "high": {"overrides": [{"scale": "supply.tonnes", "by": 1.8}]}},
        "stochastic": stochastic if stochastic is not None else {"scenarios": {"low": 0.5, "high": 0.5}},
        **extra,
    }
    return write_instance(folder, tables, **settings)


def opened(plan: dict[str, dict[Any, float]] | None, d: Any) -> str:
    """The level of R a plan opens ('none', 'S' or 'L')."""
    assert plan is not None
    on = [int(j) for (j, _p), v in plan["level_open"].items() if v > 0.5]
    return "none" if not on else str(d.levels.loc[on[0], "level"])


@pytest.fixture(scope="module")
def neutral(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = micro(tmp_path_factory.mktemp("micro"))
    return folder, solve_stochastic(folder, StochasticOptions(regret_limit=10))


def test_risk_neutral_value_of_the_stochastic_solution(neutral: Any) -> None:
    folder, res = neutral
    d = prepare(no.load(folder))
    assert res.status == "optimal"
    assert opened(res.plan, d) == "none"
    assert opened(res.ev_plan, d) == "S"
    m = res.metrics
    assert m["RP"] == pytest.approx(2500.0, abs=TOL)
    assert m["EEV"] == pytest.approx(2600.0, abs=TOL)
    assert m["WS"] == pytest.approx(2050.0, abs=TOL)
    assert m["VSS"] == pytest.approx(100.0, abs=TOL)
    assert m["EVPI"] == pytest.approx(450.0, abs=TOL)
    assert res.solution.objective == pytest.approx(2500.0, abs=TOL)  # the extensive form's own optimum


def test_per_scenario_table_regret_and_open_shares(neutral: Any) -> None:
    _, res = neutral
    t = res["stochastic"].set_index("scenario")
    assert list(t.index) == ["low", "high"]
    assert t.loc["low", "cost"] == pytest.approx(500.0) and t.loc["high", "cost"] == pytest.approx(4500.0)
    assert t.loc["low", "cost_expected_value_plan"] == pytest.approx(1200.0)
    assert t.loc["high", "cost_expected_value_plan"] == pytest.approx(4000.0)
    assert t.loc["low", "cost_own_optimum"] == pytest.approx(500.0)
    assert t.loc["high", "cost_own_optimum"] == pytest.approx(3600.0)
    assert t.loc["high", "regret"] == pytest.approx(900.0)
    # nothing open: no unused capacity; no targets in force
    assert t["unused_capacity_t"].tolist() == [0.0, 0.0]
    assert t["targets_total"].tolist() == [0, 0]
    r = res["regret"].set_index("plan")
    # own:high is L: in low 2000 - 500 = 1500, in high 0; own:low opens nothing (= the stochastic plan)
    assert r.loc["own:high", "low"] == pytest.approx(1500.0) and r.loc["own:high", "high"] == pytest.approx(0.0)
    assert r.loc["own:low", "high"] == pytest.approx(900.0)
    assert r.loc["expected_value", "low"] == pytest.approx(700.0)
    assert r.loc["expected_value", "expected_regret"] == pytest.approx(0.5 * 700 + 0.5 * 400)
    assert r.loc["stochastic", "max_regret"] == pytest.approx(900.0)
    rob = res["robustness"].set_index("facility")
    assert rob.loc["R", "open_share"] == pytest.approx(0.5)  # open in high's own optimum only
    assert not rob.loc["R", "stochastic_open"] and rob.loc["R", "expected_value_open"]
    assert rob.loc["R", "expected_value_capacity_t"] == pytest.approx(100.0)


def test_cvar_changes_the_plan(tmp_path: Path) -> None:
    folder = micro(tmp_path / "m", {"scenarios": {"low": 0.5, "high": 0.5}, "cvar_alpha": 0.5, "cvar_weight": 1.0})
    d = prepare(no.load(folder))
    res = solve_stochastic(folder, StochasticOptions(regret_limit=0))
    assert res is not None
    assert opened(res.plan, d) == "L"
    assert res.metrics["RP"] == pytest.approx(6400.0, abs=TOL)
    assert res.metrics["EEV"] == pytest.approx(6600.0, abs=TOL)
    assert res.metrics["WS"] == pytest.approx(5650.0, abs=TOL)
    assert res.metrics["VSS"] == pytest.approx(200.0, abs=TOL)
    assert res.metrics["EVPI"] == pytest.approx(750.0, abs=TOL)
    assert res.metrics["cvar"] == pytest.approx(3600.0, abs=TOL)
    assert res.solution.objective == pytest.approx(6400.0, abs=TOL)
    # between the two switch points (0.2 and 0.5) the plan is S; the command-line weight wins
    mid = solve_stochastic(folder, StochasticOptions(cvar_weight=0.25, regret_limit=0))
    assert mid is not None and opened(mid.plan, d) == "S"
    assert mid.metrics["RP"] == pytest.approx(3600.0, abs=TOL)


def test_cvar_of_a_discrete_distribution() -> None:
    # alpha 0.5, two equally likely costs: the worse one; alpha 0: the mean
    assert cvar([500, 4500], [0.5, 0.5], 0.5) == pytest.approx(4500.0)
    assert cvar([500, 4500], [0.5, 0.5], 0.0) == pytest.approx(2500.0)
    # alpha 0.8 on (1, 2, 3, 4) x 0.25: the worst 20 % is cost 4
    assert cvar([1, 2, 3, 4], [0.25] * 4, 0.8) == pytest.approx(4.0)
    # alpha 0.5 on (1, 2, 3, 4): the mean of the worst half, 3.5
    assert cvar([1, 2, 3, 4], [0.25] * 4, 0.5) == pytest.approx(3.5)
    assert risk_objective([1, math.inf], [0.5, 0.5], 0.5, 0.0) == math.inf


@pytest.mark.parametrize("mode", ["shared", "equality"])
def test_extensive_form_shares_the_first_stage(tmp_path: Path, mode: str) -> None:
    folder = micro(tmp_path / "m")
    inst = no.load(folder)
    sset = scenario_set(inst)
    from network_opt.runs.stochastic import scenario_data

    datas = [scenario_data(inst, o) for o in sset.overrides]
    m = build_extensive_form(datas, [0.5, 0.5], nonanticipativity=mode)
    out = solve_model(m)
    assert out.objective == pytest.approx(2500.0, abs=TOL)
    assert plan_values(m.scenario[0]) == plan_values(m.scenario[1])
    assert first_stage_names(m.scenario[1]) == ["level_open"]  # no modules, no closing in this instance
    rows = sum(1 for _ in m.component_data_objects(__import__("pyomo.environ").environ.Constraint, active=True)
               if _.parent_component().local_name == "nonanticipativity")
    assert rows == (2 if mode == "equality" else 0)  # two level binaries tied in equality mode


def test_first_stage_is_named_in_one_place(tmp_path: Path) -> None:
    """Every integer decision of a built model (levels, modules) is first stage, and so are the
    closings; flows, investment spend, uncollected packs, stock and the rest are not. R of the micro
    instance is given modules (10 t each, at most 3) and a closing cost, in two investment periods,
    so that every first-stage component exists."""
    import pyomo.environ as pyo

    from network_opt.model import build_model
    from network_opt.model.stages import first_stage_vars

    folder = micro(tmp_path, periods=[2025, 2026])
    text = (folder / "facilities.csv").read_text().splitlines()
    text[0] += ",module_capacity_t,module_opening_cost,max_modules,closing_cost"
    text[1] += ",10,50,3,100"
    (folder / "facilities.csv").write_text("\n".join(text) + "\n")
    (folder / "supply.csv").write_text((folder / "supply.csv").read_text() + "C1,2026,X,100\n")
    m = build_model(prepare(no.load(folder)))
    assert first_stage_names(m) == ["level_open", "modules", "closed"]
    assert FIRST_STAGE[:3] == ("level_open", "modules", "closed") and FIRST_STAGE[3] == "var_at_risk"
    first = {id(v) for v in first_stage_vars(m)}
    integer = [v for v in m.component_data_objects(pyo.Var) if not v.is_continuous()]
    assert integer and all(id(v) in first for v in integer)
    assert {v.parent_component().local_name for v in m.component_data_objects(pyo.Var) if id(v) in first} == {
        "level_open", "modules", "closed"}
    assert len(first) == len(m.level_open) + len(m.modules) + len(m.closed) == 2 * 2 + 2 + 2


@pytest.mark.parametrize("method", ["ph", "lshaped"])
def test_extensive_form_and_decomposition_agree(tmp_path: Path, method: str) -> None:
    folder = micro(tmp_path / "m")
    ef = solve_stochastic(folder, StochasticOptions(regret_limit=0))
    ph = solve_stochastic(folder, StochasticOptions(decomposition=method, regret_limit=0))
    assert ef is not None and ph is not None
    dec = ph.solution.summary["stochastic"]["decomposition"]
    gap = ph.solution.outcome.mip_gap
    assert gap is not None and gap <= 1e-4  # the stated gap: inner and outer bound within 0.01 %
    z_ef, z_ph = objective_of(ef.solution), objective_of(ph.solution)
    assert dec["outer_bound"] <= z_ef + TOL <= z_ph + 2 * TOL
    assert abs(z_ph - z_ef) <= gap * abs(z_ph) + TOL
    assert ph.metrics["RP"] == pytest.approx(ef.metrics["RP"], abs=TOL)


@pytest.mark.parametrize("method", ["ph", "lshaped"])
def test_decomposition_with_cvar_on_sampled_scenarios_agrees_with_the_extensive_form(method: str) -> None:
    opts = dict(scenarios=4, seed=2, cvar_alpha=0.5, cvar_weight=0.5, regret_limit=0, out_of_sample=0)
    ef = solve_stochastic(TOY, StochasticOptions(**opts))  # type: ignore[arg-type]
    ph = solve_stochastic(TOY, StochasticOptions(decomposition=method, **opts))  # type: ignore[arg-type]
    assert ef is not None and ph is not None
    gap, bound = ph.solution.outcome.mip_gap, ph.solution.outcome.bound
    assert gap is not None and bound is not None
    z_ef, z_ph = objective_of(ef.solution), objective_of(ph.solution)
    tol = 1e-6 * abs(z_ef)
    # outer bound <= the extensive form's optimum <= the decomposition's plan, within its stated gap
    assert bound <= z_ef + tol
    assert z_ph >= z_ef - tol
    assert abs(z_ph - z_ef) <= gap * abs(z_ph) + tol


def test_same_seed_same_scenarios_and_plan() -> None:
    inst = no.load(TOY)
    a, b = scenario_set(inst, 5, seed=7), scenario_set(inst, 5, seed=7)
    pd.testing.assert_frame_equal(a.inputs, b.inputs)
    assert a.overrides == b.overrides
    assert not scenario_set(inst, 5, seed=8).inputs.equals(a.inputs)
    opts = StochasticOptions(scenarios=3, seed=7, regret_limit=0, out_of_sample=4)
    r1, r2 = solve_stochastic(inst, opts), solve_stochastic(inst, opts)
    assert r1 is not None and r2 is not None
    assert r1.plan == r2.plan
    assert r1.metrics["RP"] == r2.metrics["RP"]
    pd.testing.assert_frame_equal(r1["stochastic"], r2["stochastic"])
    # out-of-sample scenarios are fresh draws, not the in-sample ones
    t = r1["stochastic"]
    assert not set(t.loc[t["set"] == "out_of_sample", "volumes"]) & set(t.loc[t["set"] == "in_sample", "volumes"])


def test_written_results(neutral: Any, tmp_path: Path) -> None:
    _, res = neutral
    out = write_stochastic(res, tmp_path / "out")
    names = {p.name for p in out.iterdir()}
    assert {"summary.json", "stochastic.csv", "regret.csv", "robustness.csv", "results.xlsx"} <= names
    import json

    s = json.loads((out / "summary.json").read_text())
    assert s["stochastic"]["VSS"] == pytest.approx(100.0)
    assert s["stochastic"]["EVPI"] == pytest.approx(450.0)
    assert s["stochastic"]["plan"] == {"level_open": []}
    # by the instance's ids (it was keyed by the model's row positions, "(0, 2025)")
    assert s["stochastic"]["expected_value_plan"] == {"level_open": [{"facility": "R", "level": "S", "period": 2025}]}


# --- bad input ------------------------------------------------------------------------------------

def _problems(folder: Path) -> list[str]:
    with pytest.raises(InputError) as exc:
        read_stochastic(no.load(folder))
    return [str(p) for p in exc.value.problems]


def test_probabilities_must_sum_to_one(tmp_path: Path) -> None:
    problems = _problems(micro(tmp_path / "m", {"scenarios": {"low": 0.5, "high": 0.4}}))
    assert len(problems) == 1
    assert problems[0].startswith("instance.yaml:")
    assert "stochastic.scenarios" in problems[0] and "sum to 0.9" in problems[0] and "expected 1" in problems[0]


def test_negative_probability_names_its_line(tmp_path: Path) -> None:
    folder = micro(tmp_path / "m", {"scenarios": {"low": 1.5, "high": -0.5}})
    problems = _problems(folder)
    text = (folder / "instance.yaml").read_text().splitlines()
    line = next(i for i, t in enumerate(text, start=1) if t.strip().startswith("high: -0.5"))
    assert any(p.startswith(f"instance.yaml:{line}:stochastic.scenarios.high") and "from 0 to 1" in p
               for p in problems), problems
    assert any("stochastic.scenarios.low" in p for p in problems)


def test_unknown_scenario_uncertainty_entry_and_key(tmp_path: Path) -> None:
    folder = micro(tmp_path / "m", {"scenarios": {"low": 0.5, "nowhere": 0.5}, "sample": ["volume"],
                                    "cvar_alfa": 0.9, "cvar_alpha": 1.0, "cvar_weight": -1},
                   uncertainty={"volumes": {"scale": "supply.tonnes", "distribution": "uniform", "low": 0.5,
                                            "high": 1.5}})
    problems = _problems(folder)
    joined = "\n".join(problems)
    assert "stochastic.scenarios.nowhere: unknown scenario 'nowhere'" in joined
    assert "stochastic.sample[0]: unknown uncertainty entry 'volume'; declared under uncertainty: volumes" in joined
    assert "stochastic.cvar_alfa: unknown key" in joined
    assert "stochastic.cvar_alpha: the CVaR level is from 0 (included) to 1 (excluded)" in joined
    assert "stochastic.cvar_weight: the CVaR weight is a number >= 0" in joined
    assert all(p.startswith("instance.yaml:") and p.split(":")[1].isdigit() and int(p.split(":")[1]) > 0
               for p in problems), problems


def test_scenario_changing_the_facilities_is_refused(tmp_path: Path) -> None:
    folder = micro(tmp_path / "m", {"scenarios": {"low": 0.5, "gone": 0.5}})
    text = yaml.safe_load((folder / "instance.yaml").read_text())
    text["scenarios"]["gone"] = {"overrides": [{"close": "R"}]}
    (folder / "instance.yaml").write_text(yaml.safe_dump(text, sort_keys=False))
    with pytest.raises(InputError, match="scenario 'gone' changes the facilities"):
        solve_stochastic(folder)


def test_no_scenarios_is_an_input_error(tmp_path: Path) -> None:
    folder = micro(tmp_path / "m", {})
    with pytest.raises(InputError, match="needs scenarios"):
        solve_stochastic(folder)
    with pytest.raises(InputError, match="uncertainty: block"):
        solve_stochastic(folder, StochasticOptions(scenarios=3))


# --- registry, docs, command line, map, Excel ---------------------------------------------------

def test_stochastic_families_are_registered_and_documented(tmp_path: Path) -> None:
    import pyomo.environ as pyo

    from network_opt.model.families import FAMILIES, STOCHASTIC_FAMILIES

    docs = (Path(__file__).resolve().parents[1] / "docs" / "stochastic.md").read_text(encoding="utf-8")
    for name, (builder, section) in STOCHASTIC_FAMILIES.items():
        assert f"**{section}** (`{name}" in docs, name
        assert ".. math::" in (builder.__doc__ or "") and name in (builder.__doc__ or "")
    folder = micro(tmp_path / "m")
    inst = no.load(folder)
    from network_opt.runs.stochastic import scenario_data

    datas = [scenario_data(inst, o) for o in scenario_set(inst).overrides]
    m = build_extensive_form(datas, [0.5, 0.5], weight=1.0, alpha=0.5, nonanticipativity="equality")
    built = {c.local_name for c in m.component_objects(pyo.Constraint, descend_into=True)}
    assert built - {f.name for f in FAMILIES} == set(STOCHASTIC_FAMILIES)


def test_command_line_writes_the_design_and_map_draws_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import network_opt.cli  # noqa: F401  (registers the commands)
    from network_opt.cli.app import app

    folder = micro(tmp_path / "m")
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--stochastic", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "RP 2,500.00 EUR, EEV 2,600.00, WS 2,050.00, VSS 100.00, EVPI 450.00" in res.output
    assert pd.read_csv(out / "stochastic.csv")["cost"].tolist() == [500.0, 4500.0]
    png = tmp_path / "robust.png"
    res = runner.invoke(app, ["map", str(out), "--out", str(png)])
    assert res.exit_code == 0, res.output
    assert png.stat().st_size > 1000
    res = runner.invoke(app, ["map", str(out), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "robustness map is static" in res.output
    # stochastic options without --stochastic, and options it cannot take
    res = runner.invoke(app, ["solve", str(folder), "--out", str(tmp_path / "x"), "--cvar-weight", "1"])
    assert res.exit_code == 2 and "--cvar-weight need --stochastic" in res.output
    res = runner.invoke(app, ["solve", str(folder), "--out", str(tmp_path / "y"), "--stochastic", "--aggregate", "1"])
    assert res.exit_code == 2 and "cannot be combined with --aggregate" in res.output
    # options the stochastic design does not read are refused, not silently ignored
    for extra in (["--prune", "3"], ["--memory-limit", "8G"], ["--force"]):
        res = runner.invoke(app, ["solve", str(folder), "--out", str(tmp_path / "w"), "--stochastic", *extra])
        assert res.exit_code == 2 and f"cannot be combined with {extra[0]}" in res.output, extra
        assert not (tmp_path / "w").exists()
    res = runner.invoke(app, ["solve", str(folder), "--out", str(tmp_path / "v"), "--seed", "3"])
    assert res.exit_code == 2 and "--seed need --stochastic" in res.output
    # bad stochastic input: exit 2, FILE:LINE:KEY, nothing written
    bad = micro(tmp_path / "bad", {"scenarios": {"low": 0.5, "high": 0.6}})
    res = runner.invoke(app, ["solve", str(bad), "--out", str(tmp_path / "z"), "--stochastic", "--quiet"])
    assert res.exit_code == 2 and "stochastic.scenarios: the probabilities sum to 1.1; expected 1" in res.output
    assert not (tmp_path / "z").exists() or not any((tmp_path / "z").iterdir())


def test_stochastic_block_survives_excel(tmp_path: Path) -> None:
    from network_opt.inputs.convert import convert

    folder = micro(tmp_path / "m", {"scenarios": {"low": 0.25, "high": 0.75}, "cvar_weight": 0.5})
    book = tmp_path / "m.xlsx"
    convert(folder, "xlsx", book)
    spec = read_stochastic(no.load(book))
    assert spec.probabilities == {"low": 0.25, "high": 0.75} and spec.cvar_weight == 0.5


def test_validate_reports_the_stochastic_block(tmp_path: Path) -> None:
    folder = micro(tmp_path / "m", {"scenarios": {"low": -0.5, "high": 1.5}})
    problems = [str(p) for p in no.validate(folder)]
    assert any("stochastic.scenarios.low: a probability is from 0 to 1, got -0.5" in p for p in problems), problems


@pytest.mark.parametrize("kind", ["local", "dask"])
def test_a_fixed_plan_is_evaluated_through_the_executors(tmp_path: Path, kind: str) -> None:
    """The plan 'S' evaluated in low and high (1200 and 4000 by hand) in worker processes, local or
    on a dask cluster of processes: the executors of compare and sweep. (Dask threads:
    tests/test_stochastic_threads.py.)"""
    from network_opt.runs.executors import make_executor
    from network_opt.runs.stochastic import ScenarioTask, run_scenario_task
    from network_opt.solver.options import SolveOptions

    if kind == "dask":
        pytest.importorskip("dask.distributed")
    folder = micro(tmp_path / "m")
    inst = no.load(folder)
    sset = scenario_set(inst)
    d = prepare(inst)
    small = int(d.levels.index[d.levels["level"] == "S"][0])
    plan = {"level_open": {(j, 2025): float(j == small) for j in d.levels.index}}
    tasks = [ScenarioTask(n, o, plan, SolveOptions()) for n, o in zip(sset.names, sset.overrides, strict=True)]
    with make_executor(kind, workers=2) as executor:
        done = dict(executor.map_tasks(run_scenario_task, inst, tasks))
    assert [done[k].cost for k in range(2)] == pytest.approx([1200.0, 4000.0])
    assert done[1].unused_capacity_t == pytest.approx(0.0)  # 180 t on 100 t of capacity
    assert done[0].unused_capacity_t == pytest.approx(80.0)  # 20 t on 100 t
