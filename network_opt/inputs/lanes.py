"""The transport network: grades, supply split by grade, and the lanes that can carry flow.

A *lane* is one (commodity, origin node, destination node, chemistry, grade, jurisdiction)
combination that may carry flow; the model creates one flow variable per lane and period where
it can be used. Nodes are collection points (site ids), facilities (facility ids) and markets
(market ids). Lanes are built with vectorised pandas merges, never by looping over pairs.

Commodities and where they go:
- ``eol_packs``: collection point -> refurbisher (second-life grades some market accepts) or
  recycler / pre-processor (any grade);
- ``second_life_packs``: refurbisher -> market accepting the chemistry and grade;
- ``rejects``: refurbisher with test yield below 1 -> recycler / pre-processor;
- ``returns``: market whose application returns packs -> recycler / pre-processor;
- ``black_mass``: pre-processor -> refiner.

``jurisdiction`` on a lane is the one its tonnes count towards in targets: where the packs were
collected (eol_packs), the refurbisher's (second_life_packs, rejects), the market's (returns),
and for black mass the jurisdiction of the packs it was made from.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from network_opt.common.geo import haversine_km
from network_opt.inputs.instance import Instance
from network_opt.inputs.routes import ROUTE_COLUMNS, route_lanes

FIT, UNFIT = "fit", "unfit"
PACK_RECEIVERS = ("recycler", "preprocessor")
LANE_COLUMNS = ["commodity", "origin", "destination", "origin_site", "destination_site",
                "chemistry", "grade", "jurisdiction", "distance_km", "cost_per_t", *ROUTE_COLUMNS,
                "damaged_premium_per_t"]
COMMODITY_ORDER = {"eol_packs": 0, "second_life_packs": 1, "rejects": 2, "returns": 3, "black_mass": 4}


def grades(inst: Instance) -> pd.DataFrame:
    """Grades with ``id``, ``usable_soh`` and ``second_life``; the built-in fit/unfit pair when
    the instance has no grades table."""
    g = inst["grades"]
    if g.empty:
        return pd.DataFrame({"id": [FIT, UNFIT],
                             "usable_soh": [inst.settings.defaults.second_life_soh, 0.0],
                             "second_life": [True, False]})
    usable = g["usable_soh"].where(g["usable_soh"].notna(), (g["soh_min"] + g["soh_max"]) / 2.0)
    return pd.DataFrame({"id": g["id"], "usable_soh": usable.astype(float), "second_life": g["second_life"]})


def supply_by_grade(inst: Instance) -> pd.DataFrame:
    """Supply rows split into grades (t/yr), zero rows dropped.

    A row with a grade keeps it; otherwise it is split by ``grade_shares`` of its chemistry, or,
    without a grades table, into fit/unfit by ``fit_share``. Columns: site, period, chemistry,
    grade, tonnes, collection_cost_per_t, jurisdiction.
    """
    s = inst["supply"]
    graded = s.loc[s["grade"] != ""]
    rest = s.loc[s["grade"] == ""]
    if inst["grades"].empty:
        fit = rest.assign(grade=FIT, tonnes=rest["tonnes"] * rest["fit_share"])
        unfit = rest.assign(grade=UNFIT, tonnes=rest["tonnes"] * (1.0 - rest["fit_share"]))
        parts = [graded, fit, unfit]
    else:
        shares = inst["grade_shares"][["chemistry", "grade", "share"]]
        split = rest.drop(columns="grade").merge(shares, on="chemistry")
        split["tonnes"] = split["tonnes"] * split.pop("share")
        parts = [graded, split]
    out = pd.concat(parts, ignore_index=True)
    out = out.loc[out["tonnes"] > 0, ["site", "period", "chemistry", "grade", "tonnes", "collection_cost_per_t"]]
    out = out.groupby(["site", "period", "chemistry", "grade"], as_index=False).agg(
        tonnes=("tonnes", "sum"), collection_cost_per_t=("collection_cost_per_t", "first"))
    out["jurisdiction"] = out["site"].map(inst["sites"].set_index("id")["jurisdiction"])
    return out.sort_values(["site", "chemistry", "grade", "period"]).reset_index(drop=True)


def market_accepts(inst: Instance) -> pd.DataFrame:
    """(market, chemistry, grade) triples a market buys (empty lists mean all chemistries and
    every second-life grade)."""
    markets = inst["markets"]
    if markets.empty:
        return pd.DataFrame(columns=["market", "chemistry", "grade"])
    all_chem = inst["chemistries"]["id"].tolist()
    g = grades(inst)
    sl_grades = g.loc[g["second_life"], "id"].tolist()
    rows = markets[["id", "chemistries", "grades"]].rename(columns={"id": "market"}).copy()
    rows["chemistry"] = rows["chemistries"].map(lambda v: v or all_chem)
    rows["grade"] = rows["grades"].map(lambda v: [x for x in v if x in sl_grades] if v else sl_grades)
    out = rows[["market", "chemistry", "grade"]].explode("chemistry").explode("grade").dropna()
    return out.drop_duplicates().reset_index(drop=True)


def _located(frame: pd.DataFrame, sites: pd.DataFrame, node_col: str = "id") -> pd.DataFrame:
    loc = sites.set_index("id")[["latitude", "longitude", "region", "jurisdiction"]]
    cols = [node_col, "site"] + (["kind", "technology"] if "kind" in frame else [])
    out = frame[cols].rename(columns={node_col: "node"}).join(loc, on="site")
    return out.reset_index(drop=True)


def _pairs(inst: Instance, origins: pd.DataFrame, dests: pd.DataFrame, commodity: str) -> pd.DataFrame:
    """Origin-destination node pairs one commodity may use, with road distance (km), transport
    cost (currency/t) and the origin site's jurisdiction, after explicit lanes are applied."""
    cols = ["origin", "destination", "origin_site", "destination_site", "origin_jurisdiction",
            "distance_km", "cost_per_t", *ROUTE_COLUMNS, "pair_rank"]
    if origins.empty or dests.empty:
        return pd.DataFrame(columns=cols)
    pairs = origins.add_prefix("o_").merge(dests.add_prefix("d_"), how="cross")
    factors = inst["regions"].set_index("id")["detour_factor"]
    detour = pairs["o_region"].map(factors).fillna(inst.settings.transport.detour_factor)
    pairs["distance_km"] = haversine_km(pairs["o_latitude"].to_numpy(), pairs["o_longitude"].to_numpy(),
                                        pairs["d_latitude"].to_numpy(), pairs["d_longitude"].to_numpy()
                                        ) * detour.to_numpy()
    pairs = pairs.rename(columns={"o_node": "origin", "d_node": "destination", "o_site": "origin_site",
                                  "d_site": "destination_site", "o_jurisdiction": "origin_jurisdiction"})
    rate = inst.settings.transport.cost_per_tkm[commodity]

    lanes = inst["lanes"]
    explicit = lanes.loc[lanes["commodity"].isin(["", commodity])]
    # a commodity-specific row wins over a row for all commodities
    explicit = explicit.sort_values("commodity", ascending=False).drop_duplicates(["origin", "destination"])
    explicit = explicit.rename(columns={"origin": "origin_site", "destination": "destination_site",
                                        "distance_km": "x_distance_km", "cost_per_t": "x_cost_per_t"})
    explicit = explicit.rename(columns={"mode": "x_mode"})
    pairs = pairs.merge(explicit[["origin_site", "destination_site", "x_distance_km", "x_cost_per_t", "allowed",
                                  "x_mode"]], on=["origin_site", "destination_site"], how="left")
    listed = pairs["allowed"].notna()
    allowed = pairs["allowed"].fillna(True).astype(bool)
    pairs["distance_km"] = pairs["x_distance_km"].where(pairs["x_distance_km"].notna(), pairs["distance_km"])
    pairs["cost_per_t"] = pairs["x_cost_per_t"].where(pairs["x_cost_per_t"].notna(), pairs["distance_km"] * rate)
    if inst.settings.transport.explicit_lanes_only:
        pairs = pairs.loc[listed & allowed]
    else:  # the direct road distance decides whether a lane is generated
        pairs = pairs.loc[allowed & (listed | (pairs["distance_km"] <= inst.settings.transport.max_lane_km))]
    # the route of each lane: road where lanes.csv gives its (road) distance or cost, else the cheapest
    want = pairs["x_mode"].fillna("").astype(str)
    want = want.where((want != "") | (pairs["x_distance_km"].isna() & pairs["x_cost_per_t"].isna()), "road")
    pairs = route_lanes(inst, pairs, commodity, want)
    pairs["cost_per_t"] = pairs["x_cost_per_t"].where(pairs["x_cost_per_t"].notna(), pairs["cost_per_t"])
    k = inst.settings.transport.nearest_facilities
    pairs["pair_rank"] = 0.0  # explicit lanes: always kept
    if not inst.settings.transport.explicit_lanes_only:
        # the rank of each destination (by the length of the route) among those of its kind and
        # technology per origin; with k, only the k nearest stay (explicit lanes stay). Kept on the
        # lanes so that the lanes for a k can be cut from the unpruned ones (prune_lanes)
        kind = (dests["kind"] + "/" + dests["technology"]).set_axis(dests["node"]) if "kind" in dests else (
            pd.Series("", index=dests["node"]))
        rank = pairs["distance_km"].groupby([pairs["origin"], pairs["destination"].map(kind)]).rank(method="first")
        pairs["pair_rank"] = rank.where(pairs["allowed"].isna(), 0.0)
        if k > 0:
            pairs = pairs.loc[pairs["pair_rank"] <= k]
    return pairs[cols].reset_index(drop=True)


