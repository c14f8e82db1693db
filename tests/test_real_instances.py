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
from builders import of_type

import network_opt as no
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
    supply = pd.read_csv(builder.INSTANCE / "supply.csv", keep_default_na=False)
    if "grade" in supply.columns and (supply["grade"] == "S").any():
        # Europe/North America: production scrap is its own grade S, not end-of-life supply
        supply = supply.loc[supply["grade"] != "S"]
    elif hasattr(builder, "production_scrap"):
        # China: cell makers' scrap is grade-C supply on top of the retired packs
        scrap = builder.production_scrap().groupby(["year", "chemistry"])["tonnes"].sum()
        expected = expected.add(scrap, fill_value=0.0)
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
        assert cap[fid] == pytest.approx(per * int(of_type(str, r.enterprises))), fid  # raw: read as text
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


# --- issue 16 item 7: Europe and North America operated yearly, with production scrap --------------

YEARLY = [p for p in BUILDERS if p.stem in ("eu_2025_2032", "north_america_2025_2032")]
HORIZON = list(range(2025, 2033))


@pytest.mark.parametrize("path", YEARLY, ids=[p.stem for p in YEARLY])
def test_every_year_is_operated_with_its_own_supply(path: Path) -> None:
    """Every investment period is operated yearly: the operating years are 2025-2032, supply,
    demand and prices have rows for each of them, and the end-of-life supply of each year is the
    retirement model's for that calendar year (not a period mean)."""
    builder = _builder(path)
    inst = no.load(builder.INSTANCE)
    assert {p.operations for p in inst.manifest.periods} == {"yearly"}
    assert any(p.length > 1 for p in inst.manifest.periods)
    assert inst.years == HORIZON
    for table, col in (("supply", "period"), ("market_demand", "period"), ("material_prices", "period")):
        assert sorted(set(inst[table][col].astype(int))) == HORIZON, table
    eol = builder.eol_supply().groupby("year")["tonnes"].sum()
    assert eol.is_monotonic_increasing and eol[2030] > eol[2029] > eol[2028]  # so a period mean would fall short


@pytest.mark.parametrize("path", YEARLY, ids=[p.stem for p in YEARLY])
def test_every_operating_year_can_be_served(path: Path) -> None:
    """Capacity for a feasible plan in each operating year (the instances are too large to solve in
    the suite; their READMEs report the solves): even if nothing went to second life, the largest
    pack-processing capacity the plan may build (existing plants and every candidate at its largest
    level with every module) covers each calendar year's supply, production scrap included, and the
    largest refining capacity covers the black mass of what integrated recyclers cannot take. A
    period-mean instance passed this on the mean and could fail it in the period's last year."""
    builder = _builder(path)
    inst = no.load(builder.INSTANCE)
    fac = inst["facilities"].set_index("id")
    lv = inst["facility_levels"].groupby("facility")["capacity_t"].max()
    mods = (pd.to_numeric(fac["module_capacity_t"], errors="coerce").fillna(0)
            * pd.to_numeric(fac["max_modules"], errors="coerce").fillna(0))
    largest = lv + mods.reindex(lv.index).fillna(0)
    kind = fac["kind"].reindex(largest.index)
    packs = largest[kind.isin(["preprocessor", "recycler"])].sum()
    integrated = largest[kind == "recycler"].sum()
    refining = largest[kind == "refiner"].sum()
    tech = inst["technologies"].set_index("id")
    bm_yield = tech.loc[tech["process"] == "mechanical", "black_mass_yield"].min()
    per_year = inst["supply"].groupby("period")["tonnes"].sum()
    for year, tonnes in per_year.items():
        assert tonnes <= packs, year
        # what integrated recyclers cannot take is shredded to black mass, which needs a refiner
        assert max(0.0, tonnes - integrated) * bm_yield <= refining, year


@pytest.mark.parametrize("path", YEARLY, ids=[p.stem for p in YEARLY])
def test_production_scrap_is_sourced_and_goes_to_recycling_only(path: Path) -> None:
    """Production scrap: one collection point per cell plant of cell_plants.csv, every plant row
    with a capacity source and a coordinate source; supply of grade S (no second life) equal to
    nameplate GWh x utilisation x scrap rate x cell kg/kWh; the new parameters have sources."""
    builder = _builder(path)
    inst = no.load(builder.INSTANCE)
    plants = builder.read_raw("cell_plants.csv")
    assert (plants["capacity_source"].str.len() > 20).all() and (plants["coord_source"].str.len() > 5).all()
    sites = inst["sites"].set_index("id")
    assert (sites.loc[sorted(set(plants["id"])), "kind"] == "collection_point").all()
    grades = inst["grades"].set_index("id")
    assert not bool(grades.loc["S", "second_life"])
    scrap = inst["supply"].loc[inst["supply"]["grade"] == "S"]
    assert set(scrap["site"]) == set(plants["id"])
    params = builder.read_raw("parameters.csv").set_index("parameter")
    for key in ("cell_plant_utilisation", "cell_scrap_rate", "cell_scrap_kg_per_kwh"):
        assert len(params.loc[key, "source"]) > 20, key
    per_gwh = 1e6 * 0.5 * 0.08 * 4.0 / 1000  # 160 t of scrap per GWh of nameplate (parameters.csv)
    assert [float(params.loc[k, "value"]) for k in ("cell_plant_utilisation", "cell_scrap_rate",
                                                    "cell_scrap_kg_per_kwh")] == [0.5, 0.08, 4.0]
    first = plants.loc[plants["from_year"] <= 2025].drop_duplicates("id")
    in_2025 = scrap.loc[scrap["period"] == 2025].set_index("site")["tonnes"]
    for r in first.itertuples(index=False):
        assert in_2025[r.id] == pytest.approx(r.capacity_gwh * per_gwh), r.id


