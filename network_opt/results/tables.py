"""Turning a solved model into result tables (pandas) and key figures.

Tables (quantities per year within a period unless stated):
- ``facilities``: facility, site, kind, technology, status, period (an operating year),
  investment_period, open, level, modules, capacity_t (built), usable_capacity_t (less what is
  still ramping up), throughput_t, utilisation (of the usable capacity), investment (currency, not
  discounted, in the first operating year of its investment period), closed;
- ``flows``: origin, destination (collection point, facility or market ids), origin_site,
  destination_site (the ``sites.csv`` ids where they are, whose coordinates place the flow on a
  map), commodity, chemistry, grade, jurisdiction, period, tonnes, distance_km (the whole
  route), mode (``road``, or the modes of a route over legs, e.g. ``road+sea+road``), via (the
  ports passed, ``A>B``), road_km, rail_km, sea_km, cost (transport, damaged-pack premium
  included, not discounted, currency/yr: processing is in ``costs``), co2e_t (transport and
  process);
- ``collection``: site, period, chemistry, grade, supply_t, shipped_t, disposed_t, uncollected_t,
  stock_t (packs held there at the end of the year), stock_in_t (held at the end of the year before);
- ``costs``: term, period, value (currency, discounted, as in the objective);
- ``targets``: jurisdiction, scope, process (the technology processes a per-facility row is
  narrowed to), facility (empty for a pooled row; for scope ``chain`` the recycler or refiner whose
  route from the packs is measured, for scope ``step`` the one whose smelting / refining step is),
  metric, material, period, required, achieved, base_t (t/yr the rate is a share of: packs
  generated or, for scope ``placed_on_market``, placed on the market; mass or material entering;
  NaN for targets in tonnes), met, shortfall, shortfall_t, source (``shadow_price`` and
  ``shadow_price_note`` are added by :mod:`network_opt.solver.compliance`); a recycled-content
  obligation is a row of metric ``recycled_content``, scope ``origin:any`` or ``origin:domestic``,
  required = share x new-battery demand and achieved = tonnes credited, in t/yr of material;
- ``materials``: facility, material, period, input_t (material entering the facility: pack content,
  or for a refiner the content of the black mass it takes), recovered_t, revenue (currency/yr: what
  the network is paid, at the payables; for an external refiner, for the metal in the black mass
  delivered to it);
- ``cascade``: market, application, chemistry, period_sold, tonnes_sold and kwh_sold (per year of
  period_sold), tonnes_sold_total (over all of period_sold's years), return_period (a year, or
  "beyond" the horizon), tonnes_returning (t in total, not per year: of the tonnes_sold_total, those
  coming back over return_period's years; a sale's rows add up to its tonnes_sold_total when every
  pack returns);
- ``emissions``: period, co2e_t (per year), and its parts road_co2e_t, rail_co2e_t, sea_co2e_t
  (transport by mode) and process_co2e_t;
- ``stock`` (empty without stock between years): site, kind (``packs`` at a collection point,
  ``black_mass`` at a pre-processor), holder, chemistry, grade, jurisdiction, period, stock_t (t
  held at the end of the operating year), cap_t (the site's), holding_cost (currency, that year,
  undiscounted), end_value (currency at the horizon's end: the value of stock left then).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.inputs.instance import Instance
from network_opt.inputs.schema import RATE_METRICS
from network_opt.model.constraints.targets import (
    placed_on_market,
    rate_coefficients,
    second_life_supply,
    target_rows,
)
from network_opt.model.data import PACK_INPUT_KINDS, RECYCLING_KINDS, ModelData, paid_per_t
from network_opt.model.objective import COST_TERMS
from network_opt.results.summary import Summary
from network_opt.solver.handoff import HighsModel
from network_opt.solver.highs import SolveOutcome
from network_opt.solver.status import SolveStatus

FLOW_EPS = 1e-6


@dataclass
class Solution:
    """A solved instance: status, figures and result tables (``summary``: a :class:`Summary`, or a
    dict of its keys, e.g. a ``summary.json`` read back). No live solver is kept: the HiGHS model
    that was solved stays with whoever handed the model to it."""

    outcome: SolveOutcome
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: Summary = field(default_factory=Summary)
    data: ModelData | None = None  # the instance and prepared data behind the plan
    model: pyo.ConcreteModel | None = None  # the solved Pyomo model (for diagnostics)
    #: the instance solved, when ``data`` is not kept (a run's result as a worker returns it: what
    #: is written, the instance for the GeoPackage's sites, no prepared data)
    inst: Instance | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.summary, Summary):
            self.summary = Summary.from_dict(self.summary)

    @property
    def instance(self) -> object:
        """The :class:`~network_opt.inputs.instance.Instance` that was solved."""
        return self.data.inst if self.data is not None else self.inst

    @property
    def status(self) -> SolveStatus:
        return self.outcome.status

    @property
    def objective(self) -> float | None:
        return self.outcome.objective

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


def _values(var: pyo.Var, keys: Iterable[object] | None, solver: HighsModel | None = None) -> np.ndarray:
    """Values of ``var`` at ``keys`` (None: every index, in order), tiny ones as 0: from the column
    values the HiGHS model ``solver`` holds, in one numpy step, else read variable by variable."""
    if solver is not None and solver.values is not None:
        vals = solver.values_of(var, keys)
    else:
        data = var.values() if keys is None else (var[k] for k in keys)
        vals = np.array([v.value if v.value is not None else 0.0 for v in data], dtype=float)
    return np.where(np.abs(vals) < FLOW_EPS, 0.0, vals)


def plan_flows(m: pyo.ConcreteModel, d: ModelData, solver: HighsModel | None = None) -> np.ndarray:
    """Tonnes per flow row of ``d`` (t/yr) in the plan loaded into ``m`` (and held by ``solver``)."""
    return _values(m.flow, None if solver is not None else range(len(d.flows)), solver)


def extract(m: pyo.ConcreteModel, d: ModelData, solver: HighsModel | None = None) -> dict[str, pd.DataFrame]:
    """Result tables from the variable values loaded into ``m``; with ``solver`` (the HiGHS model
    solved) the values are copied from its column values by column index."""
    x = plan_flows(m, d, solver)
    f = d.flows.assign(tonnes=x)
    return {
        "facilities": facilities_table(m, d, solver, x),
        "flows": _flows(f),
        "collection": _collection(m, d, f, solver),
        "costs": _costs(m, d),
        "targets": _targets(m, d, x, solver),
        "materials": _materials(d, f, x),
        "cascade": _cascade(d, f),
        "emissions": _emissions(d, f),
        "stock": _stock(m, d, solver),
    }


def facilities_table(m: pyo.ConcreteModel, d: ModelData, solver: HighsModel | None = None,
                     x: np.ndarray | None = None) -> pd.DataFrame:
    """The ``facilities`` table (module docstring) of the plan loaded into ``m`` on its own, without
    the other tables of :func:`extract` (which uses it): per facility and operating year, open,
    level, modules, capacity (t/yr), throughput (t/yr), utilisation, investment (currency), closed.
    ``x``: tonnes per flow row of ``d`` (t/yr, :func:`plan_flows`), read from ``m`` / ``solver`` if
    not given."""
    x = plan_flows(m, d, solver) if x is None else x
    lv = d.levels
    of = d.period_of or {p: p for p in d.years}
    rows = []
    for q in m.INVESTMENT_PERIODS:
        y = np.round(_values(m.level_open, [(j, q) for j in range(len(lv))], solver))
        chosen = lv.loc[y > 0.5].set_index("facility")
        rows.append(pd.DataFrame({"facility": chosen.index, "investment_period": q,
                                  "level": chosen["level"].to_numpy(),
                                  "level_capacity_t": chosen["capacity_t"].to_numpy()}))
    chosen = pd.concat(rows, ignore_index=True)
    fac = d.facilities[["id", "site", "kind", "technology", "status", "module_capacity_t"]].rename(
        columns={"id": "facility"})
    years = pd.DataFrame({"period": d.years, "investment_period": [of[p] for p in d.years]})
    out = fac.merge(years, how="cross").merge(chosen, on=["facility", "investment_period"], how="left")
    out["open"] = out["level"].notna()
    out["level"] = out["level"].fillna("")
    keys = list(zip(out["facility"], out["period"], strict=True))
    invest_keys = list(zip(out["facility"], out["investment_period"], strict=True))
    first = (out["period"] == out["investment_period"]).to_numpy()  # the year that carries the decisions
    modular = set(m.MODULAR)
    out["modules"] = [round(m.modules[k].value or 0) if k[0] in modular else 0 for k in invest_keys]
    out["capacity_t"] = out["level_capacity_t"].fillna(0.0) + out["modules"] * out.pop("module_capacity_t")
    out = out.drop(columns="level_capacity_t")
    out["usable_capacity_t"] = out["capacity_t"] - _ramping(m, d, keys)
    into = (d.flows["dest_kind"] != "market").to_numpy()
    f = d.flows.loc[into, ["destination", "period"]].assign(tonnes=x[into])
    inflow = f.groupby(["destination", "period"])["tonnes"].sum()
    out["throughput_t"] = inflow.reindex(pd.MultiIndex.from_tuples(keys)).fillna(0.0).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["utilisation"] = np.where(out["usable_capacity_t"] > 0,
                                      out["throughput_t"] / out["usable_capacity_t"], 0.0)
    investing = set(m.INVESTING)
    out["investment"] = [float(m.investment[k].value or 0.0) * float(d.investment_scale[k[0]])
                         if k[0] in investing and now else 0.0 for k, now in zip(invest_keys, first, strict=True)]
    closable = set(m.CLOSABLE)
    out["closed"] = [bool(round(m.closed[k].value or 0)) if k[0] in closable and now else False
                     for k, now in zip(invest_keys, first, strict=True)]
    cols = ["facility", "site", "kind", "technology", "status", "period", "investment_period", "open", "level",
            "modules", "capacity_t", "usable_capacity_t", "throughput_t", "utilisation", "investment", "closed"]
    return out[cols].sort_values(["facility", "period"]).reset_index(drop=True)


def _ramping(m: pyo.ConcreteModel, d: ModelData, keys: list[tuple[str, int]]) -> np.ndarray:
    """Capacity (t/yr) not yet usable at each (facility, operating year) of ``keys``: the share of
    the capacity built at a candidate that is still ramping up (0 without ramp-up)."""
    out = np.zeros(len(keys))
    if not len(d.ramp) or not hasattr(m, "added_capacity"):
        return out
    lost: dict[tuple[str, int], float] = {}
    for fac, built, p, share in zip(d.ramp["facility"], d.ramp["investment_period"], d.ramp["period"], d.ramp["lost"],
                                    strict=True):
        value = float(m.added_capacity[str(fac), int(built)].value or 0.0)
        lost[(str(fac), int(p))] = lost.get((str(fac), int(p)), 0.0) + float(share) * value
    return np.array([lost.get((str(f), int(p)), 0.0) for f, p in keys])


def _stock(m: pyo.ConcreteModel, d: ModelData, solver: HighsModel | None) -> pd.DataFrame:
    """Stock held at the end of each operating year, per place (t), with the site's cap, the year's
    holding cost and the value of what is left at the horizon's end (currency, undiscounted)."""
    st = d.stock
    cols = ["site", "kind", "holder", "chemistry", "grade", "jurisdiction", "period", "stock_t", "cap_t",
            "holding_cost", "end_value"]
    if not len(st):
        return pd.DataFrame(columns=cols)
    held = _values(m.stock, range(len(st)), solver)
    caps = d.inst["storage"].set_index("site")["cap_t"]
    last = d.years[-1]
    rate = d.inst.settings.discount_rate
    undiscount = (1.0 + rate) ** (d.inst.periods[-1].year + d.inst.periods[-1].length - d.years[0])
    out = st[["site", "kind", "holder", "chemistry", "grade", "jurisdiction", "period"]].copy()
    out["stock_t"] = held
    out["cap_t"] = st["site"].map(caps).to_numpy(dtype=float)
    out["holding_cost"] = held * st["holding_cost_per_t_year"].to_numpy(dtype=float)
    out["end_value"] = np.where(st["period"] == last, held * st["end_value_per_t"].to_numpy(dtype=float) * undiscount,
                                0.0)
    return out[cols].reset_index(drop=True)


