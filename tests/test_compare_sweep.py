"""compare and sweep: the same numbers as solving alone, hand-checked cost-of-compliance curve,
local and dask executors agree, resume, failed points reported, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from builders import of_type
from test_scenarios import TOY, li, two_tech
from typer.testing import CliRunner

import network_opt as no
from network_opt.cli.app import app
from network_opt.inputs.overrides import Origin, Override
from network_opt.inputs.scenarios import apply_scenario
from network_opt.inputs.uncertainty import read_uncertainty
from network_opt.runs.executors import DaskExecutor, LocalExecutor, RunSpec, input_hash, run_batch
from network_opt.runs.sweep import draw

runner = CliRunner()
LI_KEY = "targets[XX,material_recovery,Li,2025].value"


def cost(rho: float) -> float:
    """two_tech: PYRO 10/t for everything, plus 20/t more for the 100 rho / 0.9 t HYDRO must take."""
    return 1000 + 2000 * rho / 0.9


def test_compare_gives_the_numbers_of_each_scenario_solved_alone(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    names = ["base", "li-70", "no-refurbisher", "no-hydro"]
    res = no.compare(TOY, out, names)
    table = res.table
    assert list(table.columns) == ["unit", *names]
    assert table.at["objective", "base"] == pytest.approx(-1_790_500.0)  # instances/toy/README.md, by hand
    assert table.at["cost:fixed", "base"] == pytest.approx(310_000.0)
    assert table.at["revenue:second_life", "base"] == pytest.approx(1_920_000.0)
    assert table.at["tonnes:second_life_sold", "base"] == pytest.approx(400.0)
    inst = no.load(TOY)
    for name in ("li-70", "no-refurbisher"):
        alone = no.solve(apply_scenario(inst, name))
        assert table.at["objective", name] == pytest.approx(alone.objective)
        terms = alone["costs"].groupby("term")["value"].sum()
        assert table.at["cost:processing", name] == pytest.approx(terms["processing"])
        assert table.at["revenue:material", name] == pytest.approx(-terms["material_revenue"])
        target = alone["targets"].iloc[0]
        assert table.at["target:TOY/material_recovery/Li/2025:achieved", name] == pytest.approx(target["achieved"])
        written = json.loads((out / name / "summary.json").read_text())
        assert written["objective"] == pytest.approx(alone.objective) and written["scenario"] == name
    # the infeasible scenario is reported and did not stop the others
    assert table.at["status", "no-hydro"] == "infeasible"
    assert json.loads((out / "no-hydro" / "summary.json").read_text())["status"] == "infeasible"
    assert table.at["target:TOY/material_recovery/Li/2025:required", "li-70"] == pytest.approx(0.7)

    csv = pd.read_csv(out / "comparison.csv")
    assert list(csv.columns) == ["kpi", "unit", *names]
    # no refurbisher at all: 0 t/yr of refurbishing, not an unknown; the infeasible scenario has no plan
    assert table.at["capacity_t:refurbisher:TOY", "base"] == pytest.approx(500.0)
    assert table.at["capacity_t:refurbisher:TOY", "no-refurbisher"] == 0.0
    assert table.at["capacity_t:refurbisher:TOY", "no-hydro"] is None
    diff = res.facility_diff
    removed = diff.loc[(diff["scenario"] == "no-refurbisher") & (diff["facility"] == "REF-EAST")]
    assert removed[["reference_state", "state", "change"]].values.tolist() == [
        ["open 500t (500 t/yr)", "absent", "removed"]]
    assert pd.read_csv(out / "facility_diff.csv").shape == diff.shape
    for chart in ("objective.png", "costs.png", "capacity.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_over_a_target_gives_the_hand_computed_cost_curve(tmp_path: Path) -> None:
    """cost(rho) = 1000 + 2000 rho / 0.9, shadow price 2000 / 0.9; rho = 0.95 is beyond HYDRO's
    0.9 yield: infeasible, reported, and the other points still solved."""
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)])
    rhos = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    res = no.sweep(folder, tmp_path / "sw", vary=[f"{LI_KEY}=" + ",".join(map(str, rhos))])
    t = res.table
    assert t["point"].tolist() == [f"p{i:04d}" for i in range(1, 7)]
    assert t[LI_KEY].tolist() == pytest.approx(rhos)
    assert t["status"].tolist() == ["optimal"] * 5 + ["infeasible"]
    ok = t.iloc[:5]
    assert ok["objective"].astype(float).tolist() == pytest.approx([cost(r) for r in rhos[:5]])
    assert ok["objective"].astype(float).is_monotonic_increasing
    assert ok[f"shadow_price[{LI_KEY}]"].astype(float).tolist() == pytest.approx([2000 / 0.9] * 5, rel=1e-6)
    written = pd.read_csv(tmp_path / "sw" / "sweep.csv")
    assert written["objective"].iloc[:5].tolist() == pytest.approx([cost(r) for r in rhos[:5]])
    assert (tmp_path / "sw" / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_range_syntax_and_scaling(tmp_path: Path) -> None:
    """supply x f with the 0.5 target: every term scales, cost f x (1000 + 2000 x 0.5 / 0.9)."""
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)])
    res = no.sweep(folder, tmp_path / "sw", vary=["supply.tonnes*=0.5:1.5:3"])
    assert res.table["supply.tonnes*"].tolist() == pytest.approx([0.5, 1.0, 1.5])
    assert res.table["objective"].astype(float).tolist() == pytest.approx([f * cost(0.5) for f in (0.5, 1.0, 1.5)])


def test_samples_over_declared_distributions(tmp_path: Path) -> None:
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)], uncertainty={
        "volumes": {"scale": "supply.tonnes", "distribution": "uniform", "low": 0.5, "high": 1.5}})
    a = no.sweep(folder, tmp_path / "a", samples=3, seed=7)
    f = a.table["volumes"].astype(float)
    assert f.between(0.5, 1.5).all() and f.nunique() == 3
    assert a.table["objective"].astype(float).tolist() == pytest.approx((f * cost(0.5)).tolist())
    same = draw(read_uncertainty(no.load(folder)), 3, seed=7)  # the same seed, the same draws
    assert same["volumes"].tolist() == a.table["volumes"].tolist()


def test_local_processes_and_dask_agree(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    inst = no.load(two_tech(tmp_path / "inst", targets=[li(0.5)]))
    opts = no.SolveOptions()
    specs = []
    for n, rho in enumerate((0.5, 0.9)):
        overrides = (Override("set", LI_KEY, rho, Origin("test", 0, "")),)
        specs.append(RunSpec(f"p{n}", overrides, opts, input_hash(inst, overrides, opts)))
    local = run_batch(inst, specs, tmp_path / "local", LocalExecutor(workers=2))
    with DaskExecutor(workers=1, processes=True) as ex:  # HiGHS solves in its own process, as by default
        dask = run_batch(inst, specs, tmp_path / "dask", ex)
    assert [r.objective for r in local] == pytest.approx([cost(0.5), cost(0.9)])
    assert [r.objective for r in dask] == pytest.approx([r.objective for r in local])
    for r in dask:
        assert (tmp_path / "dask" / r.name / "flows.csv").read_text() == \
            (tmp_path / "local" / r.name / "flows.csv").read_text()


def test_resume_skips_finished_points_and_redoes_the_rest(tmp_path: Path) -> None:
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)])
    out = tmp_path / "sw"
    first = runner.invoke(app, ["sweep", str(folder), "--out", str(out), "--vary", f"{LI_KEY}=0.5,0.6"])
    assert first.exit_code == 0, first.output
    assert "2 of 2 points with a plan (0 reused)" in first.output
    stamp = (out / "p0001" / "summary.json").stat().st_mtime_ns
    # the same first point, another second point, a new third one
    again = no.sweep(folder, out, vary=[f"{LI_KEY}=0.5,0.7,0.8"])
    assert again.runs["skipped"].tolist() == [True, False, False]
    assert (out / "p0001" / "summary.json").stat().st_mtime_ns == stamp
    assert again.table["objective"].astype(float).tolist() == pytest.approx([cost(0.5), cost(0.7), cost(0.8)])
    # a run that found no plan within its limits is not trusted: solved again
    summary = json.loads((out / "p0003" / "summary.json").read_text())
    summary["status"] = "no_solution"
    (out / "p0003" / "summary.json").write_text(json.dumps(summary))
    third = no.sweep(folder, out, vary=[f"{LI_KEY}=0.5,0.7,0.8"])
    assert third.runs["skipped"].tolist() == [True, True, False]
    # other solver options are other inputs
    fourth = no.sweep(folder, out, vary=[f"{LI_KEY}=0.5"], options=no.SolveOptions(mip_gap=0.01))
    assert fourth.runs["skipped"].tolist() == [False]


def test_compare_on_the_command_line_and_resume(tmp_path: Path) -> None:
    folder = two_tech(tmp_path / "inst", targets=[li(0.5)], scenarios={
        "li-80": {"overrides": [{"set": LI_KEY, "value": 0.8}]},
        "no-hydro": {"overrides": [{"close": "H"}]}})
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["compare", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 of 3 scenarios with a plan (0 reused)" in result.output
    assert "warning: no-hydro: infeasible" in result.output
    table = pd.read_csv(out / "comparison.csv", index_col="kpi")
    assert float(of_type(str, table.at["objective", "base"])) == pytest.approx(cost(0.5))
    assert float(of_type(str, table.at["objective", "li-80"])) == pytest.approx(cost(0.8))
    again = runner.invoke(app, ["compare", str(folder), "--out", str(out), "--scenarios", "li-80,base"])
    assert again.exit_code == 0, again.output
    assert "2 of 2 scenarios with a plan (2 reused)" in again.output
    assert list(pd.read_csv(out / "comparison.csv").columns) == ["kpi", "unit", "li-80", "base"]


# --- bad input: a clear error, exit 2, nothing written ----------------------------------------

def _cycle(tmp_path: Path) -> Path:
    return two_tech(tmp_path / "cyc", scenarios={"a": {"extends": "b"}, "b": {"extends": "a"}})


@pytest.mark.parametrize(("args", "message"), [
    (["compare", str(TOY), "--scenarios", "base,li-99"], "unknown scenario 'li-99'"),
    (["compare", "CYCLE"], "cycle: a -> b -> a"),
    (["sweep", str(TOY), "--vary", "targets.value=0.5:0.9"], "expected START:STOP:STEPS"),
    (["sweep", str(TOY), "--vary", "targets.value"], "expected KEY=START:STOP:STEPS"),
    (["sweep", str(TOY), "--vary", "targets.value=0.5:0.9:0"], "STEPS is the number of values"),
    (["sweep", str(TOY), "--vary", "targets.value=a,b"], "expected numbers separated by commas"),
    (["sweep", str(TOY), "--vary", "targets.valeur=0.5:0.9:3"], "no column 'valeur'"),
    (["sweep", str(TOY), "--vary", "targets[TOY,collection_rate,,2025].value=0.5:0.9:3"], "matches no row"),
    (["sweep", str(TOY), "--vary", "targets.value=0.5:1.2:3"], "is a rate: expected a value in [0, 1]"),
    (["sweep", str(TOY), "--vary", "supply.tonnes*=0.5:1:2", "--samples", "3"], "not both"),
    (["sweep", "CYCLE", "--samples", "3"], "cycle"),
    (["compare", str(TOY), "--scenarios", "base", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"],
     "cannot reach the dask scheduler at tcp://127.0.0.1:9"),
    (["compare", str(TOY), "--scheduler", "tcp://127.0.0.1:9"], "--scheduler needs --executor dask"),
    (["compare", str(TOY), "--executor", "spark"], "unknown executor 'spark'"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "out"
    args = [str(_cycle(tmp_path)) if a == "CYCLE" else a for a in args]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_samples_need_an_uncertainty_block(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", str(two_tech(tmp_path / "i")), "--samples", "2",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "needs distributions declared under uncertainty:" in result.output


def test_bad_uncertainty_block_names_its_line(tmp_path: Path) -> None:
    folder = two_tech(tmp_path / "i", uncertainty={"v": {"scale": "supply.tonnes", "distribution": "gamma"}})
    result = runner.invoke(app, ["sweep", str(folder), "--samples", "2", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "instance.yaml:" in result.output and "distribution must be one of normal, uniform, triangular" \
        in result.output


def test_a_folder_that_is_not_ours_is_never_touched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "base").mkdir(parents=True)
    (out / "base" / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["compare", str(TOY), "--scenarios", "base", "--out", str(out)])
    assert result.exit_code == 2 and "does not hold network_opt results" in result.output
    assert (out / "base" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["base"]


def test_a_failed_run_is_reported_and_leaves_no_stale_results(tmp_path: Path) -> None:
    inst = no.load(two_tech(tmp_path / "inst", targets=[li(0.5)]))
    opts = no.SolveOptions()

    def spec(value: float) -> RunSpec:
        overrides = (Override("set", LI_KEY, value, Origin("test", 0, "")),)
        return RunSpec("p", overrides, opts, input_hash(inst, overrides, opts), label="point p")

    out = tmp_path / "out"
    assert run_batch(inst, [spec(0.6)], out, LocalExecutor())[0].objective == pytest.approx(cost(0.6))
    failed = run_batch(inst, [spec(1.6)], out, LocalExecutor())[0]
    assert failed.status == "invalid"
    assert "after point p: material_recovery is a rate" in (failed.error or "")
    assert not (out / "p").exists()  # the 0.6 plan is gone: it is not this run's
