"""Scenarios: each kind of override changes exactly what it says (checked on the prepared model
data), overrides that name nothing fail with the line of instance.yaml, inheritance and cycles,
and ``solve --scenario``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from builders import as_number, two_technology_tables, write_instance
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.inputs.overrides import Origin, Override, apply_overrides
from network_opt.inputs.scenarios import apply_scenario, check_scenarios, read_scenarios, resolve, scenario_names
from network_opt.model import prepare

ROOT = Path(__file__).parents[1]
TOY = ROOT / "instances" / "toy-scenarios"
runner = CliRunner()


def two_tech(folder: Path, targets: list[dict[str, Any]] | None = None, periods: tuple[int, ...] = (2025,),
             **settings: Any) -> Path:
    """100 t/yr of X (10 kg Li/t) at C1: existing PYRO plant P (10/t, Li yield 0) or existing
    HYDRO plant H (30/t, Li yield 0.9), free lanes. With a Li recovery target rho, H takes
    100 rho / 0.9 t: cost = 1000 + 2000 rho / 0.9 per period."""
    tables = two_technology_tables(tuple(periods))
    if targets is not None:
        tables["targets"] = targets
    return write_instance(folder, tables, periods=list(periods), **settings)


def li(value: float, year: int = 2025) -> dict[str, Any]:
    return {"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": value,
            "from_period": year}


def changed_tables(a: no.Instance, b: no.Instance) -> set[str]:
    """Names of the tables whose content differs between two instances."""
    out = set()
    for name in a.tables:
        x, y = a[name].reset_index(drop=True), b[name].reset_index(drop=True)
        if x.shape != y.shape or not x.equals(y):
            out.add(name)
    return out


def override(op: str, target: Any, value: Any = None) -> Override:
    return Override(op, target, value, Origin("test", 0, "test"))


@pytest.fixture(scope="module")
def toy() -> no.Instance:
    return no.load(TOY)


# --- each kind of override ------------------------------------------------------------------

def test_set_a_target_value_changes_that_target_only(toy: no.Instance) -> None:
    s = apply_overrides(toy, [override("set", "targets[TOY,material_recovery,Li,2025].value", 0.7)])
    assert changed_tables(toy, s) == {"targets"}
    t = prepare(s).targets
    assert t["value"].tolist() == [0.7]
    assert prepare(toy).targets["value"].tolist() == [0.5]  # the base is untouched


def test_set_a_setting(tmp_path: Path) -> None:
    """discount_rate 10 %: the 2026 period weighs 1/1.1, the first period 1."""
    inst = no.load(two_tech(tmp_path, periods=(2025, 2026)))
    s = apply_overrides(inst, [override("set", "discount_rate", 0.1)])
    assert changed_tables(inst, s) == set()
    assert prepare(s).weights == pytest.approx({2025: 1.0, 2026: 1 / 1.1})
    assert prepare(inst).weights == pytest.approx({2025: 1.0, 2026: 1.0})
    assert s.settings.discount_rate == 0.1


def test_scale_a_column_every_row(toy: no.Instance) -> None:
    s = apply_overrides(toy, [override("scale", "supply.tonnes", 1.3)])
    assert changed_tables(toy, s) == {"supply"}
    # 900, 300, 600, 200 t x 1.3; fit shares 0.4 / 0.25 split the LFP rows
    assert prepare(s).supply["tonnes"].sum() == pytest.approx(2000 * 1.3)
    assert s["supply"]["tonnes"].tolist() == pytest.approx([1170, 390, 780, 260])


def test_scale_selected_rows_only(toy: no.Instance) -> None:
    s = apply_overrides(toy, [override("scale", "material_prices[Li].price_per_t", 0.5)])
    prices = prepare(s).prices[2025]
    assert prices.to_dict() == pytest.approx({"Li": 5000.0, "Ni": 16000.0, "Co": 30000.0})
    assert changed_tables(toy, s) == {"material_prices"}


def test_set_cells_selected_by_column_value(toy: no.Instance) -> None:
    s = apply_overrides(toy, [override("set", "facilities[kind=recycler].variable_cost_per_t", 100)])
    cost = prepare(s).facilities.set_index("id")["variable_cost_per_t"]
    assert cost.to_dict() == {"REC-WEST": 100.0, "REC-EAST": 100.0, "REF-EAST": 800.0}


def test_wildcard_in_a_positional_selector(toy: no.Instance) -> None:
    s = apply_overrides(toy, [override("set", "facility_levels[*,1000t].opening_cost", 5000)])
    lv = prepare(s).levels.set_index(["facility", "level"])["opening_cost"]
    assert lv[("REC-EAST", "1000t")] == 5000.0
    assert lv.drop(("REC-EAST", "1000t")).eq(0.0).all()


def test_remove_a_candidate_removes_its_levels_and_lanes(toy: no.Instance) -> None:
    s = apply_overrides(toy, [override("remove", "facilities[REC-EAST]")])
    assert changed_tables(toy, s) == {"facilities", "facility_levels"}
    d = prepare(s)
    assert "REC-EAST" not in set(d.facilities["id"])
    assert "REC-EAST" not in set(d.levels["facility"])
    assert "REC-EAST" not in set(d.flows["destination"])
    assert "REC-EAST" in set(prepare(toy).flows["destination"])


def test_close_forces_a_facility_out(toy: no.Instance) -> None:
    s = apply_overrides(toy, [override("close", "REF-EAST")])
    d = prepare(s)
    assert set(d.facilities["id"]) == {"REC-WEST", "REC-EAST"}
    assert (d.flows["commodity"] != "second_life_packs").all()


def test_open_forces_a_facility_open_from_the_first_period(toy: no.Instance) -> None:
    """REC-EAST becomes existing: its smallest level (1000t) is open before the first period."""
    s = apply_overrides(toy, [override("open", "REC-EAST")])
    assert changed_tables(toy, s) == {"facilities"}
    lv = prepare(s).levels.set_index(["facility", "level"])["initial"]
    assert bool(lv[("REC-EAST", "1000t")]) and not bool(lv[("REC-EAST", "2000t")])
    assert not bool(prepare(toy).levels.set_index(["facility", "level"])["initial"][("REC-EAST", "1000t")])
    fac = s["facilities"].set_index("id")
    assert fac.at["REC-EAST", "status"] == "existing" and math.isnan(as_number(fac.at["REC-EAST", "closing_cost"]))


def test_forced_open_plant_is_used_even_when_it_does_not_pay(tmp_path: Path) -> None:
    """No target: PYRO (10/t) takes everything (1000). Closing P leaves H: 100 t x 30 = 3000."""
    inst = no.load(two_tech(tmp_path))
    assert no.solve(inst).objective == pytest.approx(1000.0)
    assert no.solve(apply_overrides(inst, [override("close", "P")])).objective == pytest.approx(3000.0)


def test_add_rows(toy: no.Instance) -> None:
    s = apply_overrides(toy, [override("add", "targets", [{"jurisdiction": "TOY", "metric": "collection_rate",
                                                           "value": 0.9, "from_period": 2025}])])
    t = prepare(s).targets
    assert sorted(zip(t["metric"], t["value"], strict=True)) == [("collection_rate", 0.9), ("material_recovery", 0.5)]


def test_change_a_policy_preset(tmp_path: Path) -> None:
    """The CN 2024 preset sets Li >= 0.9 on the smelting step of each hydro/pyro plant (P and H: one
    row each) and 0.99 on direct plants (none here; Ni, Co, Mn left out: not modelled); removing it
    leaves no target; replacing it with the CN 2026 preset brings that preset's rows instead."""
    inst = no.load(two_tech(tmp_path, policies={"XX": "cn-2024-standard-conditions"}))
    rows = prepare(inst).targets[["material", "value", "scope", "facility"]].values.tolist()
    assert sorted(rows) == [["Li", 0.9, "step", "H"], ["Li", 0.9, "step", "P"]]
    gone = apply_overrides(inst, [override("policies", {"XX": []})])
    assert prepare(gone).targets.empty and gone.settings.policies == {}
    other = apply_overrides(inst, [override("policies", {"XX": "cn-2026-interim-measures"})])
    fresh = no.load(two_tech(tmp_path / "fresh", policies={"XX": "cn-2026-interim-measures"}))
    cols = ["jurisdiction", "metric", "material", "value", "from_period", "source"]
    pd.testing.assert_frame_equal(other["targets"][cols].reset_index(drop=True), fresh["targets"][cols])
    pd.testing.assert_frame_equal(other["bans"].drop(columns="_row"), fresh["bans"].drop(columns="_row"))


