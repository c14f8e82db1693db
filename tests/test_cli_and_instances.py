"""The CLI end to end, and every shipped instance: valid, solvable, mass-balanced results."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from network_opt.cli.app import app
from network_opt.results.tables import mass_balance_errors

ROOT = Path(__file__).parents[1]
#: Instances small enough to solve in the test suite; the real multi-year ones are solved, with the
#: same mass-balance checks, by benchmarks/solve_instances.py (minutes each).
QUICK = ("toy", "china-east", "toy-scenarios")
INSTANCES = sorted(p.parent for p in (ROOT / "instances").glob("*/instance.yaml") if p.parent.name in QUICK)
runner = CliRunner()


def _read(out: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(out / f"{name}.csv", keep_default_na=False)
            for name in ("facilities", "flows", "collection", "costs", "targets", "materials")}


@pytest.mark.parametrize("instance", INSTANCES, ids=[p.name for p in INSTANCES])
def test_shipped_instance_solves_with_mass_balance(tmp_path: Path, instance: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(instance), "--out", str(out)])
    assert result.exit_code == 0, result.output
    tables = _read(out)
    assert mass_balance_errors(tables) == []
    # refurbishers: sold + rejected = received (test yield applies), per facility and period
    fl = tables["flows"]
    fac = tables["facilities"]
    refurbishers = set(fac.loc[fac["kind"] == "refurbisher", "facility"])
    into = fl.loc[fl["destination"].isin(refurbishers)].groupby("destination")["tonnes"].sum()
    leaving = fl.loc[fl["origin"].isin(refurbishers)].groupby("origin")["tonnes"].sum()
    pd.testing.assert_series_equal(into.sort_index(), leaving.reindex(into.index).fillna(0.0).sort_index(),
                                   check_names=False, atol=1e-3)
    # recyclers never exceed capacity; every target is met
    assert (fac["throughput_t"] <= fac["capacity_t"] + 1e-3).all()
    assert tables["targets"]["met"].astype(str).eq("True").all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "optimal"
    assert tables["costs"]["value"].sum() == pytest.approx(summary["objective"], rel=1e-6, abs=1e-3)
    for key in ("objective", "bound", "mip_gap", "periods", "timings", "model", "solver"):
        assert key in summary
    assert set(summary["timings"]) >= {"load_s", "build_s", "solve_s", "write_s"}
    assert set(summary["model"]) >= {"variables", "binaries", "constraints", "nonzeros"}


def test_toy_optimum_matches_the_hand_solution(tmp_path: Path) -> None:
    """instances/toy/README.md works this answer out by hand."""
    out = tmp_path / "out"
    assert runner.invoke(app, ["solve", str(ROOT / "instances" / "toy"), "--out", str(out)]).exit_code == 0
    t = _read(out)
    costs = t["costs"].set_index("term")["value"]
    expected = {"fixed": 310_000, "collection": 100_000, "transport": 71_000, "processing": 980_000,
                "second_life_revenue": -1_920_000, "material_revenue": -1_331_500}
    for term, value in expected.items():
        assert costs[term] == pytest.approx(value), term
    assert costs.sum() == pytest.approx(-1_790_500)
    fac = t["facilities"].set_index("facility")
    assert fac.loc["REC-EAST", "level"] == "1000t"
    assert fac.loc["REF-EAST", "throughput_t"] == pytest.approx(500)
    sold = t["flows"].query("commodity == 'second_life_packs'")["tonnes"].sum()
    assert sold == pytest.approx(400)


def test_output_folder_is_never_overwritten_without_flag(tmp_path: Path) -> None:
    toy = ROOT / "instances" / "toy"
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    result = runner.invoke(app, ["solve", str(toy), "--out", str(out)])
    assert result.exit_code == 2
    assert "--overwrite" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]

    # --overwrite replaces only a folder network-opt wrote (issue 13): this one is refused too
    result = runner.invoke(app, ["solve", str(toy), "--out", str(out), "--overwrite"])
    assert result.exit_code == 2, result.output
    assert "precious.txt" in result.stderr and "did not write" in result.stderr
    assert (out / "precious.txt").read_text() == "keep me"
    (out / "precious.txt").unlink()
    assert runner.invoke(app, ["solve", str(toy), "--out", str(out)]).exit_code == 0
    result = runner.invoke(app, ["solve", str(toy), "--out", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (out / "summary.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folders or lock files left


def test_empty_existing_folder_is_used(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert runner.invoke(app, ["solve", str(ROOT / "instances" / "toy"), "--out", str(out)]).exit_code == 0
    # every flow's ends are sites of the instance, for a GIS join; no negative zeros in the tables
    flows = pd.read_csv(out / "flows.csv", keep_default_na=False)
    sites = set(pd.read_csv(ROOT / "instances" / "toy" / "sites.csv")["id"])
    assert len(flows) and set(flows["origin_site"]) | set(flows["destination_site"]) <= sites
    assert set(flows["destination"]) - sites  # facility and market ids are not site ids
    for table in out.glob("*.csv"):
        assert "-0.000000" not in table.read_text(), table.name


def test_instance_may_be_given_as_the_manifest_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(ROOT / "instances" / "toy" / "instance.yaml")])
    assert result.exit_code == 0


def test_infeasible_instance_exits_3_with_a_diagnosis_and_no_plan(tmp_path: Path) -> None:
    """Li 0.95 in the toy: 23.8 t/yr of Li reach recycling (toy README) and the best yield is
    HYDRO's 0.9 (its 2,000 t level takes all 1,600 t), so the smallest shortfall is
    0.05 x 23.8 = 1.19 t/yr of Li."""
    folder = tmp_path / "inst"
    shutil.copytree(ROOT / "instances" / "toy", folder)
    text = (folder / "targets.csv").read_text().replace("Li,0.5", "Li,0.95")
    (folder / "targets.csv").write_text(text)
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out)])
    assert result.exit_code == 3
    assert "infeasible" in result.stderr
    assert "material_recovery Li in TOY (required 0.95)" in result.stderr
    written = {p.name for p in out.iterdir()}
    assert {"diagnosis.csv", "summary.json"} <= written
    assert not written & {"flows.csv", "facilities.csv", "costs.csv", "network.gpkg"}  # no plan
    assert json.loads((out / "summary.json").read_text())["status"] == "infeasible"
    diagnosis = pd.read_csv(out / "diagnosis.csv")
    assert diagnosis["constraint"].tolist() == ["target_material_recovery"]
    assert diagnosis.loc[0, "shortfall"] == pytest.approx(1.19)


def test_write_model_and_solver_options(tmp_path: Path) -> None:
    mps = tmp_path / "toy.mps"
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(ROOT / "instances" / "toy"), "--out", str(out), "--time-limit", "60",
                                 "--mip-gap", "0.01", "--threads", "1", "--write-model", str(mps)])
    assert result.exit_code == 0, result.output
    # the written model, solved by highspy alone, has the same optimum
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(mps))
    h.run()
    summary = json.loads((out / "summary.json").read_text())
    assert h.getInfo().objective_function_value == pytest.approx(summary["objective"], rel=1e-6)


def test_console_script_runs_in_a_fresh_process(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "network_opt", "solve", str(ROOT / "instances" / "toy"),
                           "--out", str(out), "--verbose"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "HiGHS" in proc.stdout  # the solver log is shown with --verbose
    assert "optimal" in proc.stdout


def _two_tech_folder(tmp_path: Path, value: float) -> Path:
    from test_multi_period import _li, two_tech

    return two_tech(tmp_path / "inst", [2025], [_li(value, 2025)])


def test_soft_targets_flag_returns_a_plan_with_the_shortfall(tmp_path: Path) -> None:
    folder = _two_tech_folder(tmp_path, 0.95)
    assert runner.invoke(app, ["solve", str(folder), "--out", str(tmp_path / "hard")]).exit_code == 3
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--soft-targets"])
    assert result.exit_code == 0, result.output
    targets = pd.read_csv(out / "targets.csv")
    assert targets.loc[0, "shortfall"] == pytest.approx(0.05)
    assert json.loads((out / "summary.json").read_text())["soft_targets"] is True


def test_cost_of_compliance_flag_writes_compliance_csv(tmp_path: Path) -> None:
    folder = _two_tech_folder(tmp_path, 0.5)
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--cost-of-compliance"])
    assert result.exit_code == 0, result.output
    comp = pd.read_csv(out / "compliance.csv")
    assert comp.loc[0, "target_family"] == "material_recovery"
    assert comp.loc[0, "cost_of_compliance"] == pytest.approx(19000 / 9 - 1000)
    assert pd.read_csv(out / "targets.csv").loc[0, "shadow_price"] == pytest.approx(2000 / 0.9)


def test_policies_command_lists_presets_with_sources() -> None:
    result = runner.invoke(app, ["policies"])
    assert result.exit_code == 0
    for preset in ("eu-2023-1542", "cn-2024-standard-conditions", "in-bwmr-2022", "us-nj-2024"):
        assert preset in result.stdout
    assert "TO BE CONFIRMED" in result.stdout
    one = runner.invoke(app, ["policies", "eu-2023-1542"])
    # scope chain (Art. 71(2)): the line under the rule says so
    assert ("material_recovery Li >= 0.5 from 2028 (legal date 2027-12-31; confidence V)\n      scope chain "
            in one.stdout)
    assert "cn-2024" not in one.stdout
    assert runner.invoke(app, ["policies", "nowhere-1999"]).exit_code == 2


def test_cost_of_compliance_cut_short_is_said_and_writes_no_empty_table(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-solve that ends without a result (or a stop request) leaves families undone: summary.json
    says which, and an empty compliance.csv (which would read "no target families") is not written."""
    import signal
    import types

    import network_opt.runs.pipeline as pipeline
    from network_opt.common import interrupts
    from network_opt.solver.compliance import compliance_shortfall

    monkeypatch.setattr(pipeline, "cost_of_compliance", lambda m, *a, **k: pd.DataFrame(columns=["target_family"]))
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(_two_tech_folder(tmp_path, 0.5)), "--out", str(out),
                                 "--cost-of-compliance"])
    assert result.exit_code == 0, result.output
    assert not (out / "compliance.csv").exists()
    warnings = json.loads((out / "summary.json").read_text())["warnings"]
    assert ("cost of compliance: 0 of 1 target families re-solved (a re-solve ended without a result); missing: "
            "material_recovery; compliance.csv not written") in warnings
    # stopped by a signal after one of two families: named, and the table keeps the one done
    model = types.SimpleNamespace(target_material_recovery=[1], target_recycling_efficiency=[1])
    monkeypatch.setattr(interrupts, "requested", lambda: signal.SIGINT)
    note = compliance_shortfall(model, pd.DataFrame({"target_family": ["recycling_efficiency"]}))
    assert note == ("cost of compliance: 1 of 2 target families re-solved (SIGINT stopped the re-solves); missing: "
                    "material_recovery; compliance.csv holds only those done")