def _flows(f: pd.DataFrame) -> pd.DataFrame:
    sites = [c for c in ("origin_site", "destination_site") if c in f]  # where each end is: sites.csv's id
    out = f.loc[f["tonnes"] > 0, ["origin", "destination", *sites, "commodity", "chemistry", "grade", "jurisdiction",
                                  "period", "tonnes", "distance_km", "mode", "via", "road_km", "rail_km", "sea_km",
                                  "cost_per_t", "damaged_premium_per_t", "co2e_per_t"]].copy()
    out["cost"] = (out.pop("cost_per_t") + out.pop("damaged_premium_per_t")) * out["tonnes"]
    out["co2e_t"] = out.pop("co2e_per_t") * out["tonnes"]
    return out.reset_index(drop=True)


def _collection(m: pyo.ConcreteModel, d: ModelData, f: pd.DataFrame, solver: HighsModel | None) -> pd.DataFrame:
    s = d.supply
    shipped = f.loc[f["supply_id"] >= 0].groupby("supply_id")["tonnes"].sum()
    out = s[["site", "period", "chemistry", "grade"]].copy()
    out["supply_t"] = s["tonnes"]
    out["shipped_t"] = shipped.reindex(s.index).fillna(0.0).to_numpy()
    n = range(len(s))
    out["disposed_t"] = _values(m.disposed, n, solver) if hasattr(m, "disposed") else 0.0
    out["uncollected_t"] = _values(m.uncollected, n, solver) if hasattr(m, "uncollected") else 0.0
    out["stock_t"], out["stock_in_t"] = 0.0, 0.0  # held at the end of the year, and of the year before
    packs = d.stock.loc[d.stock["kind"] == "packs"] if len(d.stock) else d.stock
    if len(packs):
        held = _values(m.stock, range(len(d.stock)), solver)
        rows = packs["supply_id"].to_numpy()
        prev = packs["prev"].to_numpy()
        out.loc[rows, "stock_t"] = held[packs.index.to_numpy()]
        out.loc[rows, "stock_in_t"] = np.where(prev >= 0, held[np.maximum(prev, 0)], 0.0)
    return out