def test_own_target_rows_still_win_over_a_changed_preset(tmp_path: Path) -> None:
    inst = no.load(two_tech(tmp_path, targets=[li(0.5)], policies={"XX": "cn-2024-standard-conditions"}))
    s = apply_overrides(inst, [override("policies", {"XX": "cn-2026-interim-measures"})])
    t = prepare(s).targets
    assert t.loc[t["material"] == "Li", "value"].tolist() == [0.5]


# --- overrides that name nothing ------------------------------------------------------------

@pytest.mark.parametrize(("item", "message"), [
    ({"set": "targets[TOY,material_recovery,Li,2030].value", "value": 0.7}, "matches no row"),
    ({"set": "targets[TOY,material_recovery,Co].value", "value": 0.7}, "matches no row"),
    ({"set": "emissions.carbon_prize", "value": 5}, "names no setting or table"),
    ({"scale": "supply.tonnage", "by": 2}, "no column 'tonnage'"),
    ({"scale": "supply[site=CP-NOWHERE].tonnes", "by": 2}, "matches no row"),
    ({"scale": "supply[place=CP-NORTH].tonnes", "by": 2}, "no column 'place'"),
    ({"remove": "facilities[NOPE]"}, "matches no row"),
    ({"open": "NOPE"}, "unknown facility 'NOPE'"),
    ({"close": ["REC-EAST", "NOPE"]}, "unknown facility 'NOPE'"),
    ({"set": "defaults.fit_share", "value": 0.5}, "cannot be overridden"),
    ({"set": "targets[TOY,material_recovery,Li,2025].value", "value": "high"}, "expected a number"),
    ({"scale": "facilities.status", "by": 2}, "only number columns"),
    ({"set": "targets[TOY,material_recovery,Li,2025,direct,extra].value", "value": 1}, "key value(s)"),
    ({"policies": {"TOY": "no-such-preset"}}, "unknown policy preset"),
    ({"policies": {"NOWHERE": "eu-2023-1542"}}, "unknown jurisdiction"),
    ({"add": "targets", "rows": [{"jurisdiction": "TOY", "metric": "material_recovery", "material": "Li",
                                  "value": 0.6, "from_period": 2025}]}, "twice"),
])
def test_override_naming_nothing_is_an_error_with_its_line(tmp_path: Path, item: dict[str, Any],
                                                           message: str) -> None:
    folder = _toy_with(tmp_path, {"bad": {"overrides": [item]}})
    inst = no.load(folder)
    with pytest.raises(no.InputError) as exc:
        apply_scenario(inst, "bad")
    text = str(exc.value)
    assert message in text
    line = _line_of(folder, "bad:") + 2  # "bad:" / "overrides:" / "- ..."
    assert f"instance.yaml:{line}:scenarios.bad.overrides[0]" in text


