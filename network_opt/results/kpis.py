"""Key figures of one solved scenario, as a flat ``{name: value}`` mapping (the rows of
``comparison.csv`` and the columns of ``sweep.csv``).

Money is discounted currency over the horizon, as in the objective (revenues positive);
tonnes and CO2e are totals over the horizon (annual rates x each period's length); capacity is
t/yr in the last period.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from network_opt.model.objective import COST_TERMS
from network_opt.results.tables import Solution

REVENUE_TERMS = {"second_life_revenue": "revenue:second_life", "material_revenue": "revenue:material",
                 "black_mass_revenue": "revenue:black_mass"}


def kpi_unit(name: str, currency: str) -> str:
    """Unit of a key figure named by :func:`scenario_kpis`."""
    if name in ("objective",) or name.startswith(("cost:", "revenue:")) or name.endswith(":shadow_price"):
        return currency
    if name.startswith(("tonnes:", "recovered_t:")):
        return "t"
    if name.startswith("capacity_t:"):
        return "t/yr"
    if name == "emissions_t":
        return "t CO2e"
    if name.endswith(":achieved") or name.endswith(":required"):
        return "- or t/yr"
    if name.startswith("facilities:"):
        return "count"
    return ""


def _num(x: object) -> float | None:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _text(x: object) -> str:
    """A cell as text: empty for None and NaN (a column read back from CSV)."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def target_kpi_name(jurisdiction: object, metric: object, material: object, period: object, scope: object = "",
                    facility: object = "", process: object = "") -> str:
    """Key-figure stem of one row of the targets table (``:required``, ``:achieved`` and
    ``:shadow_price`` are appended): ``target:J/METRIC[/MATERIAL]/PERIOD`` for a pooled row, then
    ``/scope=S`` when the scope is not the default ``jurisdiction``, ``/facility=F`` and
    ``/process=P`` when set, so that the rows of one target per facility (scopes ``facility``,
    ``chain``, ``step``) and rows differing only in scope or process each keep their own key,
    e.g. ``target:CN/material_recovery/Li/2025/scope=step/facility=R-HEFEI/process=hydrometallurgical``."""
    name = f"target:{_text(jurisdiction)}/{_text(metric)}"
    if _text(material):
        name += f"/{_text(material)}"
    name += f"/{_text(period)}"
    if _text(scope) not in ("", "jurisdiction"):
        name += f"/scope={_text(scope)}"
    if _text(facility):
        name += f"/facility={_text(facility)}"
    if _text(process):
        name += f"/process={_text(process)}"
    return name


