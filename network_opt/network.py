"""The transport network: nodes, the lanes that can carry flow, and supply split by grade.

A *lane* is one (commodity, origin node, destination node, chemistry, grade) combination that
may carry flow; the model creates one flow variable per lane and period where it can be used.
Nodes are collection points (site ids), facilities (facility ids) and markets (market ids).
Lanes are built with vectorised pandas merges, never by looping over origin-destination pairs.

Commodities:
- ``eol_packs``: collection point -> refurbisher (fit grade only) or recycler (any grade);
- ``second_life_packs``: refurbisher -> market accepting the chemistry;
- ``rejects``: refurbisher -> recycler (only where the refurbisher's test yield is below 1).
"""

from __future__ import annotations

import pandas as pd

from network_opt.geo import haversine_km
from network_opt.instance import Instance

FIT, UNFIT = "fit", "unfit"
GRADES = (FIT, UNFIT)
LANE_COLUMNS = ["commodity", "origin", "destination", "origin_site", "destination_site",
                "chemistry", "grade", "distance_km", "cost_per_t"]


def supply_by_grade(inst: Instance) -> pd.DataFrame:
    """Supply rows split into fit and unfit grades (t/yr), zero rows dropped.

    Columns: site, period, chemistry, grade, tonnes, collection_cost_per_t, jurisdiction.
    """
    s = inst["supply"]
    fit = s.assign(grade=FIT, tonnes=s["tonnes"] * s["fit_share"])
    unfit = s.assign(grade=UNFIT, tonnes=s["tonnes"] * (1.0 - s["fit_share"]))
    out = pd.concat([fit, unfit], ignore_index=True)
    out = out.loc[out["tonnes"] > 0, ["site", "period", "chemistry", "grade", "tonnes",
                                      "collection_cost_per_t"]]
    jur = inst["sites"].set_index("id")["jurisdiction"]
    out["jurisdiction"] = out["site"].map(jur)
    return out.sort_values(["site", "chemistry", "grade", "period"]).reset_index(drop=True)


def _located(frame: pd.DataFrame, sites: pd.DataFrame, node_col: str = "id") -> pd.DataFrame:
    loc = sites.set_index("id")[["latitude", "longitude", "region"]]
    out = frame[[node_col, "site"]].rename(columns={node_col: "node"}).join(loc, on="site")
    return out.reset_index(drop=True)


def _pairs(inst: Instance, origins: pd.DataFrame, dests: pd.DataFrame, commodity: str) -> pd.DataFrame:
    """All origin-destination node pairs for one commodity that a lane may use, with distance
    (km) and transport cost (currency/t), after explicit lanes are applied."""
    cols = ["origin", "destination", "origin_site", "destination_site", "distance_km", "cost_per_t"]
    if origins.empty or dests.empty:
        return pd.DataFrame(columns=cols)
    pairs = origins.add_prefix("o_").merge(dests.add_prefix("d_"), how="cross")
    factors = inst["regions"].set_index("id")["detour_factor"]
    detour = pairs["o_region"].map(factors).fillna(inst.setting("transport.detour_factor"))
    pairs["distance_km"] = haversine_km(pairs["o_latitude"].to_numpy(), pairs["o_longitude"].to_numpy(),
                                        pairs["d_latitude"].to_numpy(), pairs["d_longitude"].to_numpy()
                                        ) * detour.to_numpy()
    pairs = pairs.rename(columns={"o_node": "origin", "d_node": "destination",
                                  "o_site": "origin_site", "d_site": "destination_site"})
    rate = float(inst.setting(f"transport.cost_per_tkm.{commodity}"))

    lanes = inst["lanes"]
    explicit = lanes.loc[lanes["commodity"].isin(["", commodity])]
    # a commodity-specific row wins over a row for all commodities
    explicit = explicit.sort_values("commodity", ascending=False).drop_duplicates(["origin", "destination"])
    explicit = explicit.rename(columns={"origin": "origin_site", "destination": "destination_site",
                                        "distance_km": "x_distance_km", "cost_per_t": "x_cost_per_t"})
    pairs = pairs.merge(explicit[["origin_site", "destination_site", "x_distance_km", "x_cost_per_t", "allowed"]],
                        on=["origin_site", "destination_site"], how="left")
    listed = pairs["allowed"].notna()
    allowed = pairs["allowed"].fillna(True).astype(bool)
    pairs["distance_km"] = pairs["x_distance_km"].where(pairs["x_distance_km"].notna(), pairs["distance_km"])
    pairs["cost_per_t"] = pairs["x_cost_per_t"].where(pairs["x_cost_per_t"].notna(), pairs["distance_km"] * rate)
    if inst.setting("transport.explicit_lanes_only"):
        keep = listed & allowed
    else:
        within = pairs["distance_km"] <= float(inst.setting("transport.max_lane_km"))
        keep = allowed & (listed | within)
    return pairs.loc[keep, cols].reset_index(drop=True)


