"""The shipped real instances: rebuilt identically from their sourced raw tables, valid, with the
retirement model's supply and the real existing plants. (They are solved, with mass-balance
checks, by benchmarks/solve_instances.py: too long for the test suite.)"""

from __future__ import annotations

import filecmp
import importlib.util
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from network_opt.inputs.load import validate

ROOT = Path(__file__).parents[1]
BUILDERS = sorted(p for p in (ROOT / "instances" / "build").glob("*.py") if not p.name.startswith("_"))


def _builder(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"builder_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_rebuild_gives_the_committed_files(tmp_path: Path, path: Path) -> None:
    builder = _builder(path)
    builder.build(tmp_path / "rebuilt")
    committed = builder.INSTANCE
    built = sorted(p.name for p in (tmp_path / "rebuilt").iterdir())
    for name in built:
        assert filecmp.cmp(committed / name, tmp_path / "rebuilt" / name, shallow=False), name
    assert set(built) <= {p.name for p in committed.iterdir()}


@pytest.mark.parametrize("path", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_instance_validates(path: Path) -> None:
    errors = [p for p in validate(_builder(path).INSTANCE) if p.severity == "error"]
    assert errors == []


@pytest.mark.parametrize("path", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_supply_matches_the_retirement_model(path: Path) -> None:
    builder = _builder(path)
    expected = builder.eol_supply().groupby(["year", "chemistry"])["tonnes"].sum()
    if hasattr(builder, "production_scrap"):  # cell makers' scrap is supply on top of retired packs
        scrap = builder.production_scrap().groupby(["year", "chemistry"])["tonnes"].sum()
        expected = expected.add(scrap, fill_value=0.0)
    supply = pd.read_csv(builder.INSTANCE / "supply.csv")
    written = supply.groupby(["period", "chemistry"])["tonnes"].sum()
    written.index = written.index.set_names(["year", "chemistry"])
    pd.testing.assert_series_equal(written.sort_index(), expected.sort_index(), check_names=False, atol=0.05)


@pytest.mark.parametrize("path", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_existing_plants_appear_with_their_capacities(path: Path) -> None:
    builder = _builder(path)
    plants = builder.existing_plants()
    assert len(plants) > 0
    fac = pd.read_csv(builder.INSTANCE / "facilities.csv", keep_default_na=False)
    levels = pd.read_csv(builder.INSTANCE / "facility_levels.csv")
    existing = set(fac.loc[fac["status"] == "existing", "id"])
    assert set(plants["facility"]) == existing
    smallest = levels.groupby("facility")["capacity_t"].min()
    for r in plants.itertuples(index=False):
        assert smallest[r.facility] == pytest.approx(r.capacity_t), r.facility


CHINA = ROOT / "instances" / "build" / "china_2025_2032.py"


def test_china_whitelist_plants_load_with_their_sources() -> None:
    """The MIIT whitelist's recycling capacity is in china-2025-2032 as existing HYDRO plants,
    one per province of whitelist_capacity_cn.csv, each with a source URL, a closing cost (they
    may close) and no investment of their own; with the named existing plants they sum to the
    recycling share of the whitelist's nominal 2024 capacity (rounded to 1,000 t per enterprise)."""
    builder = _builder(CHINA)
    raw = pd.read_csv(builder.RAW / "whitelist_capacity_cn.csv", dtype=str)
    assert raw["source"].str.contains("http").all()
    fac = pd.read_csv(builder.INSTANCE / "facilities.csv", keep_default_na=False).set_index("id")
    levels = pd.read_csv(builder.INSTANCE / "facility_levels.csv")
    ids = ["R-WL-" + r.removeprefix("CN-") for r in raw["region"]]
    assert (fac.loc[ids, "status"] == "existing").all() and (fac.loc[ids, "technology"] == "HYDRO").all()
    existing = fac.index[fac["status"] == "existing"]
    assert (fac.loc[existing, "closing_cost"].astype(float) > 0).all()  # every existing plant may close
    per = builder.whitelist_capacity_per_enterprise()
    cap = levels.groupby("facility")["capacity_t"].min()
    for r, fid in zip(raw.itertuples(index=False), ids, strict=True):
        assert cap[fid] == pytest.approx(per * int(r.enterprises)), fid
    packs = sum(cap[f] / (builder.black_mass_yield() if fac.at[f, "kind"] == "refiner" else 1.0)
                for f in existing if fac.at[f, "kind"] != "refurbisher")
    total = builder.num("whitelist_nominal_capacity_2024_t") * builder.num("whitelist_recycling_share")
    assert packs == pytest.approx(total, abs=500 * len(raw["enterprises"].astype(int)) + 1)


def test_china_is_operated_yearly_with_capacity_for_every_year() -> None:
    """china-2025-2032 is operated year by year: every calendar year 2025-2032 has its own
    supply, demand, price and pack-price rows; the production scrap is grade C (recycling only)
    at the cell-plant sites; and in every year the recyclers and pre-processors that may run
    (existing plus every candidate at its largest level) can take that year's supply, so a
    plan feasible in every operating year exists as far as capacity goes (the solve itself is
    in the README: too long for the tests)."""
    builder = _builder(CHINA)
    inst = builder.INSTANCE
    manifest = (inst / "instance.yaml").read_text(encoding="utf-8")
    assert "operations: yearly" in manifest
    calendar = list(range(2025, 2033))
    for table in ("supply", "market_demand", "material_prices", "pack_prices"):
        col = "from_period" if table == "pack_prices" else "period"
        assert sorted(pd.read_csv(inst / f"{table}.csv")[col].unique()) == calendar, table
    supply = pd.read_csv(inst / "supply.csv", keep_default_na=False)
    scrap = supply.loc[supply["site"].str.startswith("SP-")]
    assert (scrap["grade"] == "C").all() and len(scrap) > 0
    assert (supply.loc[~supply["site"].str.startswith("SP-"), "grade"] == "").all()
    fac = pd.read_csv(inst / "facilities.csv", keep_default_na=False)
    levels = pd.read_csv(inst / "facility_levels.csv")
    takers = fac.loc[fac["kind"].isin(["recycler", "preprocessor"]), "id"]
    most = levels.loc[levels["facility"].isin(takers)].groupby("facility")["capacity_t"].max().sum()
    per_year = supply.groupby("period")["tonnes"].sum()
    assert (per_year <= most).all(), per_year[per_year > most]
    assert per_year[2025] > 400_000 and per_year.is_monotonic_increasing
