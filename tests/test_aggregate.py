"""--aggregate N: clustering of collection points, its error bound, and the disaggregated plan."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from builders import lanes, objective_of, one_material_tables, site, write_instance
from typer.testing import CliRunner

from network_opt import InputError, SolveOptions, load, solve
from network_opt.cli.app import app
from network_opt.common.geo import EARTH_RADIUS_KM
from network_opt.datasets.generate import GeneratorSpec, generate
from network_opt.inputs.lanes import build_lanes, supply_by_grade
from network_opt.model.aggregate import _allocate, aggregate, disaggregate, kmeans
from network_opt.results.tables import mass_balance_errors

runner = CliRunner()
EXACT = SolveOptions(mip_gap=0.0)

# The hand-checked case: two collection points on the equator, C1 at longitude 0 (100 t/yr) and
# C2 at longitude 1 (300 t/yr), one existing recycler R at longitude 0.5; detour 1.5, eol transport
# 0.1 /t-km plus carbon 50 /t x 0.001 t/t-km = 0.15 /t-km; one period of 2 years at 10 %: the
# annual terms weigh w = 1 + 1/1.1. On the equator one degree of longitude is K km.
K = EARTH_RADIUS_KM * math.pi / 180.0
W = 1.0 + 1.0 / 1.1
GAMMA = 0.1 + 50 * 0.001
ROAD = 1.5 * K  # road km per degree of longitude


def _hand_tables(**extra: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        "sites": [site("C1", "collection_point", lat=0.0, lon=0.0), site("C2", "collection_point", lat=0.0, lon=1.0),
                  site("S", "facility", lat=0.0, lon=0.5)],
        **one_material_tables(),
        "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": 100},
                   {"site": "C2", "period": 2025, "chemistry": "X", "tonnes": 300}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.5}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.0}],
        "facilities": [{"id": "R", "site": "S", "kind": "recycler", "technology": "T", "status": "existing"}],
        "facility_levels": [{"facility": "R", "level": "a", "capacity_t": 1000}],
        **extra,
    }


HAND_SETTINGS: dict[str, Any] = {
    "periods": [{"year": 2025, "length": 2}],
    "discount_rate": 0.1,
    "transport": {"detour_factor": 1.5, "max_lane_km": 3000, "cost_per_tkm": {"eol_packs": 0.1}},
    "emissions": {"co2e_per_tkm": {"eol_packs": 0.001}, "carbon_price": 50},
}


@pytest.fixture
def hand(tmp_path: Path) -> Path:
    return write_instance(tmp_path / "hand", _hand_tables(), **HAND_SETTINGS)


def test_hand_checked_centroid_bound_and_objectives(hand: Path) -> None:
    agg_inst, agg = aggregate(load(hand), 1)
    cluster = agg_inst["sites"].set_index("id").loc["agg-XX-1"]
    assert cluster["kind"] == "collection_point" and cluster["name"] == "cluster of 2 collection points"
    assert cluster["latitude"] == pytest.approx(0.0, abs=1e-12)
    assert cluster["longitude"] == pytest.approx(0.75, abs=1e-12)  # (100 x 0 + 300 x 1) / 400
    supply = agg_inst["supply"]
    assert supply[["site", "period", "chemistry", "tonnes"]].to_dict("records") == [
        {"site": "agg-XX-1", "period": 2025, "chemistry": "X", "tonnes": 100.0 + 300.0}]
    mem = agg.membership.set_index("site")
    assert mem.loc["C1", "distance_km"] == pytest.approx(0.75 * ROAD, rel=1e-12)
    assert mem.loc["C2", "distance_km"] == pytest.approx(0.25 * ROAD, rel=1e-12)
    assert list(mem["share"]) == [0.25, 0.75]
    # B = w x gamma x (100 t x 0.75 deg + 300 t x 0.25 deg) x road km per degree
    bound = W * GAMMA * 150.0 * ROAD
    assert agg.error_bound == pytest.approx(bound, rel=1e-12)
    assert agg.bound_collection == 0.0 and agg.bound_holds

    original = solve(load(hand), EXACT)
    z_orig = W * GAMMA * (100 * 0.5 + 300 * 0.5) * ROAD  # both points ship to R, half a degree away
    assert original.objective == pytest.approx(z_orig, rel=1e-9)

    sol = solve(load(hand), EXACT, aggregate=1)
    z_agg = W * GAMMA * 400 * 0.25 * ROAD  # 400 t from longitude 0.75 to 0.5
    summary = sol.summary["aggregation"]
    assert abs(summary["objective_aggregated"] - objective_of(original)) <= bound
    assert summary["points"] == 2 and summary["clusters"] == 1
    assert summary["error_bound"] == pytest.approx(bound, rel=1e-12)
    assert summary["objective_aggregated"] == pytest.approx(z_agg, rel=1e-9)
    # the disaggregated plan is the original optimum: its true cost is z_orig
    assert summary["transport_cost_difference"] == pytest.approx(W * 0.1 * 100 * ROAD, rel=1e-9)
    assert summary["carbon_cost_difference"] == pytest.approx(W * 50 * 0.001 * 100 * ROAD, rel=1e-9)
    assert summary["objective_disaggregated"] == pytest.approx(z_orig, rel=1e-9)

    flows = sol["flows"].set_index("origin")
    assert list(flows.index) == ["C1", "C2"]
    assert flows.loc["C1", "tonnes"] == pytest.approx(100.0) and flows.loc["C2", "tonnes"] == pytest.approx(300.0)
    assert flows.loc["C1", "distance_km"] == pytest.approx(0.5 * ROAD, rel=1e-12)
    assert flows.loc["C1", "cost"] == pytest.approx(100 * 0.5 * ROAD * 0.1, rel=1e-9)
    assert flows.loc["C2", "co2e_t"] == pytest.approx(300 * 0.5 * ROAD * 0.001, rel=1e-9)
    collection = sol["collection"].set_index("site")
    assert collection["supply_t"].to_dict() == {"C1": 100.0, "C2": 300.0}
    assert mass_balance_errors(sol.tables) == []
    # the objective reported is the cost of the plan split back, and costs.csv adds up to it; the bound
    # of the instance's optimum is the clustered model's minus B, so not proven optimal
    assert sol.objective == pytest.approx(z_orig, rel=1e-9)
    assert sol["costs"]["value"].sum() == pytest.approx(z_orig, rel=1e-9)
    assert sol.summary["cost_terms"]["transport"] == pytest.approx(W * 0.1 * 200 * ROAD, rel=1e-9)
    assert sol.summary["bound"] == pytest.approx(z_agg - bound, rel=1e-9) == summary["bound_disaggregated"]
    assert summary["bound_aggregated"] == pytest.approx(z_agg, rel=1e-9)
    assert sol.status == "feasible" and sol.outcome.mip_gap == pytest.approx((z_orig - z_agg + bound) / z_orig)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 collection points, 4 candidates, 2 periods; lanes up to 6000 km (none cut)."""
    spec = GeneratorSpec(seed=1, collection_points=16, candidates=4, periods=2, chemistries=2, markets=2,
                         max_lane_km=6000)
    return generate(tmp_path_factory.mktemp("agg") / "gen", spec)


