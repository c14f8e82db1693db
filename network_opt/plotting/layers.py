"""What one map panel shows for one period, in projected coordinates (shared by PNG and HTML maps).

- flows: one line per origin, destination and commodity with tonnes per year summed over
  chemistries and grades; lines below ``min_flow`` tonnes are left out;
- facilities: open facilities with their capacity (t/yr), throughput and whether they are
  ``existing`` (open from the start) or ``new`` (a candidate the plan opens);
- candidates: candidate facilities the plan does not open in that period;
- collection points with their supply (t/yr) and markets with what they receive (t/yr).

With ``targets``, the facilities where a recovery target of scope ``facility``, ``chain`` or ``step`` (any
per-facility row of ``targets.csv``) binds in the period, or is missed, with the rule's name
(:func:`facility_targets`).

Nodes that stand at the same place (a refurbisher and a recycler on one site, two markets in one
city) are spread on a small ring around it so that each stays visible; the collection point, if
any, keeps the centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from network_opt.plotting.geo import MapFrame
from network_opt.results.read import PlotResult

#: columns of :func:`facility_targets`
TARGET_COLUMNS = ["node", "rule", "state", "metric", "material", "scope", "required", "achieved", "shadow_price"]


@dataclass
class PeriodLayers:
    """The frames one panel draws (x, y in projected metres)."""

    period: int
    flows: pd.DataFrame  # origin, destination, commodity, tonnes, distance_km, cost, detail, x0, y0, x1, y1
    facilities: pd.DataFrame  # node, name, site, kind, technology, state (existing/new), capacity_t, ... x, y
    candidates: pd.DataFrame  # node, name, kind, technology, x, y
    collection: pd.DataFrame  # node, name, supply_t, shipped_t, x, y
    markets: pd.DataFrame  # node, name, application, received_t, x, y
    hidden_flows: int  # lines below the threshold
    hidden_tonnes: float
    #: per-facility targets that bind or are missed (:func:`facility_targets`): node, rule, state, ...
    targets: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TARGET_COLUMNS))
#: a rate achieved within this of the required rate counts as binding (the constraint is tight)
RATE_TOL = 1e-4
#: a shadow price (currency per unit of the required value) above this counts as binding
PRICE_TOL = 1e-6


def rule_label(metric: str, material: str, required: float, scope: str) -> str:
    """``material_recovery Li >= 80% (chain)``: what a target row requires, for legends."""
    what = f"{metric} {material}".strip()
    return f"{what} \u2265 {100 * required:g}% ({scope})"


def facility_targets(targets: pd.DataFrame, period: int, rate_tol: float = RATE_TOL,
                     price_tol: float = PRICE_TOL) -> pd.DataFrame:
    """The per-facility target rows of ``period`` (a ``facility`` named: scopes ``facility``,
    ``chain`` and the like) that **bind** (met, and a shadow price above ``price_tol`` currency per
    unit of the required value, or achieved within ``rate_tol`` of required) or are **missed**
    (not met: a soft target's shortfall), one row per facility and rule (:data:`TARGET_COLUMNS`;
    ``state`` is ``binds`` or ``missed``). Rows of a facility that takes nothing (achieved NaN)
    never bind."""
    need = {"facility", "period", "metric", "required", "achieved", "met"}
    if targets.empty or not need <= set(targets.columns):
        return pd.DataFrame(columns=TARGET_COLUMNS)
    def text(column: pd.Series) -> pd.Series:
        """A column as text, empty for missing (an all-empty column reads back from CSV as float)."""
        return column.astype(object).where(column.notna(), "").astype(str)

    t = targets.loc[(targets["period"] == period) & text(targets["facility"]).str.len().gt(0)].copy()
    if t.empty:
        return pd.DataFrame(columns=TARGET_COLUMNS)
    met = t["met"].astype(str).str.lower().isin(["true", "1", "1.0"])
    required = pd.to_numeric(t["required"], errors="coerce")
    achieved = pd.to_numeric(t["achieved"], errors="coerce")
    price = (pd.to_numeric(t["shadow_price"], errors="coerce") if "shadow_price" in t
             else pd.Series(np.nan, index=t.index))
    tight = (achieved - required).abs() <= rate_tol
    priced = price > price_tol
    state = np.where(~met & achieved.notna(), "missed", np.where(met & (tight | priced), "binds", ""))
    material = text(t["material"]) if "material" in t else pd.Series("", index=t.index)
    scope = text(t["scope"]) if "scope" in t else pd.Series("facility", index=t.index)
    out = pd.DataFrame({"node": t["facility"].astype(str), "metric": t["metric"].astype(str), "material": material,
                        "scope": scope, "required": required, "achieved": achieved, "shadow_price": price,
                        "state": state})
    out = out.loc[out["state"] != ""]
    out["rule"] = [rule_label(m, mat, r, sc) for m, mat, r, sc in
                   zip(out["metric"], out["material"], out["required"], out["scope"], strict=True)]
    return out.sort_values(["node", "rule"]).reset_index(drop=True)[TARGET_COLUMNS]


def node_positions(nodes: pd.DataFrame, frame: MapFrame, ring: float) -> pd.DataFrame:
    """Nodes indexed by id with projected ``x``, ``y``; co-located nodes spread on a ring of
    radius ``ring`` (projected metres) around their common place."""
    x, y = frame.project(nodes["longitude"].to_numpy(), nodes["latitude"].to_numpy())
    out = nodes.assign(x=x, y=y).set_index("node")
    place = list(zip(nodes["longitude"].round(4), nodes["latitude"].round(4), strict=True))
    groups: dict[tuple[float, float], list[int]] = {}
    for i, key in enumerate(place):
        groups.setdefault(key, []).append(i)
    xs, ys = out["x"].to_numpy().copy(), out["y"].to_numpy().copy()
    roles = nodes["role"].to_numpy()
    for members in groups.values():
        spread = [i for i in members if roles[i] != "collection_point"]
        if len(members) < 2 or not spread:
            continue
        for k, i in enumerate(spread):
            angle = np.pi / 2 + 2 * np.pi * k / len(spread)
            xs[i] += ring * np.cos(angle)
            ys[i] += ring * np.sin(angle)
    out["x"], out["y"] = xs, ys
    return out


def aggregate_flows(flows: pd.DataFrame, period: int, detail: bool = True) -> pd.DataFrame:
    """Flows of ``period`` summed per origin, destination and commodity (t/yr), largest first;
    ``detail`` lists the chemistry/grade parts, e.g. ``LFP/fit 1,200 t; NCM 300 t``."""
    cols = ["origin", "destination", "commodity", "tonnes", "distance_km", "cost", "detail"]
    f = flows.loc[flows["period"] == period] if len(flows) else flows
    if f.empty:
        return pd.DataFrame(columns=cols)
    keys = ["origin", "destination", "commodity"]
    g = f.groupby(keys, sort=False).agg(tonnes=("tonnes", "sum"), distance_km=("distance_km", "first"),
                                        cost=("cost", "sum")).reset_index()
    g["detail"] = ""
    if detail:
        grade = f["grade"].fillna("").astype(str)
        part = (f["chemistry"].fillna("").astype(str) + np.where(grade != "", "/" + grade, "") + " "
                + f["tonnes"].map("{:,.0f} t".format))
        parts = f[keys].assign(part=part, t=f["tonnes"]).sort_values("t", ascending=False, kind="stable")
        joined = parts.groupby(keys, sort=False)["part"].agg("; ".join)
        g["detail"] = joined.reindex(pd.MultiIndex.from_frame(g[keys])).to_numpy()
    return g.sort_values("tonnes", ascending=False, kind="stable").reset_index(drop=True)[cols]


def period_layers(result: PlotResult, period: int, frame: MapFrame, ring: float,
                  min_flow: float = 0.0) -> PeriodLayers:
    """The layers of ``result`` in ``period``; ``ring``: spread of co-located nodes (metres)."""
    pos = node_positions(result.nodes, frame, ring)
    flows = aggregate_flows(result.table("flows"), period)
    known = flows["origin"].isin(pos.index) & flows["destination"].isin(pos.index)
    flows = flows.loc[known]
    sold = flows.loc[flows["commodity"] == "second_life_packs"].groupby("destination")["tonnes"].sum()
    shown = flows["tonnes"] >= max(min_flow, 1e-9)
    hidden = flows.loc[~shown]
    flows = flows.loc[shown].reset_index(drop=True)
    o, d = pos.reindex(flows["origin"]), pos.reindex(flows["destination"])
    flows = flows.assign(x0=o["x"].to_numpy(), y0=o["y"].to_numpy(), x1=d["x"].to_numpy(), y1=d["y"].to_numpy(),
                         origin_name=o["name"].to_numpy(), destination_name=d["name"].to_numpy())

    fac = result.table("facilities")
    fac = fac.loc[fac["period"] == period] if len(fac) else pd.DataFrame(columns=["facility", "open"])
    fac = fac.loc[fac["facility"].isin(pos.index)]
    is_open = fac["open"].astype(str).str.lower().isin(["true", "1"])
    at = pos.reindex(fac["facility"])
    base = pd.DataFrame({"node": fac["facility"].to_numpy(), "name": at["name"].to_numpy(),
                         "site": at["site"].to_numpy(), "kind": at["kind"].to_numpy(),
                         "technology": at["technology"].fillna("").to_numpy(),
                         "jurisdiction": at["jurisdiction"].to_numpy(),
                         "state": np.where(at["status"].to_numpy() == "existing", "existing", "new"),
                         "x": at["x"].to_numpy(), "y": at["y"].to_numpy()})
    for name in ("capacity_t", "throughput_t", "utilisation", "level", "investment"):
        base[name] = fac[name].to_numpy() if name in fac else 0.0
    facilities = base.loc[is_open.to_numpy()].sort_values("capacity_t", ascending=False).reset_index(drop=True)
    candidates = base.loc[~is_open.to_numpy() & (base["state"] == "new")].reset_index(drop=True)

    nodes = pos.reset_index()
    col = result.table("collection")
    cp = nodes.loc[nodes["role"] == "collection_point", ["node", "name", "x", "y"]].copy()
    if len(col):
        c = col.loc[col["period"] == period].groupby("site")[["supply_t", "shipped_t"]].sum()
        cp["supply_t"] = c["supply_t"].reindex(cp["node"]).fillna(0.0).to_numpy()
        cp["shipped_t"] = c["shipped_t"].reindex(cp["node"]).fillna(0.0).to_numpy()
    else:
        cp["supply_t"] = cp["shipped_t"] = 0.0
    mk = nodes.loc[nodes["role"] == "market", ["node", "name", "application", "x", "y"]].copy()
    mk["received_t"] = sold.reindex(mk["node"]).fillna(0.0).to_numpy()
    targets = facility_targets(result.table("targets"), period)
    targets = targets.loc[targets["node"].isin(facilities["node"])].reset_index(drop=True)
    return PeriodLayers(period=period, flows=flows, facilities=facilities, candidates=candidates,
                        collection=cp.reset_index(drop=True), markets=mk.reset_index(drop=True),
                        hidden_flows=len(hidden), hidden_tonnes=float(hidden["tonnes"].sum()), targets=targets)
