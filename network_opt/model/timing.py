"""The time structure of the model data (plain pandas / numpy, no Pyomo): investment periods and the
operating years inside them, the ramp-up of new capacity, stock between operating years and the
value of what is left after the horizon's end.

- **Investment periods and operating years.** ``periods:`` in instance.yaml declares investment
  periods; each is operated as one operating year standing for its ``length`` years (``operations:
  mean``, the default: the model of before, an investment period of length 1 is one operating year)
  or one per calendar year (``operations: yearly``). Flows, supply, targets and annual costs are
  per operating year (``ModelData.years``); investments per investment period
  (``ModelData.investment_years``); ``ModelData.period_of`` maps the one to the other.
- **Ramp-up** (:func:`ramp_rows`, table ``ramp_up``): capacity built at a candidate facility is
  usable at a share in its first years of operation.
- **Stock** (:func:`stock_rows`, table ``storage``, settings ``stock.*``): end-of-life packs wait
  at collection points, black mass at pre-processors, from one operating year to the next.
- **End of horizon** (:func:`beyond_value_per_t`, table ``end_values``): packs returning from second
  life after the last year and stock left at its end are valued at their expected net recycling
  value.

Units: t, t/yr, currency/t, currency/(t yr); discount factors are plain numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from network_opt.inputs.instance import Instance


def investment_structure(inst: Instance) -> tuple[list[int], dict[int, int]]:
    """The investment periods (their years) and, for each operating year, its investment period."""
    return [p.year for p in inst.investment_periods], {o.year: o.investment_period for o in inst.periods}


def horizon_end(inst: Instance) -> int:
    """The first year after the horizon (the last operating year plus the years it stands for)."""
    last = inst.periods[-1]
    return last.year + last.length


def stock_on(inst: Instance) -> bool:
    """Stock between operating years is modelled: ``stock.allowed`` and some site in ``storage``."""
    return bool(inst.settings.stock.allowed) and not inst["storage"].empty


def storage_sites(inst: Instance) -> pd.DataFrame:
    """Site -> ``cap_t`` (t) and ``holding_cost_per_t_year`` (currency/(t yr)); empty without stock."""
    if not stock_on(inst):
        return pd.DataFrame(columns=["cap_t", "holding_cost_per_t_year"], dtype=float)
    return inst["storage"].set_index("site")[["cap_t", "holding_cost_per_t_year"]].astype(float)


def _later_years(keys: pd.DataFrame, years: list[int], age: int) -> pd.DataFrame:
    """``keys`` (with a ``period`` column) and the same keys in each of the ``age`` operating years
    after each of their periods (within ``years``), duplicates dropped: the years in which stock
    made in a year may still leave."""
    index = {y: n for n, y in enumerate(years)}
    pos = keys["period"].map(index).to_numpy()
    parts = [keys]
    for k in range(1, age + 1):
        later = pos + k
        ok = later < len(years)
        parts.append(keys.loc[ok].assign(period=np.asarray(years)[later[ok]]))
    return pd.concat(parts, ignore_index=True).drop_duplicates().reset_index(drop=True)


def with_stock_years(inst: Instance, supply: pd.DataFrame) -> pd.DataFrame:
    """Supply rows (one per collection point, period, chemistry and grade) with rows of 0 t added, at
    collection points that may hold stock, for the ``stock.max_age_years`` operating years after
    each year with supply: packs stocked there may leave in those years (the end-of-life flows are
    built from the supply rows). The rows of ``supply`` keep their positions."""
    sites = storage_sites(inst)
    if sites.empty or supply.empty:
        return supply
    here = supply.loc[supply["site"].isin(sites.index)]
    key = ["site", "chemistry", "grade"]
    keys = _later_years(here[[*key, "period"]], inst.years, inst.settings.stock.max_age_years)
    new = keys.merge(supply[[*key, "period"]], how="left", indicator=True)
    new = new.loc[new["_merge"] == "left_only", [*key, "period"]]
    if new.empty:
        return supply
    first = here.drop_duplicates(key).set_index(key)
    rows = new.join(first.drop(columns=["period", "tonnes"]), on=key).assign(tonnes=0.0)
    out = pd.concat([supply, rows[supply.columns]], ignore_index=True)
    return out.astype(supply.dtypes.to_dict())


def with_black_mass_stock_years(inst: Instance, into_pre: pd.DataFrame) -> pd.DataFrame:
    """(pre-processor, chemistry, jurisdiction, period) keys where packs can enter, with the keys of the
    ``stock.max_age_years`` following operating years added for pre-processors whose site may hold
    stock (black mass made in a year may leave later)."""
    sites = storage_sites(inst)
    if sites.empty or into_pre.empty:
        return into_pre
    fac_site = inst["facilities"].set_index("id")["site"]
    here = into_pre.loc[into_pre["destination"].map(fac_site).isin(sites.index)]
    if here.empty:
        return into_pre
    later = _later_years(here, inst.years, inst.settings.stock.max_age_years)
    return pd.concat([into_pre, later], ignore_index=True).drop_duplicates().reset_index(drop=True)


def ramp_rows(inst: Instance, facilities: pd.DataFrame, years: list[int], period_of: dict[int, int],
              investment_years: list[int]) -> pd.DataFrame:
    r"""Where capacity built at a candidate facility is not yet fully usable: one row per (facility f,
    investment period P' of the build, operating year y) with ``lost`` = 1 - the mean usable share
    :math:`\bar\rho` over the years y stands for, counted from the first year of P' (``ramp_up``:
    year 1 is that first year; years not listed: 1), for every y at or after P' with ``lost`` > 0.
    Existing facilities and facilities without a technology (refurbishers) have none."""
    cols = ["facility", "investment_period", "period", "lost"]
    ramp = inst["ramp_up"]
    if ramp.empty:
        return pd.DataFrame(columns=cols)
    cand = facilities.loc[(facilities["status"] == "candidate") & facilities["technology"].isin(ramp["technology"]),
                          ["id", "technology"]].rename(columns={"id": "facility"})
    steps = pd.DataFrame({"period": years, "length": [o.length for o in inst.periods],
                          "of": [period_of[y] for y in years]})
    rows = cand.merge(pd.DataFrame({"investment_period": investment_years}), how="cross").merge(steps, how="cross")
    rows = rows.loc[rows["of"] >= rows["investment_period"]]
    # each year k of the operating year: year of operation (1 = the first year of the build's period)
    years_in = rows.loc[rows.index.repeat(rows["length"])].copy()
    years_in["year"] = (years_in["period"] - years_in["investment_period"] + 1
                        + years_in.groupby(level=0).cumcount().to_numpy())
    share = ramp.set_index(["technology", "year"])["usable_share"].astype(float)
    key = pd.MultiIndex.from_frame(years_in[["technology", "year"]].astype({"year": "int64"}))
    years_in["share"] = share.reindex(key).fillna(1.0).to_numpy()
    mean = years_in.groupby(level=0)["share"].mean()
    rows = rows.assign(lost=1.0 - mean.reindex(rows.index).to_numpy())
    rows = rows.loc[rows["lost"] > 1e-12, cols].astype({"investment_period": "int64", "period": "int64"})
    return rows.sort_values(["facility", "investment_period", "period"]).reset_index(drop=True)


def end_values(inst: Instance) -> dict[tuple[str, str], float]:
    """(chemistry, commodity) -> value per tonne after the horizon (``end_values``; missing: 0)."""
    ev = inst["end_values"]
    return {(str(k), str(c)): float(v) for k, c, v in zip(ev["chemistry"], ev["commodity"], ev["value_per_t"],
                                                          strict=True)}


def beyond_discounted(inst: Instance) -> dict[str, np.ndarray]:
    r"""Application -> per operating year p: the tonnes returning after the horizon's end per annual tonne
    sold in p, each discounted to the first year, :math:`\sum_{y \in p} \sum_d h_{a,d}\,[y+d \ge Y_{end}]\,
    (1+r)^{-(y+d-Y_0)}` (r the discount rate, :math:`Y_{end}` the first year after the horizon)."""
    rate = inst.settings.discount_rate
    y0, end = inst.years[0], horizon_end(inst)
    out = {}
    for app, rows in inst["second_life_returns"].groupby("application"):
        after = rows["after_years"].to_numpy(dtype=int)
        share = rows["share"].to_numpy(dtype=float)
        v = np.zeros(len(inst.periods))
        for n, o in enumerate(inst.periods):
            arrival = np.add.outer(np.arange(o.year, o.year + o.length), after)  # years x delays
            late = arrival >= end
            v[n] = float((share[None, :] * late * (1.0 + rate) ** -(arrival - y0)).sum())
        out[str(app)] = v
    return out


def beyond_value_per_t(inst: Instance, flows: pd.DataFrame) -> np.ndarray:
    """Per flow row: the discounted value of the tonnes that one annual tonne sold on it (a second-life
    flow) brings back after the horizon, at the ``eol_packs`` value of its chemistry
    (currency per annual tonne sold); 0 for every other flow and without ``end_values``."""
    out = np.zeros(len(flows))
    values = end_values(inst)
    if not values or flows.empty or inst["markets"].empty:
        return out
    sold = (flows["commodity"] == "second_life_packs").to_numpy()
    factors = beyond_discounted(inst)
    if not sold.any() or not factors:
        return out
    per_year = pd.DataFrame(factors, index=inst.years).rename_axis("period").reset_index().melt(
        id_vars="period", var_name="application", value_name="factor").set_index(["application", "period"])["factor"]
    f = flows.loc[sold]
    app = f["destination"].map(inst["markets"].set_index("id")["application"])
    factor = per_year.reindex(pd.MultiIndex.from_arrays([app, f["period"]])).fillna(0.0).to_numpy()
    per_t = {k: v for (k, c), v in values.items() if c == "eol_packs"}
    out[sold] = f["chemistry"].map(per_t).fillna(0.0).to_numpy(dtype=float) * factor
    return out


def stock_rows(inst: Instance, supply: pd.DataFrame, flows: pd.DataFrame, facilities: pd.DataFrame) -> pd.DataFrame:
    """The stock variables: one row per place and year where stock may be held at the end of the year.

    Columns: ``kind`` (``packs`` at a collection point, one row per supply row; ``black_mass`` at a
    pre-processor, one per (pre-processor, chemistry, jurisdiction, year) where black mass can be
    made or leave), ``site``, ``holder`` (the collection point or the pre-processor), ``chemistry``,
    ``grade`` (packs), ``jurisdiction`` (black mass: the one its packs count towards), ``period``,
    ``supply_id`` (packs: the supply row; -1), ``prev`` (the row of the same place in the year before;
    -1), ``upper_t`` (packs: the site's cap and, first in first out, the supply of the last
    ``stock.max_age_years`` years; black mass: the site's cap), ``holding_cost_per_t_year``,
    ``end_value_per_t`` (in the last year: the chemistry's value in ``end_values`` discounted to
    the horizon's end; else 0). Stock at the end of the last year is allowed only where
    ``end_values`` values it (``upper_t`` 0 otherwise): left unvalued it would vanish for free."""
    cols = ["kind", "site", "holder", "chemistry", "grade", "jurisdiction", "period", "supply_id", "prev",
            "upper_t", "holding_cost_per_t_year", "end_value_per_t"]
    sites = storage_sites(inst)
    if sites.empty:
        return pd.DataFrame(columns=cols)
    age = inst.settings.stock.max_age_years
    years = inst.years
    index = {y: n for n, y in enumerate(years)}
    packs = supply.loc[supply["site"].isin(sites.index)].rename_axis("supply_id").reset_index()
    packs = packs.assign(kind="packs", holder=packs["site"], jurisdiction="")
    # first in, first out: stock at the end of y <= supply of y-age+1 .. y (same place, chemistry, grade)
    key = ["site", "chemistry", "grade"]
    pos = packs["period"].map(index)
    tonnes = packs.assign(pos=pos).set_index([*key, "pos"])["tonnes"]
    recent = np.zeros(len(packs))
    for j in range(age):  # the supply j years before each row's year
        back = pd.MultiIndex.from_arrays([*(packs[c] for c in key), pos - j])
        recent += tonnes.reindex(back).fillna(0.0).to_numpy()
    packs["upper_t"] = np.minimum(packs["site"].map(sites["cap_t"]).to_numpy(), recent)

    fac_site = facilities.set_index("id")["site"]
    into = flows.loc[flows["dest_kind"] == "preprocessor", ["destination", "chemistry", "jurisdiction", "period"]]
    out_bm = flows.loc[flows["commodity"] == "black_mass", ["origin", "chemistry", "jurisdiction", "period"]]
    bm = pd.concat([into.rename(columns={"destination": "holder"}), out_bm.rename(columns={"origin": "holder"})])
    bm = bm.drop_duplicates()
    bm = bm.loc[bm["holder"].map(fac_site).isin(sites.index)]
    bm = bm.assign(kind="black_mass", site=bm["holder"].map(fac_site), grade="", supply_id=-1)
    bm["upper_t"] = bm["site"].map(sites["cap_t"]).to_numpy(dtype=float)

    rows = pd.concat([packs[[c for c in cols if c in packs]], bm[[c for c in cols if c in bm]]], ignore_index=True)
    rows = rows.sort_values(["kind", "holder", "chemistry", "grade", "jurisdiction", "period"]).reset_index(drop=True)
    rows = rows.astype({"supply_id": "int64", "period": "int64", "upper_t": "float64"})
    place = ["kind", "holder", "chemistry", "grade", "jurisdiction"]
    step = rows["period"].map(index)
    before = rows.groupby(place, sort=False)["period"].shift(1)
    same = before.notna() & (step - before.map(index).fillna(-2) == 1)
    prev = pd.Series(np.arange(len(rows)), index=rows.index).groupby([rows[c] for c in place], sort=False).shift(1)
    rows["prev"] = np.where(same, prev.fillna(-1), -1).astype("int64")
    rows["holding_cost_per_t_year"] = rows["site"].map(sites["holding_cost_per_t_year"]).astype(float)
    values = end_values(inst)
    rate = inst.settings.discount_rate
    at_end = float((1.0 + rate) ** -(horizon_end(inst) - years[0]))
    commodity = np.where(rows["kind"] == "packs", "eol_packs", "black_mass")
    per_t = pd.Series(values, dtype=float)
    valued_key = pd.MultiIndex.from_arrays([rows["chemistry"].astype(str), commodity])
    value = per_t.reindex(valued_key).to_numpy(dtype=float) if len(per_t) else np.full(len(rows), np.nan)
    last = (rows["period"] == years[-1]).to_numpy()
    rows["end_value_per_t"] = np.where(last, np.nan_to_num(value) * at_end, 0.0)
    # stock left at the horizon's end needs a value: without one it would count as gone for free
    rows.loc[last & np.isnan(value), "upper_t"] = 0.0
    return rows[cols]
