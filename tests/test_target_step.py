"""Target scope ``step`` (a material rate measured on the input of each facility's smelting /
refining step, as China's 2024 Standard Conditions measure it) and ``targets.process`` (the
technology processes a per-facility row applies to), on micro instances solved by hand (issue 15).

Integrated recyclers with a black_mass_yield beta > 0 are measured on the black mass they make
internally (beta x black_mass_kg_per_t per t of packs), those with beta = 0 on the packs, refiners
on the black mass they take.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from builders import existing_recyclers, lanes, site, write_instance
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.solver.diagnose import diagnose

runner = CliRunner()
SMELTING = "hydrometallurgical|pyrometallurgical"


def _tonnes(sol: Any, origin: str, destination: str) -> float:
    f = sol["flows"]
    return float(f.loc[(f["origin"] == origin) & (f["destination"] == destination), "tonnes"].sum())


def _target(sol: Any, facility: str, process: str | None = None) -> pd.Series:
    t = sol["targets"]
    hit = t.loc[(t["facility"] == facility) & ((t["process"] == process) if process is not None else True)]
    assert len(hit) == 1, hit
    return hit.iloc[0]


def recycler_instance(folder: Path, scope: str = "step", rho: float = 0.9, process: str = SMELTING) -> Path:
    """100 t/yr of LFP at C1 and 100 t/yr of NMC at C2, both 10 kg Li/t of pack; the black mass
    holds 18 kg Li/t (LFP) and 20 kg Li/t (NMC). Free lanes, no revenue, capacities 1000.

    - A (technology TA, hydrometallurgical, 10/t): an integrated recycler that shreds the packs to
      black mass (black_mass_yield 0.5) before leaching: per t of packs 0.5 x 18 = 9 kg Li (LFP) and
      0.5 x 20 = 10 kg Li (NMC) enter its smelting step; it recovers 0.85 of the pack's Li (8.5 kg).
      Its step rate is 8.5 / 9 = 0.944 on LFP and 0.85 on NMC; on the pack's Li, 0.85 on both.
    - B (technology TB, pyrometallurgical, 30/t, black_mass_yield 0: packs smelted whole): Li yield
      0.95 of the pack's Li, on packs and step alike.

    One Li recovery target rho on the processes ``process``."""
    return existing_recyclers(
        folder, supply=[("C1", "LFP", 100), ("C2", "NMC", 100)], li_kg_per_t={"LFP": 10, "NMC": 10},
        black_mass_li_kg_per_t={"LFP": 18, "NMC": 20},
        technologies=[{"id": "TA", "process": "hydrometallurgical", "recycling_efficiency": 0.7,
                       "black_mass_yield": 0.5},
                      {"id": "TB", "process": "pyrometallurgical", "recycling_efficiency": 0.6}],
        yields=[{"technology": "TA", "material": "Li", "recovery_yield": 0.85, "chemistry": ""},
                {"technology": "TB", "material": "Li", "recovery_yield": 0.95, "chemistry": ""}],
        plants=[("A", "TA", 10), ("B", "TB", 30)],
        targets=[{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": rho,
                  "from_period": 2025, "scope": scope, "process": process if scope != "jurisdiction" else ""}])


def test_step_rate_measures_a_recycler_on_its_smelting_input(tmp_path: Path) -> None:
    """Scope step, rho = 0.9. Per t of packs A's row counts 0.0085 - 0.9 x 0.009 = +0.0004 (LFP) and
    0.0085 - 0.9 x 0.010 = -0.0005 (NMC): 0.0004 L_A - 0.0005 N_A >= 0, i.e. N_A <= 0.8 L_A. B's row
    0.0005 (L_B + N_B) >= 0 never binds. Minimise 10 x 200 + 20 (L_B + N_B): L_A = 100, N_A = 80,
    N_B = 20, cost 2000 + 20 x 20 = 2400. A: 0.0085 x 180 = 1.53 t of Li recovered of 0.9 + 0.8 =
    1.7 t entering its smelting step: exactly 0.9 (of the 1.8 t of pack Li: 0.85).

    Shadow price of A's row: raising its right-hand side by delta (t of Li) gives N_A = 80 - 2000
    delta and cost + 20 x 2000 delta: a dual of 40,000 per t of Li; a raise of rho by 1 moves the
    row by the 1.7 t entering A's step: 68,000 per unit of rate. Directly: N_A(rho) = 100 (0.0085 -
    0.009 rho) / (0.01 rho - 0.0085), dN_A/drho = -3400 at 0.9, d cost / d rho = 20 x 3400 = 68,000.

    Scope facility (rho on the pack's Li) would not let A run at all (0.85 < 0.9 on every tonne):
    all 200 t at B, 6000."""
    step = no.solve(recycler_instance(tmp_path / "step"), compliance=True)
    facility = no.solve(recycler_instance(tmp_path / "facility", scope="facility", process=""))
    assert step.status == "optimal" and facility.status == "optimal"
    assert step.objective == pytest.approx(2400.0)
    assert facility.objective == pytest.approx(6000.0)
    assert _tonnes(facility, "C1", "SA") + _tonnes(facility, "C2", "SA") == pytest.approx(0.0, abs=1e-6)
    assert _tonnes(step, "C1", "A") == pytest.approx(100.0)
    assert _tonnes(step, "C2", "A") == pytest.approx(80.0)
    assert _tonnes(step, "C2", "B") == pytest.approx(20.0)
    assert _tonnes(step, "C1", "B") == pytest.approx(0.0, abs=1e-6)
    t = step["targets"]
    assert t["facility"].tolist() == ["A", "B"]
    assert set(t["scope"]) == {"step"} and set(t["process"]) == {SMELTING}
    a, b = _target(step, "A"), _target(step, "B")
    assert a["achieved"] == pytest.approx(0.9)
    assert a["base_t"] == pytest.approx(1.7)  # Li entering A's smelting step
    assert a["shadow_price"] == pytest.approx(68_000.0, rel=1e-6)
    assert b["achieved"] == pytest.approx(0.95)
    assert b["base_t"] == pytest.approx(0.2)  # B smelts whole packs: 20 t x 10 kg/t
    assert b["shadow_price"] == pytest.approx(0.0, abs=1e-6)
    m = step["materials"].set_index("facility")
    assert m.loc["A", "input_t"] == pytest.approx(1.8)  # materials.csv: the Li in the packs A takes
    assert m.loc["A", "recovered_t"] == pytest.approx(1.53)
    # cost of compliance: without the material_recovery rows all 200 t go to A, 2000
    comp = step["compliance"].set_index("target_family")
    assert comp.loc["material_recovery", "objective_without"] == pytest.approx(2000.0)
    assert comp.loc["material_recovery", "cost_of_compliance"] == pytest.approx(400.0)


def test_process_narrows_the_facilities_a_step_row_applies_to(tmp_path: Path) -> None:
    """Process pyrometallurgical only: B alone has a row (A, hydrometallurgical, is not bound), so all
    packs go to the cheap A: 2000. Process hydrometallurgical only: A alone, the plan of the full
    smelting row (B's row never binds): 2400."""
    pyro = no.solve(recycler_instance(tmp_path / "pyro", process="pyrometallurgical"))
    hydro = no.solve(recycler_instance(tmp_path / "hydro", process="hydrometallurgical"))
    assert pyro.objective == pytest.approx(2000.0)
    assert pyro["targets"]["facility"].tolist() == ["B"]
    assert hydro.objective == pytest.approx(2400.0)
    assert hydro["targets"]["facility"].tolist() == ["A"]


def test_pooled_row_on_pack_lithium_differs(tmp_path: Path) -> None:
    """Scope jurisdiction pools every tonne on the pack's Li: 0.0085 x (200 - x_B) + 0.0095 x_B >=
    0.9 x 0.01 x 200 = 1.8, so x_B >= 100 (cost 2000 + 20 x 100 = 4000): measuring on the step's
    input (2400) or per facility on packs (6000) are three different rules."""
    sol = no.solve(recycler_instance(tmp_path, scope="jurisdiction"))
    assert sol.objective == pytest.approx(4000.0)
    assert sol["targets"].iloc[0]["achieved"] == pytest.approx(0.9)


def test_unreachable_step_rate_is_diagnosed_with_its_facility(tmp_path: Path) -> None:
    """rho = 0.97 is above every step rate (A: 0.944 LFP, 0.85 NMC; B: 0.95): infeasible. Least
    shortfall per t of packs: at B 0.0097 - 0.0095 = 0.0002 t of Li, at A 0.00873 - 0.0085 = 0.00023
    (LFP) or 0.0097 - 0.0085 = 0.0012 (NMC): all 200 t at B, 0.04 t of Li short on B's row."""
    folder = recycler_instance(tmp_path, rho=0.97)
    assert no.solve(folder).status == "infeasible"
    diag = diagnose(folder)
    assert set(diag["constraint"]) == {"target_material_recovery"}
    assert diag["shortfall"].sum() == pytest.approx(0.04)
    assert diag["what"].str.contains("smelting / refining step of facility B in XX").all()


def refiner_instance(folder: Path, scope: str = "step", rho: float = 0.92) -> Path:
    """100 t/yr of LFP at C1 and 100 t/yr of NMC at C2 (10 kg Li/t) -> pre-processor PP (black-mass
    yield 0.4, 10/t; the black mass holds 25 kg Li/t) -> refiner R1 (5/t; Li yield 0.86 on LFP black
    mass, 0.96 on NMC) or R2 (20/t, 0.95). 40 t/yr of black mass of each chemistry, 1.0 t of Li each."""
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C1", "collection_point"), site("C2", "collection_point"), site("SP", "facility"),
                  site("S1", "facility"), site("S2", "facility")],
        "jurisdictions": [{"id": "XX", "name": "", "groups": ""}],
        "chemistries": [{"id": "LFP", "energy_kwh_per_t": 100}, {"id": "NMC", "energy_kwh_per_t": 100}],
        "materials": [{"id": "Li"}],
        "chemistry_materials": [{"chemistry": k, "material": "Li", "kg_per_t": 10, "black_mass_kg_per_t": 25}
                                for k in ("LFP", "NMC")],
        "material_prices": [{"material": "Li", "period": 2025, "price_per_t": 0}],
        "supply": [{"site": "C1", "period": 2025, "chemistry": "LFP", "tonnes": 100},
                   {"site": "C2", "period": 2025, "chemistry": "NMC", "tonnes": 100}],
        "technologies": [{"id": "MECH", "process": "mechanical", "recycling_efficiency": 0.1,
                          "black_mass_yield": 0.4},
                         {"id": "REF1", "process": "hydrometallurgical", "recycling_efficiency": 0.8},
                         {"id": "REF2", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": [{"technology": "REF1", "material": "Li", "recovery_yield": 0.86, "chemistry": "LFP"},
                              {"technology": "REF1", "material": "Li", "recovery_yield": 0.96, "chemistry": "NMC"},
                              {"technology": "REF2", "material": "Li", "recovery_yield": 0.95, "chemistry": ""}],
        "facilities": [
            {"id": "PP", "site": "SP", "kind": "preprocessor", "technology": "MECH", "status": "existing",
             "variable_cost_per_t": 10},
            {"id": "R1", "site": "S1", "kind": "refiner", "technology": "REF1", "status": "existing",
             "variable_cost_per_t": 5},
            {"id": "R2", "site": "S2", "kind": "refiner", "technology": "REF2", "status": "existing",
             "variable_cost_per_t": 20},
        ],
        "facility_levels": [{"facility": f, "level": "a", "capacity_t": 1000} for f in ("PP", "R1", "R2")],
        "lanes": lanes(("C1", "SP", 0), ("C2", "SP", 0), ("SP", "S1", 0), ("SP", "S2", 0)),
        "targets": [{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": rho,
                     "from_period": 2025, "scope": scope, "process": "" if scope == "jurisdiction" else SMELTING}],
    }
    return write_instance(folder, tables)


def test_step_rate_measures_a_refiner_on_its_black_mass(tmp_path: Path) -> None:
    """rho = 0.92 on each refiner's black mass. Per t of black mass R1's row counts 0.025 x (0.86 -
    0.92) = -0.0015 (LFP) and 0.025 x (0.96 - 0.92) = +0.001 (NMC): L_1 <= (2/3) N_1; R2 (0.95)
    never binds. PP costs 10 x 200 = 2000 whatever happens; minimise 5 (L_1 + N_1) + 20 (L_2 + N_2)
    with L + N = 40 each: N_1 = 40, L_1 = 80/3, L_2 = 40/3: 2000 + 5 x 200/3 + 20 x 40/3 = 2600.
    R1 recovers 0.025 x (0.86 x 80/3 + 0.96 x 40) = 1.5333 t of the 1.6667 t in its black mass: 0.92.

    Shadow price of R1's row: raising its right-hand side by delta gives L_1 = (0.04 - delta) /
    0.0015, cost + 15 / 0.0015 delta = 10,000 per t of Li; the row's base is the 1.6667 t entering
    R1: 16,666.67 per unit of rate. Directly: L_1(rho) = 40 (0.96 - rho) / (rho - 0.86), dL_1/drho =
    -4 / 0.06^2 = -1111.1, d cost / d rho = 15 x 1111.1 = 16,666.7. For a refiner, step and facility
    scope are the same rule (same optimum)."""
    step = no.solve(refiner_instance(tmp_path / "step"))
    facility = no.solve(refiner_instance(tmp_path / "facility", scope="facility"))
    assert step.status == "optimal"
    assert step.objective == pytest.approx(2600.0)
    assert facility.objective == pytest.approx(2600.0)
    f = step["flows"]
    bm = f.loc[f["commodity"] == "black_mass"].groupby(["destination", "chemistry"])["tonnes"].sum()
    assert bm[("R1", "NMC")] == pytest.approx(40.0)
    assert bm[("R1", "LFP")] == pytest.approx(80 / 3)
    assert bm[("R2", "LFP")] == pytest.approx(40 / 3)
    assert bm.get(("R2", "NMC"), 0.0) == pytest.approx(0.0, abs=1e-6)
    t = step["targets"]
    assert t["facility"].tolist() == ["R1", "R2"]  # the pre-processor gets no row
    r1 = _target(step, "R1")
    assert r1["achieved"] == pytest.approx(0.92)
    assert r1["base_t"] == pytest.approx(5 / 3)
    assert r1["shadow_price"] == pytest.approx(50_000 / 3, rel=1e-6)
    assert _target(step, "R2")["shadow_price"] == pytest.approx(0.0, abs=1e-6)


def direct_instance(folder: Path, direct_rate: float | None, direct_scope: str = "step") -> Path:
    """100 t/yr of X (10 kg Li/t) at C1 to the integrated recyclers D (technology DIR, process direct,
    5/t, Li yield 0.95) or H (HYDRO, hydrometallurgical, 20/t, Li yield 0.92). China's rules: Li >= 0.9
    on the smelting step of hydro/pyro plants, and (with ``direct_rate``) Li >= direct_rate on the
    direct (material-repair) route, both from 2025 with the same (jurisdiction, metric, material,
    from_period): two targets that differ by process."""
    targets = [{"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": 0.9,
                "from_period": 2025, "scope": "step", "process": SMELTING}]
    if direct_rate is not None:
        targets.append({"jurisdiction": "XX", "metric": "material_recovery", "material": "Li",
                        "value": direct_rate, "from_period": 2025, "scope": direct_scope, "process": "direct"})
    return existing_recyclers(
        folder, supply=[("C1", "X", 100)], li_kg_per_t={"X": 10},
        technologies=[{"id": "DIR", "process": "direct", "recycling_efficiency": 0.85},
                      {"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        yields=[{"technology": "DIR", "material": "Li", "recovery_yield": 0.95},
                {"technology": "HYDRO", "material": "Li", "recovery_yield": 0.92}],
        plants=[("D", "DIR", 5), ("H", "HYDRO", 20)], targets=targets)


@pytest.mark.parametrize("scope", ["step", "chain"])
def test_direct_route_99_percent_shuts_a_95_percent_direct_plant(tmp_path: Path, scope: str) -> None:
    """Without a direct-route rule the smelting row binds only H (0.92 >= 0.9), and all 100 t go to
    the cheap D: 500. With Li >= 0.99 on the direct process D's row reads 0.01 x (0.95 - 0.99) x_D =
    -0.0004 x_D >= 0, so x_D = 0 and all 100 t go to H: 2000. D measured on its own packs (beta = 0),
    so scope step and chain (the pack content, the law's base) give the same row. D's row binds at
    zero flow: its base (Li entering D) is 0, so its shadow price per unit of rate is 0."""
    free = no.solve(direct_instance(tmp_path / "free", None))
    assert free.objective == pytest.approx(500.0)
    assert _tonnes(free, "C1", "D") == pytest.approx(100.0)
    low = no.solve(direct_instance(tmp_path / "low", 0.95, scope))
    assert low.objective == pytest.approx(500.0)  # 0.95 >= 0.95: D may still take everything
    sol = no.solve(direct_instance(tmp_path / "strict", 0.99, scope))
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(2000.0)
    assert _tonnes(sol, "C1", "D") == pytest.approx(0.0, abs=1e-6)
    assert _tonnes(sol, "C1", "H") == pytest.approx(100.0)
    t = sol["targets"]
    assert sorted(zip(t["facility"], t["process"], t["scope"], strict=True)) == [
        ("D", "direct", scope), ("H", SMELTING, "step")]
    d = _target(sol, "D")
    assert d["required"] == pytest.approx(0.99)
    assert d["shadow_price"] == pytest.approx(0.0, abs=1e-6)
    assert d["shadow_price_note"].startswith("0: nothing it measures flows in this plan")
    assert _target(sol, "H")["achieved"] == pytest.approx(0.92)


def _validate(folder: Path) -> str:
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    return result.stderr


def test_a_step_row_with_an_unknown_process_is_an_error(tmp_path: Path) -> None:
    folder = recycler_instance(tmp_path / "unknown", process="hydrometallurgical|smelting")
    assert ("targets.csv:2:process: unknown process in 'hydrometallurgical|smelting'; expected one or more of "
            "hydrometallurgical, pyrometallurgical, direct, integrated") in _validate(folder)
    folder = recycler_instance(tmp_path / "mech", process="mechanical")
    assert "targets.csv:2:process: unknown process in 'mechanical'" in _validate(folder)


def test_step_scope_and_process_are_checked_against_the_metric_and_scope(tmp_path: Path) -> None:
    folder = recycler_instance(tmp_path / "eff")
    text = (folder / "targets.csv").read_text().replace("material_recovery,Li,0.9", "recycling_efficiency,,0.9")
    (folder / "targets.csv").write_text(text)
    assert "targets.csv:2:scope: scope step applies to material_recovery only" in _validate(folder)
    folder = recycler_instance(tmp_path / "pooled", scope="jurisdiction")
    text = (folder / "targets.csv").read_text().replace("jurisdiction,\n", f"jurisdiction,{SMELTING}\n")
    (folder / "targets.csv").write_text(text)
    assert "targets.csv:2:process: only rows of scope facility, chain, step name a process" in _validate(folder)


def test_rows_differing_only_by_process_are_two_targets_and_duplicates_are_errors(tmp_path: Path) -> None:
    """Same (jurisdiction, metric, material, from_period): a smelting row and a direct row hold
    together; the same row twice is a duplicate key."""
    folder = direct_instance(tmp_path / "two", 0.99)
    assert len(no.load(folder)["targets"]) == 2
    with open(folder / "targets.csv", "a") as fh:
        fh.write(f"XX,material_recovery,Li,0.5,2025,step,{SMELTING}\n")
    assert "targets.csv:4:process: duplicate key" in _validate(folder)


def test_missing_black_mass_content_of_a_step_measured_recycler_is_warned(tmp_path: Path) -> None:
    """A recycler with black_mass_yield > 0 measured by a step row, whose chemistry has no
    black_mass_kg_per_t: nothing would count as entering its smelting step (a warning names the row)."""
    folder = recycler_instance(tmp_path)
    text = (folder / "chemistry_materials.csv").read_text().replace("NMC,Li,10,20", "NMC,Li,10,0")
    (folder / "chemistry_materials.csv").write_text(text)
    inst = no.load(folder)
    messages = [str(w) for w in inst.warnings]
    assert any("chemistry_materials.csv:3:black_mass_kg_per_t" in m and "less than the 8.5 kg recovered" in m
               for m in messages), messages


def test_step_scope_size_projection_equals_the_built_model(tmp_path: Path) -> None:
    """project_size counts the step rows and their nonzeros exactly (soft targets: a shortfall each)."""
    from network_opt.model import build_model, prepare
    from network_opt.model.size import project_size
    from network_opt.runs.pipeline import model_size
    from network_opt.solver.handoff import compile_model

    for folder in (recycler_instance(tmp_path / "r"), refiner_instance(tmp_path / "f"),
                   direct_instance(tmp_path / "d", 0.99)):
        d = prepare(no.load(folder).with_settings({"targets.soft": True}))
        assert (d.targets["scope"] == "step").any()
        projected = project_size(d)
        m = build_model(d)
        mm, _, _ = compile_model(m)
        assert projected.rows == mm.shape[0]
        assert projected.nonzeros == len(mm.index)
        assert projected.columns == model_size(m)["variables"]


def test_policies_command_prints_scope_and_process_per_rule() -> None:
    result = runner.invoke(app, ["policies", "cn-2024-standard-conditions"])
    assert result.exit_code == 0
    out = result.stdout
    assert out.count(f"scope step (per recycler / refiner, on the input of its smelting / refining step), "
                     f"process {SMELTING}") == 4
    assert out.count("process direct") == 1  # one rate on the sum Li+Ni+Co+Mn
    assert "material_recovery Li+Ni+Co+Mn" in out
    assert "not modelled yet: material-repair" not in out


def test_own_row_replaces_the_presets_whatever_the_order_of_its_processes(tmp_path: Path) -> None:
    """China's preset sets Li >= 0.90 on the smelting step of hydrometallurgical|pyrometallurgical
    plants from 2025. An instance row for the same rule that lists the processes the other way round
    (pyrometallurgical|hydrometallurgical, 0.85) is the same target and replaces the preset's row:
    one Li step row in force, at 0.85 (before, the two spellings were two targets and the stricter
    0.90 still applied)."""
    import yaml

    folder = recycler_instance(tmp_path, rho=0.85, process="pyrometallurgical|hydrometallurgical")
    manifest = yaml.safe_load((folder / "instance.yaml").read_text())
    manifest["policies"] = {"XX": ["cn-2024-standard-conditions"]}
    (folder / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    t = no.load(folder)["targets"]
    step = t.loc[(t["material"] == "Li") & (t["scope"] == "step")]
    assert step["value"].tolist() == [0.85]
    assert step["process"].tolist() == [SMELTING]


def test_step_bases_are_derived_once_per_material_and_a_copy_derives_its_own(tmp_path: Path) -> None:
    """The step base of every flow is computed once per material and indexed by the rows asked for:
    per t of packs into A 0.5 x 18 = 9 kg of Li (LFP) and 0.5 x 20 = 10 kg (NMC), into B (beta 0)
    the packs' own 10 kg. A ``dataclasses.replace`` copy with other flows does not reuse them."""
    import dataclasses

    import numpy as np

    from network_opt.model import prepare
    from network_opt.model.constraints.targets import step_coefficients

    d = prepare(no.load(recycler_instance(tmp_path / "r")))
    f = d.flows
    into = {(o, t): i for i, (o, t) in enumerate(zip(f["origin"], f["destination"], strict=True))}
    rows = np.array([into["C1", "A"], into["C2", "A"], into["C1", "B"], into["C2", "B"]])
    recovered, base = step_coefficients(d, rows, "Li")
    assert base == pytest.approx([0.009, 0.010, 0.010, 0.010])
    assert recovered == pytest.approx([0.0085, 0.0085, 0.0095, 0.0095])
    assert list(d.derived) == [("step", "Li")]
    first = d.derived["step", "Li"]
    step_coefficients(d, rows[:1], "Li")
    assert d.derived["step", "Li"] is first  # not computed again
    flipped = dataclasses.replace(d, flows=f.iloc[::-1].reset_index(drop=True), recovered=d.recovered[::-1],
                               input_content=d.input_content[::-1])
    assert flipped.derived == {}
    _, base_reversed = step_coefficients(flipped, len(f) - 1 - rows, "Li")
    assert base_reversed == pytest.approx(base)