def test_as_many_clusters_as_points_gives_the_same_optimum(hand: Path, generated: Path) -> None:
    z_orig = solve(load(hand), EXACT).objective
    for n in (2, 5):
        sol = solve(load(hand), EXACT, aggregate=n)
        assert sol.summary["aggregation"]["clusters"] == 2
        assert sol.summary["aggregation"]["error_bound"] == 0.0
        assert sol.objective == pytest.approx(z_orig, rel=1e-12)
    # exactness to the last digits needs HiGHS's tolerances in currency units: no objective scale
    unscaled = load(generated).with_settings({"model.objective_scale": 0})
    base = solve(unscaled, EXACT)
    assert base.status == "optimal"
    sol = solve(unscaled, EXACT, aggregate=16)
    assert sol.summary["aggregation"]["clusters"] == 16
    assert sol.summary["aggregation"]["error_bound"] == 0.0
    assert sol.objective == pytest.approx(base.objective, rel=1e-9)
    assert sol.summary["aggregation"]["objective_disaggregated"] == pytest.approx(base.objective, rel=1e-9)
    # the default scale (auto: 2**-9 here) leaves HiGHS's tolerances 512 times coarser in currency:
    # the same optimum to about 1e-8 of the objective (measured 5.3e-9 on this instance)
    scaled = solve(load(generated), EXACT, aggregate=16)
    assert scaled.summary["numerics"]["objective_scale"] == -9
    assert scaled.objective == pytest.approx(base.objective, rel=1e-8)


def test_disaggregated_plan_keeps_every_mass_balance_and_the_supply(generated: Path) -> None:
    inst = load(generated)
    sol = solve(load(generated), SolveOptions(mip_gap=1e-3), aggregate=4)
    assert sol.summary["aggregation"]["clusters"] == 4
    assert mass_balance_errors(sol.tables) == []
    col, flows = sol["collection"], sol["flows"]
    points = set(inst["supply"]["site"])
    assert set(col["site"]) == points
    assert set(flows.loc[flows["commodity"] == "eol_packs", "origin"]) <= points
    assert not flows["origin"].str.startswith("agg-").any()
    # tonnes per chemistry and period: the original supply, collected or not
    supply = inst["supply"].groupby(["period", "chemistry"])["tonnes"].sum()
    pd.testing.assert_series_equal(col.groupby(["period", "chemistry"])["supply_t"].sum(), supply, check_names=False,
                                   rtol=1e-9)
    eol = flows.loc[flows["commodity"] == "eol_packs"]
    out = (eol.groupby(["period", "chemistry"])["tonnes"].sum()
           + col.groupby(["period", "chemistry"])[["disposed_t", "uncollected_t"]].sum().sum(axis=1))
    pd.testing.assert_series_equal(out, supply, check_names=False, rtol=1e-6)
    # per point and supply key, the same supply as the original instance
    own = supply_by_grade(inst).set_index(["site", "period", "chemistry", "grade"])["tonnes"]
    got = col.set_index(["site", "period", "chemistry", "grade"])["supply_t"]
    pd.testing.assert_series_equal(got.sort_index(), own.sort_index(), check_names=False, rtol=1e-12)
    # the flows of the facilities are those of the aggregated model (facility balances untouched)
    into = flows.groupby(["destination", "period"])["tonnes"].sum()
    fac = sol["facilities"].set_index(["facility", "period"])["throughput_t"]
    assert (into.reindex(fac.index).fillna(0.0) - fac).abs().max() < 1e-6 * max(1.0, fac.max())
    # disaggregated eol flows cost their true distance: cost = t x km x rate
    rate = inst.settings.transport.cost_per_tkm.eol_packs
    np.testing.assert_allclose(eol["cost"], eol["tonnes"] * eol["distance_km"] * rate, rtol=1e-9)
    # shares add up to 1 per cluster and supply key
    shares = sol["aggregation"].groupby(["cluster", "period", "chemistry", "grade"])["share"].sum()
    np.testing.assert_allclose(shares, 1.0, rtol=1e-12)


def test_bound_holds_against_the_original_optimum(generated: Path) -> None:
    base = objective_of(solve(load(generated), EXACT))
    sol = solve(load(generated), EXACT, aggregate=4)
    agg = sol.summary["aggregation"]
    assert agg["bound_holds"] and agg["error_bound"] > 0
    assert abs(agg["objective_aggregated"] - base) <= agg["error_bound"]
    # the plan written is a plan of the original, and split from the clustered one it costs at most B more
    assert objective_of(sol) == agg["objective_disaggregated"]
    assert base - 1e-6 * abs(base) <= objective_of(sol) <= agg["objective_aggregated"] + agg["error_bound"]
    assert sol.summary["bound"] == pytest.approx(agg["bound_aggregated"] - agg["error_bound"], rel=1e-12)
    assert sol.summary["bound"] <= base