def build_lanes(inst: Instance, supply: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every lane that can carry flow, one row per (commodity, origin, destination, chemistry,
    grade), columns :data:`LANE_COLUMNS`; distance in km, cost in currency per tonne."""
    supply = supply_by_grade(inst) if supply is None else supply
    sites, fac = inst["sites"], inst["facilities"]
    refurb = fac.loc[fac["kind"] == "refurbisher"]
    recyc = fac.loc[fac["kind"] == "recycler"]
    cps = pd.DataFrame({"id": supply["site"].unique()}).assign(site=lambda d: d["id"])

    # origin (collection point) x (chemistry, grade) present in its supply
    offered = supply[["site", "chemistry", "grade"]].drop_duplicates().rename(columns={"site": "origin"})
    eol_pairs = _pairs(inst, _located(cps, sites), _located(pd.concat([refurb, recyc]), sites), "eol_packs")
    eol = eol_pairs.merge(offered, on="origin")
    kind = fac.set_index("id")["kind"]
    eol = eol.loc[(eol["destination"].map(kind) == "recycler") | (eol["grade"] == FIT)]
    eol = eol.assign(commodity="eol_packs")

    # chemistries reaching each refurbisher
    at_refurb = eol.loc[eol["destination"].map(kind) == "refurbisher", ["destination", "chemistry"]]
    at_refurb = at_refurb.drop_duplicates().rename(columns={"destination": "origin"})

    markets = inst["markets"]
    accepted = markets[["id", "chemistries"]].explode("chemistries")
    all_chem = inst["chemistries"]["id"].tolist()
    accepted = pd.concat([
        accepted.loc[accepted["chemistries"].notna()],
        markets.loc[markets["chemistries"].map(len) == 0, ["id"]].merge(
            pd.DataFrame({"chemistries": all_chem}), how="cross"),
    ]).rename(columns={"id": "destination", "chemistries": "chemistry"})
    sl_pairs = _pairs(inst, _located(refurb, sites), _located(markets, sites), "second_life_packs")
    sl = sl_pairs.merge(at_refurb, on="origin").merge(accepted, on=["destination", "chemistry"])
    sl = sl.assign(commodity="second_life_packs", grade=FIT)

    rejecting = refurb.loc[refurb["test_yield"] < 1.0]
    rj_pairs = _pairs(inst, _located(rejecting, sites), _located(recyc, sites), "rejects")
    rj = rj_pairs.merge(at_refurb, on="origin").assign(commodity="rejects", grade=FIT)

    lanes = pd.concat([eol, sl, rj], ignore_index=True)[LANE_COLUMNS]
    lanes["distance_km"] = lanes["distance_km"].astype(float)
    lanes["cost_per_t"] = lanes["cost_per_t"].astype(float)
    order = {"eol_packs": 0, "second_life_packs": 1, "rejects": 2}
    lanes = lanes.sort_values(["commodity", "origin", "destination", "chemistry", "grade"],
                              key=lambda s: s.map(order) if s.name == "commodity" else s)
    return lanes.reset_index(drop=True)


def unreachable_supply(inst: Instance, lanes: pd.DataFrame, supply: pd.DataFrame) -> pd.DataFrame:
    """Supply rows (site, chemistry) with no lane to any recycler.

    Unfit packs can only be recycled, so a collection point needs a direct lane to a recycler
    for every chemistry it offers, whatever refurbishers it can reach.
    """
    fac = inst["facilities"]
    recyclers = set(fac.loc[fac["kind"] == "recycler", "id"])
    served = lanes.loc[(lanes["commodity"] == "eol_packs") & lanes["destination"].isin(recyclers),
                       ["origin", "chemistry"]].drop_duplicates().rename(columns={"origin": "site"})
    offered = supply[["site", "chemistry"]].drop_duplicates()
    merged = offered.merge(served, on=["site", "chemistry"], how="left", indicator=True)
    return merged.loc[merged["_merge"] == "left_only", ["site", "chemistry"]].reset_index(drop=True)


def lane_count_by_commodity(lanes: pd.DataFrame) -> dict[str, int]:
    """Number of lanes per commodity (for logs and summaries)."""
    return {k: int(v) for k, v in lanes.groupby("commodity").size().items()} if len(lanes) else {}