def _costs(m: pyo.ConcreteModel, d: ModelData) -> pd.DataFrame:
    rows = [(t, p, float(pyo.value(m.cost[t, p]))) for p in d.years for t in COST_TERMS]
    return pd.DataFrame(rows, columns=["term", "period", "value"])


def target_measures(d: ModelData, x: np.ndarray, uncollected: np.ndarray) -> pd.DataFrame:
    """For each target row: ``achieved`` (in the target's unit) and ``base`` (the quantity the
    rate is a share of, in tonnes; 1 for domestic_recovery)."""
    t = d.targets
    achieved = np.full(len(t), np.nan)
    base = np.zeros(len(t))
    col = {mu: n for n, mu in enumerate(d.materials)}
    tonnes = d.supply["tonnes"].to_numpy()
    for metric in t["metric"].unique():
        for k, rows in target_rows(d, metric).items():
            if metric == "recycled_content":  # t/yr of material credited: read from credit in _targets
                base[k] = 1.0
                continue
            if metric == "collection_rate":  # collected over generated, or over placed on the market
                total = tonnes[rows].sum()
                pom = str(t.at[k, "scope"]) == "placed_on_market"
                num, den = total - uncollected[rows].sum(), placed_on_market(d, k) if pom else total
            elif metric in ("recycling_efficiency", "material_recovery"):
                a, b = rate_coefficients(d, k, rows)
                num, den = (a * x[rows]).sum(), (b * x[rows]).sum()
            elif metric == "second_life_priority":
                num, den = x[rows].sum(), second_life_supply(d, k)
            else:  # domestic_recovery, in tonnes
                num, den = (d.recovered[rows, col[str(t.at[k, "material"])]] * x[rows]).sum(), 1.0
            base[k] = den
            achieved[k] = num / den if den > FLOW_EPS else np.nan
    return pd.DataFrame({"achieved": achieved, "base": base}, index=t.index)


