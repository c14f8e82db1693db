"""Pre-indexed model data: every coefficient the Pyomo builders need, computed with pandas/numpy.

The builders in :mod:`network_opt.model.constraints` only read the frames, arrays and group
indexes prepared here; nothing loops over dense products of sets.

Row sets (each frame indexed 0..n-1, which is the Pyomo index):
- ``supply``: (collection point, period, chemistry, grade) with tonnes > 0;
- ``flows``: (lane, period) pairs that can carry flow -- the flow variables;
- ``levels``: (facility, capacity level) -- with investment periods, the level binaries;
- ``targets``: (target, period) pairs in force;
- ``stock``: (place, period) where stock may be held at the end of an operating year;
- ``ramp``: (candidate facility, investment period of a build, operating year) not yet at full use.

``period`` is an operating year throughout (:mod:`network_opt.model.timing`); investments are
indexed by investment period (``investment_years``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from network_opt.inputs.instance import Instance
from network_opt.inputs.jurisdictions import covered
from network_opt.inputs.lanes import grades, supply_and_lanes
from network_opt.inputs.prices import pack_prices, payable_factors
from network_opt.inputs.schema import PER_FACILITY_SCOPES, PROCESS_SEPARATOR, SELLER_KINDS
from network_opt.inputs.validate import targets_in_force
from network_opt.model import timing

PACK_INPUT_KINDS = ("recycler", "preprocessor")
RECYCLING_KINDS = ("recycler", "preprocessor", "refiner")
#: facilities a target of scope ``facility``, ``chain`` or ``step`` measures: those whose output is recycled material
FACILITY_SCOPE_KINDS = ("recycler", "refiner")
_T = TypeVar("_T")


@dataclass
class ModelData:
    """Everything the model builders read."""

    inst: Instance
    years: list[int]  # operating years
    weights: dict[int, float]  # discounted years each operating year stands for
    discount: dict[int, float]  # discount factor at the start of each operating year
    supply: pd.DataFrame
    lanes: pd.DataFrame
    flows: pd.DataFrame
    levels: pd.DataFrame
    facilities: pd.DataFrame
    market_demand: pd.DataFrame
    targets: pd.DataFrame
    materials: list[str]
    recovered: np.ndarray  # t of material recovered per t of flow (flows x materials)
    entering: np.ndarray  # t of material entering recycling per t of flow (flows x materials)
    #: t of material entering the facility the flow goes to, per t of flow (flows x materials): as
    #: ``entering`` for packs, and the black mass's content for black mass into a refiner
    input_content: np.ndarray
    prices: pd.DataFrame  # benchmark price, currency per t, material x period
    investment_scale: pd.Series = field(default_factory=pd.Series)  # facility -> currency of one unit of I
    returns: dict[str, np.ndarray] = field(default_factory=dict)  # application -> P x P rate matrix
    returns_beyond: dict[str, np.ndarray] = field(default_factory=dict)  # application -> share per period
    #: payable factors (share of the benchmark price paid) by (seller kind, period) x material, and by
    #: (external refiner, period) x material for black mass (:func:`paid_per_t`)
    payables: pd.DataFrame = field(default_factory=pd.DataFrame)
    black_mass_payables: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: investment periods (their first years); investments are decided once for each
    investment_years: list[int] = field(default_factory=list)
    #: operating year -> its investment period
    period_of: dict[int, int] = field(default_factory=dict)
    #: where stock may be held (:func:`network_opt.model.timing.stock_rows`); empty without stock
    stock: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: capacity built at candidates not yet fully usable (:func:`network_opt.model.timing.ramp_rows`)
    ramp: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: (flows it was found for, result) of :func:`network_opt.model.reductions.find_reductions`, found
    #: once for the size projection, the build, the run log and the open-all start
    candidate_reductions: tuple[Any, Any] | None = None
    #: arrays derived from the frames above, each computed on first use (:meth:`once`); not an
    #: argument, so a copy made by ``dataclasses.replace`` starts empty and derives its own
    derived: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def once(self, key: Hashable, make: Callable[[], _T]) -> _T:
        """``make()``, computed the first time ``key`` is asked for and kept for every later call
        (the size projection, the build and the result tables read the same coefficients)."""
        if key not in self.derived:
            self.derived[key] = make()
        return cast(_T, self.derived[key])

    def prev(self, p: int) -> int | None:
        """The investment period before investment period ``p`` (None for the first)."""
        years = self.investment_years or self.years
        i = years.index(p)
        return years[i - 1] if i else None


def period_weights(inst: Instance) -> dict[int, float]:
    """Discounted years each operating year stands for: the weight of its annual terms in the
    objective, sum over its years k of (1 + r)^-(year + k - first year)."""
    rate = inst.settings.discount_rate
    y0 = inst.years[0]
    return {p.year: float(sum((1 + rate) ** -(p.year + k - y0) for k in range(p.length))) for p in inst.periods}


def prepare(inst: Instance) -> ModelData:
    """Compute lanes, flow rows and all coefficients for ``inst``."""
    years = inst.years
    rate = inst.settings.discount_rate
    y0 = years[0]
    weights = period_weights(inst)
    discount = {p.year: float((1 + rate) ** -(p.year - y0)) for p in inst.periods}

    supply, lanes = supply_and_lanes(inst)  # those of the validation, when the inputs are the same
    supply = timing.with_stock_years(inst, supply)  # rows of 0 t where stocked packs may still leave
    fac = inst["facilities"].drop(columns="_row").reset_index(drop=True)
    levels = inst["facility_levels"].drop(columns="_row").reset_index(drop=True)
    levels = levels.merge(fac[["id", "status"]], left_on="facility", right_on="id").drop(columns="id")
    smallest = levels.sort_values(["facility", "capacity_t"]).drop_duplicates("facility").index
    levels["initial"] = levels.index.isin(smallest) & (levels["status"] == "existing")
    demand = inst["market_demand"].drop(columns="_row").reset_index(drop=True)
    returns, beyond = _returns_matrices(inst)

    flows = _flow_rows(inst, supply, lanes, demand, returns)
    mats = inst["materials"]["id"].tolist()
    prices = (inst["material_prices"].pivot(index="material", columns="period", values="price_per_t")
              .reindex(index=mats, columns=years).fillna(0.0))
    supply["pack_price_per_t"] = pack_prices(inst, supply)
    payables = payable_factors(inst, "material", list(SELLER_KINDS))
    external = sorted(fac.loc[fac["external"] & (fac["kind"] == "refiner"), "id"])
    bm_payables = payable_factors(inst, "black_mass", external)
    flows, recovered, entering, input_content = _coefficients(inst, flows, supply, fac, levels, demand, mats,
                                                              prices, payables, bm_payables)
    # investment is modelled in units of each facility's largest possible spend (keeps the matrix
    # coefficients near 1 whatever the currency); the objective multiplies back
    most = levels.groupby("facility")["opening_cost"].max()
    modules = (fac.set_index("id")["module_opening_cost"] * fac.set_index("id")["max_modules"]).reindex(most.index)
    scale = cast(pd.Series, np.maximum(most, modules.fillna(0.0)))  # a ufunc of Series gives a Series
    investment_years, period_of = timing.investment_structure(inst)
    stock = timing.stock_rows(inst, supply, flows, fac)
    _stock_bounds(flows, stock)
    flows["end_value_per_t"] = timing.beyond_value_per_t(inst, flows)
    return ModelData(inst=inst, years=years, weights=weights, discount=discount, supply=supply, lanes=lanes,
                     investment_years=investment_years, period_of=period_of, stock=stock,
                     ramp=timing.ramp_rows(inst, fac, years, period_of, investment_years),
                     investment_scale=scale.loc[scale > 0].astype(float),
                     flows=flows, levels=levels, facilities=fac, market_demand=demand,
                     targets=_with_recycled_content(inst, _facility_targets(inst, _targets_in_force(inst), flows)),
                     materials=mats,
                     recovered=recovered, entering=entering, input_content=input_content,
                     prices=prices, returns=returns, returns_beyond=beyond, payables=payables,
                     black_mass_payables=bm_payables)


def _stock_bounds(flows: pd.DataFrame, stock: pd.DataFrame) -> None:
    """Raise the strong-linking bound of the flows that stock may feed: end-of-life packs leaving a
    collection point by the most its stock of the year before may hold, black mass leaving a
    pre-processor by the most its site may hold (in place)."""
    if stock.empty:
        return
    held = stock.assign(upper_prev=np.where(stock["prev"] >= 0,
                                            stock["upper_t"].to_numpy()[stock["prev"].clip(lower=0)], 0.0))
    packs = held.loc[held["kind"] == "packs"].set_index("supply_id")["upper_prev"]
    eol = flows["supply_id"] >= 0
    extra = flows.loc[eol, "supply_id"].map(packs).fillna(0.0)
    cap = flows.loc[eol, "facility_cap_t"]
    flows.loc[eol, "upper_bound_t"] = np.minimum(cap, flows.loc[eol, "upper_bound_t"] + extra)
    bm = held.loc[held["kind"] == "black_mass"].set_index(["holder", "chemistry", "jurisdiction", "period"])
    is_bm = flows["commodity"] == "black_mass"
    key = pd.MultiIndex.from_frame(flows.loc[is_bm, ["origin", "chemistry", "jurisdiction", "period"]])
    more = bm["upper_prev"].reindex(key).fillna(0.0).to_numpy()
    flows.loc[is_bm, "upper_bound_t"] = np.minimum(flows.loc[is_bm, "facility_cap_t"].to_numpy(),
                                                   flows.loc[is_bm, "upper_bound_t"].to_numpy() + more)


def _returns_matrices(inst: Instance) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """R[a][p, q]: annual tonnes returning in period q per annual tonne sold into application a in
    period p; beyond[a][p]: tonnes per annual tonne sold in p returning after the horizon.

    A sale in each year y of period p returns in year y + d with the application's share for d.
    The arrival year falls in the period covering it, or, between periods, in the next period.
    """
    periods = inst.periods
    starts = np.array([p.year for p in periods])
    ends = np.array([p.year + p.length for p in periods])  # exclusive
    lengths = np.array([p.length for p in periods], dtype=float)
    out, beyond = {}, {}
    for app, rows in inst["second_life_returns"].groupby("application"):
        r = np.zeros((len(periods), len(periods)))
        b = np.zeros(len(periods))
        for pi, p in enumerate(periods):
            for y in range(p.year, p.year + p.length):
                for d, share in zip(rows["after_years"], rows["share"], strict=True):
                    arrival = y + int(d)
                    later = np.nonzero(ends > arrival)[0]
                    if not len(later):
                        b[pi] += share
                        continue
                    qi = int(later[0])
                    if qi < pi or (qi == pi and arrival < starts[qi]):
                        continue  # cannot happen for d >= 0; kept for safety
                    r[pi, qi] += share / lengths[qi]
        out[str(app)], beyond[str(app)] = r, b
    return out, beyond


def _flow_rows(inst: Instance, supply: pd.DataFrame, lanes: pd.DataFrame, demand: pd.DataFrame,
               returns: dict[str, np.ndarray]) -> pd.DataFrame:
    """(lane, period) rows that can carry flow, built commodity by commodity so that bans and
    missing upstream flows prune everything downstream."""
    years = inst.years
    lanes = lanes.rename_axis("lane").reset_index()
    by = {c: lanes.loc[lanes["commodity"] == c] for c in ("eol_packs", "second_life_packs", "rejects",
                                                           "returns", "black_mass")}
    fac_kind = inst["facilities"].set_index("id")["kind"]
    s = supply.rename_axis("supply_id").reset_index()[["supply_id", "site", "period", "chemistry", "grade"]]
    eol = _allowed(inst, by["eol_packs"].merge(s.rename(columns={"site": "origin"}),
                                                on=["origin", "chemistry", "grade"]))
    arriving = eol.loc[eol["destination"].map(fac_kind) == "refurbisher", ["destination", "chemistry", "grade",
                                                                           "period"]].drop_duplicates()
    arriving = arriving.rename(columns={"destination": "origin"})
    sl = by["second_life_packs"].merge(arriving, on=["origin", "chemistry", "grade"])
    sl = sl.merge(demand.loc[demand["demand_kwh"] > 0, ["market", "period"]],
                  left_on=["destination", "period"], right_on=["market", "period"]).drop(columns="market")
    sl = _allowed(inst, sl)
    rj = _allowed(inst, by["rejects"].merge(arriving[["origin", "chemistry", "period"]].drop_duplicates(),
                                            on=["origin", "chemistry"]))
    # returns may arrive in period q from sales into the market in any period p with R[p, q] > 0
    app = inst["markets"].set_index("id")["application"]
    sold = sl[["destination", "chemistry", "period"]].drop_duplicates()
    arrivals = []
    for (m, k), rows in sold.groupby(["destination", "chemistry"]):
        r = returns.get(str(app[str(m)]))
        if r is None:
            continue
        sale = np.isin(years, rows["period"].to_numpy())
        for qi in np.nonzero(r[sale].sum(axis=0) > 0)[0]:
            arrivals.append((m, k, years[qi]))
    arrivals_df = pd.DataFrame(arrivals, columns=["origin", "chemistry", "period"])
    rt = _allowed(inst, by["returns"].merge(arrivals_df, on=["origin", "chemistry"]))
    into_pre = pd.concat([eol, rj, rt])
    into_pre = into_pre.loc[into_pre["destination"].map(fac_kind) == "preprocessor",
                            ["destination", "chemistry", "jurisdiction", "period"]].drop_duplicates()
    into_pre = timing.with_black_mass_stock_years(inst, into_pre)  # black mass stocked may leave later
    bm = _allowed(inst, by["black_mass"].merge(into_pre.rename(columns={"destination": "origin"}),
                                               on=["origin", "chemistry", "jurisdiction"]))
    flows = pd.concat([eol, sl, rj, rt, bm], ignore_index=True)
    flows["supply_id"] = flows["supply_id"].fillna(-1).astype("int64")
    flows["period"] = flows["period"].astype("int64")
    return flows.sort_values(["lane", "period"]).reset_index(drop=True)


def ban_in_force(ban: pd.Series, periods: pd.Series) -> pd.Series:
    """True for the periods (first years) in which ``ban`` (a row of the bans table) is in force:
    ``from_period <= year`` and, unless ``until_period`` is 0 (no end), ``year <= until_period``."""
    start = periods >= ban["from_period"]
    until = int(ban.get("until_period", 0) or 0)
    return start & (periods <= until) if until else start


def _allowed(inst: Instance, rows: pd.DataFrame) -> pd.DataFrame:
    """Drop flow rows that a ban in force forbids: exports of the commodity from the ban's
    jurisdiction to its destination set, imports of it into the ban's jurisdiction from outside,
    and sales into banned applications."""
    bans = inst["bans"]
    if rows.empty or bans.empty:
        return rows
    jur = inst["sites"].set_index("id")["jurisdiction"]
    o_j = rows["origin_site"].map(jur)
    d_j = rows["destination_site"].map(jur)
    banned = pd.Series(False, index=rows.index)
    for _, b in bans.iterrows():
        in_force = ban_in_force(b, rows["period"])
        if b["kind"] == "export":
            hit = ((rows["commodity"] == b["commodity"]) & o_j.isin(covered(inst, b["jurisdiction"]))
                   & d_j.isin(covered(inst, b["to"])) & (o_j != d_j))
            banned |= in_force & hit
        elif b["kind"] == "import":
            inside = covered(inst, b["jurisdiction"])
            hit = (rows["commodity"] == b["commodity"]) & d_j.isin(inside) & ~o_j.isin(inside)
            banned |= in_force & hit
        elif b["kind"] == "application":
            app = inst["markets"].set_index("id")["application"]
            hit = ((rows["commodity"] == "second_life_packs") & (rows["destination"].map(app) == b["application"])
                   & d_j.isin(covered(inst, b["jurisdiction"])))
            banned |= in_force & hit
    return rows.loc[~banned]


def _coefficients(inst: Instance, flows: pd.DataFrame, supply: pd.DataFrame, fac: pd.DataFrame,
                  levels: pd.DataFrame, demand: pd.DataFrame, mats: list[str],
                  prices: pd.DataFrame, payables: pd.DataFrame, bm_payables: pd.DataFrame
                  ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Per-flow coefficients: facility used, destination kind, costs and revenues per tonne (material
    at the payables, black mass sold to external refiners), usable kWh per tonne, recycled mass,
    material recovered, entering recycling and entering the facility, emissions per mode, and the
    strong-linking bound."""
    f = flows
    by_id = fac.set_index("id")
    sl = (f["commodity"] == "second_life_packs").to_numpy()
    f["facility"] = np.where(sl, f["origin"], f["destination"])
    f["dest_kind"] = np.where(sl, "market", f["destination"].map(by_id["kind"]))
    f["technology"] = f["destination"].map(by_id["technology"]).where(~sl, "").fillna("")
    f["processing_cost_per_t"] = f["destination"].map(by_id["variable_cost_per_t"]).where(~sl, 0.0).fillna(0.0)
    f["site_jurisdiction"] = f["destination_site"].map(inst["sites"].set_index("id")["jurisdiction"])

    g = grades(inst).set_index("id")["usable_soh"]
    energy = inst["chemistries"].set_index("id")["energy_kwh_per_t"]
    f["usable_kwh_per_t"] = np.where(sl, numbers_at(f["chemistry"], energy) * numbers_at(f["grade"], g, missing=0.0),
                                     0.0)
    key = pd.MultiIndex.from_arrays([f["destination"], f["period"]])
    d = demand.set_index(["market", "period"])
    f["second_life_revenue_per_t"] = np.where(
        sl, d["price_per_kwh"].reindex(key).fillna(0.0).to_numpy() * f["usable_kwh_per_t"], 0.0)

    tech = inst["technologies"].set_index("id")
    kind = f["dest_kind"].to_numpy()
    pack_in = np.isin(kind, PACK_INPUT_KINDS) & (f["commodity"] != "black_mass").to_numpy()
    bm_in = (kind == "refiner")
    f["mass_entering_t"] = pack_in.astype(float)
    f["input_mass_t"] = (pack_in | bm_in).astype(float)  # tonnes entering the receiving facility itself
    f["recycled_t"] = np.where(pack_in | bm_in, numbers_at(f["technology"], tech["recycling_efficiency"], missing=0.0),
                               0.0)

    cm = inst["chemistry_materials"]
    content = cm.pivot(index="chemistry", columns="material", values="kg_per_t").reindex(columns=mats).fillna(0.0)
    bm_content = (cm.pivot(index="chemistry", columns="material", values="black_mass_kg_per_t")
                  .reindex(columns=mats).fillna(0.0))
    n, m = len(f), len(mats)
    entering, recovered, input_content = np.zeros((n, m)), np.zeros((n, m)), np.zeros((n, m))
    # black mass into a refiner outside the network: sold at the black-mass payables
    f["external_buyer"] = bm_in & f["destination"].map(by_id["external"]).eq(True).to_numpy()
    f["black_mass_revenue_per_t"] = 0.0
    if n and m:
        chem, tk = f["chemistry"].to_numpy(), f["technology"].to_numpy()
        c = content.reindex(chem).fillna(0.0).to_numpy() / 1000.0
        cb = bm_content.reindex(chem).fillna(0.0).to_numpy() / 1000.0
        y = yield_matrix(inst, tk, chem, mats)
        entering[pack_in] = c[pack_in]
        input_content[pack_in] = c[pack_in]
        input_content[bm_in] = cb[bm_in]
        recovered[pack_in] = c[pack_in] * y[pack_in]
        recovered[bm_in] = cb[bm_in] * y[bm_in]
        paid = paid_per_t(f, np.arange(n), recovered, input_content, prices, payables, bm_payables).sum(axis=1)
        external = f["external_buyer"].to_numpy()
        f["material_revenue_per_t"] = np.where(external, 0.0, paid)
        f["black_mass_revenue_per_t"] = np.where(external, paid, 0.0)
    else:
        f["material_revenue_per_t"] = 0.0
    f["black_mass_yield"] = np.where((f["dest_kind"] == "preprocessor").to_numpy(),
                                     numbers_at(f["technology"], tech["black_mass_yield"], missing=0.0), 0.0)

    co2_tkm = numbers_at(f["commodity"], pd.Series({c: inst.settings.emissions.co2e_per_tkm[c] for c in
                                                    ("eol_packs", "second_life_packs", "rejects", "returns",
                                                     "black_mass")}))
    process = numbers_at(f["technology"], tech["co2e_per_t"], missing=0.0)
    refurb = (f["dest_kind"] == "refurbisher").to_numpy()
    f["process_co2e_per_t"] = np.where(refurb, inst.settings.emissions.refurbishing_co2e_per_t, process)
    f["road_co2e_per_t"], f["rail_co2e_per_t"], f["sea_co2e_per_t"] = transport_co2e_per_t(
        inst, co2_tkm, f["road_km"].to_numpy(), f["rail_km"].to_numpy(), f["sea_km"].to_numpy())
    f["co2e_per_t"] = (f["road_co2e_per_t"] + f["rail_co2e_per_t"] + f["sea_co2e_per_t"]
                       + f["process_co2e_per_t"])

    # strong-linking bound: most tonnes the flow can carry if its facility is open
    cap = levels.groupby("facility")["capacity_t"].max()
    cap = cap.add((by_id["module_capacity_t"] * by_id["max_modules"]).reindex(cap.index).fillna(0.0))
    fcap = numbers_at(f["facility"], cap)
    bound = fcap.copy()
    eol = (f["commodity"] == "eol_packs").to_numpy()
    bound[eol] = np.minimum(fcap[eol], f.loc[eol, "supply_id"].map(supply["tonnes"]).to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        dem_t = d["demand_kwh"].reindex(key).to_numpy() / f["usable_kwh_per_t"].to_numpy()
    eta = numbers_at(f["origin"], by_id["test_yield"])
    bound[sl] = np.minimum(fcap[sl] * eta[sl], dem_t[sl])
    ocap = numbers_at(f["origin"], cap)
    rj = (f["commodity"] == "rejects").to_numpy()
    bound[rj] = np.minimum(fcap[rj], ocap[rj] * (1.0 - eta[rj]))
    bmk = (f["commodity"] == "black_mass").to_numpy()
    pre_yield = numbers_at(f["origin"], by_id["technology"].map(tech["black_mass_yield"]))
    bound[bmk] = np.minimum(fcap[bmk], ocap[bmk] * pre_yield[bmk])
    f["upper_bound_t"] = np.nan_to_num(bound, nan=0.0, posinf=0.0)
    f["facility_cap_t"] = np.nan_to_num(fcap, nan=0.0, posinf=0.0)
    return f, recovered, entering, input_content


def transport_co2e_per_t(inst: Instance, road_factor: np.ndarray | float, road_km: np.ndarray, rail_km: np.ndarray,
                         sea_km: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transport emissions per tonne of a lane by mode (t CO2e/t): the commodity's road factor
    ``road_factor`` (t CO2e/(t km)) x road km, and each leg mode's factor of ``transport.rail`` and
    ``transport.sea`` x its km."""
    tr = inst.settings.transport
    return road_factor * road_km, tr.rail.co2e_per_tkm * rail_km, tr.sea.co2e_per_tkm * sea_km


def numbers_at(keys: pd.Series, table: pd.Series, missing: float | None = None) -> np.ndarray:
    """``table``'s values (numbers, unique index) at each of ``keys`` as floats, NaN where ``table``
    has no such key or its value is NaN (``missing`` instead, if given): ``keys.map(table)``, seven
    times faster on millions of string keys (no pointwise cast of the result to the keys' dtype)."""
    out = table.astype(float).reindex(keys.to_numpy()).to_numpy(dtype=float, copy=True)
    if missing is not None:
        out[np.isnan(out)] = missing
    return out


def paid_per_t(flows: pd.DataFrame, rows: np.ndarray, recovered: np.ndarray, input_content: np.ndarray,
               prices: pd.DataFrame, payables: pd.DataFrame, black_mass_payables: pd.DataFrame) -> np.ndarray:
    """What the network is paid per tonne of each flow row in ``rows``, by material (rows x materials,
    currency/t): the material recovered where the flow goes x benchmark price x the payable of that
    facility's kind; for black mass into an external refiner, the material the black mass contains x
    price x the refiner's black-mass payable. Only these rows are computed (no flows x materials
    matrix is kept)."""
    f = flows.iloc[rows]
    n, m = len(rows), recovered.shape[1]
    if not n or not m:
        return np.zeros((n, m))
    price = prices.reindex(columns=f["period"].to_numpy()).T.to_numpy() if len(prices) else np.zeros((n, m))
    paid = recovered[rows] * price
    if len(payables) and not (payables.to_numpy() == 1.0).all():  # 1 everywhere: the benchmark, as without a table
        seller = pd.MultiIndex.from_arrays([f["dest_kind"], f["period"]])
        paid = paid * payables.reindex(seller).fillna(1.0).to_numpy()
    external = f["external_buyer"].to_numpy(dtype=bool)
    if external.any():
        buyer = pd.MultiIndex.from_arrays([f.loc[external, "destination"], f.loc[external, "period"]])
        psi = black_mass_payables.reindex(buyer).fillna(1.0).to_numpy()
        paid[external] = input_content[rows][external] * price[external] * psi
    return paid


def yield_matrix(inst: Instance, technology: np.ndarray, chemistry: np.ndarray, mats: list[str]) -> np.ndarray:
    """Recovery yield (rows: the given technology and chemistry pairs, columns: ``mats``): the row of
    ``technology_yields`` for that chemistry where there is one, else the generic row (empty
    chemistry), else 0."""
    ty = inst["technology_yields"]
    chem_col = ty["chemistry"] if "chemistry" in ty else pd.Series("", index=ty.index)
    generic = ty.loc[chem_col == ""]
    y = (generic.pivot(index="technology", columns="material", values="recovery_yield")
         .reindex(index=pd.Index(technology), columns=mats).fillna(0.0).to_numpy(dtype=float, copy=True))
    col = {mu: n for n, mu in enumerate(mats)}
    for r in ty.loc[chem_col != ""].itertuples(index=False):
        if r.material in col:
            value: Any = r.recovery_yield  # an itertuples field (pandas-stubs: any scalar)
            y[(technology == r.technology) & (chemistry == r.chemistry), col[str(r.material)]] = float(value)
    return y


def _targets_in_force(inst: Instance) -> pd.DataFrame:
    """One row per (jurisdiction, metric, material, process, period): the value of the latest row whose
    from_period is not after the period."""
    t = inst["targets"].drop(columns="_row")
    # an empty cell (the reader keeps str defaults empty) is the default scope: pooled
    t = t.assign(scope=t["scope"].replace("", "jurisdiction")) if "scope" in t else t.assign(scope="jurisdiction")
    if "process" not in t:
        t = t.assign(process="")
    cols = ["jurisdiction", "metric", "material", "period", "value", "from_period", "source", "scope", "process"]
    if t.empty:
        return pd.DataFrame(columns=[*cols, "facility"])
    t = targets_in_force(t, inst.years)
    t = t[cols].assign(facility="")
    return t.sort_values(["jurisdiction", "metric", "material", "process", "period"]).reset_index(drop=True)


def _facility_targets(inst: Instance, targets: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    """Targets in force with each row of scope ``facility``, ``chain`` or ``step`` replaced by one row
    per integrated recycler or refiner located in the target's jurisdiction (or a member of its group),
    whose technology's process is one the row names (any when it names none), that can receive flows
    in the period (``facility`` names it; empty for pooled rows). A facility with no flow row in the
    period has nothing to measure and gets no row."""
    if targets.empty:
        return targets
    per_facility = targets["scope"].isin(PER_FACILITY_SCOPES)
    if not per_facility.any():
        return targets
    fac = inst["facilities"]
    jur = inst["sites"].set_index("id")["jurisdiction"]
    process = fac["technology"].map(inst["technologies"].set_index("id")["process"]).fillna("")
    located = fac.loc[fac["kind"].isin(FACILITY_SCOPE_KINDS)].assign(site_jurisdiction=lambda x: x["site"].map(jur),
                                                                     process=process)
    receiving = flows.loc[flows["destination"].isin(located["id"]), ["destination", "period"]].drop_duplicates()
    out = [targets.loc[~per_facility]]
    for _, r in targets.loc[per_facility].iterrows():
        mine = located.loc[located["site_jurisdiction"].isin(covered(inst, str(r["jurisdiction"])))]
        if r["process"]:
            mine = mine.loc[mine["process"].isin(str(r["process"]).split(PROCESS_SEPARATOR))]
        active = receiving.loc[(receiving["period"] == r["period"]) & receiving["destination"].isin(mine["id"]),
                               "destination"]
        rows = pd.DataFrame([r] * len(active), columns=targets.columns)
        rows["facility"] = sorted(active.astype(str))
        out.append(rows)
    t = pd.concat(out, ignore_index=True)
    t = t.astype({"period": "int64", "from_period": "int64", "value": "float64"})
    return t.sort_values(["jurisdiction", "metric", "material", "process", "period", "facility"]).reset_index(
        drop=True)


def _with_recycled_content(inst: Instance, targets: pd.DataFrame) -> pd.DataFrame:
    """Targets in force followed by one row per row of ``recycled_content`` whose period is modelled:
    metric ``recycled_content``, value = required_share x new_battery_demand_t (t/yr of material),
    scope ``origin:any`` or ``origin:domestic`` (see
    :func:`network_opt.model.constraints.recycled_content.add_recycled_content`)."""
    rc = inst["recycled_content"]
    if rc.empty:
        return targets
    rc = rc.loc[rc["period"].isin(inst.years)]
    rows = pd.DataFrame({
        "jurisdiction": rc["jurisdiction"].astype(str), "metric": "recycled_content",
        "material": rc["material"].astype(str), "period": rc["period"].astype("int64"),
        "value": (rc["required_share"] * rc["new_battery_demand_t"]).astype("float64"),
        "from_period": rc["period"].astype("int64"), "source": rc["source"].fillna("").astype(str),
        "scope": "origin:" + rc["origin"].astype(str), "process": "", "facility": ""})
    t = pd.concat([targets, rows], ignore_index=True) if len(targets) else rows.reset_index(drop=True)
    return t.astype({"period": "int64", "from_period": "int64", "value": "float64"})


def group_rows(frame: pd.DataFrame, by: str | list[str]) -> dict[Any, np.ndarray]:
    """Index labels of ``frame`` grouped by ``by`` (labels, not positions, so a filtered frame
    still yields rows of the full frame). Keys are plain Python values: a column's value, or a
    tuple of them when ``by`` is a list (typed ``Any``: which one depends on ``by``)."""
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