def test_clusters_never_mix_jurisdictions(tmp_path: Path) -> None:
    # A: four points along the equator; B: two points in between them
    sites = [site(f"A{i}", "collection_point", "A", 0.0, float(i)) for i in range(4)]
    sites += [site("B0", "collection_point", "B", 0.0, 0.5), site("B1", "collection_point", "B", 0.0, 1.5)]
    tables = _hand_tables(
        sites=[*sites, site("S", "facility", "A", 0.0, 0.5)],
        jurisdictions=[{"id": "A"}, {"id": "B"}],
        supply=[{"site": s["id"], "period": 2025, "chemistry": "X", "tonnes": 10} for s in sites])
    folder = write_instance(tmp_path / "two", tables, **HAND_SETTINGS)
    inst = load(folder)
    for n, expected in ((2, {"A": 1, "B": 1}), (3, {"A": 2, "B": 1}), (6, {"A": 4, "B": 2})):
        agg_inst, agg = aggregate(inst, n)
        mem = agg.membership
        assert mem.groupby("cluster")["jurisdiction"].nunique().max() == 1
        assert (mem["cluster"].str.split("-").str[1] == mem["jurisdiction"]).all()
        assert agg.clusters.groupby("jurisdiction").size().to_dict() == expected
        assert set(agg_inst["supply"]["site"]) == set(agg.clusters["cluster"])
    _, agg = aggregate(inst, 3)
    groups = agg.membership.groupby("cluster")["site"].apply(lambda s: sorted(set(s))).to_dict()
    assert groups == {"agg-A-1": ["A0", "A1"], "agg-A-2": ["A2", "A3"], "agg-B-1": ["B0", "B1"]}
    # a point with another road detour factor is never clustered with the others of its jurisdiction
    sites[1]["region"] = "R"
    folder = write_instance(tmp_path / "regions", {**tables, "regions": [{"id": "R", "detour_factor": 2.0}]},
                            **HAND_SETTINGS)
    _, agg = aggregate(load(folder), 3)
    assert agg.membership.loc[agg.membership["site"] == "A1", "cluster"].nunique() == 1
    alone = agg.membership.loc[agg.membership["site"] == "A1", "cluster"].iloc[0]
    assert set(agg.membership.loc[agg.membership["cluster"] == alone, "site"]) == {"A1"}
    with pytest.raises(InputError, match=r"fewer than the 3 clusters needed.*detour factors"):
        aggregate(load(folder), 2)


def test_allocation_and_kmeans_are_deterministic() -> None:
    assert _allocate(3, [4, 2]) == [2, 1]
    assert _allocate(5, [10, 1, 1]) == [3, 1, 1]
    assert _allocate(4, [1, 1, 1, 10]) == [1, 1, 1, 1]
    assert _allocate(50, [4, 2]) == [4, 2]
    rng = np.random.default_rng(7)
    xy = np.vstack([rng.normal(0, 5, (30, 2)), rng.normal(100, 5, (30, 2)), rng.normal((0, 100), 5, (30, 2))])
    w = rng.uniform(1, 10, 90)
    labels = kmeans(xy, w, 3)
    assert np.array_equal(labels, kmeans(xy, w, 3))
    assert sorted(np.bincount(labels)) == [30, 30, 30]
    assert len(set(labels[:30])) == len(set(labels[30:60])) == len(set(labels[60:])) == 1
    assert np.array_equal(kmeans(np.zeros((4, 2)), np.ones(4), 3), np.zeros(4, dtype=int))  # coinciding points


@pytest.mark.parametrize("n", [0, -3])
def test_bad_number_of_clusters_is_an_input_error(hand: Path, tmp_path: Path, n: int) -> None:
    with pytest.raises(InputError, match="at least 1"):
        aggregate(load(hand), n)
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(hand), "--out", str(out), "--aggregate", str(n)])
    assert result.exit_code == 2
    assert "the number of clusters must be a whole number of at least 1" in result.output
    assert not out.exists()


def test_fewer_clusters_than_jurisdictions_is_an_input_error(tmp_path: Path) -> None:
    tables = _hand_tables(jurisdictions=[{"id": "XX"}, {"id": "YY"}])
    tables["sites"][1]["jurisdiction"] = "YY"
    folder = write_instance(tmp_path / "two", tables, **HAND_SETTINGS)
    with pytest.raises(InputError, match=r"--aggregate 1 is fewer than the 2 clusters needed: clusters never mix "
                                         r"jurisdictions \(XX, YY\)"):
        aggregate(load(folder), 1)
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--aggregate", "1"])
    assert result.exit_code == 2 and "sites.csv:0:jurisdiction: --aggregate 1 is fewer" in result.output
    assert not out.exists()


def _hand_with_lanes(tmp_path: Path) -> Path:
    """The hand case with explicit lanes to S: C2 at 5 /t (distance computed), C1 at 10 km."""
    rows = [*lanes(("C2", "S", 5.0)), {"origin": "C1", "destination": "S", "commodity": "eol_packs",
                                       "distance_km": 10.0}]
    return write_instance(tmp_path / "lanes", _hand_tables(lanes=rows), **HAND_SETTINGS)


def test_explicit_lanes_from_collection_points_become_cluster_lanes(tmp_path: Path) -> None:
    folder = _hand_with_lanes(tmp_path)
    z_orig = objective_of(solve(load(folder), EXACT))
    # one cluster per point: the same lanes, the same optimum, a zero bound
    sol = solve(load(folder), EXACT, aggregate=2)
    assert sol.summary["aggregation"]["error_bound"] == 0.0
    assert sol.objective == pytest.approx(z_orig, rel=1e-12)
    # one cluster: its lane to S costs the supply-weighted mean of the members' lanes,
    # (100 x 10 km x 0.1 + 300 x 5) / 400 = 4 /t (+ carbon on the mean distance)
    inst, agg = aggregate(load(folder), 1)
    row = inst["lanes"].loc[inst["lanes"]["origin"] == "agg-XX-1"].iloc[0]
    c2_km = 0.5 * ROAD  # C2 to S: half a degree of longitude, by road
    assert (row["destination"], row["commodity"], bool(row["allowed"])) == ("S", "eol_packs", True)
    assert row["cost_per_t"] == pytest.approx((100 * 10 * 0.1 + 300 * 5.0) / 400)
    assert row["distance_km"] == pytest.approx((100 * 10 + 300 * c2_km) / 400)
    # the bound: per member max(gamma r, |own lane cost + carbon - the cluster's|) per tonne
    gap_c1 = abs(1.0 - 4.0 + 50 * 0.001 * (10 - row["distance_km"]))
    gap_c2 = abs(5.0 - 4.0 + 50 * 0.001 * (c2_km - row["distance_km"]))
    r = agg.membership.set_index("site")["distance_km"]
    expected = W * (100 * max(GAMMA * r["C1"], gap_c1) + 300 * max(GAMMA * r["C2"], gap_c2))
    assert agg.error_bound == pytest.approx(expected, rel=1e-9)
    sol = solve(load(folder), EXACT, aggregate=1)
    assert abs(sol.summary["aggregation"]["objective_aggregated"] - z_orig) <= sol.summary["aggregation"]["error_bound"]
    # both members ship all their supply to R: the split plan costs exactly the original
    assert sol.summary["aggregation"]["objective_disaggregated"] == pytest.approx(z_orig, rel=1e-9)
    flows = sol.tables["flows"].set_index("origin")
    assert flows.loc["C1", "cost"] == pytest.approx(100 * 1.0) and flows.loc["C2", "cost"] == pytest.approx(1500.0)
    assert flows.loc["C1", "distance_km"] == pytest.approx(10.0)