def target_bases(targets: pd.DataFrame) -> pd.Series:
    """Each row's ``base`` of :func:`target_measures` read back from a ``targets`` result table (not
    computed again): its ``base_t`` for a rate (the tonnes the rate is a share of), 1 for a target in
    tonnes (domestic_recovery, recycled_content), as ``base`` is."""
    return targets["base_t"].where(targets["metric"].isin(RATE_METRICS), 1.0).astype(float)


def _targets(m: pyo.ConcreteModel, d: ModelData, x: np.ndarray, solver: HighsModel | None) -> pd.DataFrame:
    cols = ["jurisdiction", "scope", "process", "facility", "metric", "material", "period", "required", "achieved",
            "base_t", "met", "shortfall", "shortfall_t", "source"]
    t = d.targets.copy()
    if t.empty:
        return pd.DataFrame(columns=cols)
    unc = _values(m.uncollected, range(len(d.supply)), solver) if hasattr(m, "uncollected") else np.zeros(len(d.supply))
    measure = target_measures(d, x, unc)
    t["required"] = t["value"]
    t["achieved"] = measure["achieved"]
    t["base_t"] = measure["base"].where(t["metric"].isin(RATE_METRICS))  # what a rate is a share of, t/yr
    if "process" not in t:
        t["process"] = ""
    if hasattr(m, "credit") and len(m.credit):
        keys = list(m.credit.keys())
        credited = pd.Series(_values(m.credit, keys, solver), index=[k for k, _ in keys]).groupby(level=0).sum()
        rc = t["metric"] == "recycled_content"
        t.loc[rc, "achieved"] = credited.reindex(t.index[rc]).fillna(0.0).to_numpy()
    gap = (t["required"] - t["achieved"]).clip(lower=0.0).fillna(0.0)
    t["shortfall"] = np.where(gap > 1e-6, gap, 0.0)
    t["shortfall_t"] = _values(m.shortfall, range(len(t)), solver) if hasattr(m, "shortfall") else 0.0
    t["met"] = t["shortfall"] <= 0.0
    return t[cols]


