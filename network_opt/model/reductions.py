"""Dominance and symmetry among candidate facilities, found before the build (``model.candidate_reductions``).

A candidate E *dominates* a candidate D when E is in every respect of the model no worse than D:
same kind, technology, jurisdiction (so every target, ban and policy treats them alike), test yield,
modules, closing cost and ramp-up; level by level (sorted by capacity, same number of levels) at least
D's capacity at no more fixed or opening cost; no more variable cost per tonne; and every flow row of D
has a matching row of E (the same other end, commodity, chemistry, grade, jurisdiction, supply row and
year) with no more transport, damaged-pack and processing cost, no more CO2e, no less revenue and end
value, and the same coefficients otherwise (energy, masses, recovery, yields, material content), and the
same facility-scoped targets; neither holds stock. Two candidates that dominate each other are *twins*.
Existing and external facilities are never touched. Units: t/yr, the instance's currency.

What is used (each a valid reduction: some optimum satisfies all of them, see docs/formulation.md):

- twins: ``open[D] <= open[E]`` per investment period (E the twin earlier in id order) when neither
  can close, else in the first investment period only (swap the two whole plans);
- D dominated by E (not twins), with a single investment period: ``open[D] <= open[E]`` (if D is open
  and E closed, E takes D's level and D's flows: no worse);
- D fixed closed (single investment period) when, further, D and E take only end-of-life packs, have no
  modules, stock or ramp-up, and E's smallest level covers, in every operating year, all the supply that
  has a lane to E or to any candidate fixed into it, with the stock its collection points may release
  that year (then with both open, E can take D's flows at no
  more cost: D is never needed).

The orderings follow one total order (candidates ranked by how many they dominate, then by id), so that
together they keep an optimum (each swap moves an open facility up that order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from network_opt.model.data import ModelData

#: Relative and absolute tolerance of the comparisons (floating-point noise only: a real difference is
#: no tie).
RTOL, ATOL = 1e-9, 1e-9

#: Flow columns where E must be no larger than D (costs per tonne, CO2e per tonne).
NOT_MORE = ("cost_per_t", "damaged_premium_per_t", "processing_cost_per_t", "co2e_per_t", "process_co2e_per_t",
            "road_co2e_per_t", "rail_co2e_per_t", "sea_co2e_per_t")
#: Flow columns where E must be no smaller than D (revenue and end value per tonne).
NOT_LESS = ("second_life_revenue_per_t", "black_mass_revenue_per_t", "material_revenue_per_t", "end_value_per_t")
#: Flow columns that only describe the lane (reported, not in any row or cost of the model) or are derived
#: from the capacities compared level by level.
IGNORED = ("lane", "origin_site", "destination_site", "distance_km", "mode", "via", "road_km", "rail_km",
           "sea_km", "upper_bound_t", "facility_cap_t")
#: Columns naming the flow row: the facility's own id is replaced before matching.
KEYS = ("commodity", "origin", "destination", "facility", "chemistry", "grade", "jurisdiction", "supply_id",
        "period")
#: Facility columns that must be equal (closing cost: both empty or equal).
SAME_FACILITY = ("kind", "technology", "test_yield", "module_capacity_t", "module_opening_cost",
                 "module_fixed_cost_per_year", "max_modules", "closing_cost")
SELF = "\x00self"


@dataclass
class CandidateReductions:
    """What :func:`find_reductions` found: ``orders``: (dominated, dominating, kind) rows
    ``open[dominated] <= open[dominating]`` (kind ``twin`` or ``dominated``), each with the investment
    periods it holds in (``periods``); ``closed``: dominated candidate -> the candidate it is merged into."""

    orders: list[tuple[str, str, str]] = field(default_factory=list)
    periods: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    closed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """For summary.json: the ordered pairs and the candidates fixed closed, by name."""
        return {"twins": [[lo, hi] for lo, hi, k in self.orders if k == "twin"],
                "dominated": [[lo, hi] for lo, hi, k in self.orders if k == "dominated"],
                "fixed_closed": [[lo, hi] for lo, hi in sorted(self.closed.items())]}

    def describe(self) -> str:
        """One line for the run log."""
        twins = [f"{lo}<={hi}" for lo, hi, k in self.orders if k == "twin"]
        dom = [f"{lo}<={hi}" for lo, hi, k in self.orders if k == "dominated"]
        closed = [f"{lo} (by {hi})" for lo, hi in sorted(self.closed.items())]
        return (f"candidate reductions: {len(twins)} twin orderings{' ' + ', '.join(twins) if twins else ''}; "
                f"{len(dom)} dominance orderings{' ' + ', '.join(dom) if dom else ''}; "
                f"{len(closed)} fixed closed{' ' + ', '.join(closed) if closed else ''}")


def _le(a: np.ndarray, b: np.ndarray) -> bool:
    """a <= b elementwise within the tolerance."""
    return bool(np.all(a <= b + ATOL + RTOL * np.abs(b)))


def _eq(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))


class _Facts:
    """Each candidate's comparable data, computed once."""

    def __init__(self, d: ModelData) -> None:
        self.d = d
        fac = d.facilities.set_index("id")
        site_j = d.inst["sites"].set_index("id")["jurisdiction"]
        self.jurisdiction = fac["site"].map(site_j)
        self.fac = fac
        lv = d.levels.sort_values(["facility", "capacity_t"])
        self.levels = {f: g[["capacity_t", "fixed_cost_per_year", "opening_cost"]].to_numpy(dtype=float)
                       for f, g in lv.groupby("facility", sort=False)}
        flows = d.flows
        self.numeric = [c for c in flows.columns if c not in KEYS and c not in IGNORED and c not in NOT_MORE
                        and c not in NOT_LESS]
        # flow rows touching each facility (as origin, destination or the facility of the row), by position
        ends = [flows.groupby(c, sort=False).indices for c in ("origin", "destination", "facility")]
        empty = np.zeros(0, dtype=np.int64)
        self.rows: dict[str, np.ndarray] = {
            f: np.unique(np.concatenate([e.get(f, empty) for e in ends])) for f in fac.index}
        self.ramp = {f: sorted(map(tuple, g.drop(columns="facility").to_numpy().tolist()))
                     for f, g in d.ramp.groupby("facility")} if len(d.ramp) else {}
        self.stocked = set(d.stock["holder"]) if len(d.stock) and "holder" in d.stock else set()
        t = d.targets
        self.targets = ({f: sorted(map(str, g.drop(columns="facility").to_numpy().tolist()))
                         for f, g in t.loc[t["facility"].notna() & (t["facility"] != "")].groupby("facility")}
                        if len(t) and "facility" in t else {})

    def keyed(self, f: str) -> pd.DataFrame | None:
        """Flow rows of f with f's id replaced, indexed by the matching key (None: the key is not unique)."""
        sub = self.d.flows.iloc[self.rows[f]].copy()
        sub["_row"] = self.rows[f]
        for c in ("origin", "destination", "facility"):
            sub[c] = sub[c].where(sub[c] != f, SELF)
        sub = sub.set_index(list(KEYS))
        return None if sub.index.has_duplicates else sub

    def dominates(self, e: str, dd: str, keyed: dict[str, pd.DataFrame | None]) -> bool:
        """Is candidate e no worse than candidate dd in every respect of the model?"""
        fac = self.fac
        a, b = fac.loc[e], fac.loc[dd]
        if self.jurisdiction[e] != self.jurisdiction[dd]:
            return False
        for c in SAME_FACILITY:
            x, y = a[c], b[c]
            if not ((pd.isna(x) and pd.isna(y)) or x == y):
                return False
        if not _le(np.asarray(a[["variable_cost_per_t"]], dtype=float),
                   np.asarray(b[["variable_cost_per_t"]], dtype=float)):
            return False
        le, ld = self.levels.get(e), self.levels.get(dd)
        if le is None or ld is None or le.shape != ld.shape:
            return False
        if not (_le(ld[:, 0], le[:, 0]) and _le(le[:, 1], ld[:, 1]) and _le(le[:, 2], ld[:, 2])):
            return False
        if self.ramp.get(e) != self.ramp.get(dd) or e in self.stocked or dd in self.stocked:
            return False
        if self.targets.get(e) != self.targets.get(dd):
            return False
        ke, kd = keyed[e], keyed[dd]
        if ke is None or kd is None or len(kd) > len(ke) or not kd.index.isin(ke.index).all():
            return False
        ke = ke.loc[kd.index]
        for c in self.numeric:
            x, y = ke[c].to_numpy(), kd[c].to_numpy()
            if x.dtype.kind in "fiub" and y.dtype.kind in "fiub":
                if not _eq(x.astype(float), y.astype(float)):
                    return False
            elif not (x == y).all():
                return False
        for c in NOT_MORE:
            if c in ke and not _le(ke[c].to_numpy(dtype=float), kd[c].to_numpy(dtype=float)):
                return False
        for c in NOT_LESS:
            if c in kd and not _le(kd[c].to_numpy(dtype=float), ke[c].to_numpy(dtype=float)):
                return False
        re, rd = ke["_row"].to_numpy(), kd["_row"].to_numpy()
        d = self.d
        return all(_eq(arr[re], arr[rd]) for arr in (d.recovered, d.entering, d.input_content) if arr.size)


