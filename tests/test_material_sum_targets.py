"""A material_recovery target on a sum of materials (``targets.material`` = ``Li+Ni``): one rate,
the tonnes of all of them recovered over the tonnes of all of them entering (China's 2024 Standard
Conditions set the material-repair route's 99 % so), solved by hand on a micro instance.

100 t/yr of NMC at C1 holding 10 kg Li and 90 kg Ni per t, free lanes, no revenue. Two existing
integrated recyclers (1000 t/yr each):

- A (10 per t): Li yield 0.5, Ni yield 0.99: per t of packs it recovers 0.005 + 0.0891 = 0.0941 t
  of the 0.1 t of Li and Ni entering, a rate of 0.941 on the sum (0.5 on Li alone);
- B (30 per t): Li 0.95, Ni 0.98: 0.0095 + 0.0882 = 0.0977 t, 0.977 on the sum.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from builders import existing_recyclers
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.common.errors import InputError
from network_opt.inputs.policies import PRESETS_DIR, PresetError, parse_preset

runner = CliRunner()


def sum_instance(folder: Path, targets: list[dict[str, Any]]) -> Path:
    folder = existing_recyclers(
        folder, supply=[("C1", "NMC", 100)], li_kg_per_t={"NMC": 10},
        technologies=[{"id": "TA", "process": "hydrometallurgical", "recycling_efficiency": 0.7},
                      {"id": "TB", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        yields=[{"technology": "TA", "material": "Li", "recovery_yield": 0.5},
                {"technology": "TA", "material": "Ni", "recovery_yield": 0.99},
                {"technology": "TB", "material": "Li", "recovery_yield": 0.95},
                {"technology": "TB", "material": "Ni", "recovery_yield": 0.98}],
        plants=[("A", "TA", 10), ("B", "TB", 30)], targets=targets)
    # the builder writes Li only: add nickel (90 kg/t, price 0)
    pd.DataFrame({"id": ["Li", "Ni"]}).to_csv(folder / "materials.csv", index=False)
    pd.DataFrame({"chemistry": ["NMC", "NMC"], "material": ["Li", "Ni"], "kg_per_t": [10, 90]}).to_csv(
        folder / "chemistry_materials.csv", index=False)
    pd.DataFrame({"material": ["Li", "Ni"], "period": [2025, 2025], "price_per_t": [0, 0]}).to_csv(
        folder / "material_prices.csv", index=False)
    return folder


def _target(material: str, value: float, scope: str = "facility", metric: str = "material_recovery") -> dict[str, Any]:
    return {"jurisdiction": "XX", "metric": metric, "material": material, "value": value, "from_period": 2025,
            "scope": scope}


def _tonnes(sol: Any, destination: str) -> float:
    f = sol["flows"]
    return float(f.loc[(f["origin"] == "C1") & (f["destination"] == destination), "tonnes"].sum())


@pytest.mark.parametrize("scope", ["facility", "chain", "step"])
def test_facility_rate_on_the_sum_lets_the_plant_weak_on_one_material_run(tmp_path: Path, scope: str) -> None:
    """Scope facility at 0.93. On the sum both plants comply (0.941, 0.977): everything goes to the
    cheap A, cost 10 x 100 = 1000. The same 0.93 on Li and on Ni each (what the China preset did
    before) shuts A (Li 0.5): everything to B, 3000. Scopes chain and step measure packs into an
    integrated recycler that makes no black mass as scope facility does: the same plans."""
    sol = no.solve(sum_instance(tmp_path / "sum", [_target("Li+Ni", 0.93, scope)]))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(1000.0)
    assert _tonnes(sol, "A") == pytest.approx(100.0)
    t = sol["targets"].set_index("facility")
    assert t.loc["A", "material"] == "Li+Ni"
    assert t.loc["A", "achieved"] == pytest.approx(0.941)
    assert bool(t.loc["A", "met"])
    each = no.solve(sum_instance(tmp_path / "each", [_target("Li", 0.93, scope), _target("Ni", 0.93, scope)]))
    assert each.objective == pytest.approx(3000.0)
    assert _tonnes(each, "B") == pytest.approx(100.0)


def test_pooled_rate_on_the_sum_blends_the_two_plants(tmp_path: Path) -> None:
    """Scope jurisdiction at 0.95: (0.0941 - 0.095) x_A + (0.0977 - 0.095) x_B >= 0, i.e.
    x_A <= 3 x_B, with x_A + x_B = 100: x_A = 75, x_B = 25, cost 750 + 750 = 1500; recovered
    75 x 0.0941 + 25 x 0.0977 = 9.5 t of the 10 t entering, rate 0.95. Shadow price: x_A(rho) =
    (9.77 - 10 rho) / 0.0036, cost 3000 - 20 x_A, d cost / d rho = 20 x 10 / 0.0036 = 55,555.6
    per unit of rate."""
    sol = no.solve(sum_instance(tmp_path, [_target("Li+Ni", 0.95, scope="jurisdiction")]))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(1500.0)
    assert _tonnes(sol, "A") == pytest.approx(75.0)
    assert _tonnes(sol, "B") == pytest.approx(25.0)
    row = sol["targets"].iloc[0]
    assert row["achieved"] == pytest.approx(0.95)
    assert row["shadow_price"] == pytest.approx(20 * 10 / 0.0036, rel=1e-6)


def test_a_sum_the_plants_cannot_reach_is_infeasible(tmp_path: Path) -> None:
    """Scope jurisdiction at 0.98: the best plant reaches 0.977 on the sum, so no plan exists."""
    sol = no.solve(sum_instance(tmp_path, [_target("Li+Ni", 0.98, scope="jurisdiction")]))
    assert sol.status == "infeasible"


def test_the_order_of_the_materials_does_not_matter(tmp_path: Path) -> None:
    a = no.solve(sum_instance(tmp_path / "a", [_target("Li+Ni", 0.95, scope="jurisdiction")]))
    b = no.solve(sum_instance(tmp_path / "b", [_target("Ni+Li", 0.95, scope="jurisdiction")]))
    assert b.objective == pytest.approx(a.objective)


@pytest.mark.parametrize(("material", "metric", "expected"), [
    ("Li+Xx", "material_recovery", "unknown reference 'Xx' in 'Li+Xx'"),
    ("Li+", "material_recovery", "unknown reference '' in 'Li+'"),
    ("Li+Li", "material_recovery", "'Li+Li' names a material twice"),
    ("Li+Ni", "domestic_recovery", "only a material_recovery target may join materials"),
])
def test_a_bad_sum_is_named_by_file_row_and_column(tmp_path: Path, material: str, metric: str, expected: str) -> None:
    folder = sum_instance(tmp_path, [_target(material, 0.5, scope="jurisdiction", metric=metric)])
    with pytest.raises(InputError) as err:
        no.load(folder)
    assert f"targets.csv:2:material: {expected}" in str(err.value).replace(str(folder) + "/", "")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert expected in result.output


@pytest.mark.parametrize(("material", "metric", "expected"), [
    ("Li+Ni+Li", "material_recovery", "names a material twice"),
    ("Li+Ni", "domestic_recovery", "a sum of materials ('+') is a material_recovery rate"),
])
def test_a_preset_rule_on_a_bad_sum_is_refused(material: str, metric: str, expected: str) -> None:
    data = yaml.safe_load((PRESETS_DIR / "cn-2024-standard-conditions.yaml").read_text(encoding="utf-8"))
    broken = copy.deepcopy(data)
    where = next(n for n, t in enumerate(broken["targets"]) if t["process"] == "direct")
    broken["targets"][where].update(material=material, metric=metric)
    with pytest.raises(PresetError) as info:
        parse_preset(broken, "cn-2024-standard-conditions.yaml")
    assert info.value.key == f"targets[{where}].material"
    assert expected in str(info.value)


def test_a_preset_sum_keeps_the_materials_the_instance_models(tmp_path: Path) -> None:
    """The China preset's direct-route rule is one rate on Li+Ni+Co+Mn. An instance that models Li
    and Ni only gets the rule on Li+Ni, with a warning naming what was left out of the sum."""
    folder = sum_instance(tmp_path, [])
    (folder / "targets.csv").unlink()
    manifest = yaml.safe_load((folder / "instance.yaml").read_text(encoding="utf-8"))
    del manifest["tables"]["targets"]
    pd.DataFrame({"id": ["XX"], "name": ["China"], "groups": [""]}).to_csv(folder / "jurisdictions.csv", index=False)
    manifest["policies"] = {"XX": ["cn-2024-standard-conditions"]}
    (folder / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    inst = no.load(folder)
    direct = inst["targets"].loc[inst["targets"]["process"] == "direct"]
    assert direct["material"].tolist() == ["Li+Ni"]
    assert any("measured on Li+Ni" in str(w) and "Co, Mn is not in materials.csv" in str(w) for w in inst.warnings)