def _materials(d: ModelData, f: pd.DataFrame, x: np.ndarray) -> pd.DataFrame:
    cols = ["facility", "material", "period", "input_t", "recovered_t", "revenue"]
    rec = (f["dest_kind"].isin(RECYCLING_KINDS) & (f["tonnes"] > 0)).to_numpy()
    if not rec.any() or not d.materials:
        return pd.DataFrame(columns=cols)
    idx = np.nonzero(rec)[0]
    n_m = len(d.materials)
    frame = pd.DataFrame({
        "facility": np.repeat(f["destination"].to_numpy()[idx], n_m),
        "material": np.tile(d.materials, len(idx)),
        "period": np.repeat(f["period"].to_numpy()[idx], n_m),
        "input_t": (d.input_content[idx] * x[idx, None]).ravel(),
        "recovered_t": (d.recovered[idx] * x[idx, None]).ravel(),
        "revenue": (paid_per_t(d.flows, idx, d.recovered, d.input_content, d.prices, d.payables,
                               d.black_mass_payables) * x[idx, None]).ravel(),
    })
    return frame.groupby(["facility", "material", "period"], as_index=False).sum()


def _cascade(d: ModelData, f: pd.DataFrame) -> pd.DataFrame:
    cols = ["market", "application", "chemistry", "period_sold", "tonnes_sold", "kwh_sold", "tonnes_sold_total",
            "return_period", "tonnes_returning"]
    sold = f.loc[(f["commodity"] == "second_life_packs") & (f["tonnes"] > 0)].copy()
    if sold.empty:
        return pd.DataFrame(columns=cols)
    sold["kwh"] = sold["tonnes"] * sold["usable_kwh_per_t"]
    g = sold.groupby(["destination", "chemistry", "period"], as_index=False)[["tonnes", "kwh"]].sum()
    app = d.inst["markets"].set_index("id")["application"]
    length = {p.year: p.length for p in d.inst.periods}
    index = {p: n for n, p in enumerate(d.years)}
    rows = []
    r: Any  # an itertuples row (pandas-stubs types each field as any scalar)
    for r in g.itertuples(index=False):
        a = str(app[r.destination])
        base = [r.destination, a, r.chemistry, r.period, r.tonnes, r.kwh, r.tonnes * length[r.period]]
        ret, beyond = d.returns.get(a), d.returns_beyond.get(a)
        if ret is None or beyond is None:  # both or neither: same keys
            rows.append([*base, "", 0.0])
            continue
        for q in d.years:
            share = ret[index[r.period], index[q]]
            if share > 0:  # annual rate in q x its length = tonnes over q's years, per annual tonne sold
                rows.append([*base, str(q), r.tonnes * share * length[q]])
        if beyond[index[r.period]] > 0:
            rows.append([*base, "beyond", r.tonnes * beyond[index[r.period]]])
    return pd.DataFrame(rows, columns=cols)