def find_reductions(d: ModelData) -> CandidateReductions:
    """Twins, dominance orderings and candidates fixed closed (see the module docstring); found once
    per ``d`` (the size projection and the build ask for them both) unless its flows were replaced."""
    cached = d.candidate_reductions
    if cached is not None and cached[0] is d.flows:
        found: CandidateReductions = cached[1]
        return found
    out = _find(d)
    d.candidate_reductions = (d.flows, out)
    return out


def _find(d: ModelData) -> CandidateReductions:
    out = CandidateReductions()
    fac = d.facilities
    cands = fac.loc[(fac["status"] == "candidate") & ~fac["external"].astype(bool), "id"].astype(str).tolist()
    if len(cands) < 2:
        return out
    facts = _Facts(d)
    groups: dict[tuple[object, ...], list[str]] = {}
    for f in cands:
        row = fac.set_index("id").loc[f]
        groups.setdefault((row["kind"], row["technology"], facts.jurisdiction[f],
                           len(facts.levels.get(f, ()))), []).append(f)
    periods = list(d.investment_years or d.years)
    single = len(periods) == 1
    closable = set(fac.loc[fac["closing_cost"].notna(), "id"])
    for members in groups.values():
        if len(members) < 2:
            continue
        keyed = {f: facts.keyed(f) for f in members}
        dom = {(e, x): facts.dominates(e, x, keyed) for e in members for x in members if e != x}
        count = {f: sum(dom[(f, x)] for x in members if x != f) for f in members}
        # the total order: more dominated, then the smaller id first (twin chains run in id order)
        rank = sorted(members, key=lambda f: (-count[f], f))
        pos = {f: i for i, f in enumerate(rank)}
        target: dict[str, tuple[str, str]] = {}
        for x in rank:
            above = [e for e in rank[:pos[x]] if dom[(e, x)]]
            if not above:
                continue
            e = above[-1]  # the nearest dominating candidate above x in the order
            twin = dom[(x, e)]
            if twin or single:
                target[x] = (e, "twin" if twin else "dominated")
        # candidates fixed closed, top of the order first; an order into a closed one is moved to its target
        if single:
            _fix_closed(d, facts, rank, target, dom, out)
        for x in rank:
            if x not in target:
                continue
            e, kind = target[x]
            out.orders.append((x, e, kind))
            if kind == "twin" and not single and (x in closable or e in closable):
                out.periods[(x, e)] = periods[:1]
            else:
                out.periods[(x, e)] = periods
    return out