def eol_pairs(inst: Instance, origins: Iterable[str]) -> pd.DataFrame:
    """The origin-destination node pairs end-of-life packs may use from the collection points
    ``origins`` (site ids) to refurbishers, recyclers and pre-processors, as :func:`build_lanes`
    makes its ``eol_packs`` lanes before splitting them by chemistry and grade: explicit lanes
    applied, ``transport.max_lane_km`` and ``transport.nearest_facilities`` (the ranks are per
    origin) as in the model, each pair's route chosen. Columns of :func:`_pairs`."""
    fac, sites = inst["facilities"], inst["sites"]
    dests = pd.concat([fac.loc[fac["kind"] == "refurbisher"], fac.loc[fac["kind"].isin(PACK_RECEIVERS)]])
    cps = pd.DataFrame({"id": pd.Series(list(origins), dtype=object)}).assign(site=lambda d: d["id"])
    return _pairs(inst, _located(cps, sites), _located(dests, sites), "eol_packs")


def damaged_premium(inst: Instance, grade: pd.Series) -> np.ndarray:
    """ADR special packaging of damaged or defective packs: the premium per tonne (currency/t) of a
    flow of each ``grade`` on any lane (``transport.damaged_premium_per_t`` for a damaged grade, else 0)."""
    damaged = set(inst["grades"].loc[inst["grades"]["damaged"], "id"]) if len(inst["grades"]) else set()
    return np.where(grade.isin(damaged), inst.settings.transport.damaged_premium_per_t, 0.0)


