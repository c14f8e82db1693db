"""Pre-indexed model data: every coefficient the Pyomo builders need, computed with pandas.

The builders in :mod:`network_opt.model.constraints` only read the frames and group indexes
prepared here; nothing loops over dense products of sets.

Row sets:
- ``supply``: one row per (collection point, period, chemistry, grade) with tonnes > 0;
- ``flows``: one row per (lane, period) that can carry flow -- the flow variables;
- ``levels``: one row per (facility, capacity level) -- the level-choice binaries;
- ``targets``: one row per (target, period) in force.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from network_opt.instance import Instance
from network_opt.network import FIT, build_lanes, supply_by_grade


@dataclass
class ModelData:
    """Everything the model builders read. Frames are indexed 0..n-1 (the Pyomo index)."""

    inst: Instance
    weights: dict[int, float]  # objective weight of each period (years it stands for)
    supply: pd.DataFrame
    lanes: pd.DataFrame
    flows: pd.DataFrame
    levels: pd.DataFrame
    facilities: pd.DataFrame
    market_demand: pd.DataFrame
    targets: pd.DataFrame
    content: pd.DataFrame  # kg per t, chemistry x material
    recovery: pd.DataFrame  # share recovered, technology x material
    prices: pd.DataFrame  # currency per t, material x period

    @property
    def years(self) -> list[int]:
        return self.inst.years


def prepare(inst: Instance) -> ModelData:
    """Compute lanes, flow rows and all coefficients for ``inst``."""
    supply = supply_by_grade(inst)
    lanes = build_lanes(inst, supply)
    fac = inst["facilities"].set_index("id")
    levels = inst["facility_levels"].drop(columns="_row").reset_index(drop=True)
    levels["status"] = levels["facility"].map(fac["status"])
    max_cap = levels.groupby("facility")["capacity_t"].max()

    chem = inst["chemistries"]["id"].tolist()
    mats = inst["materials"]["id"].tolist()
    content = (inst["chemistry_materials"].pivot(index="chemistry", columns="material", values="kg_per_t")
               .reindex(index=chem, columns=mats).fillna(0.0))
    techs = inst["technologies"]["id"].tolist()
    recovery = (inst["technology_yields"].pivot(index="technology", columns="material", values="recovery_yield")
                .reindex(index=techs, columns=mats).fillna(0.0))
    prices = (inst["material_prices"].pivot(index="material", columns="period", values="price_per_t")
              .reindex(index=mats, columns=inst.years).fillna(0.0))
    demand = inst["market_demand"].drop(columns="_row").reset_index(drop=True)

    flows = _flow_rows(inst, supply, lanes, demand)
    flows = _coefficients(inst, flows, supply, fac, max_cap, demand, content, recovery, prices)
    return ModelData(
        inst=inst,
        weights={p.year: p.length for p in inst.periods},
        supply=supply,
        lanes=lanes,
        flows=flows,
        levels=levels,
        facilities=inst["facilities"].drop(columns="_row").reset_index(drop=True),
        market_demand=demand,
        targets=_targets_in_force(inst),
        content=content,
        recovery=recovery,
        prices=prices,
    )


def _flow_rows(inst: Instance, supply: pd.DataFrame, lanes: pd.DataFrame, demand: pd.DataFrame) -> pd.DataFrame:
    """(lane, period) rows: eol lanes where their supply exists, second-life lanes where the
    market has demand, reject lanes where the refurbisher can receive the chemistry."""
    lanes = lanes.rename_axis("lane").reset_index()
    s = supply.rename_axis("supply_id").reset_index()[["supply_id", "site", "period", "chemistry", "grade"]]
    eol = lanes.loc[lanes["commodity"] == "eol_packs"].merge(
        s.rename(columns={"site": "origin"}), on=["origin", "chemistry", "grade"])
    arriving = eol.loc[eol["grade"] == FIT, ["destination", "chemistry", "period"]].drop_duplicates()
    arriving = arriving.rename(columns={"destination": "origin"})
    sl = lanes.loc[lanes["commodity"] == "second_life_packs"].merge(arriving, on=["origin", "chemistry"])
    sl = sl.merge(demand.loc[demand["demand_kwh"] > 0, ["market", "period"]],
                  left_on=["destination", "period"], right_on=["market", "period"]).drop(columns="market")
    rj = lanes.loc[lanes["commodity"] == "rejects"].merge(arriving, on=["origin", "chemistry"])
    flows = pd.concat([eol, sl, rj], ignore_index=True)
    flows["supply_id"] = flows["supply_id"].fillna(-1).astype("int64")
    return flows.sort_values(["lane", "period"]).reset_index(drop=True)


def _coefficients(inst: Instance, flows: pd.DataFrame, supply: pd.DataFrame, fac: pd.DataFrame, max_cap: pd.Series,
                  demand: pd.DataFrame, content: pd.DataFrame, recovery: pd.DataFrame,
                  prices: pd.DataFrame) -> pd.DataFrame:
    """Per-flow coefficients: facility it uses, attribution jurisdiction, costs and revenues
    per tonne, usable kWh per tonne, recycling efficiency and the strong-linking bound."""
    site_jur = inst["sites"].set_index("id")["jurisdiction"]
    fac_site = fac["site"]
    eol = flows["commodity"] == "eol_packs"
    sl = flows["commodity"] == "second_life_packs"
    into_facility = ~sl
    flows["facility"] = np.where(sl, flows["origin"], flows["destination"])
    flows["dest_kind"] = np.where(sl, "market", flows["destination"].map(fac["kind"]).fillna("market"))
    # a flow's jurisdiction: where it was collected (eol) or the facility that produced it
    origin_site = np.where(eol, flows["origin"], flows["origin"].map(fac_site))
    flows["jurisdiction"] = pd.Series(origin_site, index=flows.index).map(site_jur)

    vcost = flows["destination"].map(fac["variable_cost_per_t"]).where(into_facility, 0.0).fillna(0.0)
    flows["processing_cost_per_t"] = vcost.astype(float)

    soh = float(inst.setting("defaults.second_life_soh"))
    energy = inst["chemistries"].set_index("id")["energy_kwh_per_t"]
    flows["usable_kwh_per_t"] = np.where(sl, flows["chemistry"].map(energy) * soh, 0.0)
    price = demand.set_index(["market", "period"])["price_per_kwh"]
    sl_price = pd.Series(list(zip(flows["destination"], flows["period"], strict=True))).map(price).fillna(0.0)
    flows["second_life_revenue_per_t"] = np.where(sl, sl_price.to_numpy() * flows["usable_kwh_per_t"], 0.0)

    to_recycler = flows["dest_kind"] == "recycler"
    tech = flows["destination"].map(fac["technology"]).where(to_recycler, "")
    flows["technology"] = tech
    eff = inst["technologies"].set_index("id")["recycling_efficiency"]
    flows["recycling_efficiency"] = tech.map(eff).fillna(0.0).astype(float)
    # material revenue per tonne of pack: sum_m price[m,p] * content[k,m]/1000 * yield[t,m]
    rec_rows = flows.loc[to_recycler]
    per_t = np.zeros(len(flows))
    if len(rec_rows):
        c = content.loc[rec_rows["chemistry"]].to_numpy() / 1000.0
        y = recovery.loc[rec_rows["technology"]].to_numpy()
        pr = prices[rec_rows["period"].to_numpy()].T.to_numpy() if prices.shape[0] else np.zeros_like(c)
        per_t[to_recycler.to_numpy()] = (c * y * pr).sum(axis=1)
    flows["material_revenue_per_t"] = per_t

    # strong-linking bound: most tonnes the flow can carry if its facility is open
    yield_ = fac["test_yield"]
    cap = flows["facility"].map(max_cap).astype(float)
    bound = cap.copy()
    supply_t = flows["supply_id"].map(supply["tonnes"]).astype(float)
    bound[eol] = np.minimum(cap[eol], supply_t[eol])
    dem = demand.set_index(["market", "period"])["demand_kwh"]
    dem_t = pd.Series(list(zip(flows["destination"], flows["period"], strict=True))).map(dem).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        sl_cap = np.minimum(cap * flows["facility"].map(yield_), dem_t / flows["usable_kwh_per_t"])
    bound[sl] = sl_cap[sl]
    rj = flows["commodity"] == "rejects"
    rej_cap = flows["origin"].map(max_cap) * (1.0 - flows["origin"].map(yield_))
    bound[rj] = np.minimum(cap[rj], rej_cap[rj])
    flows["upper_bound_t"] = bound.astype(float)
    return flows


def _targets_in_force(inst: Instance) -> pd.DataFrame:
    """One row per (jurisdiction, metric, material, period): the value of the latest row whose
    from_period is not after the period."""
    t = inst["targets"].drop(columns="_row")
    cols = ["jurisdiction", "metric", "material", "period", "value", "from_period"]
    if t.empty:
        return pd.DataFrame(columns=cols)
    periods = pd.DataFrame({"period": inst.years})
    t = t.merge(periods, how="cross")
    t = t.loc[t["from_period"] <= t["period"]].sort_values("from_period")
    t = t.drop_duplicates(["jurisdiction", "metric", "material", "period"], keep="last")
    return t[cols].sort_values(["jurisdiction", "metric", "material", "period"]).reset_index(drop=True)


def jurisdiction_members(inst: Instance) -> dict[str, set[str]]:
    """Site jurisdictions covered by each jurisdiction or group name."""
    jur = inst["jurisdictions"]
    members: dict[str, set[str]] = {}
    ids = set(jur["id"]) if len(jur) else set(inst["sites"]["jurisdiction"])
    for j in ids:
        members.setdefault(j, set()).add(j)
    for _, r in jur.iterrows():
        for g in r["groups"]:
            members.setdefault(g, set()).add(r["id"])
    return members


def group_rows(frame: pd.DataFrame, by: str | list[str]) -> dict[object, np.ndarray]:
    """Index labels of ``frame`` grouped by ``by`` (labels, not positions, so a filtered frame
    still yields rows of the full frame). Keys are plain Python values, sorted."""
    if frame.empty:
        return {}
    labels = frame.index.to_numpy()
    out = {}
    for key, pos in frame.groupby(by, sort=True).indices.items():
        if isinstance(key, tuple):
            key = tuple(k.item() if hasattr(k, "item") else k for k in key)
        elif hasattr(key, "item"):
            key = key.item()
        out[key] = labels[pos]
    return out
