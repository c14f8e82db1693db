"""The validation's reachability check without lanes (issue 17, item 4): the KD-tree query of
:mod:`network_opt.inputs.reach` gives the verdict the built lanes give
(:func:`network_opt.inputs.lanes.unreachable_supply` on :func:`~network_opt.inputs.lanes.build_lanes`),
on generated instances (tight and loose lane limits, pruning, forbidden and allowed rows of
lanes.csv, explicit lanes only), on random points over the whole globe with the limit set exactly to
a pair's distance, and on a micro instance worked out by hand (a point exactly at the lane limit is
reachable, one a rounding step beyond is not; a far point is never)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from builders import as_number, one_material_tables, site, write_instance

import network_opt.inputs.lanes as lanes_module
from network_opt.common.errors import InputError
from network_opt.common.geo import haversine_km
from network_opt.datasets.generate import GeneratorSpec, generate
from network_opt.inputs.instance import Instance
from network_opt.inputs.lanes import build_lanes, supply_by_grade, unreachable_supply
from network_opt.inputs.load import load, read_instance
from network_opt.inputs.reach import chord_to_km, reachable_sites, unit_vectors, unreachable_offers


def read(folder: Path) -> Instance:
    inst, problems = read_instance(folder)
    assert inst is not None and not problems
    return inst


def exhaustive(inst: Instance) -> pd.DataFrame:
    """The verdict of the built lanes (what the validation computed before)."""
    supply = supply_by_grade(inst)
    return unreachable_supply(inst, build_lanes(inst, supply), supply)


def fast(inst: Instance) -> pd.DataFrame:
    return unreachable_offers(inst, supply_by_grade(inst))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reach") / "g"
    generate(folder, GeneratorSpec(seed=5, collection_points=120, candidates=12, periods=1, chemistries=2, markets=3))
    return folder


def add_lanes(folder: Path, rows: list[dict[str, object]]) -> Path:
    """``folder`` with a lanes.csv of ``rows`` named in its instance.yaml."""
    with open(folder / "lanes.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["origin", "destination", "commodity", "cost_per_t", "allowed"])
        writer.writeheader()
        writer.writerows(rows)
    manifest = yaml.safe_load((folder / "instance.yaml").read_text(encoding="utf-8"))
    manifest["tables"]["lanes"] = "lanes.csv"
    (folder / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return folder


@pytest.mark.parametrize("max_km", [20.0, 60.0, 150.0, 400.0, 1500.0])
@pytest.mark.parametrize("nearest", [0, 1])
def test_same_verdict_as_the_lanes_on_a_generated_instance(generated: Path, max_km: float, nearest: int) -> None:
    inst = read(generated).with_settings({"transport.max_lane_km": max_km, "transport.nearest_facilities": nearest})
    expected = exhaustive(inst)
    pd.testing.assert_frame_equal(fast(inst), expected, check_dtype=False)
    if max_km == 150.0:  # the instance has both kinds of points at this limit: the test can fail
        offered = supply_by_grade(inst)[["site", "chemistry"]].drop_duplicates()
        assert 0 < len(expected) < len(offered)


def test_the_limit_set_to_each_nearest_distance_exactly(generated: Path) -> None:
    """Degenerate edges: the limit equal to a collection point's exact distance to its nearest
    receiver (that point is reachable), and one rounding step below it (it is not)."""
    inst = read(generated)
    sites = inst["sites"].set_index("id")
    fac = inst["facilities"]
    receivers = sites.loc[fac.loc[fac["kind"].isin(["recycler", "preprocessor"]), "site"].unique()]
    cps = sites.loc[inst["supply"]["site"].unique()]
    factors = inst["regions"].set_index("id")["detour_factor"]
    detour = cps["region"].map(factors).fillna(inst.settings.transport.detour_factor).to_numpy(float)
    dist = haversine_km(cps["latitude"].to_numpy()[:, None], cps["longitude"].to_numpy()[:, None],
                        receivers["latitude"].to_numpy()[None, :], receivers["longitude"].to_numpy()[None, :]
                        ) * detour[:, None]
    nearest = dist.min(axis=1)
    for i in (0, int(np.argmax(nearest)), int(np.argsort(nearest)[len(nearest) // 2])):
        limit = float(nearest[i])
        for max_km, reached in ((limit, True), (float(np.nextafter(limit, 0.0)), False)):
            case = inst.with_settings({"transport.max_lane_km": max_km})
            pd.testing.assert_frame_equal(fast(case), exhaustive(case), check_dtype=False)
            verdict = reachable_sites(case, pd.Index([cps.index[i]]))
            assert bool(verdict.iloc[0]) is reached


def test_explicit_rows_decide_a_pair_whatever_its_distance(generated: Path, tmp_path: Path) -> None:
    """Forbidden rows for the nearest receivers of some points (they then reach a farther one, or
    none at a tight limit), an allowed row beyond the limit, a row for all commodities overruled by
    the eol_packs row, and a forbidden row of another commodity (ignored)."""
    import shutil

    folder = tmp_path / "g"
    shutil.copytree(generated, folder)
    inst = read(folder)
    sites = inst["sites"].set_index("id")
    fac = inst["facilities"]
    receivers = list(fac.loc[fac["kind"].isin(["recycler", "preprocessor"]), "site"].unique())
    cps = list(inst["supply"]["site"].unique())
    dist = pd.DataFrame(haversine_km(sites.loc[cps, "latitude"].to_numpy()[:, None],
                                     sites.loc[cps, "longitude"].to_numpy()[:, None],
                                     sites.loc[receivers, "latitude"].to_numpy()[None, :],
                                     sites.loc[receivers, "longitude"].to_numpy()[None, :]),
                        index=cps, columns=receivers)
    rows: list[dict[str, object]] = []
    for cp in cps[:40]:  # forbid the three nearest receivers
        rows += [{"origin": cp, "destination": r, "commodity": "eol_packs", "allowed": "false"}
                 for r in dist.loc[cp].nsmallest(3).index]
    far = dist.loc[cps[40]].idxmax()
    rows.append({"origin": cps[40], "destination": far, "commodity": "", "allowed": "true", "cost_per_t": 5})
    near = dist.loc[cps[41]].idxmin()
    rows.append({"origin": cps[41], "destination": near, "commodity": "", "allowed": "false"})
    rows.append({"origin": cps[41], "destination": near, "commodity": "eol_packs", "allowed": "true"})
    rows.append({"origin": cps[42], "destination": dist.loc[cps[42]].idxmin(), "commodity": "returns",
                 "allowed": "false"})
    inst = read(add_lanes(folder, rows))
    verdicts = []
    for max_km in (40.0, 100.0, 250.0, 1500.0):
        for only in (False, True):
            case = inst.with_settings({"transport.max_lane_km": max_km, "transport.explicit_lanes_only": only})
            expected = exhaustive(case)
            pd.testing.assert_frame_equal(fast(case), expected, check_dtype=False)
            verdicts.append(len(expected))
            reach = reachable_sites(case, pd.Index([cps[40], cps[41]]))
            assert reach.all()  # the allowed rows, at any limit, with or without explicit_lanes_only
    assert len(set(verdicts)) > 2


def test_random_points_over_the_globe_and_ties(tmp_path: Path) -> None:
    """Points anywhere (poles, the antimeridian), two receivers at one site and the limit set to
    the exact distance of random pairs: the verdict is the lanes' every time."""
    rng = np.random.default_rng(7)
    n_cp, n_rec = 60, 8
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n_cp + n_rec)))
    lon = rng.uniform(-180, 180, n_cp + n_rec)
    lat[0], lat[1], lon[2], lon[3] = 90.0, -90.0, 180.0, -180.0
    sites = [site(f"C{i}", "collection_point", lat=lat[i], lon=lon[i]) for i in range(n_cp)]
    sites += [site(f"S{j}", "facility", lat=lat[n_cp + j], lon=lon[n_cp + j]) for j in range(n_rec)]
    tables = {
        "sites": sites,
        **one_material_tables(),
        "supply": [{"site": f"C{i}", "period": 2025, "chemistry": "X", "tonnes": 1.0} for i in range(n_cp)],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.5}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.5}],
        "facilities": [{"id": f"R{j}", "site": f"S{j}", "kind": "recycler", "technology": "T",
                        "status": "candidate"} for j in range(n_rec)]
        + [{"id": "R0b", "site": "S0", "kind": "preprocessor", "technology": "T", "status": "candidate"}],
        "facility_levels": [{"facility": f, "level": "only", "capacity_t": 100.0}
                            for f in [f"R{j}" for j in range(n_rec)] + ["R0b"]],
    }
    inst = read(write_instance(tmp_path / "globe", tables, transport={"explicit_lanes_only": False,
                                                                       "detour_factor": 1.3}))
    d = haversine_km(lat[:n_cp, None], lon[:n_cp, None], lat[None, n_cp:], lon[None, n_cp:]) * 1.3
    limits = list(rng.choice(d.ravel(), 6, replace=False)) + list(np.sort(d.min(axis=1))[[5, 30, 55]])
    seen = set()
    for limit in limits:
        for max_km in (float(limit), float(np.nextafter(limit, 0.0))):
            case = inst.with_settings({"transport.max_lane_km": max_km})
            expected = exhaustive(case)
            pd.testing.assert_frame_equal(fast(case), expected, check_dtype=False)
            seen.add(len(expected))
    assert len(seen) > 3