def build_lanes(inst: Instance, supply: pd.DataFrame | None = None, ranks: list[np.ndarray] | None = None
                ) -> pd.DataFrame:
    """Every lane that can carry flow, columns :data:`LANE_COLUMNS`. ``ranks``: a list to which the
    rank of each lane's origin-destination pair among the destinations of its kind and technology
    (nearest first, 0 for explicit lanes; NaN for none) is appended, for :func:`prune_lanes`."""
    supply = supply_by_grade(inst) if supply is None else supply
    sites, fac, markets = inst["sites"], inst["facilities"], inst["markets"]
    kind = fac.set_index("id")["kind"]
    refurb = fac.loc[fac["kind"] == "refurbisher"]
    receivers = fac.loc[fac["kind"].isin(PACK_RECEIVERS)]
    refiners = fac.loc[fac["kind"] == "refiner"]
    accepts = market_accepts(inst)

    # end-of-life packs from collection points
    offered = supply[["site", "chemistry", "grade"]].drop_duplicates().rename(columns={"site": "origin"})
    eol = eol_pairs(inst, supply["site"].unique()).merge(offered, on="origin")
    sellable = accepts[["chemistry", "grade"]].drop_duplicates().assign(sellable=True)
    eol = eol.merge(sellable, on=["chemistry", "grade"], how="left")
    eol = eol.loc[eol["destination"].map(kind).isin(PACK_RECEIVERS) | eol["sellable"].fillna(False).astype(bool)]
    eol = eol.assign(commodity="eol_packs", jurisdiction=eol["origin_jurisdiction"])

    # second-life packs from refurbishers to markets
    at_refurb = eol.loc[eol["destination"].map(kind) == "refurbisher", ["destination", "chemistry", "grade"]]
    at_refurb = at_refurb.drop_duplicates().rename(columns={"destination": "origin"})
    sl = _pairs(inst, _located(refurb, sites), _located(markets, sites), "second_life_packs")
    sl = sl.merge(at_refurb, on="origin").merge(accepts.rename(columns={"market": "destination"}),
                                                on=["destination", "chemistry", "grade"])
    sl = sl.assign(commodity="second_life_packs", jurisdiction=sl["origin_jurisdiction"])

    # rejects from refurbishers whose test yield is below 1
    rejecting = refurb.loc[refurb["test_yield"] < 1.0]
    rj = _pairs(inst, _located(rejecting, sites), _located(receivers, sites), "rejects")
    rj = rj.merge(at_refurb[["origin", "chemistry"]].drop_duplicates(), on="origin")
    rj = rj.assign(commodity="rejects", grade="", jurisdiction=rj["origin_jurisdiction"])

    # returns at the end of second life, from markets whose application returns packs
    returning = set(inst["second_life_returns"].loc[lambda d: d["share"] > 0, "application"])
    mk = markets.loc[markets["application"].isin(returning)]
    sold = sl[["destination", "chemistry"]].drop_duplicates().rename(columns={"destination": "origin"})
    rt = _pairs(inst, _located(mk, sites), _located(receivers, sites), "returns").merge(sold, on="origin")
    rt = rt.assign(commodity="returns", grade="", jurisdiction=rt["origin_jurisdiction"])

    # black mass from pre-processors to refiners, by chemistry and the packs' jurisdiction
    into_pre = pd.concat([eol, rj, rt])
    into_pre = into_pre.loc[into_pre["destination"].map(kind) == "preprocessor",
                            ["destination", "chemistry", "jurisdiction"]].drop_duplicates()
    pre = fac.loc[fac["kind"] == "preprocessor"]
    bm = _pairs(inst, _located(pre, sites), _located(refiners, sites), "black_mass")
    bm = bm.merge(into_pre.rename(columns={"destination": "origin"}), on="origin").assign(
        commodity="black_mass", grade="")

    lanes = pd.concat([eol, sl, rj, rt, bm], ignore_index=True)
    lanes["damaged_premium_per_t"] = damaged_premium(inst, lanes["grade"])
    rank = lanes["pair_rank"].to_numpy(dtype=float)
    lanes = lanes[LANE_COLUMNS]
    for col in ("distance_km", "cost_per_t", "road_km", "rail_km", "sea_km"):
        lanes[col] = lanes[col].astype(float)
    order = _lane_order(lanes)
    if ranks is not None:
        ranks.append(rank[order])
    return lanes.iloc[order].reset_index(drop=True)