def test_a_value_out_of_range_after_the_override_is_reported(tmp_path: Path) -> None:
    inst = no.load(_toy_with(tmp_path, {"bad": {"overrides": [
        {"set": "targets[TOY,material_recovery,Li,2025].value", "value": 1.5}]}}))
    with pytest.raises(no.InputError, match=r"after scenario bad: material_recovery is a rate"):
        apply_scenario(inst, "bad")


def test_malformed_scenario_entries(tmp_path: Path) -> None:
    folder = _toy_with(tmp_path, {
        "base": {"overrides": [{"close": "REF-EAST"}]},
        "two-ops": {"overrides": [{"close": "REF-EAST", "open": "REC-EAST"}]},
        "typo": {"overides": [{"close": "REF-EAST"}]},
        "missing-value": {"overrides": [{"set": "discount_rate"}]},
    })
    with pytest.raises(no.InputError) as exc:
        read_scenarios(no.load(folder))
    text = str(exc.value)
    assert "'base' is the instance as written" in text
    assert "exactly one operation" in text
    assert "scenarios.typo.overides: unknown key" in text
    assert "set needs value:" in text


# --- inheritance ----------------------------------------------------------------------------

def test_child_applies_its_parents_overrides_first(tmp_path: Path) -> None:
    folder = _toy_with(tmp_path, {
        "tight": {"overrides": [{"set": "targets[TOY,material_recovery,Li,2025].value", "value": 0.6}]},
        "tighter": {"extends": "tight", "overrides": [{"scale": "targets.value", "by": 1.5}]},
    })
    inst = no.load(folder)
    assert scenario_names(inst) == ["base", "tight", "tighter"]
    assert [o.op for o in resolve(inst, "tighter")] == ["set", "scale"]
    assert prepare(apply_scenario(inst, "tighter")).targets["value"].tolist() == pytest.approx([0.9])