def _released_stock(d: ModelData) -> np.ndarray:
    """Per supply row (position in ``d.supply``): the most packs its collection point may carry into
    its year from the year before (the previous stock row's ``upper_t``; 0 without stock), t/yr."""
    extra = np.zeros(len(d.supply))
    st = d.stock
    if st.empty:
        return extra
    prev = st["prev"].to_numpy(dtype=int)
    upper_prev = np.where(prev >= 0, st["upper_t"].to_numpy(dtype=float)[np.clip(prev, 0, None)], 0.0)
    packs = (st["kind"] == "packs").to_numpy() & (st["supply_id"].to_numpy(dtype=int) >= 0)
    np.add.at(extra, st["supply_id"].to_numpy(dtype=int)[packs], upper_prev[packs])
    return extra


def _fix_closed(d: ModelData, facts: _Facts, rank: list[str], target: dict[str, tuple[str, str]],
                dom: dict[tuple[str, str], bool], out: CandidateReductions) -> None:
    """Fix closed the dominated candidates whose dominating one can take all their flows (single
    investment period): mutates ``target`` (orders into a closed candidate go to its own target, or are
    dropped) and ``out.closed``."""
    flows = d.flows
    fac = facts.fac
    eol_only = {f: bool((flows["commodity"].to_numpy()[facts.rows[f]][
        flows["destination"].to_numpy()[facts.rows[f]] == f] == "eol_packs").all()) for f in rank}
    modular = set(fac.index[fac["max_modules"].to_numpy() > 0])
    # what a supply row's year can ship: its tonnes plus the most its collection point may have held
    # from the year before (stock released), t/yr
    tonnes = d.supply["tonnes"].to_numpy(dtype=float) + _released_stock(d)
    sid = flows["supply_id"].to_numpy()
    dest = flows["destination"].to_numpy()

    def reachable(names: set[str]) -> float:
        """Most supply per operating year, stock released included, with a lane into one of ``names``
        (t/yr)."""
        rows = np.unique(sid[np.isin(dest, list(names)) & (sid >= 0)])
        if not len(rows):
            return 0.0
        per_year = pd.Series(tonnes[rows]).groupby(d.supply["period"].to_numpy()[rows]).sum()
        return float(per_year.max())

    merged: dict[str, set[str]] = {}
    for x in rank:
        if x not in target:
            continue
        e = target[x][0]
        while e in out.closed:  # x's order points at a candidate fixed closed: its own target dominates x too
            e = out.closed[e]
            if not dom.get((e, x), False):
                del target[x]
                break
            target[x] = (e, "twin" if dom[(x, e)] else "dominated")
        if x not in target:
            continue
        simple = all(eol_only[f] and f not in modular and f not in facts.stocked
                     and f not in facts.ramp for f in (x, e))
        if not simple:
            continue
        group = merged.setdefault(e, {e}) | {x}
        if reachable(group) <= float(facts.levels[e][0, 0]):
            merged[e] = group
            out.closed[x] = e
    for x in list(out.closed):
        target.pop(x, None)
