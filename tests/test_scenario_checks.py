"""Scenarios are checked before they run (validate, validate --scenario, diagnose --scenario); a
scenario or sweep point that fails (bad override, feasibility pre-check, solver) is reported in
its row while the others are written; map skips what has no plan; shadow prices carry a note
and sweeps the incremental cost between points."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import as_number, lanes, of_type, site, two_technology_tables, write_instance
from test_scenarios import TOY, _line_of, _toy_with, li, two_tech
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.inputs.scenarios import check_scenario, scenario_problems
from network_opt.solver.compliance import shadow_price_notes

runner = CliRunner()
LI_KEY = "targets[XX,material_recovery,Li,2025].value"
TOY_LI = "targets[TOY,material_recovery,Li,2025].value"


def cost(rho: float) -> float:
    """two_tech: PYRO 10/t for all 100 t, plus 20/t more for the 100 rho / 0.9 t HYDRO must take."""
    return 1000 + 2000 * rho / 0.9


def broken_toy(folder: Path) -> Path:
    """instances/toy-scenarios' tables with good and bad scenarios (toy: 2,000 t/yr of packs, of
    which 1,490 t/yr unfit for second life; 3,500 t/yr of recycling capacity could be opened)."""
    return _toy_with(folder, {
        "good": {"overrides": [{"set": TOY_LI, "value": 0.7}]},
        "loop-a": {"extends": "loop-b"},
        "loop-b": {"extends": "loop-a", "overrides": [{"close": "REF-EAST"}]},
        "selfish": {"extends": "selfish", "overrides": [{"close": "REF-EAST"}]},
        "nomatch": {"overrides": [{"set": "targets[XX,material_recovery,Li,2025].value", "value": 0.5},
                                  {"close": "NOPE"},
                                  {"scale": "supply.tonnage", "by": 2}]},
        "rate": {"overrides": [{"set": TOY_LI, "value": 1.5}]},
        "huge": {"overrides": [{"scale": "supply.tonnes", "by": 3}]},
        "child": {"extends": "nomatch", "overrides": [{"close": "REF-EAST"}]},
    })


# --- validate -------------------------------------------------------------------------------

def test_validate_reports_every_broken_scenario_with_its_line(tmp_path: Path) -> None:
    folder = broken_toy(tmp_path / "inst")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    text = result.output
    assert "scenarios extend each other in a cycle: loop-a -> loop-b -> loop-a" in text
    assert f"instance.yaml:{_line_of(folder, 'extends: selfish')}:scenarios.selfish.extends: " \
        "scenarios extend each other in a cycle: selfish -> selfish" in text
    first = _line_of(folder, "nomatch:") + 2  # "nomatch:" / "overrides:" / "- set: ..."
    # every override that misses is reported, not only the first, each at its own line
    assert f"instance.yaml:{first}:scenarios.nomatch.overrides[0]: 'targets[XX,material_recovery,Li,2025].value' " \
        "matches no row in targets.csv" in text
    assert f"instance.yaml:{first + 2}:scenarios.nomatch.overrides[1]: close: unknown facility 'NOPE'" in text
    assert f"instance.yaml:{first + 3}:scenarios.nomatch.overrides[2]: 'supply.tonnage': table supply has no " \
        "column 'tonnage'" in text
    # a value the override makes invalid: the changed row is named
    assert f"instance.yaml:{_line_of(folder, 'rate:')}:scenarios.rate: after the scenario's overrides, " \
        "targets.csv:2:value: material_recovery is a rate: expected a value in [0, 1], got 1.5" in text
    # the capacity pre-check that solve runs, per scenario: 4,470 t/yr unfit > 3,500 t/yr
    assert f"instance.yaml:{_line_of(folder, 'huge:')}:scenarios.huge: infeasible before solving (feasibility " \
        "pre-check): supply.csv:0:tonnes: period 2025: 4,470 t/yr of packs unfit for second life exceed the " \
        "3,500 t/yr of recycling capacity that could be opened" in text
    assert "scenarios.good" not in text
    assert "scenarios.child" not in text  # its parent is reported; the child is not checked on a broken parent
    assert "7 error(s)" in text
    assert text.count("nomatch.overrides[0]") == 1  # not again through child


def test_validate_scenario_checks_only_that_one_and_its_parents(tmp_path: Path) -> None:
    folder = broken_toy(tmp_path / "inst")
    good = runner.invoke(app, ["validate", str(folder), "--scenario", "good"])
    assert good.exit_code == 0, good.output
    assert "valid" in good.output
    huge = runner.invoke(app, ["validate", str(folder), "--scenario", "huge"])
    assert huge.exit_code == 2
    assert "scenarios.huge: infeasible before solving" in huge.output and "nomatch" not in huge.output
    assert "1 error(s)" in huge.output
    child = runner.invoke(app, ["validate", str(folder), "--scenario", "child"])
    assert child.exit_code == 2
    assert "scenarios.nomatch.overrides[0]" in child.output and "huge" not in child.output
    loop = runner.invoke(app, ["validate", str(folder), "--scenario", "loop-b"])
    assert loop.exit_code == 2 and "loop-a -> loop-b -> loop-a" in loop.output
    unknown = runner.invoke(app, ["validate", str(folder), "--scenario", "nope"])
    assert unknown.exit_code == 2 and "unknown scenario 'nope'" in unknown.output
    base = runner.invoke(app, ["validate", str(folder), "--scenario", "base"])
    assert base.exit_code == 0, base.output


def test_the_shipped_scenarios_validate(tmp_path: Path) -> None:
    # no-hydro is infeasible, but only the solver can tell (it passes the pre-check)
    result = runner.invoke(app, ["validate", str(TOY)])
    assert result.exit_code == 0, result.output
    assert scenario_problems(no.load(TOY)) == []


def test_check_scenario_statuses(tmp_path: Path) -> None:
    inst = no.load(broken_toy(tmp_path / "inst"))
    assert check_scenario(inst, "good").status == "valid"
    assert check_scenario(inst, "good").instance is not None
    assert check_scenario(inst, "rate").status == "invalid"
    assert check_scenario(inst, "huge").status == "infeasible"
    assert check_scenario(inst, "base").status == "valid"
    with pytest.raises(no.InputError, match="cycle"):
        check_scenario(inst, "loop-a")


def test_solve_reports_a_pre_check_failure_as_infeasible_like_compare(tmp_path: Path) -> None:
    """The pre-check proves 'huge' infeasible (3,000 t/yr of packs, 2 x 1,000 t/yr of recycling):
    solve exits 3 (infeasible), as compare marks it, not 2 (invalid input); nothing is written.
    A base that fails the pre-check can still be solved through a scenario that passes it."""
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)], scenarios={
        "huge": {"overrides": [{"scale": "supply.tonnes", "by": 30}]},
        "small": {"overrides": [{"scale": "supply.tonnes", "by": 1 / 30}]}})
    out = tmp_path / "res"
    huge = runner.invoke(app, ["solve", str(folder), "--scenario", "huge", "--out", str(out)])
    assert huge.exit_code == 3, huge.output
    assert "infeasible before solving (feasibility pre-check)" in huge.output
    assert f"network-opt diagnose {folder} --scenario huge" in huge.output
    assert not out.exists()
    supply = folder / "supply.csv"
    frame = pd.read_csv(supply)
    frame["tonnes"] *= 30
    frame.to_csv(supply, index=False)
    base = runner.invoke(app, ["solve", str(folder), "--out", str(out)])
    assert base.exit_code == 3, base.output
    assert "supply.csv:0:tonnes:" in base.output and "infeasible before solving" in base.output
    assert not out.exists()
    small = runner.invoke(app, ["solve", str(folder), "--scenario", "small", "--out", str(out)])
    assert small.exit_code == 0, small.output
    assert (out / "flows.csv").is_file()


# --- diagnose --scenario --------------------------------------------------------------------

def test_diagnose_a_scenario(tmp_path: Path) -> None:
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)], scenarios={
        "li-80": {"overrides": [{"set": LI_KEY, "value": 0.8}]},
        "no-hydro": {"overrides": [{"close": "H"}]},
        "huge": {"overrides": [{"scale": "supply.tonnes", "by": 30}]},
        "nomatch": {"overrides": [{"close": "NOPE"}]}})
    ok = runner.invoke(app, ["diagnose", str(folder), "--scenario", "li-80"])
    assert ok.exit_code == 0, ok.output
    assert "(scenario li-80): feasible" in ok.output
    bad = runner.invoke(app, ["diagnose", str(folder), "--scenario", "no-hydro"])
    assert bad.exit_code == 3, bad.output
    assert ("target material_recovery Li in XX (required 0.5) cannot be met in 2025: short by 0.5 t/yr of Li"
            in bad.output)
    # 3,000 t/yr against 2 x 1,000 t/yr: the pre-check says so, the elastic re-solve by how much
    huge = runner.invoke(app, ["diagnose", str(folder), "--scenario", "huge"])
    assert huge.exit_code == 3, huge.output
    assert "note: instance.yaml:" in huge.output and "feasibility pre-check" in huge.output
    assert "would need more capacity than its largest level in 2025: short by 1,000 t/yr" in huge.output
    invalid = runner.invoke(app, ["diagnose", str(folder), "--scenario", "nomatch"])
    assert invalid.exit_code == 2 and "unknown facility 'NOPE'" in invalid.output
    # --out: the findings as CSV, figures to 6 decimals as solve's tables; an existing file is kept
    found = tmp_path / "findings.csv"
    written = runner.invoke(app, ["diagnose", str(folder), "--scenario", "no-hydro", "--out", str(found)])
    assert written.exit_code == 3, written.output
    text = found.read_text()
    assert "material_recovery" in text and "0.500000" in text, text
    again = runner.invoke(app, ["diagnose", str(folder), "--scenario", "no-hydro", "--out", str(found)])
    assert again.exit_code == 2 and "exists" in again.output and found.read_text() == text


# --- compare: one failing scenario does not sink the others ----------------------------------

def failing_compare(folder: Path) -> Path:
    return two_tech(folder, targets=[li(0.5)], scenarios={
        "li-80": {"overrides": [{"set": LI_KEY, "value": 0.8}]},
        "huge": {"description": "3,000 t/yr of packs, 2,000 t/yr of capacity",
                 "overrides": [{"scale": "supply.tonnes", "by": 30}]},
        "nomatch": {"overrides": [{"close": "NOPE"}]},
        "no-hydro": {"overrides": [{"close": "H"}]}})


def test_compare_with_a_precheck_infeasible_scenario_writes_the_others(tmp_path: Path) -> None:
    folder = failing_compare(tmp_path / "inst")
    out = tmp_path / "cmp"
    # a plan left under "huge" by an earlier run on other inputs must not survive (map would draw it)
    runner.invoke(app, ["compare", str(folder), "--out", str(out), "--scenarios", "base"])
    shutil.copytree(out / "base", out / "huge")
    result = runner.invoke(app, ["compare", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 of 5 scenarios with a plan" in result.output
    assert "warning: huge: infeasible: instance.yaml:" in result.output
    assert "warning: nomatch: invalid: instance.yaml:" in result.output
    table = pd.read_csv(out / "comparison.csv", index_col="kpi", keep_default_na=False)
    assert table.loc["status"].drop("unit").to_dict() == {
        "base": "optimal", "li-80": "optimal", "huge": "infeasible", "nomatch": "invalid", "no-hydro": "infeasible"}
    assert float(of_type(str, table.at["objective", "base"])) == pytest.approx(cost(0.5))
    assert float(of_type(str, table.at["objective", "li-80"])) == pytest.approx(cost(0.8))
    assert "feasibility pre-check): supply.csv:0:tonnes: period 2025: 3,000 t/yr of packs unfit for second life " \
        "exceed the 2,000 t/yr" in of_type(str, table.at["error", "huge"])
    nomatch = of_type(str, table.at["error", "nomatch"])
    assert "scenarios.nomatch.overrides[0]: close: unknown facility 'NOPE'" in nomatch
    assert f"network-opt diagnose {folder} --scenario no-hydro" in of_type(str, table.at["error", "no-hydro"])
    assert table.at["error", "base"] == ""
    for name in ("base", "li-80"):
        assert (out / name / "flows.csv").is_file()
        assert json.loads((out / name / "summary.json").read_text())["scenario"] == name
    assert json.loads((out / "no-hydro" / "summary.json").read_text())["status"] == "infeasible"
    assert not (out / "huge").exists() and not (out / "nomatch").exists()
    assert (out / "objective.png").is_file() and (out / "facility_diff.csv").is_file()

    # map on the comparison: the scenarios without a plan are skipped with a note
    png = tmp_path / "cmp.png"
    drawn = runner.invoke(app, ["map", str(out), "--out", str(png)])
    assert drawn.exit_code == 0, drawn.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    for name, status in (("no-hydro", "infeasible"), ("huge", "infeasible"), ("nomatch", "invalid")):
        assert f"note: skipping scenario {name} ({status}): no plan to draw" in drawn.output
    one = runner.invoke(app, ["map", str(out), "--out", str(tmp_path / "x.png"), "--scenario", "no-hydro"])
    assert one.exit_code == 2 and "scenario 'no-hydro' has no plan to draw (infeasible)" in one.output
    gone = runner.invoke(app, ["map", str(out), "--out", str(tmp_path / "x.png"), "--scenario", "huge"])
    assert gone.exit_code == 2 and "scenario 'huge' has no plan to draw (infeasible)" in gone.output


def test_compare_exit_code_when_no_run_has_a_plan(tmp_path: Path) -> None:
    folder = failing_compare(tmp_path / "inst")
    infeasible = runner.invoke(app, ["compare", str(folder), "--out", str(tmp_path / "a"),
                                     "--scenarios", "huge,no-hydro"])
    assert infeasible.exit_code == 3, infeasible.output
    assert (tmp_path / "a" / "comparison.csv").is_file()
    invalid = runner.invoke(app, ["compare", str(folder), "--out", str(tmp_path / "b"), "--scenarios", "nomatch,huge"])
    assert invalid.exit_code == 4, invalid.output
    empty = runner.invoke(app, ["map", str(tmp_path / "b"), "--out", str(tmp_path / "b.png")])
    assert empty.exit_code == 2 and "no scenario has a plan to draw" in empty.output


def test_a_base_failing_the_precheck_still_compares_its_scenarios(tmp_path: Path) -> None:
    tables = two_technology_tables()
    tables["supply"][0]["tonnes"] = 3000  # 2 x 1,000 t/yr of capacity
    folder = write_instance(tmp_path / "inst", tables, scenarios={
        "less": {"overrides": [{"scale": "supply.tonnes", "by": 0.1}]}})
    res = no.compare(folder, tmp_path / "cmp")
    assert res.runs["status"].tolist() == ["infeasible", "optimal"]
    assert res.runs["error"].iloc[0].startswith(
        "supply.csv:0:tonnes: infeasible before solving (feasibility pre-check): period 2025: 3,000 t/yr")
    assert res.table.at["objective", "less"] == pytest.approx(3000.0)  # 300 t at P, 10/t


# --- sweep: an infeasible point does not sink the others ------------------------------------

def test_sweep_with_a_precheck_infeasible_point_writes_the_others(tmp_path: Path) -> None:
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)])
    out = tmp_path / "sw"
    result = runner.invoke(app, ["sweep", str(folder), "--out", str(out), "--vary", "supply.tonnes*=1,10,30"])
    assert result.exit_code == 0, result.output
    assert "2 of 3 points with a plan" in result.output
    table = pd.read_csv(out / "sweep.csv", keep_default_na=False)
    assert table["status"].tolist() == ["optimal", "optimal", "infeasible"]
    assert pd.to_numeric(table["objective"].iloc[:2]).tolist() == pytest.approx([cost(0.5), 10 * cost(0.5)])
    error = of_type(str, table.at[2, "error"])
    assert "feasibility pre-check" in error and "3,000 t/yr" in error
    assert (out / "p0001" / "flows.csv").is_file() and (out / "p0002" / "flows.csv").is_file()
    assert not (out / "p0003").exists()
    # the cost of each step of the factor: (10 - 1) x cost(0.5) / 9; none into the infeasible point
    step = pd.to_numeric(table["incremental_cost[supply.tonnes*]"])
    assert math.isnan(step[0]) and step[1] == pytest.approx(cost(0.5)) and math.isnan(step[2])


def test_incremental_cost_shows_the_integer_step_a_shadow_price_cannot(tmp_path: Path) -> None:
    """two_tech with HYDRO H capped at 50 t/yr and a candidate HYDRO H2 (fixed cost 300/yr). Li
    target rho: 100 rho / 0.9 t must go to a HYDRO plant at 20/t more than PYRO.
    rho = 0.3: 33.3 t fit in H: 1000 + 666.7 = 1666.7;
    rho = 0.6: 66.7 t, H2 opens: 1000 + 1333.3 + 300 = 2633.3;
    rho = 0.9: 100 t: 1000 + 2000 + 300 = 3300.
    The shadow price (H2's state fixed) is 2000 / 0.9 = 2222.2 at every point; the incremental
    cost is (2633.3 - 1666.7) / 0.3 = 3222.2 across the step where H2 opens, then 2222.2."""
    tables = two_technology_tables()
    tables["sites"].append(site("S3", "facility"))
    tables["facilities"].append({"id": "H2", "site": "S3", "kind": "recycler", "technology": "HYDRO",
                                 "status": "candidate", "variable_cost_per_t": 30})
    tables["facility_levels"] = [{"facility": "P", "level": "a", "capacity_t": 1000},
                                 {"facility": "H", "level": "a", "capacity_t": 50},
                                 {"facility": "H2", "level": "a", "capacity_t": 1000, "fixed_cost_per_year": 300}]
    tables["lanes"] = lanes(("C1", "S1", 0), ("C1", "S2", 0), ("C1", "S3", 0))
    tables["targets"] = [li(0.3)]
    folder = write_instance(tmp_path / "inst", tables)
    res = no.sweep(folder, tmp_path / "sw", vary=[f"{LI_KEY}=0.3,0.6,0.9"])
    written = pd.read_csv(tmp_path / "sw" / "sweep.csv")
    price, step = f"shadow_price[{LI_KEY}]", f"incremental_cost[{LI_KEY}]"
    columns = list(written.columns)
    assert columns.index(step) == columns.index(price) + 1  # side by side
    assert written["objective"].tolist() == pytest.approx([1000 + 2000 / 3, 2633.3333333, 3300.0])
    assert written[price].tolist() == pytest.approx([2000 / 0.9] * 3, rel=1e-6)
    assert math.isnan(written[step].iloc[0])
    assert written[step].iloc[1:].tolist() == pytest.approx([(1633.3333333 - 666.6666667) / 0.3, 2000 / 0.9])
    assert res.table[step].iloc[1] == pytest.approx(3222.2222222)


def test_incremental_cost_per_line_of_a_grid(tmp_path: Path) -> None:
    """Two keys: each incremental cost is taken along its own key, the other held fixed."""
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)])
    res = no.sweep(folder, tmp_path / "sw", vary=[f"{LI_KEY}=0.45,0.9", "supply.tonnes*=1,2"])
    t = res.table.set_index(["supply.tonnes*", LI_KEY])
    # along rho: f x 2000 / 0.9; along the factor f: cost(rho) per unit of f
    for f in (1.0, 2.0):
        assert t.at[(f, 0.9), f"incremental_cost[{LI_KEY}]"] == pytest.approx(f * 2000 / 0.9)
        assert math.isnan(as_number(t.at[(f, 0.45), f"incremental_cost[{LI_KEY}]"]))
    for rho in (0.45, 0.9):
        assert t.at[(2.0, rho), "incremental_cost[supply.tonnes*]"] == pytest.approx(cost(rho))


# --- shadow price notes ---------------------------------------------------------------------

def test_targets_csv_explains_each_shadow_price(tmp_path: Path) -> None:
    folder = two_tech(tmp_path / "inst", targets=[
        li(0.5), {"jurisdiction": "XX", "metric": "recycling_efficiency", "material": "", "value": 0.4,
                  "from_period": 2025}])
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    t = pd.read_csv(out / "targets.csv").set_index("metric")
    assert t.at["material_recovery", "shadow_price"] == pytest.approx(2000 / 0.9)
    note = of_type(str, t.at["material_recovery", "shadow_price_note"])
    assert note.startswith("LP dual of this plan with its facility levels and modules fixed")
    assert "integer step" in note
    # PYRO alone recycles 50 % > 40 %: free, and said so
    assert t.at["recycling_efficiency", "shadow_price"] == pytest.approx(0.0)
    assert t.at["recycling_efficiency", "shadow_price_note"] == "0: not binding, the plan exceeds the target"


def test_shadow_price_notes_for_zero_nan_and_time_limited_plans() -> None:
    targets = pd.DataFrame({"required": [0.5, 0.5, 0.5, 0.5], "achieved": [0.5, 0.5, 0.5, 0.7]})
    prices = np.array([0.0, np.nan, 10.0, 0.0])
    has_row = np.array([True, False, True, True])
    notes = shadow_price_notes(targets, prices, True, has_row, "optimal")
    assert notes[0].startswith("0: binding, but a small raise costs nothing with this network")
    assert "incremental_cost" in notes[0]
    assert notes[1].startswith("NaN: the target has no constraint")
    assert notes[2].startswith("LP dual")
    assert notes[3] == "0: not binding, the plan exceeds the target"
    failed = shadow_price_notes(targets, np.full(4, np.nan), False, has_row, "optimal")
    assert failed[0].startswith("NaN: the LP with the facility levels and modules fixed was not solved")
    # no row: met by every plan (the coefficients cancel, achieved = required), or nothing to measure (NaN)
    rowless = pd.DataFrame({"required": [0.98, 0.98], "achieved": [0.98, np.nan]})
    free, empty = shadow_price_notes(rowless, np.full(2, np.nan), True, np.array([False, False]), "optimal")
    assert free.startswith("NaN: the target has no constraint in the model, because every plan meets it")
    assert "yield equal to the rate" in free
    assert empty.startswith("NaN: the target has no constraint in the model (nothing it measures can flow")
    limited = shadow_price_notes(targets, prices, True, has_row, "feasible")
    assert all("The plan is feasible, not proven optimal (a time or gap limit stopped the MIP)" in n for n in limited)


def test_a_refused_override_is_not_also_reported_as_no_overrides(tmp_path: Path) -> None:
    folder = _toy_with(tmp_path / "inst", {"odd": {"overrides": [{"frobnicate": "supply.tonnes"}]}})
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "scenarios.odd.overrides[0]" in result.output
    assert "needs overrides or extends" not in result.output
    empty = _toy_with(tmp_path / "empty", {"nothing": {"description": "no change"}})
    assert "needs overrides or extends" in runner.invoke(app, ["validate", str(empty)]).output


def test_a_stochastic_design_whose_base_fails_the_pre_check_exits_as_infeasible(tmp_path: Path) -> None:
    folder = tmp_path / "inst"
    shutil.copytree(TOY.parent / "toy-scenarios", folder)
    supply = pd.read_csv(folder / "supply.csv")
    supply["tonnes"] *= 3  # 4,470 t/yr unfit for second life > 3,500 t/yr of recycling that could be opened
    supply.to_csv(folder / "supply.csv", index=False)
    out = tmp_path / "res"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--stochastic", "--scenarios", "2"])
    assert result.exit_code == 3, result.output
    assert "infeasible before solving (feasibility pre-check)" in result.output and not out.exists()