def test_inheritance_cycle_is_an_error(tmp_path: Path) -> None:
    folder = _toy_with(tmp_path, {
        "a": {"extends": "b", "overrides": [{"close": "REF-EAST"}]},
        "b": {"extends": "c"},
        "c": {"extends": "a"},
        "d": {"extends": "nowhere"},
    })
    with pytest.raises(no.InputError) as exc:
        check_scenarios(no.load(folder))
    text = str(exc.value)
    assert "cycle" in text and "a -> b -> c -> a" in text.replace("b -> c -> a -> b", "a -> b -> c -> a")
    assert "unknown scenario 'nowhere'" in text


def test_unknown_scenario_name(toy: no.Instance) -> None:
    with pytest.raises(no.InputError, match="unknown scenario 'li-99'; expected one of base, li-70"):
        apply_scenario(toy, "li-99")


def test_every_shipped_scenario_applies(toy: no.Instance) -> None:
    check_scenarios(toy)


# --- solve --scenario -----------------------------------------------------------------------

def test_solve_scenario_from_the_command_line(tmp_path: Path) -> None:
    """Li target 0.5 in the file, 0.8 in the scenario: 1000 + 2000 x 0.8 / 0.9."""
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)], scenarios={
        "li-80": {"overrides": [{"set": "targets[XX,material_recovery,Li,2025].value", "value": 0.8}]}})
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--scenario", "li-80"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "li-80"
    assert summary["objective"] == pytest.approx(1000 + 2000 * 0.8 / 0.9)


def test_solve_unknown_scenario_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(TOY), "--out", str(out), "--scenario", "nope"])
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output
    assert not out.exists()
    folder = TOY.parent / "toy-scenarios"  # the error points at the scenarios: block
    line = next(n for n, t in enumerate((folder / "instance.yaml").read_text().splitlines(), 1) if t == "scenarios:")
    named = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--scenario", "nope"])
    assert named.exit_code == 2 and f"instance.yaml:{line}:scenarios: unknown scenario 'nope'" in named.output


# --- helpers --------------------------------------------------------------------------------

def _toy_with(folder: Path, scenarios: dict[str, Any]) -> Path:
    """instances/toy's tables with the given scenarios block."""
    import shutil

    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    for f in TOY.glob("*.csv"):
        shutil.copy(f, folder / f.name)
    manifest = yaml.safe_load((TOY / "instance.yaml").read_text())
    manifest["scenarios"] = scenarios
    manifest.pop("uncertainty", None)
    (folder / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def _line_of(folder: Path, text: str) -> int:
    lines = (folder / "instance.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.strip() == text)


def test_draws_are_reproducible_and_clipped() -> None:
    from network_opt.inputs.uncertainty import Uncertain
    from network_opt.runs.sweep import draw

    u = [Uncertain("v", "scale", "supply.tonnes", "normal", (1.0, 5.0), 0.0, None, 0),
         Uncertain("p", "scale", "material_prices.price_per_t", "triangular", (0.5, 1.0, 2.0), 0.0, None, 0)]
    a, b = draw(u, 200, seed=3), draw(u, 200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not draw(u, 200, seed=4).equals(a)
    assert (a["v"] >= 0).all() and (a["v"] == 0).any()  # sd 5 around 1: some draws clipped at 0
    assert a["p"].between(0.5, 2.0).all()
    assert np.isclose(a["p"].mean(), (0.5 + 1.0 + 2.0) / 3, atol=0.1)