def test_generated_instance_with_a_lanes_table_aggregates_exactly_at_one_point_per_cluster(
        generated: Path, tmp_path: Path) -> None:
    import shutil

    import yaml

    folder = tmp_path / "with-lanes"
    shutil.copytree(generated, folder)
    supply = pd.read_csv(folder / "supply.csv")
    fac = pd.read_csv(folder / "facilities.csv")
    points = sorted(supply["site"].unique())[:6]
    rows = [{"origin": p, "destination": fac["site"].iloc[i % len(fac)], "commodity": "",
             "distance_km": 50.0 + 10 * i, "cost_per_t": "" if i % 2 else 3.0 + i, "allowed": i != 5}
            for i, p in enumerate(points)]
    pd.DataFrame(rows).to_csv(folder / "lanes.csv", index=False)
    manifest = yaml.safe_load((folder / "instance.yaml").read_text())
    manifest["tables"]["lanes"] = "lanes.csv"
    (folder / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    n = int(supply["site"].nunique())
    # one point per cluster: every lane of the clusters is its member's, allowed or not, same cost
    agg_inst, agg = aggregate(load(folder), n)
    key = ["origin", "destination", "chemistry", "grade"]
    own = build_lanes(load(folder)).query("commodity == 'eol_packs'").set_index(key).sort_index()
    member = agg.membership.drop_duplicates("cluster").set_index("cluster")["site"]
    theirs = build_lanes(agg_inst).query("commodity == 'eol_packs'").assign(
        origin=lambda f: f["origin"].map(member)).set_index(key).sort_index()
    assert own.index.equals(theirs.index)
    for column in ("distance_km", "cost_per_t"):
        np.testing.assert_allclose(theirs[column].to_numpy(), own[column].to_numpy(), rtol=1e-12)
    base = solve(load(folder), EXACT)
    sol = solve(load(folder), EXACT, aggregate=n)
    assert sol.summary["aggregation"]["clusters"] == n and sol.summary["aggregation"]["error_bound"] == 0.0
    # the same model with other names and row order: HiGHS's tolerances (1e-7) decide the last digits
    assert sol.objective == pytest.approx(base.objective, rel=1e-7)
    assert sol.summary["aggregation"]["objective_disaggregated"] == pytest.approx(base.objective, rel=1e-7)


def test_shipped_instances_with_explicit_lanes_aggregate() -> None:
    root = Path(__file__).resolve().parents[1] / "instances"
    for name, n in (("eu-2025-2032", 33), ("north-america-2025-2032", 12)):
        inst = load(root / name)
        agg_inst, agg = aggregate(inst, n)
        clusters = set(agg.clusters["cluster"])
        assert agg.n_clusters <= n and agg.points == inst["supply"]["site"].nunique()
        from_clusters = agg_inst["lanes"].loc[agg_inst["lanes"]["origin"].isin(clusters)]
        assert len(from_clusters) and set(from_clusters["commodity"]) == {"eol_packs"}
        assert np.isfinite(agg.error_bound) and agg.error_bound > 0


def test_cli_writes_aggregation_csv_and_the_bound(hand: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    result = runner.invoke(app, ["solve", str(hand), "--out", str(out), "--aggregate", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    bound = W * GAMMA * 150.0 * ROAD
    assert f"aggregated 2 collection points -> 1 cluster; error bound |z_agg - z_orig| <= {bound:,.2f} EUR" \
        in result.stdout
    table = pd.read_csv(out / "aggregation.csv", keep_default_na=False)
    assert list(table[["site", "cluster"]].itertuples(index=False, name=None)) == [("C1", "agg-XX-1"),
                                                                                   ("C2", "agg-XX-1")]
    assert table["share"].tolist() == [0.25, 0.75]
    assert table["bound"].sum() == pytest.approx(bound, rel=1e-6)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["aggregation"]["clusters"] == 1
    assert summary["aggregation"]["error_bound"] == pytest.approx(bound, rel=1e-12)
    assert summary["objective"] == pytest.approx(W * GAMMA * 200 * ROAD, rel=1e-9)  # the plan written
    assert summary["aggregation"]["objective_aggregated"] == pytest.approx(W * GAMMA * 100 * ROAD, rel=1e-9)
    flows = pd.read_csv(out / "flows.csv", keep_default_na=False)
    collection = pd.read_csv(out / "collection.csv", keep_default_na=False)
    assert mass_balance_errors({"flows": flows, "collection": collection}) == []
    # split back onto the points: each flow's origin site is its point, not the cluster
    packs = flows.loc[flows["commodity"] == "eol_packs"]
    assert set(packs["origin_site"]) == {"C1", "C2"} and (packs["origin_site"] == packs["origin"]).all()
    assert "aggregation" in pd.ExcelFile(out / "results.xlsx").sheet_names


def test_disaggregate_leaves_tables_without_clusters_alone(hand: Path) -> None:
    _, agg = aggregate(load(hand), 1)
    tables = {"costs": pd.DataFrame({"term": ["transport"], "period": [2025], "value": [1.0]}),
              "flows": pd.DataFrame(columns=["origin", "destination", "commodity", "chemistry", "grade", "period",
                                             "tonnes"])}
    out = disaggregate(tables, agg)
    assert out["costs"] is tables["costs"] and out["flows"] is tables["flows"]


# The repro of the audit in small: the cluster's centre (longitude 0.75) reaches the cheap recycler
# Q at longitude 3, and so does C2 (2 degrees), but C1 (3 degrees) is beyond transport.max_lane_km
# = 2.5 degrees by road. Q processes for free, R (at 0.5, reached by both) for 100 /t.
FAR = {**HAND_SETTINGS, "transport": {**HAND_SETTINGS["transport"], "max_lane_km": 2.5 * ROAD}}


def _far_tables() -> dict[str, list[dict[str, Any]]]:
    tables = _hand_tables()
    tables["sites"].append(site("T", "facility", lat=0.0, lon=3.0))
    tables["facilities"] = [
        {"id": "R", "site": "S", "kind": "recycler", "technology": "T", "status": "existing",
         "variable_cost_per_t": 100},
        {"id": "Q", "site": "T", "kind": "recycler", "technology": "T", "status": "existing",
         "variable_cost_per_t": 0}]
    tables["facility_levels"] = [{"facility": f, "level": "a", "capacity_t": 1000} for f in ("R", "Q")]
    return tables


@pytest.mark.parametrize("cut", ["max_lane_km", "lanes.csv"])
def test_the_written_plan_uses_only_lanes_of_the_instance_and_costs_what_it_reports(tmp_path: Path, cut: str) -> None:
    """C1 has no lane to Q, by transport.max_lane_km (the audit's case) or by a row of lanes.csv; C2
    has one. The old split shipped a quarter of the cluster's tonnes to Q from C1 and reported 14 %
    below the optimum; the cluster now has only the lanes both have."""
    if cut == "max_lane_km":
        folder = write_instance(tmp_path / "far", _far_tables(), **FAR)
    else:
        banned = {**_far_tables(), "lanes": [{"origin": "C1", "destination": "T", "allowed": False}]}
        folder = write_instance(tmp_path / "banned", banned, **HAND_SETTINGS)
    inst = load(folder)
    allowed = set(build_lanes(inst).query("commodity == 'eol_packs'")[["origin", "destination"]]
                  .itertuples(index=False, name=None))
    assert ("C1", "Q") not in allowed and ("C2", "Q") in allowed
    # the full optimum: C1 can only ship to R, C2 ships to Q
    z_orig = objective_of(solve(inst, EXACT))
    assert z_orig == pytest.approx(W * (100 * (0.5 * ROAD * GAMMA + 100) + 300 * 2 * ROAD * GAMMA), rel=1e-9)

    out = tmp_path / "res"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--aggregate", "1", "--quiet",
                                 "--mip-gap", "0"])
    assert result.exit_code == 0, result.output
    flows = pd.read_csv(out / "flows.csv", keep_default_na=False)
    eol = flows.loc[flows["commodity"] == "eol_packs"]
    used = set(eol[["origin", "destination"]].itertuples(index=False, name=None))
    assert used and used <= allowed, f"lanes the instance does not have: {used - allowed}"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    costs = pd.read_csv(out / "costs.csv")
    # the objective reported is the cost of the plan written: its costs add up to it ...
    assert costs["value"].sum() == pytest.approx(summary["objective"], rel=1e-9)
    assert summary["aggregation"]["objective_disaggregated"] == pytest.approx(summary["objective"], rel=1e-12)
    # ... and a plan of the instance cannot beat its optimum; here the cluster reaches R only
    assert summary["objective"] >= z_orig * (1 - 1e-9)
    assert summary["objective"] == pytest.approx(W * 400 * (0.5 * ROAD * GAMMA + 100), rel=1e-9)
    assert "a plan of the instance, costs" in result.stdout
    # the transport cost written is that of the flows written (as rounded in the files)
    np.testing.assert_allclose(eol["cost"], eol["tonnes"] * eol["distance_km"] * 0.1, rtol=1e-6)
    transport = costs.loc[costs["term"] == "transport", "value"].sum()
    assert transport == pytest.approx(W * flows["cost"].sum(), rel=1e-6)
    assert mass_balance_errors({"flows": flows, "collection": pd.read_csv(out / "collection.csv")}) == []
    # B does not bound z_agg - z_orig here, and says why; there is no bound of the instance's optimum
    agg = summary["aggregation"]
    assert not agg["bound_holds"] and "1 point(s) have lanes to facilities their cluster does not reach" \
        in agg["bound_assumptions"]
    assert summary["bound"] is None and summary["status"] == "feasible"


def test_points_that_reach_different_sites_are_kept_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A generated 40-point instance (us, seed 1, 8 candidates; max_lane_km widened to 1,914 km) in
    10 clusters. By location alone (LANE_WEIGHT 0) 14 points lose lanes their cluster does not keep
    and the plan written costs 2.53 % more than the optimum; with the points' reach in the k-means
    (the default), 9 points and 0.18 % (benchmarks/README.md, "Lane-aware clusters")."""
    import network_opt.model.aggregate as agg_module

    folder = generate(tmp_path / "g", GeneratorSpec(seed=1, collection_points=40, candidates=8, region="us"))
    exact = SolveOptions(mip_gap=1e-6)
    z_orig = objective_of(solve(load(folder), exact))
    plans = {}
    for weight in (0.0, agg_module.LANE_WEIGHT):
        monkeypatch.setattr(agg_module, "LANE_WEIGHT", weight)
        sol = solve(load(folder), exact, aggregate=10)
        plans[weight] = (sol.summary["aggregation"]["points_losing_lanes"], objective_of(sol))
    (lost_geo, z_geo), (lost_lanes, z_lanes) = plans[0.0], plans[agg_module.LANE_WEIGHT]
    assert (lost_geo, lost_lanes) == (14, 9)
    assert z_geo == pytest.approx(z_orig * (1 - 0.02528), rel=1e-4)  # objectives are negative: dearer is higher
    assert z_lanes == pytest.approx(z_orig * (1 - 0.00176), rel=1e-4)
    assert z_orig <= z_lanes < z_geo


# --redispatch: the clustered plan's facility decisions held, the full model's operations solved
# (network_opt.runs.redispatch). The far case with C1's lane to Q banned: the cluster reaches R only.
def _banned_far(tmp_path: Path, q_status: str = "existing") -> Path:
    tables = {**_far_tables(), "lanes": [{"origin": "C1", "destination": "T", "allowed": False}]}
    if q_status == "candidate":  # Q to be opened, 5,000 a year while open
        tables["facilities"][1]["status"] = "candidate"
        tables["facility_levels"][1]["fixed_cost_per_year"] = 5000
    return write_instance(tmp_path / f"banned-{q_status}", tables, **HAND_SETTINGS)


R_PER_T = 0.5 * ROAD * GAMMA + 100  # a tonne from either point to R: half a degree, 100 at R
Q_PER_T = 2 * ROAD * GAMMA  # a tonne from C2 to Q: two degrees, nothing at Q


def test_redispatch_routes_each_point_on_its_own_lanes(tmp_path: Path) -> None:
    """Both recyclers exist. The plan split back ships all 400 t to R (the cluster keeps only R);
    the re-dispatch sends C2's 300 t to Q, as the full optimum does: z_re = z_orig < z_split."""
    inst = load(_banned_far(tmp_path))
    z_orig = W * (100 * R_PER_T + 300 * Q_PER_T)
    assert objective_of(solve(inst, EXACT)) == pytest.approx(z_orig, rel=1e-9)
    split = solve(inst, EXACT, aggregate=1)
    z_split = W * 400 * R_PER_T
    assert objective_of(split) == pytest.approx(z_split, rel=1e-9)

    sol = solve(inst, EXACT, aggregate=1, redispatch=True)
    agg = sol.summary["aggregation"]
    assert objective_of(sol) == pytest.approx(z_orig, rel=1e-9) == agg["objective_disaggregated"]
    moved = agg["redispatch"]
    assert moved["solved"] and moved["objective"] == pytest.approx(z_orig, rel=1e-9)
    assert moved["change_from_split"] == pytest.approx(z_orig - z_split, rel=1e-9)
    # the clustered model: 400 t from the centre (longitude 0.75) to R, a quarter of a degree
    assert agg["objective_aggregated"] == pytest.approx(W * 400 * (0.25 * ROAD * GAMMA + 100), rel=1e-9)
    flows = sol["flows"].query("commodity == 'eol_packs'").set_index("origin")
    assert flows.loc["C1", "destination"] == "R" and flows.loc["C1", "tonnes"] == pytest.approx(100.0)
    assert flows.loc["C2", "destination"] == "Q" and flows.loc["C2", "tonnes"] == pytest.approx(300.0)
    assert sol["costs"]["value"].sum() == pytest.approx(z_orig, rel=1e-9)
    assert mass_balance_errors(sol.tables) == [] and len(sol["aggregation"]) == 2
    assert sol.data is not None and "agg-XX-1" not in set(sol.data.supply["site"])  # the instance's own data
    # B does not hold (C2 has a lane to Q its cluster lacks): no bound of the instance
    assert not agg["bound_holds"] and sol.summary["bound"] is None and sol.status == "feasible"


def test_redispatch_holds_the_clustered_facility_decisions(tmp_path: Path) -> None:
    """Q is a candidate at 5,000 a year. The full optimum opens it (it saves 300 t x 62.5 a year);
    the clustered model cannot reach it and leaves it closed, and the re-dispatch keeps it closed:
    z_re = z_split > z_orig. A re-dispatch that re-optimised the facilities would open Q."""
    inst = load(_banned_far(tmp_path, "candidate"))
    z_orig = W * (100 * R_PER_T + 300 * Q_PER_T + 5000)
    full = solve(inst, EXACT)
    assert objective_of(full) == pytest.approx(z_orig, rel=1e-9)
    assert full["facilities"].set_index("facility").loc["Q", "open"]
    sol = solve(inst, EXACT, aggregate=1, redispatch=True)
    assert sol.summary["aggregation"]["redispatch"]["solved"]
    assert objective_of(sol) == pytest.approx(W * 400 * R_PER_T, rel=1e-9)
    assert not sol["facilities"].set_index("facility").loc["Q", "open"]
    assert set(sol["flows"].query("commodity == 'eol_packs'")["destination"]) == {"R"}


# With a time limit the full model's search follows the re-dispatch's LP, started from its plan: its bound
# is the instance's, and it can open what the clustered model could not reach.
SEARCHED = SolveOptions(mip_gap=0.0, time_limit=120)


def test_the_search_after_the_redispatch_opens_what_the_cluster_could_not_reach(tmp_path: Path) -> None:
    """The candidate case above: the LP with the clustered decisions held costs W x 400 x R_PER_T (Q
    closed); the full model's search from it opens Q and proves the optimum W x (100 R_PER_T +
    300 Q_PER_T + 5,000): objective and bound of the instance, status optimal, where without the
    search there is no bound (B does not hold)."""
    inst = load(_banned_far(tmp_path, "candidate"))
    z_orig = W * (100 * R_PER_T + 300 * Q_PER_T + 5000)
    z_held = W * 400 * R_PER_T
    sol = solve(inst, SEARCHED, aggregate=1, redispatch=True)
    agg = sol.summary["aggregation"]
    moved = agg["redispatch"]
    assert moved["solved"] and moved["objective_held"] == pytest.approx(z_held, rel=1e-9)
    assert moved["objective"] == pytest.approx(z_orig, rel=1e-9) == objective_of(sol)
    assert moved["change_from_split"] == pytest.approx(0.0, abs=1e-6)  # the LP's plan is the split plan's cost
    assert moved["search"]["bound"] == pytest.approx(z_orig, rel=1e-9) and moved["search_note"] == ""
    assert sol.summary["bound"] == pytest.approx(z_orig, rel=1e-9) and sol.summary["mip_gap"] == pytest.approx(0.0)
    assert sol.status == "optimal" and not agg["bound_holds"]
    assert sol["facilities"].set_index("facility").loc["Q", "open"]
    flows = sol["flows"].query("commodity == 'eol_packs'").set_index("origin")
    assert flows.loc["C1", "destination"] == "R" and flows.loc["C2", "destination"] == "Q"
    assert sol["costs"]["value"].sum() == pytest.approx(z_orig, rel=1e-9)
    assert mass_balance_errors(sol.tables) == []


def test_the_search_proves_a_redispatched_plan_already_optimal(tmp_path: Path) -> None:
    """The routing case: the re-dispatch's LP already reaches the optimum (C2 to Q); the search keeps
    that plan and proves it (bound = objective), which without the search the run could not say."""
    inst = load(_banned_far(tmp_path))
    z_orig = W * (100 * R_PER_T + 300 * Q_PER_T)
    sol = solve(inst, SEARCHED, aggregate=1, redispatch=True)
    moved = sol.summary["aggregation"]["redispatch"]
    assert moved["objective_held"] == pytest.approx(z_orig, rel=1e-9) == moved["objective"]
    assert sol.summary["bound"] == pytest.approx(z_orig, rel=1e-9) and sol.status == "optimal"
    unsearched = solve(inst, EXACT, aggregate=1, redispatch=True)  # no time limit: no search, no bound
    note = unsearched.summary["aggregation"]["redispatch"]["search_note"]
    assert note.startswith("not run: no time limit") and unsearched.summary["bound"] is None
    assert unsearched.summary["aggregation"]["redispatch"]["search"] is None


def test_the_search_mends_the_pooled_stock_plan(tmp_path: Path) -> None:
    """The pooled-stock case below: the LP holds H from 2026 (6,250); the search opens H in 2025, the
    optimum 5,000 (1,000 + 2 x 2,000), with C1's packs at H and no stock where C1 may hold none."""
    sol = solve(load(_pooled_stock(tmp_path)), SEARCHED, aggregate=1, redispatch=True)
    moved = sol.summary["aggregation"]["redispatch"]
    assert moved["objective_held"] == pytest.approx(6250.0) and objective_of(sol) == pytest.approx(5000.0)
    assert sol.summary["bound"] == pytest.approx(5000.0) and sol.status == "optimal"
    assert bool(sol["facilities"].query("facility == 'H' and period == 2025")["open"].iloc[0])
    assert sol["stock"]["stock_t"].sum() == pytest.approx(0.0, abs=1e-6)
    assert mass_balance_errors(sol.tables) == []


def test_the_search_is_not_run_without_time_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Less than MIN_SEARCH_S left after the LP: the LP's plan is written, and summary.json says why
    there is no search."""
    import network_opt.runs.redispatch as module

    monkeypatch.setattr(module, "MIN_SEARCH_S", 1e9)
    sol = solve(load(_banned_far(tmp_path, "candidate")), SEARCHED, aggregate=1, redispatch=True)
    moved = sol.summary["aggregation"]["redispatch"]
    assert moved["search"] is None and moved["search_note"].startswith("not run:")
    assert "of the time limit left" in moved["search_note"]
    assert objective_of(sol) == pytest.approx(W * 400 * R_PER_T, rel=1e-9) and sol.summary["bound"] is None


def test_redispatch_on_a_generated_instance_lies_between_the_optimum_and_the_split_plan(generated: Path) -> None:
    inst = load(generated)
    z_orig = objective_of(solve(inst, EXACT))
    split = solve(inst, EXACT, aggregate=4)
    sol = solve(inst, EXACT, aggregate=4, redispatch=True)
    z_re, z_split = objective_of(sol), objective_of(split)
    assert z_orig - 1e-6 * abs(z_orig) <= z_re <= z_split + 1e-6 * abs(z_split)
    assert sol.summary["aggregation"]["redispatch"]["change_from_split"] == pytest.approx(z_re - z_split, abs=1e-3)
    # the same facility decisions as the clustered plan, every balance kept, the shadow prices the LP's
    cols = ["facility", "investment_period", "open", "level", "modules"]
    held = sol["facilities"][cols].drop_duplicates().reset_index(drop=True)
    pd.testing.assert_frame_equal(held, split["facilities"][cols].drop_duplicates().reset_index(drop=True))
    assert mass_balance_errors(sol.tables) == []
    assert sol.summary["bound"] == pytest.approx(split.summary["bound"], rel=1e-12)  # the clustered bound minus B
    if len(sol["targets"]):
        assert sol["targets"]["shadow_price"].notna().all()


def test_redispatch_without_time_left_keeps_the_split_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the re-dispatch cannot run (here: less than its minimum left of the time limit), the plan
    written is the split plan, and summary.json says why."""
    import network_opt.runs.redispatch as module

    monkeypatch.setattr(module, "MIN_REDISPATCH_S", 1e9)
    inst = load(_banned_far(tmp_path))
    sol = solve(inst, SolveOptions(mip_gap=0.0, time_limit=60), aggregate=1, redispatch=True)
    agg = sol.summary["aggregation"]
    assert not agg["redispatch"]["solved"] and agg["redispatch"]["note"].startswith("not run:")
    assert objective_of(sol) == pytest.approx(W * 400 * R_PER_T, rel=1e-9)
    assert any("re-dispatch: not run" in w for w in sol.summary["warnings"])


def test_the_search_is_not_run_where_the_memory_guard_would_stop_it() -> None:
    """Nationally the search's presolved model reached the guard (90 % of 7.5 GiB) 16 s in, before any
    bound (benchmarks/README.md): a full model projected above the guard is not searched."""
    from network_opt.runs.redispatch import _search_refused

    gib = 2**30
    assert _search_refused(300.0, int(10.7 * gib), int(7.5 * gib)) == (
        "not run: the full model's search is projected to need 10.7 GiB, above the memory limit of 7.5 GiB")
    assert _search_refused(300.0, 4 * gib, int(7.5 * gib)) == ""
    assert _search_refused(300.0, int(10.7 * gib), None) == ""  # no guard (the projection was checked, or forced)
    assert _search_refused(5.0, gib, None).startswith("not run: 5.0 s of the time limit left")
    assert _search_refused(None, gib, None).startswith("not run: no time limit")


def test_the_clustered_plan_is_not_priced_when_a_redispatch_follows(generated: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The re-dispatch prices its own plan; the clustered model's prices would be dropped, so they are
    not computed. When the re-dispatch then cannot run, the split plan's targets say why they are NaN."""
    import network_opt.runs.redispatch as module
    from network_opt.runs.pipeline import UNPRICED_NOTE

    monkeypatch.setattr(module, "MIN_REDISPATCH_S", 1e9)
    sol = solve(load(generated), SolveOptions(mip_gap=1e-6, time_limit=60), aggregate=4, redispatch=True)
    assert not sol.summary["aggregation"]["redispatch"]["solved"] and len(sol["targets"])
    assert sol["targets"]["shadow_price"].isna().all()
    assert (sol["targets"]["shadow_price_note"] == UNPRICED_NOTE).all()
    assert not any("shadow prices not computed" in w for w in sol.summary["warnings"])


def test_redispatch_is_refused_without_aggregate(hand: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs aggregate"):
        solve(load(hand), EXACT, redispatch=True)
    out = tmp_path / "res"
    result = runner.invoke(app, ["solve", str(hand), "--out", str(out), "--redispatch", "--quiet"])
    assert result.exit_code == 2 and "--redispatch needs --aggregate" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["solve", str(hand), "--out", str(out), "--redispatch", "--aggregate", "1",
                                 "--heuristic", "--quiet"])
    assert result.exit_code == 2 and not out.exists()


def test_cli_redispatch_writes_the_instance_plan(tmp_path: Path) -> None:
    folder = _banned_far(tmp_path)
    out = tmp_path / "res"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--aggregate", "1", "--redispatch",
                                 "--mip-gap", "0"])
    assert result.exit_code == 0, result.output
    assert "full model's search: not run: no time limit" in result.stdout
    z_orig = W * (100 * R_PER_T + 300 * Q_PER_T)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["objective"] == pytest.approx(z_orig, rel=1e-9)
    assert summary["options"]["redispatch"] is True
    assert "re-dispatch: the clustered plan's facilities operated by the full model cost" in result.stdout
    z_split = W * 400 * R_PER_T
    assert f"the plan split back onto the points, a plan of the instance, costs {z_split:,.2f}" in result.stdout
    assert summary["aggregation"]["objective_split"] == pytest.approx(z_split, rel=1e-9)
    flows = pd.read_csv(out / "flows.csv", keep_default_na=False).query("commodity == 'eol_packs'")
    assert set(zip(flows["origin"], flows["destination"], strict=True)) == {("C1", "R"), ("C2", "Q")}
    assert (out / "aggregation.csv").exists()


def test_cli_reports_the_search_and_its_gap(tmp_path: Path) -> None:
    folder = _banned_far(tmp_path, "candidate")
    out = tmp_path / "res"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out), "--aggregate", "1", "--redispatch",
                                 "--mip-gap", "0", "--time-limit", "120"])
    assert result.exit_code == 0, result.output
    z_orig = W * (100 * R_PER_T + 300 * Q_PER_T + 5000)
    assert "full model's search from that plan" in result.stdout
    assert f"plan {z_orig:,.2f}" in result.stdout and "gap 0.00%" in result.stdout
    # the progress line names the held plan's cost (Q closed), not the searched plan's
    z_held = W * 400 * R_PER_T
    assert f"operated by the full model cost {z_held:,.2f} (split back: {z_held:,.2f})" in result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["bound"] == pytest.approx(z_orig, rel=1e-9) and summary["status"] == "optimal"