def test_eu_capex_storage_and_pack_mass_are_sourced() -> None:
    """EU: capex at the 10 kt reference (pre-processing EUR 15.5 M = EUR 1,550 per t/yr, median
    of four plants; refining EUR 43 M = EUR 4,300 per t/yr of black mass, Neometals less its
    shredding), a 50 t storage cap at every collection point (4. BImSchV No. 8.12.1 threshold), a
    3-year stock age (Landfill Directive Art. 2(g)), and pack mass per kWh by vintage covering
    every sales vintage."""
    builder = _builder(ROOT / "instances" / "build" / "eu_2025_2032.py")
    inst = no.load(builder.INSTANCE)
    levels = inst["facility_levels"].set_index(["facility", "capacity_t"])["opening_cost"]
    assert levels[("P-LYON", 10000)] == 15_500_000
    assert levels[("D-LEIPZIG", 10000)] == 43_000_000  # basic hydromet candidate
    assert levels[("D-ANTWERP", 10000)] == 43_000_000 * 1.25  # advanced: x capex_refiner_adv_factor
    storage = inst["storage"]
    cps = set(inst["sites"].loc[inst["sites"]["kind"] == "collection_point", "id"])
    assert set(storage["site"]) == cps and (storage["cap_t"] == 50).all()
    assert "8.12.1" in storage["source"].iloc[0]
    assert inst.settings.stock.allowed is True and inst.settings.stock.max_age_years == 3
    mass = builder.pack_mass_by_vintage()
    sales = builder.read_raw("vehicle_sales.csv")["year"].astype(int)
    assert set(mass) == set(sales)
    assert mass[2012]["LMO"] == 12.5 and mass[2023]["NMC"] == 6.0 and mass[2015]["NMC"] > mass[2023]["NMC"]
    assert builder.read_raw("pack_mass_by_vintage.csv")["source"].str.len().min() > 20


def test_north_america_storage_and_pack_mass_are_sourced() -> None:
    """North America: stock at every collection point within a 50 t cap (assumption, range 5-500)
    for at most one year (RCRA universal waste, 40 CFR 273.15/273.35), and pack mass per kWh by
    vintage for every sub-chemistry and sale year."""
    builder = _builder(ROOT / "instances" / "build" / "north_america_2025_2032.py")
    inst = no.load(builder.INSTANCE)
    cps = set(inst["sites"].loc[inst["sites"]["kind"] == "collection_point", "id"])
    assert set(inst["storage"]["site"]) == cps and (inst["storage"]["cap_t"] == 50).all()
    assert inst.settings.stock.allowed is True and inst.settings.stock.max_age_years == 1
    mass = builder.pack_mass_by_vintage()
    assert set(mass) == set(builder.read_raw("ev_sales.csv")["sale_year"].astype(int))
    assert mass[2012]["LMO"] == 12.5 and mass[2022]["NCA"] == 5.8 and mass[2014]["NMC"] > mass[2022]["NMC"]
    params = builder.read_raw("parameters.csv").set_index("parameter")
    assert "273.15" in params.loc["stock_max_age_years", "source"]


REAL = [ROOT / "instances" / "build" / f"{n}.py"
        for n in ("china_2025_2032", "eu_2025_2032", "north_america_2025_2032")]


@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_real_instances_ship_sourced_ramp_up_and_end_values(path: Path) -> None:
    """Issue 16 item 7: every real instance ramps up each technology that a candidate plant uses
    (years 1 and 2 below full, rising, each row sourced), and values the packs returning after
    the horizon for every chemistry (end_values.csv, eol_packs, each row sourced); the nickel
    chemistry is worth recycling, the legacy LMO packs are not (negative or small)."""
    inst = no.load(_builder(path).INSTANCE)
    ramp = inst["ramp_up"]
    candidates = inst["facilities"].loc[(inst["facilities"]["status"] == "candidate")
                                        & (inst["facilities"]["technology"] != ""), "technology"]
    assert set(candidates) <= set(ramp["technology"])
    for tech, rows in ramp.groupby("technology"):
        share = rows.sort_values("year").set_index("year")["usable_share"]
        assert list(share.index) == [1, 2], tech
        assert 0 < share[1] < share[2] < 1, tech
    assert ramp["source"].str.len().min() > 40
    ends = inst["end_values"]
    assert set(ends["chemistry"]) == set(inst["chemistries"]["id"])
    assert (ends["commodity"] == "eol_packs").all() and ends["source"].str.len().min() > 40
    value = ends.set_index("chemistry")["value_per_t"]
    nickel = next(c for c in ("NCM", "NMC", "NCX") if c in value.index)
    assert value[nickel] > 1000 and value[nickel] == value.max()
    if "LMO" in value.index:
        assert value["LMO"] < 0