def micro(folder: Path, max_km: float) -> Path:
    """C1 at (0, 0) and C2 at (0, 40) with 10 t/yr of X each; one recycler R at (0, 1), 111.195 km
    (great circle, detour factor 1) from C1 and 4,336.6 km from C2."""
    tables = {
        "sites": [site("C1", "collection_point"), site("C2", "collection_point", lon=40.0),
                  site("S", "facility", lon=1.0)],
        **one_material_tables(),
        "supply": [{"site": c, "period": 2025, "chemistry": "X", "tonnes": 10.0} for c in ("C1", "C2")],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.5}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.5}],
        "facilities": [{"id": "R", "site": "S", "kind": "recycler", "technology": "T", "status": "candidate"}],
        "facility_levels": [{"facility": "R", "level": "only", "capacity_t": 100.0}],
    }
    return write_instance(folder, tables, transport={"explicit_lanes_only": False, "detour_factor": 1.0,
                                                     "max_lane_km": max_km})


def test_hand_solved_point_at_the_limit_and_a_far_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By hand: C1-R is 6371.0088 km x 1 deg x pi/180 = 111.195 km; C2-R is 39 deg = 4,336.6 km.
    With the limit exactly at C1-R, C1 reaches R and C2 does not (one error, on supply row 3, C2's
    row); one rounding step below the limit, neither does (rows 2 and 3). No lane is built."""
    c1 = float(haversine_km(0.0, 0.0, 0.0, 1.0))
    assert c1 == pytest.approx(6371.0088 * np.pi / 180.0, rel=1e-12)
    assert float(haversine_km(0.0, 40.0, 0.0, 1.0)) == pytest.approx(6371.0088 * 39 * np.pi / 180.0, rel=1e-12)
    monkeypatch.setattr(lanes_module, "build_lanes", lambda *a, **k: pytest.fail("lanes built by the validation"))
    message = ("collection point {!r} has no lane to a recycler for X within transport.max_lane_km (and neither "
               "disposal nor leaving packs uncollected is allowed)")
    with pytest.raises(InputError) as at_limit:
        load(micro(tmp_path / "at", c1))
    assert [(p.file, p.row, p.column, p.message) for p in at_limit.value.problems] == [
        ("supply.csv", 3, "site", message.format("C2"))]
    with pytest.raises(InputError) as below:
        load(micro(tmp_path / "below", float(np.nextafter(c1, 0.0))))
    assert [(p.row, p.message) for p in below.value.problems] == [(2, message.format("C1")),
                                                                  (3, message.format("C2"))]
    inst = load(micro(tmp_path / "all", 5000.0))  # both reach R: valid
    assert reachable_sites(inst, pd.Index(["C1", "C2"])).tolist() == [True, True]


def test_chord_and_great_circle_distances_agree() -> None:
    """d = 2 R asin(c / 2) for the chord c between unit vectors, from 0 to antipodes."""
    lat = np.array([0.0, 0.0, 45.0, -89.9, 10.0])
    lon = np.array([0.0, 180.0, 100.0, 20.0, 10.0 + 1e-6])
    u = unit_vectors(np.zeros(5), np.zeros(5))
    v = unit_vectors(lat, lon)
    chord = np.linalg.norm(u - v, axis=1)
    np.testing.assert_allclose(chord_to_km(chord), haversine_km(0.0, 0.0, lat, lon), rtol=1e-9, atol=1e-9)


# --- the lanes built once: a pruned copy cuts its lanes from the unpruned ones ----------------

INSTANCES = Path(__file__).resolve().parents[1] / "instances"


@pytest.mark.parametrize("name", ["china-2025-2032", "eu-2025-2032", "north-america-2025-2032", "generated"])
def test_pruned_lanes_cut_from_the_unpruned_ones_are_those_a_pruned_build_gives(
        name: str, request: pytest.FixtureRequest) -> None:
    """Two-echelon instances (pre-processors, refiners), refurbishers, markets and returns: for K =
    1, 2, 3, :func:`prune_lanes` on the unpruned lanes and their pair ranks is exactly the build with
    ``transport.nearest_facilities = K`` (rows, order, dtypes), and K = 1 cuts something."""
    from network_opt.inputs.lanes import prune_lanes

    folder = request.getfixturevalue("generated") if name == "generated" else INSTANCES / name
    inst = read(folder).with_settings({"transport.nearest_facilities": 0})
    ranks: list[np.ndarray] = []
    unpruned = build_lanes(inst, ranks=ranks)
    assert len(ranks[0]) == len(unpruned) and not np.isnan(ranks[0]).any()
    sizes = []
    for k in (1, 2, 3):
        built = build_lanes(inst.with_settings({"transport.nearest_facilities": k}))
        pd.testing.assert_frame_equal(prune_lanes(inst, unpruned, ranks[0], k), built, obj=f"{name} K={k}")
        sizes.append(len(built))
    assert sizes[0] < len(unpruned)
    assert set(unpruned["commodity"]) >= ({"eol_packs", "black_mass"} if name != "generated" else
                                          {"eol_packs", "second_life_packs", "rejects", "returns"})


def test_default_pruning_builds_the_lanes_once(monkeypatch: pytest.MonkeyPatch, generated: Path) -> None:
    """An instance above the default-pruning threshold (lowered here to 100 flows, K to 1): prepare builds
    the unpruned lanes (their flows decide the pruning), and the pruned copy's lanes are cut from
    them, not built again; the model data are those of a fresh pruned prepare."""
    import network_opt.model.size as size_module
    from network_opt.model.data import prepare

    builds: list[int] = []
    real = lanes_module.build_lanes

    def counted(*args: object, **kwargs: object) -> pd.DataFrame:
        builds.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lanes_module, "build_lanes", counted)
    monkeypatch.setattr(size_module, "PRUNE_ABOVE_FLOWS", 100)
    monkeypatch.setattr(size_module, "DEFAULT_PRUNE_K", 1)  # 12 candidates: K = 10 would keep every lane
    inst = load(generated)
    assert builds == []  # the validation builds none
    data, _, record = size_module.prepare_sized(inst)
    assert record["source"] == "default" and as_number(record["flows"]) < as_number(record["flows_unpruned"])
    assert len(builds) == 1
    fresh = read(generated).with_settings({"transport.nearest_facilities": size_module.DEFAULT_PRUNE_K})
    expected = prepare(fresh)
    assert len(builds) == 2  # a fresh instance (no store) builds its own
    pd.testing.assert_frame_equal(data.lanes, expected.lanes)
    pd.testing.assert_frame_equal(data.flows, expected.flows)