def _pooled_stock(tmp_path: Path) -> Path:
    """C1 (lon 0) and C2 (lon 0.1), 25 t/yr each in 2025 and 2026; stock only at C2 (cap 1,000,
    30 per t and year). P (existing, far: 100 per t) and candidate H (free lane, opening 1,000,
    2,000 a year open), both reached by explicit lanes from both points."""
    tables = {
        "sites": [site("C1", "collection_point", lat=0.0, lon=0.0), site("C2", "collection_point", lat=0.0, lon=0.1),
                  site("SP", "facility", lat=0.0, lon=0.05), site("SH", "facility", lat=0.0, lon=0.05)],
        **one_material_tables(periods=(2025, 2026)),
        "supply": [{"site": c, "period": p, "chemistry": "X", "tonnes": 25} for c in ("C1", "C2")
                   for p in (2025, 2026)],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [{"id": "P", "site": "SP", "kind": "recycler", "technology": "T", "status": "existing"},
                       {"id": "H", "site": "SH", "kind": "recycler", "technology": "T", "status": "candidate"}],
        "facility_levels": [{"facility": "P", "level": "a", "capacity_t": 1000},
                            {"facility": "H", "level": "a", "capacity_t": 100, "opening_cost": 1000,
                             "fixed_cost_per_year": 2000}],
        "lanes": lanes(("C1", "SP", 100), ("C2", "SP", 100), ("C1", "SH", 0), ("C2", "SH", 0)),
        "storage": [{"site": "C2", "cap_t": 1000, "holding_cost_per_t_year": 30, "source": "test"}],
    }
    return write_instance(tmp_path / "pooled", tables, periods=[2025, 2026], stock={"allowed": True},
                          transport={"explicit_lanes_only": False, "cost_per_tkm": {"eol_packs": 0.0}})