def _emissions(d: ModelData, f: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"period": d.years})
    for name in ("co2e", "road_co2e", "rail_co2e", "sea_co2e", "process_co2e"):
        e = (f["tonnes"] * f[f"{name}_per_t"]).groupby(f["period"]).sum()
        out[f"{name}_t"] = e.reindex(d.years).fillna(0.0).to_numpy()
    return out


def mass_balance_errors(tables: dict[str, pd.DataFrame], tol: float = 1e-4) -> list[str]:
    """Check supply + stock in = shipped + disposed + uncollected + stock at every collection point
    (stock columns where the table has them), and that the end-of-life flows out of each collection
    point match ``shipped_t`` (from written tables)."""
    errors = []
    col = tables["collection"]
    gap = col["supply_t"] - col["shipped_t"] - col["disposed_t"] - col["uncollected_t"]
    if "stock_t" in col:
        gap = gap + col["stock_in_t"] - col["stock_t"]
    for _, r in col.loc[gap.abs() > tol * np.maximum(1.0, col["supply_t"])].iterrows():
        errors.append(f"collection point {r['site']} {r['period']} {r['chemistry']}/{r['grade']}: unbalanced")
    fl = tables["flows"]
    out = fl.loc[fl["commodity"] == "eol_packs"].groupby(["origin", "period", "chemistry", "grade"])["tonnes"].sum()
    shipped = col.set_index(["site", "period", "chemistry", "grade"])["shipped_t"]
    both = pd.concat([out.rename("flows"), shipped.rename("shipped")], axis=1).fillna(0.0)
    bad = (both["flows"] - both["shipped"]).abs() > tol * np.maximum(1.0, both["shipped"])
    errors += [f"flows out of {key} do not match shipped tonnes" for key in both.index[bad]]
    return errors


__all__ = ["PACK_INPUT_KINDS", "Solution", "extract", "facilities_table", "mass_balance_errors", "target_bases",
           "target_measures"]
