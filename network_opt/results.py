"""Turning a solved model into result tables (pandas) and key figures.

Tables (all quantities per year within a period unless stated):
- ``facilities``: facility, site, kind, technology, status, open, level, capacity_t, period,
  throughput_t, utilisation;
- ``flows``: origin, destination, commodity, chemistry, grade, period, tonnes, distance_km,
  cost (transport, currency/yr);
- ``collection``: site, period, chemistry, grade, supply_t, shipped_t, disposed_t, uncollected_t;
- ``costs``: term, period, value (currency, as in the objective: per-year value x period length);
- ``targets``: jurisdiction, metric, material, period, required, achieved, met;
- ``materials``: facility, material, period, input_t, recovered_t, revenue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.model.constraints.targets import recycled_flows_by_target, supply_by_target
from network_opt.model.data import ModelData
from network_opt.model.objective import COST_TERMS
from network_opt.solve import SolveOutcome

FLOW_EPS = 1e-6


@dataclass
class Solution:
    """A solved instance: status, figures and result tables."""

    outcome: SolveOutcome
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def objective(self) -> float | None:
        return self.outcome.objective

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


def _values(var: pyo.Var, n: int) -> np.ndarray:
    vals = np.array([var[i].value if var[i].value is not None else 0.0 for i in range(n)], dtype=float)
    return np.where(np.abs(vals) < FLOW_EPS, 0.0, vals)


def extract(m: pyo.ConcreteModel, d: ModelData) -> dict[str, pd.DataFrame]:
    """Result tables from the variable values loaded into ``m``."""
    x = _values(m.flow, len(d.flows))
    y = np.round(_values(m.level_open, len(d.levels)))
    f = d.flows.assign(tonnes=x)
    tables = {
        "facilities": _facilities(d, f, y),
        "flows": _flows(f),
        "collection": _collection(m, d, f),
        "costs": _costs(m, d),
        "targets": _targets(m, d, x),
        "materials": _materials(d, f),
    }
    return tables


def _facilities(d: ModelData, f: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    lv = d.levels.assign(chosen=y > 0.5)
    chosen = lv.loc[lv["chosen"]].set_index("facility")
    fac = d.facilities[["id", "site", "kind", "technology", "status"]].rename(columns={"id": "facility"})
    fac["open"] = fac["facility"].isin(chosen.index)
    fac["level"] = fac["facility"].map(chosen["level"]).fillna("")
    fac["capacity_t"] = fac["facility"].map(chosen["capacity_t"]).fillna(0.0)
    periods = pd.DataFrame({"period": d.years})
    out = fac.merge(periods, how="cross")
    inflow = f.loc[f["dest_kind"] != "market"].groupby(["destination", "period"])["tonnes"].sum()
    keys = pd.MultiIndex.from_arrays([out["facility"], out["period"]])
    out["throughput_t"] = inflow.reindex(keys).fillna(0.0).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["utilisation"] = np.where(out["capacity_t"] > 0, out["throughput_t"] / out["capacity_t"], 0.0)
    return out.sort_values(["facility", "period"]).reset_index(drop=True)


def _flows(f: pd.DataFrame) -> pd.DataFrame:
    out = f.loc[f["tonnes"] > 0, ["origin", "destination", "commodity", "chemistry", "grade", "period",
                                  "tonnes", "distance_km", "cost_per_t"]].copy()
    out["cost"] = out.pop("cost_per_t") * out["tonnes"]
    return out.reset_index(drop=True)


def _collection(m: pyo.ConcreteModel, d: ModelData, f: pd.DataFrame) -> pd.DataFrame:
    s = d.supply
    shipped = f.loc[f["supply_id"] >= 0].groupby("supply_id")["tonnes"].sum()
    out = s[["site", "period", "chemistry", "grade"]].copy()
    out["supply_t"] = s["tonnes"]
    out["shipped_t"] = shipped.reindex(s.index).fillna(0.0).to_numpy()
    n = len(s)
    out["disposed_t"] = _values(m.disposed, n) if hasattr(m, "disposed") else 0.0
    out["uncollected_t"] = _values(m.uncollected, n) if hasattr(m, "uncollected") else 0.0
    return out


def _costs(m: pyo.ConcreteModel, d: ModelData) -> pd.DataFrame:
    rows = [(t, p, float(pyo.value(m.cost[t, p]))) for p in d.years for t in COST_TERMS]
    return pd.DataFrame(rows, columns=["term", "period", "value"])


def _targets(m: pyo.ConcreteModel, d: ModelData, x: np.ndarray) -> pd.DataFrame:
    t = d.targets.copy()
    cols = ["jurisdiction", "metric", "material", "period", "required", "achieved", "met"]
    if t.empty:
        return pd.DataFrame(columns=cols)
    achieved = np.full(len(t), np.nan)
    unc = _values(m.uncollected, len(d.supply)) if hasattr(m, "uncollected") else np.zeros(len(d.supply))
    tonnes = d.supply["tonnes"].to_numpy()
    for metric in ("recycling_efficiency", "material_recovery"):
        for k, idx in recycled_flows_by_target(d, metric).items():
            sent = x[idx]
            if metric == "recycling_efficiency":
                num, den = (d.flows["recycling_efficiency"].to_numpy()[idx] * sent).sum(), sent.sum()
            else:
                mu = t.at[k, "material"]
                chem = d.flows["chemistry"].to_numpy()[idx]
                tech = d.flows["technology"].to_numpy()[idx]
                c = d.content[mu].reindex(chem).to_numpy()
                g = d.recovery[mu].reindex(tech).to_numpy()
                num, den = (c * g * sent).sum(), (c * sent).sum()
            achieved[k] = num / den if den > FLOW_EPS else np.nan
    sup_groups = supply_by_target(d)
    for k in t.index[t["metric"] == "collection_rate"]:
        rows = sup_groups.get(int(k), np.array([], dtype=int))
        total = tonnes[rows].sum()
        achieved[k] = (total - unc[rows].sum()) / total if total > FLOW_EPS else np.nan
    t["required"] = t["value"]
    t["achieved"] = achieved
    t["met"] = np.isnan(achieved) | (achieved >= t["required"] - 1e-6)
    return t[cols]


def _materials(d: ModelData, f: pd.DataFrame) -> pd.DataFrame:
    rec = f.loc[(f["dest_kind"] == "recycler") & (f["tonnes"] > 0)]
    cols = ["facility", "material", "period", "input_t", "recovered_t", "revenue"]
    if rec.empty or d.content.shape[1] == 0:
        return pd.DataFrame(columns=cols)
    c = d.content.loc[rec["chemistry"]].to_numpy() / 1000.0
    g = d.recovery.loc[rec["technology"]].to_numpy()
    tonnes = rec["tonnes"].to_numpy()[:, None]
    price = d.prices[rec["period"].to_numpy()].T.to_numpy()
    mats = list(d.content.columns)
    frame = pd.DataFrame({
        "facility": np.repeat(rec["destination"].to_numpy(), len(mats)),
        "material": np.tile(mats, len(rec)),
        "period": np.repeat(rec["period"].to_numpy(), len(mats)),
        "input_t": (c * tonnes).ravel(),
        "recovered_t": (c * g * tonnes).ravel(),
        "revenue": (c * g * tonnes * price).ravel(),
    })
    return frame.groupby(["facility", "material", "period"], as_index=False).sum()


def mass_balance_errors(tables: dict[str, pd.DataFrame], tol: float = 1e-4) -> list[str]:
    """Check supply = shipped + disposed + uncollected at every collection point, and that flows
    out of each collection point match ``shipped_t`` (both from the written tables)."""
    errors = []
    col = tables["collection"]
    gap = col["supply_t"] - col["shipped_t"] - col["disposed_t"] - col["uncollected_t"]
    for _, r in col.loc[gap.abs() > tol * np.maximum(1.0, col["supply_t"])].iterrows():
        errors.append(f"collection point {r['site']} {r['period']} {r['chemistry']}/{r['grade']}: unbalanced")
    fl = tables["flows"]
    out = fl.loc[fl["commodity"] == "eol_packs"].groupby(["origin", "period", "chemistry", "grade"])["tonnes"].sum()
    shipped = col.set_index(["site", "period", "chemistry", "grade"])["shipped_t"]
    both = pd.concat([out.rename("flows"), shipped.rename("shipped")], axis=1).fillna(0.0)
    for key in both.loc[(both["flows"] - both["shipped"]).abs() > tol * np.maximum(1.0, both["shipped"])].index:
        errors.append(f"flows out of {key} do not match shipped tonnes")
    return errors