def test_redispatch_keeps_each_point_within_its_own_stock_cap(tmp_path: Path) -> None:
    """Full optimum: H from 2025, 1,000 + 2 x 2,000 = 5,000 (with H from 2026, C1's 2025 packs cannot
    wait and go to P: 1,000 + 2,000 + 25 x 100 + 25 x 30 = 6,250). The cluster pools the caps at C2's
    1,000, so it opens H in 2026 and keeps all 50 t of 2025 waiting: 1,000 + 2,000 + 50 x 30 = 4,500,
    and the plan split back holds 25 t at C1, which may hold none: below the optimum, not a plan of
    the instance. The re-dispatch holds H from 2026 and routes C1's 2025 packs to P: 6,250, a plan of
    the instance, at or above the optimum as every plan is."""
    folder = _pooled_stock(tmp_path)
    assert objective_of(solve(load(folder), EXACT)) == pytest.approx(5000.0)
    split = solve(load(folder), EXACT, aggregate=1)
    assert objective_of(split) == pytest.approx(4500.0)
    assert split["stock"]["stock_t"].sum() == pytest.approx(50.0)  # per cluster: pooled at C1 and C2
    assert any("25.0 t at C1 in 2025, cap 0.0 t" in w and "not a plan of this instance" in w
               for w in split.summary["warnings"])
    sol = solve(load(folder), EXACT, aggregate=1, redispatch=True)
    assert objective_of(sol) == pytest.approx(6250.0)
    assert sol.summary["aggregation"]["redispatch"]["change_from_split"] == pytest.approx(1750.0)
    stock = sol["stock"].set_index(["site", "period"])["stock_t"]
    assert stock.get(("C1", 2025), 0.0) == pytest.approx(0.0) and stock[("C2", 2025)] == pytest.approx(25.0)
    flows = sol["flows"].query("commodity == 'eol_packs' and period == 2025").set_index("origin")
    assert flows.loc["C1", "destination"] == "P" and flows.loc["C1", "tonnes"] == pytest.approx(25.0)
    assert not bool(sol["facilities"].query("facility == 'H' and period == 2025")["open"].iloc[0])
    assert mass_balance_errors(sol.tables) == []