def prune_lanes(inst: Instance, lanes: pd.DataFrame, rank: np.ndarray, k: int) -> pd.DataFrame:
    """The lanes :func:`build_lanes` gives with ``transport.nearest_facilities = k``, cut from the
    unpruned ``lanes`` and the ranks of their pairs (``build_lanes(..., ranks=...)``) instead of
    built again: pairs beyond the k nearest go, and with them what only they fed, as in the
    build: second-life and reject lanes of (refurbisher, chemistry, grade) no end-of-life lane
    reaches any more, returns from markets no second-life lane sells the chemistry to, black
    mass of (pre-processor, chemistry, jurisdiction) no pack lane brings. Same rows, same order."""
    kind = inst["facilities"].set_index("id")["kind"]
    kept = lanes.loc[rank <= k]
    com = kept["commodity"]

    def among(frame: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
        """Rows of ``frame`` whose values in the columns of ``keys`` are a row of ``keys``."""
        cols = list(keys.columns)
        return np.asarray(pd.MultiIndex.from_frame(frame[cols]).isin(pd.MultiIndex.from_frame(keys)))

    eol = kept.loc[com == "eol_packs"]
    at_refurb = eol.loc[eol["destination"].map(kind) == "refurbisher", ["destination", "chemistry", "grade"]]
    at_refurb = at_refurb.drop_duplicates().rename(columns={"destination": "origin"})
    sl = kept.loc[com == "second_life_packs"]
    sl = sl.loc[among(sl, at_refurb)]
    rj = kept.loc[com == "rejects"]
    rj = rj.loc[among(rj, at_refurb[["origin", "chemistry"]].drop_duplicates())]
    rt = kept.loc[com == "returns"]
    sold = sl[["destination", "chemistry"]].drop_duplicates().rename(columns={"destination": "origin"})
    rt = rt.loc[among(rt, sold)]
    into_pre = pd.concat([eol, rj, rt])
    into_pre = into_pre.loc[into_pre["destination"].map(kind) == "preprocessor",
                            ["destination", "chemistry", "jurisdiction"]].drop_duplicates()
    bm = kept.loc[com == "black_mass"]
    bm = bm.loc[among(bm, into_pre.rename(columns={"destination": "origin"}))]
    rows = np.sort(np.concatenate([eol.index, sl.index, rj.index, rt.index, bm.index]))
    return lanes.loc[rows].reset_index(drop=True)


def _lane_order(lanes: pd.DataFrame) -> np.ndarray:
    """Positions of ``lanes`` sorted by commodity (in :data:`COMMODITY_ORDER`), origin,
    destination, chemistry, grade and jurisdiction: a stable lexsort of sorted factor codes, the
    order ``sort_values`` gives (missing values last) at a fraction of its time on text columns."""
    codes, uniques = pd.factorize(lanes["commodity"])
    keys = [np.array([COMMODITY_ORDER[c] for c in uniques], dtype=int)[codes]]
    for col in ("origin", "destination", "chemistry", "grade", "jurisdiction"):
        codes, uniques = pd.factorize(lanes[col], sort=True)
        keys.append(np.where(codes < 0, len(uniques), codes))
    return np.lexsort(keys[::-1])


def unreachable_supply(inst: Instance, lanes: pd.DataFrame, supply: pd.DataFrame) -> pd.DataFrame:
    """Supply (site, chemistry) with no lane to any recycler or pre-processor.

    Packs that cannot go to second life can only be recycled, so a collection point needs a
    direct lane to recycling for every chemistry it offers, whatever refurbishers it can reach.
    """
    fac = inst["facilities"]
    receivers = set(fac.loc[fac["kind"].isin(PACK_RECEIVERS), "id"])
    served = lanes.loc[(lanes["commodity"] == "eol_packs") & lanes["destination"].isin(receivers),
                       ["origin", "chemistry"]].drop_duplicates().rename(columns={"origin": "site"})
    offered = supply[["site", "chemistry"]].drop_duplicates()
    merged = offered.merge(served, on=["site", "chemistry"], how="left", indicator=True)
    return merged.loc[merged["_merge"] == "left_only", ["site", "chemistry"]].reset_index(drop=True)


def lane_count_by_commodity(lanes: pd.DataFrame) -> dict[str, int]:
    """Number of lanes per commodity (for logs and summaries)."""
    return {str(k): int(v) for k, v in lanes.groupby("commodity").size().items()} if len(lanes) else {}


# --- computed once ----------------------------------------------------------------------------

#: The table columns :func:`supply_by_grade` reads (None: every column).
SUPPLY_INPUTS: dict[str, tuple[str, ...] | None] = {
    "supply": None, "grades": None, "grade_shares": None, "sites": ("id", "jurisdiction")}
#: The table columns :func:`build_lanes` reads besides the supply offered (None: every column). With
#: the ``transport`` settings, ``defaults.second_life_soh`` and the (site, chemistry, grade) offers
#: of the supply, they decide the lanes: keep this in step with the functions above.
LANE_INPUTS: dict[str, tuple[str, ...] | None] = {
    "sites": ("id", "latitude", "longitude", "region", "jurisdiction"),
    "facilities": ("id", "site", "kind", "technology", "test_yield"),
    "markets": ("id", "site", "application", "chemistries", "grades"),
    "regions": ("id", "detour_factor"), "lanes": None, "second_life_returns": ("application", "share"),
    "chemistries": ("id",), "grades": None, "legs": None}


def _frame_digest(h: Any, frame: pd.DataFrame) -> None:
    h.update(repr((list(frame.columns), [str(t) for t in frame.dtypes], len(frame))).encode())
    if not len(frame):
        return
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # list cells (markets.chemistries, markets.grades)
        hashed = pd.util.hash_pandas_object(frame.map(repr), index=False)
    h.update(hashed.to_numpy().tobytes())


def _fingerprint(inst: Instance, inputs: dict[str, tuple[str, ...] | None], *extra: object) -> str:
    """A digest of the table columns ``inputs`` of ``inst`` (their content, not the objects) and
    of ``extra`` (settings): equal digests, equal results."""
    h = hashlib.blake2b(digest_size=20)
    for name, columns in inputs.items():
        frame = inst[name]
        frame = frame.drop(columns="_row", errors="ignore") if columns is None else frame[list(columns)]
        h.update(name.encode())
        _frame_digest(h, frame)
    for value in extra:
        if isinstance(value, pd.DataFrame):
            _frame_digest(h, value)
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


#: lane sets (and supplies) a :class:`Network` store keeps, the most recently used
KEPT = 3


class Network:
    """The supplies by grade and the lanes derived from an instance's tables, each under the digest
    of the inputs it came from (:func:`supply_and_lanes`), the :data:`KEPT` most recently used.
    One store is shared by an instance and every copy made from it afterwards
    (:meth:`~network_opt.inputs.instance.Instance.with_settings`,
    :func:`~network_opt.inputs.overrides.copy_instance`): lanes a copy builds serve the instance
    and its other copies while their inputs are the same. The frames are never changed in place."""

    def __init__(self) -> None:
        self.supply: dict[str, pd.DataFrame] = {}
        self.lanes: dict[str, pd.DataFrame] = {}
        self.ranks: dict[str, np.ndarray] = {}  # of the lanes under the same key (build_lanes' ranks)

    @staticmethod
    def of(inst: Instance) -> Network:
        """The store of ``inst`` (made on first use)."""
        found = inst._derived.get("network")
        if not isinstance(found, Network):
            found = inst._derived["network"] = Network()
        return found

    @staticmethod
    def get(kept: dict[str, Any], key: str) -> Any:
        frame = kept.pop(key, None)
        if frame is not None:
            kept[key] = frame  # most recently used last
        return frame

    @staticmethod
    def put(kept: dict[str, Any], key: str, frame: Any) -> Any:
        kept[key] = frame
        while len(kept) > KEPT:
            kept.pop(next(iter(kept)))
        return frame


def supply_once(inst: Instance) -> pd.DataFrame:
    """:func:`supply_by_grade` of ``inst``, kept like :func:`supply_and_lanes` keeps it, without
    building the lanes (the validation's pre-check needs the supply only; it finds the collection
    points that reach no recycler with :mod:`network_opt.inputs.reach`). A shallow copy."""
    store = Network.of(inst)
    key = _fingerprint(inst, SUPPLY_INPUTS)
    supply = store.get(store.supply, key)
    if supply is None:
        supply = store.put(store.supply, key, supply_by_grade(inst))
    return supply.copy(deep=False)


def supply_and_lanes(inst: Instance) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`supply_by_grade` and :func:`build_lanes` of ``inst``, computed once: the first call
    (preparing the model data; the validation keeps only the supply, :func:`supply_once`, and checks
    reachability without lanes) keeps them in the instance's :class:`Network` store, which its
    copies share (a scenario or sweep point, the copy with pruning or soft targets), so that later
    calls, on the instance or a copy, use them again while the inputs they depend on
    (:data:`SUPPLY_INPUTS`, :data:`LANE_INPUTS`, the transport settings) are unchanged: a scenario
    that changes prices or targets reuses the base's lanes. The frames returned are shallow copies
    (copy-on-write): changing them leaves the kept ones as they are."""
    settings = inst.settings
    store = Network.of(inst)
    supply = supply_once(inst)
    offered = supply[["site", "chemistry", "grade"]].drop_duplicates().sort_values(["site", "chemistry", "grade"])
    # routes over legs weigh emissions at the carbon price: the emissions settings matter only then
    routing = settings.emissions if len(inst["legs"]) else None
    def key(transport: Any) -> str:
        return _fingerprint(inst, LANE_INPUTS, transport, settings.defaults.second_life_soh, offered, routing)

    lanes_key = key(settings.transport)
    lanes = store.get(store.lanes, lanes_key)
    k = settings.transport.nearest_facilities
    if lanes is None and k > 0 and not settings.transport.explicit_lanes_only:
        # the same network unpruned is kept (the default pruning of a large instance): cut from it
        unpruned_key = key(dataclasses.replace(settings.transport, nearest_facilities=0))
        unpruned, rank = store.get(store.lanes, unpruned_key), store.get(store.ranks, unpruned_key)
        if unpruned is not None and rank is not None:
            lanes = store.put(store.lanes, lanes_key, prune_lanes(inst, unpruned, rank, k))
    if lanes is None:
        ranks: list[np.ndarray] = []
        lanes = store.put(store.lanes, lanes_key, build_lanes(inst, supply, ranks=ranks))
        if ranks:
            store.put(store.ranks, lanes_key, ranks[0])
    return supply.copy(deep=False), lanes.copy(deep=False)