def scenario_kpis(sol: Solution) -> dict[str, object]:
    """Status, objective, cost terms, revenues, tonnes, capacity by kind and jurisdiction,
    targets (required, achieved, shadow price), emissions and facilities opened."""
    out: dict[str, object] = {"status": sol.status, "objective": _num(sol.objective),
                              "mip_gap": _num(sol.outcome.mip_gap)}
    if not sol.outcome.has_plan or sol.data is None:
        return out
    inst = sol.data.inst
    length = pd.Series({p.year: float(p.length) for p in inst.periods})
    costs = sol["costs"].groupby("term")["value"].sum()
    for term in COST_TERMS:
        value = float(costs.get(term, 0.0))
        if term in REVENUE_TERMS:
            out[REVENUE_TERMS[term]] = -value + 0.0  # no -0.0
        else:
            out[f"cost:{term}"] = value

    fac = sol["facilities"]
    kind = fac.drop_duplicates("facility").set_index("facility")["kind"]
    flows = sol["flows"].assign(t=lambda f: f["tonnes"] * f["period"].map(length))
    dest_kind = flows["destination"].map(kind)
    out["tonnes:second_life_sold"] = float(flows.loc[flows["commodity"] == "second_life_packs", "t"].sum())
    out["tonnes:to_refurbishers"] = float(flows.loc[dest_kind == "refurbisher", "t"].sum())
    out["tonnes:to_recycling"] = float(flows.loc[dest_kind.isin(["recycler", "preprocessor"])
                                                 & (flows["commodity"] != "black_mass"), "t"].sum())
    col = sol["collection"]
    w = col["period"].map(length)
    for name in ("shipped_t", "disposed_t", "uncollected_t"):
        label = "collected" if name == "shipped_t" else name[:-2]
        out[f"tonnes:{label}"] = float((col[name] * w).sum())
    mats = sol["materials"]
    if len(mats):
        rec = (mats["recovered_t"] * mats["period"].map(length)).groupby(mats["material"]).sum()
        for material, value in rec.items():
            out[f"recovered_t:{material}"] = float(value)

    last = max(inst.years)
    jur = inst["sites"].set_index("id")["jurisdiction"]
    now = fac.loc[(fac["period"] == last) & fac["open"]].assign(jurisdiction=lambda f: f["site"].map(jur))
    caps = now.groupby(["kind", "jurisdiction"])["capacity_t"].sum()
    for (k, j), cap in zip(caps.index.to_list(), caps.to_list(), strict=True):
        out[f"capacity_t:{k}:{j}"] = float(cap)
    opened = fac.loc[fac["open"] & (fac["status"] == "candidate"), "facility"].nunique()
    out["facilities:opened"] = int(opened)
    out["facilities:open_last_period"] = len(now)

    t = sol["targets"]
    r: Any  # a row of the targets table: its fields are the table's columns
    for r in t.itertuples(index=False):
        name = target_kpi_name(r.jurisdiction, r.metric, r.material, r.period, getattr(r, "scope", ""),
                               getattr(r, "facility", ""), getattr(r, "process", ""))
        out[f"{name}:required"] = _num(r.required)
        out[f"{name}:achieved"] = _num(r.achieved)
        out[f"{name}:shadow_price"] = _num(getattr(r, "shadow_price", None))
    em = sol["emissions"]
    out["emissions_t"] = float((em["co2e_t"] * em["period"].map(length)).sum())
    return out


#: key figures a plan has only for what it holds (a kind of facility, a material recovered): absent, 0
ABSENT_MEANS_ZERO = ("capacity_t:", "recovered_t:")


def zero_absent_quantities(runs: list[dict[str, object]], planned: list[bool]) -> None:
    """In each run of ``runs`` (key figures of :func:`scenario_kpis`) that has a plan (``planned``),
    set to 0 the capacities and recovered tonnes another run reports and this one lacks (e.g. a
    scenario that removes every refurbisher has 0 t/yr of refurbishing capacity, not an unknown)."""
    names = {n for k in runs for n in k if n.startswith(ABSENT_MEANS_ZERO)}
    for k, plan in zip(runs, planned, strict=True):
        if plan:
            for n in names - k.keys():
                k[n] = 0.0


def target_value_derivative(sol: Solution, key: str) -> float | None:
    """d objective / d value (currency per unit of the target's value) for a key naming target
    values, e.g. ``targets[CN,material_recovery,Li,2025].value``: the sum of the shadow prices
    of every (target, period) in force through the selected rows. None for other keys."""
    from network_opt.inputs.overrides import Origin, parse_key, select_rows
    from network_opt.inputs.schema import TABLES

    k = parse_key(key, Origin("", 0, key))
    if k.table != "targets" or k.column != "value" or sol.data is None or "shadow_price" not in sol["targets"]:
        return None
    inst = sol.data.inst
    rows = inst["targets"].loc[select_rows(inst["targets"], TABLES["targets"], k.selector)]
    d = sol.data.targets
    if "process" not in rows:  # an instance built without the column: every row has process ""
        rows = rows.assign(process="")
    chosen = set(zip(rows["jurisdiction"], rows["metric"], rows["material"], rows["from_period"], rows["process"],
                     strict=True))
    hit = [(j, mt, ma, int(fp), pr) in chosen for j, mt, ma, fp, pr in
           zip(d["jurisdiction"], d["metric"], d["material"], d["from_period"], d["process"], strict=True)]
    prices = sol["targets"]["shadow_price"].to_numpy()[hit]
    return float(prices.sum()) if len(prices) else None
