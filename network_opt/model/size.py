r"""The size of the model, projected from the prepared data before the Pyomo model is built.

:func:`project_size` counts, family by family, the rows, columns and nonzeros that
:func:`network_opt.model.build_model` would create for a :class:`~network_opt.model.data.ModelData`,
with pandas group counts over the flow rows (no Pyomo object is made), and projects the peak
memory of the solve from them in two parts:

.. math:: M_{build} = M_0 + m_{nz}\, N_{nz}, \qquad M = s\, M_{build}

:math:`M_{build}` (:func:`memory_build_bytes`, constants :data:`BUILD_BASE_BYTES` and
:data:`BUILD_BYTES_PER_NONZERO`) is the deterministic peak of load, prepare, build, hand-off to
HiGHS and HiGHS's presolve and start LP, measured with HiGHS's ``mip_max_nodes = 0`` (no branch
and bound: the same peak however loaded the machine is) by ``benchmarks/size_estimate.py`` and
fitted by least squares on six generated sizes (table in ``benchmarks/README.md``).
:math:`M` (:func:`memory_bytes`, what :meth:`ModelSize.fits` and the refusal use) allows for
HiGHS's search with the factor :data:`SEARCH_FACTOR`. The formulas of every family are in
``docs/performance.md`` ("Size known before building").

:func:`what_fits` tries the remedies a user has when the projection exceeds the memory
available -- lane pruning to the K nearest facilities, aggregating the collection points into N
clusters, fewer periods -- by projecting the model those remedies would give, from the same
prepared data (see its docstring for how each is emulated).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from network_opt.common.errors import InputError, Problem
from network_opt.common.progress import Progress
from network_opt.inputs.instance import Instance
from network_opt.inputs.settings import SettingError
from network_opt.model.constraints.recycled_content import credit_sources, obligation_rows
from network_opt.model.data import ModelData

#: Deterministic part, :func:`memory_build_bytes`: peak resident set size through load + prepare +
#: build + hand-off + HiGHS's presolve and start LP (``mip_max_nodes = 0``), bytes =
#: BUILD_BASE_BYTES + BUILD_BYTES_PER_NONZERO x nonzeros. Least squares on generated instances of
#: 3,310 to 1.9 million nonzeros (20x6x2 ... 600x80x2, strong linking), every one within 6 %
#: (``benchmarks/size_estimate.py --max-nodes 0``; columns and rows grow with the nonzeros on these
#: instances, so the fit keeps one term). The base is the process with Python, pandas, Pyomo,
#: highspy and geopandas imported.
BUILD_BASE_BYTES = 210e6
BUILD_BYTES_PER_NONZERO = 800.0
#: Allowance for HiGHS's branch and bound on top of the deterministic part: :func:`memory_bytes`
#: = SEARCH_FACTOR x :func:`memory_build_bytes`. On 150x25x2 (166,000 nonzeros; 352 MB with
#: ``mip_max_nodes = 0``) the root node complete peaked at 586-606 MB (x 1.7) and the solve to
#: optimality at 653 MB (x 1.85). A long branch and bound can exceed it (the tree grows with the
#: search: the 3,000-point instance of ``benchmarks/README.md`` passed 16 GB after 10 minutes).
SEARCH_FACTOR = 2.0
#: Projected peak of an empty model (the base of :func:`memory_bytes`), bytes.
BASE_BYTES = SEARCH_FACTOR * BUILD_BASE_BYTES

#: Default lane pruning: when an instance that does not set ``transport.nearest_facilities``
#: would have more flow variables than this, its lanes are pruned to the
#: :data:`DEFAULT_PRUNE_K` nearest destinations of each kind and technology per origin. Above
#: every shipped instance and every test instance (the largest shipped one, china-2025-2032, has
#: about 70,000 flows; 1,000,000 flows take about 7 GB unpruned).
PRUNE_ABOVE_FLOWS = 1_000_000
DEFAULT_PRUNE_K = 10
#: Environment variable read by :func:`available_memory` (same syntax as ``--memory-limit``).
MEMORY_LIMIT_ENV = "NETWORK_OPT_MEMORY_LIMIT"


@dataclass
class ModelSize:
    """Projected size of a model: HiGHS rows and nonzeros, Pyomo variables (``columns``) of which
    ``integers`` are integer or binary, and the peak memory of the solve in bytes: ``memory_bytes``
    with HiGHS's search allowed for (:data:`SEARCH_FACTOR`; what :meth:`fits` and the refusal use),
    ``memory_build_bytes`` through build, hand-off and HiGHS's presolve and start LP."""

    rows: int
    columns: int
    integers: int
    nonzeros: int
    memory_bytes: int
    flows: int = 0
    memory_build_bytes: int = 0
    lanes: dict[str, int] = field(default_factory=dict)
    rows_by_family: dict[str, int] = field(default_factory=dict)
    nonzeros_by_family: dict[str, int] = field(default_factory=dict)

    @property
    def continuous(self) -> int:
        return self.columns - self.integers

    def fits(self, available_bytes: int | None = None) -> bool:
        """True when the projected peak memory is within ``available_bytes`` (default:
        :func:`available_memory`)."""
        avail = available_memory() if available_bytes is None else available_bytes
        return self.memory_bytes <= avail

    def as_dict(self) -> dict[str, object]:
        """Figures for ``summary.json`` (``projected``)."""
        out = asdict(self)
        out["continuous"] = self.continuous
        return out

    def describe(self) -> str:
        """One line: rows, columns (continuous / integer), nonzeros, memory."""
        return (f"{self.rows:,} rows, {self.columns:,} columns ({self.continuous:,} continuous, "
                f"{self.integers:,} integer), {self.nonzeros:,} nonzeros, peak memory about "
                f"{format_bytes(self.memory_bytes)}")


def format_bytes(n: float) -> str:
    """``1.2 GiB``, ``350 MiB`` (binary units, as ``--memory-limit 8G`` and ``free -h`` count)."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}" if n / scale < 100 else f"{n / scale:,.0f} {unit}"
    return f"{n / 2**10:.0f} KiB"


def parse_bytes(text: str) -> int:
    """``8G``, ``512M``, ``2.5GB``, ``1000000`` (bytes) -> bytes; binary multiples (G = 2**30)."""
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in "KMGT" and t else t
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a memory size: {text!r} (examples: 8G, 512M, 2000000000)") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"not a memory size: {text!r} (must be positive)")
    return int(value * scale)


def limit_set() -> int | None:
    """The memory limit a user set (bytes): ``NETWORK_OPT_MEMORY_LIMIT``, or None."""
    env = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    return parse_bytes(env) if env else None


def available_memory() -> int:
    """Bytes this process may use: ``NETWORK_OPT_MEMORY_LIMIT`` when set, else the kernel's
    ``MemAvailable`` (``/proc/meminfo``), else free physical pages (``os.sysconf``); capped by
    the cgroup's memory limit when there is one (containers, batch schedulers)."""
    limit = limit_set()
    if limit is not None:
        return limit
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 2**62
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            used = 0
            for cur in ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"):
                try:
                    used = int(Path(cur).read_text().strip())
                    break
                except (OSError, ValueError):
                    continue
            avail = min(avail, max(int(text) - used, 0))
            break
    return int(avail)


def memory_build_bytes(rows: int, columns: int, nonzeros: int) -> int:
    """Projected peak memory (bytes) through load, prepare, build, hand-off and HiGHS's presolve and
    start LP (no branch and bound) of a model of this size; ``rows`` and ``columns`` are not in
    the fit (see :data:`BUILD_BYTES_PER_NONZERO`)."""
    return int(BUILD_BASE_BYTES + BUILD_BYTES_PER_NONZERO * nonzeros)


def memory_bytes(rows: int, columns: int, nonzeros: int) -> int:
    """Projected peak memory (bytes) of a solve with this model size, HiGHS's search included:
    :data:`SEARCH_FACTOR` x :func:`memory_build_bytes`."""
    return int(SEARCH_FACTOR * memory_build_bytes(rows, columns, nonzeros))


def _groups(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    """Row counts of ``frame`` per key ``by`` (a Series with a MultiIndex, or one level)."""
    if frame.empty:
        return pd.Series(dtype="int64")
    return frame.groupby(by, sort=False).size()


def _matched(frame: pd.DataFrame, by: list[str], keys: pd.Index) -> int:
    """Rows of ``frame`` whose key ``by`` is among ``keys``."""
    if frame.empty or not len(keys):
        return 0
    idx = pd.MultiIndex.from_frame(frame[by]) if len(by) > 1 else pd.Index(frame[by[0]])
    return int(idx.isin(keys).sum())


def project_size(d: ModelData, flows: pd.DataFrame | None = None, supply: pd.DataFrame | None = None,
                 years: list[int] | None = None) -> ModelSize:
    """Rows, columns, integers and nonzeros of the model :func:`~network_opt.model.build_model`
    makes from ``d``, and its projected peak memory, without building it.

    ``flows``, ``supply`` and ``years`` replace ``d``'s (a subset of their rows): the projection of
    a smaller model (pruned lanes, fewer collection points or periods, see :func:`what_fits`).
    Counts are exact for the model's families as built (equal to the compiled HiGHS model's
    rows and nonzeros on every shipped instance; ``tests/test_size.py``), except that
    coefficients that happen to be exactly zero in the balance rows still count as nonzeros.
    """
    from network_opt.model.constraints.targets import (
        collection_rows,
        rate_coefficients,
        second_life_supply,
        target_rows,
    )

    f = d.flows if flows is None else flows
    s = d.supply if supply is None else supply
    years = list(d.years if years is None else years)
    if flows is not None or years != list(d.years):
        f = f.loc[f["period"].isin(years)]
    if supply is not None or years != list(d.years):
        s = s.loc[s["period"].isin(years)]
    inst = d.inst
    of = d.period_of or {y: y for y in d.years}
    n_p = len({of[y] for y in years})  # investment periods: the index of the level and investment columns
    fac = d.facilities
    lv = d.levels
    nlev = lv.groupby("facility").size()
    closable = set(fac.loc[fac["closing_cost"].notna(), "id"])
    modular = set(fac.loc[(fac["max_modules"] > 0) & (fac["module_capacity_t"] > 0), "id"])
    investing = set(d.investment_scale.index)
    initial = set(lv.loc[lv["initial"], "facility"])
    multi = set(nlev.index[nlev > 1])
    n_s, n_f = len(s), len(f)
    has_unc = inst.settings.uncollected.allowed
    has_disp = inst.settings.disposal.allowed
    n_t = len(d.targets.loc[d.targets["period"].isin(years)]) if len(d.targets) else 0
    soft = inst.settings.targets.soft and len(d.targets) > 0

    # columns (Pyomo variables, in the order of add_variables)
    st = d.stock
    if len(st):  # stock rows of the years kept, packs only of the supply rows kept
        st = st.loc[st["period"].isin(years) & ((st["kind"] != "packs") | st["supply_id"].isin(s.index))]
    ramp = d.ramp.loc[d.ramp["period"].isin(years)] if len(d.ramp) else d.ramp
    ramp_keys = sorted(set(zip(ramp["facility"], ramp["investment_period"], strict=True))) if len(ramp) else []
    cols = {"flow": n_f, "level_open": len(lv) * n_p, "investment": len(investing) * n_p,
            "closed": len(closable) * n_p, "modules": len(modular) * n_p,
            "uncollected": n_s if has_unc else 0, "disposed": n_s if has_disp else 0,
            "shortfall": n_t if soft else 0, "stock": len(st), "added_capacity": len(ramp_keys)}
    integers = cols["level_open"] + cols["modules"]

    rows: dict[str, int] = {}
    nnz: dict[str, int] = {}

    def add(name: str, r: int, z: int) -> None:
        rows[name], nnz[name] = int(r), int(z)

    commodity = f["commodity"]
    kind = f["dest_kind"]
    eol = f.loc[f["supply_id"] >= 0, ["supply_id"]] if n_f else f
    kept_stock = set(st.index)
    linked = st["prev"].isin(kept_stock) if len(st) else pd.Series(dtype=bool)  # -h of the year before
    packs = (st["kind"] == "packs") if len(st) else pd.Series(dtype=bool)
    add("supply_balance", n_s, (eol["supply_id"].isin(s.index).sum() if len(eol) else 0)
        + n_s * (has_unc + has_disp) + int(packs.sum() + (packs & linked).sum()))

    into_refurb = f.loc[kind == "refurbisher"]
    sold = f.loc[commodity == "second_life_packs"]
    key4 = ["chemistry", "grade", "period"]
    inflow = _groups(into_refurb, ["destination", *key4])
    add("refurbisher_output", len(inflow), len(into_refurb) + _matched(sold, ["origin", *key4], inflow.index))

    eta = fac.set_index("id")["test_yield"]
    rejecting = set(eta.index[eta < 1.0])
    rj_in = into_refurb.loc[into_refurb["destination"].isin(rejecting)]
    rj_keys = _groups(rj_in, ["destination", "chemistry", "period"])
    rejects = f.loc[commodity == "rejects"]
    add("refurbisher_rejects", len(rj_keys),
        len(rj_in) + _matched(rejects, ["origin", "chemistry", "period"], rj_keys.index))

    into_pre = f.loc[kind == "preprocessor"]
    pre_keys = _groups(into_pre, ["destination", "chemistry", "jurisdiction", "period"]).index
    bm = f.loc[commodity == "black_mass"]
    black = st.loc[st["kind"] == "black_mass"] if len(st) else st
    if len(black):  # rows where black mass may only leave stock, and the stock terms
        stock_keys = pd.MultiIndex.from_frame(black[["holder", "chemistry", "jurisdiction", "period"]])
        pre_keys = pre_keys.union(stock_keys) if len(pre_keys) else stock_keys
    add("preprocessor_output", len(pre_keys),
        len(into_pre) + _matched(bm, ["origin", "chemistry", "jurisdiction", "period"], pre_keys)
        + len(black) + int(black["prev"].isin(kept_stock).sum() if len(black) else 0))

    # returns: (market, chemistry, q) for q with R[p, q] > 0 for some period p of a sale
    r_rows = r_nnz = 0
    if len(sold) and d.returns:
        app = inst["markets"].set_index("id")["application"]
        index = {p: n for n, p in enumerate(d.years)}
        sold_n = _groups(sold, ["destination", "chemistry", "period"])
        back = f.loc[commodity == "returns"]
        back_n = _groups(back, ["origin", "chemistry", "period"]).to_dict() if len(back) else {}
        by_mk: dict[tuple[str, str], dict[int, int]] = {}
        for (mk, k, p), c in zip(sold_n.index, sold_n, strict=True):  # = .items(), typed (keys: Hashable)
            by_mk.setdefault((mk, k), {})[int(p)] = int(c)
        for (mk, k), per in by_mk.items():
            r = d.returns.get(str(app[mk]))
            if r is None:
                continue
            for q in years:
                terms = sum(c for p, c in per.items() if r[index[p], index[q]] > 0)
                if any(r[index[p], index[q]] > 0 for p in per):
                    r_rows += 1
                    r_nnz += terms + back_n.get((mk, k, q), 0)
    add("returns_balance", r_rows, r_nnz)

    kwh = sold["usable_kwh_per_t"].to_numpy() if len(sold) else np.zeros(0)
    add("market_demand", len(_groups(sold, ["destination", "period"])), int(np.count_nonzero(kwh)))

    n_multi = int(nlev[list(multi)].sum()) if multi else 0
    add("level_choice", len(multi) * n_p, n_multi * n_p)

    cont_rows = cont_nnz = 0
    for fid, n in nlev.items():
        c = int(fid in closable)
        if fid in initial and n_p:
            cont_rows += 1
            cont_nnz += int(n) + c
        cont_rows += max(n_p - 1, 0)
        cont_nnz += max(n_p - 1, 0) * (2 * int(n) + c)
    add("facility_continuity", cont_rows, cont_nnz)
    add("capacity_growth", len(multi) * max(n_p - 1, 0),
        sum(max(n_p - 1, 0) * (2 * int(nlev[x]) + int(x in closable)) for x in multi))

    cost = lv.assign(paid=lv["opening_cost"] != 0).groupby("facility")["paid"].sum()
    mod_cost = fac.set_index("id")["module_opening_cost"]
    inv_nnz = 0
    for x in investing:
        paid = int(cost.get(x, 0))
        mods = x in modular and mod_cost[x] > 0
        inv_nnz += (1 + paid + int(mods)) + max(n_p - 1, 0) * (1 + 2 * paid + 2 * int(mods))
    add("opening_investment", len(investing) * n_p, inv_nnz)
    add("module_growth", len(modular) * max(n_p - 1, 0),
        sum(max(n_p - 1, 0) * (2 + int(x in closable)) for x in modular))
    add("module_needs_open", len(modular) * n_p, sum(n_p * (1 + int(nlev.get(x, 0))) for x in modular))

    # only the key columns: a take of every flow column costs 1.6 s nationally
    into_fac = f.loc[kind != "market", ["destination", "period"]]
    fp = _groups(into_fac, ["destination", "period"])
    nz_cap = lv.assign(nz=lv["capacity_t"] != 0).groupby("facility")["nz"].sum()
    mod_cap = fac.set_index("id")["module_capacity_t"]
    extra = 0
    if len(fp):
        dest = fp.index.get_level_values(0)
        extra = int(pd.Series(dest).map(nz_cap).fillna(0).sum()
                    + sum(1 for x in dest if x in modular and mod_cap[x] != 0))
    if len(ramp) and len(fp):  # the ramp-up terms of the rows kept
        extra += _matched(ramp, ["facility", "period"], fp.index)
    add("facility_capacity", len(fp), len(into_fac) + extra)
    ramp_nnz = 0
    first = min((of[y] for y in years), default=None)
    for fid, built in ramp_keys:
        nz = int(nz_cap.get(fid, 0)) + int(fid in modular and mod_cap[fid] != 0)
        ramp_nnz += 1 + (nz if built == first else 2 * nz)
    add("ramp_up", len(ramp_keys), ramp_nnz)
    if len(st):
        per_site = st.groupby(["site", "period"]).size()
        add("stock_cap", int((per_site > 1).sum()), int(per_site[per_site > 1].sum()))
        age = inst.settings.stock.max_age_years
        index = {y: n for n, y in enumerate(d.years)}
        beta_nz = into_pre.loc[into_pre["black_mass_yield"] != 0]
        made = beta_nz.groupby(["destination", "chemistry", "jurisdiction", "period"]).size().to_dict()
        age_nnz = 0
        for h, k, j, y in zip(black["holder"], black["chemistry"], black["jurisdiction"], black["period"],
                              strict=True):
            window = [d.years[index[y] - a] for a in range(age) if index[y] - a >= 0]
            age_nnz += 1 + sum(made.get((h, k, j, q), 0) for q in window)
        add("stock_age", len(black), age_nnz)
    else:
        add("stock_cap", 0, 0)
        add("stock_age", 0, 0)

    if inst.settings.model.strong_linking and n_f:
        share = float(inst.settings.model.link_max_share)
        bound = f["upper_bound_t"].to_numpy(dtype=float)
        link_rows = (bound < share * f["facility_cap_t"].to_numpy(dtype=float) * (1 - 1e-12) if share > 0
                     else np.ones(n_f, dtype=bool))
        bounded = (bound != 0) & link_rows
        link = int(f["facility"].map(nlev).fillna(0).to_numpy()[bounded].sum())
        add("lane_link", int(link_rows.sum()), int(link_rows.sum()) + link)
    else:
        add("lane_link", 0, 0)

    # capacity cover: one row per year with supply (add_capacity_cover)
    takers = set(fac.loc[fac["kind"].isin(("refurbisher", "recycler", "preprocessor")), "id"])
    t_cap = lv.loc[lv["facility"].isin(takers), "capacity_t"].to_numpy(dtype=float)
    t_mod = fac.loc[fac["id"].isin(takers & modular), "module_capacity_t"].to_numpy(dtype=float)
    if inst.settings.model.capacity_cover and n_s and np.isfinite(t_cap).all() and np.isfinite(t_mod).all():
        per_year = s.groupby("period")["tonnes"].agg(["sum", "size"])
        per_year = per_year.loc[per_year["sum"] > 0]
        n_cover = len(per_year)
        per_row = int((t_cap != 0).sum()) + len(t_mod)
        escapes = int(per_year["size"].sum()) * (int(has_unc) + int(has_disp))
        if len(st):  # packs in stock: + this year's, - the year before's (as in supply_balance)
            held = st.loc[st["kind"] == "packs"]
            held = held.loc[held["supply_id"].map(s["period"]).isin(per_year.index)]
            escapes += len(held) + int(held["prev"].isin(kept_stock).sum())
        add("capacity_cover", n_cover, n_cover * per_row + escapes)
    else:
        add("capacity_cover", 0, 0)

    # candidate reductions (add_candidate_reductions): found on d itself (not on a subset of its flows)
    if inst.settings.model.candidate_reductions:
        from network_opt.model.reductions import find_reductions

        red = find_reductions(d)
        order = [(lo, hi, q) for lo, hi, _k in red.orders for q in red.periods[(lo, hi)]]
        add("candidate_order", len(order), sum(int(nlev[lo]) + int(nlev[hi]) for lo, hi, _q in order))
        inv = d.investment_years or d.years
        add("candidate_closed", len(red.closed) * len(inv), sum(int(nlev[x]) for x in red.closed) * len(inv))
    else:
        add("candidate_order", 0, 0)
        add("candidate_closed", 0, 0)

    # targets: the same row sets as the builders, restricted to the flows and supply kept
    t_val = d.targets["value"].to_numpy() if len(d.targets) else np.zeros(0)
    col = {mu: n for n, mu in enumerate(d.materials)}
    kept_f = f.index.to_numpy()
    kept_s = s.index.to_numpy()
    t_years = set(years)

    def in_scope(metric: str) -> dict[int, np.ndarray]:
        if not len(d.targets):
            return {}
        out = target_rows(d, metric)
        keep = kept_s if metric == "collection_rate" else kept_f
        full = len(keep) == (len(d.supply) if metric == "collection_rate" else len(d.flows))
        return {t: (r if full else np.intersect1d(r, keep)) for t, r in out.items()
                if int(d.targets["period"][t]) in t_years}

    tr: dict[str, tuple[int, int]] = {}
    if len(d.targets):  # rows as collection_rows gives them (placed-on-market rows may have no u term)
        built = collection_rows(d, has_unc)
        pom = d.targets["scope"].to_numpy() == "placed_on_market"
        rr = {t: (r if has_unc else r[:0]) for t, r in in_scope("collection_rate").items() if t in built}
        rr = {t: r for t, r in rr.items() if len(r) or pom[t]}
        tr["target_collection_rate"] = (len(rr), sum(len(r) + soft for r in rr.values()))
    r_e = z_e = 0
    for t, r in in_scope("recycling_efficiency").items():
        eff, mass = rate_coefficients(d, t, r)
        k = int(np.count_nonzero(eff - t_val[t] * mass)) + soft
        r_e, z_e = r_e + (k > 0), z_e + k
    tr["target_recycling_efficiency"] = (r_e, z_e)
    r_m = z_m = 0
    material = d.targets["material"].to_numpy() if len(d.targets) else np.zeros(0)
    for t, r in in_scope("material_recovery").items():
        recovered, entering = rate_coefficients(d, t, r)
        k = int(np.count_nonzero(recovered - t_val[t] * entering)) + soft
        r_m, z_m = r_m + (k > 0), z_m + k
    tr["target_material_recovery"] = (r_m, z_m)
    sl_rows = {t: r for t, r in in_scope("second_life_priority").items()
               if t_val[t] * second_life_supply(d, t) > 0}
    tr["target_second_life_priority"] = (len(sl_rows), sum(len(r) + soft for r in sl_rows.values()))
    r_d = z_d = 0
    for t, r in in_scope("domestic_recovery").items():
        if t_val[t] > 0:
            r_d += 1
            z_d += int(np.count_nonzero(d.recovered[r, col[material[t]]])) + soft
    tr["target_domestic_recovery"] = (r_d, z_d)
    # recycled content: one column per (obligation, facility), one row per obligation, one
    # allocation row per (facility, material, period) drawn on
    pairs, sources = credit_sources(d, flows=f, years=t_years)
    cols["credit"] = len(pairs)
    tr["recycled_content"] = (len(obligation_rows(d, t_years)),
                              len(pairs) + (len(obligation_rows(d, t_years)) if soft else 0))
    tr["recycled_content_allocation"] = (len(sources), len(pairs) + sum(len(r) for r in sources.values()))
    for name, (n_rows_t, n_nz_t) in tr.items():
        add(name, n_rows_t, n_nz_t)

    if inst.settings.emissions.cap_t >= 0 and n_f:
        co2 = f["co2e_per_t"].to_numpy() != 0
        by_period = pd.Series(co2).groupby(f["period"].to_numpy()).agg(["size", "sum"])
        add("emissions_cap", int((by_period["sum"] > 0).sum()), int(by_period["sum"].sum()))  # no term: no row

    n_rows, n_cols, n_nz = sum(rows.values()), sum(cols.values()), sum(nnz.values())
    lanes = d.lanes if flows is None else d.lanes.loc[d.lanes.index.isin(f["lane"].unique())]
    return ModelSize(rows=n_rows, columns=n_cols, integers=integers, nonzeros=n_nz,
                     memory_bytes=memory_bytes(n_rows, n_cols, n_nz), flows=n_f,
                     memory_build_bytes=memory_build_bytes(n_rows, n_cols, n_nz),
                     lanes={str(k): int(v) for k, v in lanes.groupby("commodity").size().items()},
                     rows_by_family=rows, nonzeros_by_family=nnz)


class ModelTooLarge(InputError):
    """The projected peak memory of the solve exceeds the memory available (``--force`` solves
    anyway). ``size`` is the projection, ``available`` the bytes available, ``options`` the
    remedies that fit (command-line options or instance edits, each with its projection), ``limit``
    what set ``available`` when a user did (``--memory-limit``, or :data:`MEMORY_LIMIT_ENV`; None:
    measured on this machine)."""

    def __init__(self, file: str, size: ModelSize, available: int, options: list[tuple[str, ModelSize]],
                 limit: str | None = None):
        self.size, self.available, self.options = size, available, options
        room = (f"the memory limit set ({limit}) is {format_bytes(available)}" if limit is not None
                else f"{format_bytes(available)} is available")
        lines = [f"the model would need about {format_bytes(size.memory_bytes)} of memory "
                 f"({size.rows:,} rows, {size.columns:,} columns, {size.nonzeros:,} nonzeros) but "
                 f"{room}; nothing was built"]
        if options:
            lines.append("options that fit (projected):")
            lines += [f"  {what}: {s.rows:,} rows, {s.nonzeros:,} nonzeros, about {format_bytes(s.memory_bytes)}"
                      for what, s in options]
        else:
            lines.append("no single remedy tried fits (--prune, --aggregate, fewer periods); combine them or use "
                         "a machine with more memory")
        lines.append("or solve anyway with --force (the operating system may stop the process when memory runs "
                     "out), or " + (f"raise the limit ({limit})" if limit is not None
                                    else "set the limit with --memory-limit"))
        super().__init__([Problem(file, 0, "", "\n".join(lines))])


def _destination_class(d: ModelData) -> pd.Series:
    """node -> the class :func:`network_opt.inputs.lanes._pairs` ranks destinations in (kind/technology;
    markets one class)."""
    fac = d.facilities
    cls = pd.Series((fac["kind"] + "/" + fac["technology"].fillna("")).to_numpy(), index=fac["id"].to_numpy())
    markets = d.inst["markets"]
    if len(markets):
        cls = pd.concat([cls, pd.Series("market", index=markets["id"].to_numpy())])
    return cls


def pruned_flows(d: ModelData, k: int) -> pd.DataFrame:
    """The flow rows kept when lanes are pruned to the ``k`` nearest destinations of each kind and
    technology per origin (``transport.nearest_facilities = k``), explicit lanes kept: lanes are
    ranked by length per (commodity, origin, destination class) among the lanes of ``d`` (those
    within ``transport.max_lane_km``). An upper bound of what a re-prepared instance gives: flows
    that pruning removes further downstream (e.g. black mass of a pre-processor no longer
    reached) are kept here."""
    lanes = d.lanes
    if not len(lanes) or k <= 0:
        return d.flows
    pairs = lanes[["commodity", "origin", "destination", "origin_site", "destination_site", "distance_km"]]
    pairs = pairs.drop_duplicates(["commodity", "origin", "destination"])
    cls = pairs["destination"].map(_destination_class(d)).fillna("")
    rank = pairs["distance_km"].groupby([pairs["commodity"], pairs["origin"], cls]).rank(method="first")
    listed = d.inst["lanes"]
    explicit = pd.Series(False, index=pairs.index)
    if len(listed):
        ok = listed.loc[listed["allowed"].fillna(True).astype(bool)] if "allowed" in listed else listed
        for c, rows in ok.groupby("commodity"):
            hit = pd.MultiIndex.from_frame(pairs[["origin_site", "destination_site"]]).isin(
                pd.MultiIndex.from_frame(rows[["origin", "destination"]]))
            explicit |= hit & ((pairs["commodity"] == c) | (c == "")).to_numpy()
    kept = pairs.loc[(rank <= k) | explicit, ["commodity", "origin", "destination"]]
    lane_key = pd.MultiIndex.from_frame(lanes[["commodity", "origin", "destination"]])
    keep_lane = np.flatnonzero(lane_key.isin(pd.MultiIndex.from_frame(kept)))
    return d.flows.loc[d.flows["lane"].isin(lanes.index[keep_lane])]


def clustered(d: ModelData, n: int, flows: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flows and supply rows standing for ``--aggregate n``: those of the ``n`` collection points
    with the most end-of-life flows (a cluster reaches about what its best-connected member
    reaches, and offers every chemistry and grade of its members); flows not leaving a collection
    point are kept as they are (an upper bound)."""
    f = d.flows if flows is None else flows
    eol = f.loc[f["supply_id"] >= 0]
    per_point = eol.groupby("origin").size().sort_values(ascending=False, kind="stable")
    keep = set(per_point.index[:n])
    s = d.supply.loc[d.supply["site"].isin(keep)]
    return f.loc[(f["supply_id"] < 0) | f["origin"].isin(keep)], s


def what_fits(d: ModelData, available: int, aggregate: int | None = None) -> list[tuple[str, ModelSize]]:
    """Remedies whose projected model fits in ``available`` bytes, each as (what to do, projection):
    the largest ``--prune K`` (K in 20, 10, 5, 3, 2, 1 below the instance's setting), the largest
    ``--aggregate N`` (bisection between the number of jurisdictions and of collection points), and
    the most periods kept
    (the first T of ``periods:`` in instance.yaml). Projections from ``d`` without re-preparing it:
    see :func:`pruned_flows` and :func:`clustered`."""
    out: list[tuple[str, ModelSize]] = []
    inst = d.inst
    k_now = inst.settings.transport.nearest_facilities
    if not inst.settings.transport.explicit_lanes_only:
        for k in (20, 10, 5, 3, 2, 1):
            if k_now and k >= k_now:
                continue
            size = project_size(d, flows=pruned_flows(d, k))
            if size.fits(available):
                out.append((f"--prune {k}", size))
                break
    points = int(d.supply["site"].nunique())
    groups = int(inst["sites"].set_index("id").loc[d.supply["site"].unique(), "jurisdiction"].nunique()) if points \
        else 0
    lo, hi, best = max(groups, 1), points - 1, None  # the largest N that fits, by bisection
    while lo <= hi:
        n = (lo + hi) // 2
        f, s = clustered(d, n)
        size = project_size(d, flows=f, supply=s)
        if size.fits(available):
            best, lo = (n, size), n + 1
        else:
            hi = n - 1
    if best is not None:
        again = "" if aggregate is None else f" (instead of --aggregate {aggregate})"
        out.append((f"--aggregate {best[0]}" + again, best[1]))
    invest = d.investment_years or d.years
    of = d.period_of or {y: y for y in d.years}
    for t in range(len(invest) - 1, 0, -1):
        size = project_size(d, years=[y for y in d.years if of[y] in invest[:t]])
        if size.fits(available):
            span = str(invest[0]) if t == 1 else f"{invest[0]}-{invest[t - 1]}"
            out.append((f"keep the first {t} of the {len(invest)} periods in instance.yaml ({span})", size))
            break
    return out


def with_prune(inst: Instance, prune: int) -> Instance:
    """A copy of ``inst`` with ``--prune K`` (``transport.nearest_facilities = K``); raises
    :class:`~network_opt.common.errors.InputError` on a K the setting refuses."""
    try:
        return inst.with_settings({"transport.nearest_facilities": prune})
    except SettingError as exc:
        raise InputError([Problem("--prune", 0, "", str(exc))]) from None


def prepare_sized(inst: Instance, prune: int | None = None, *, progress: Progress | None = None
                  ) -> tuple[ModelData, ModelSize, dict[str, object]]:
    """Prepare ``inst`` (:func:`~network_opt.model.data.prepare`) with the lane pruning in force,
    and project the model's size; return the data, the projection and the pruning record
    (``summary["pruning"]``).

    ``prune``: ``--prune K`` (sets ``transport.nearest_facilities``; 0 switches pruning off,
    default pruning included). Without it and without the setting in the instance, an instance
    with more than :data:`PRUNE_ABOVE_FLOWS` flow variables is pruned to the
    :data:`DEFAULT_PRUNE_K` nearest destinations (the record and a warning say so).
    """
    from network_opt.model.data import prepare

    if prune is not None:  # on a copy: the caller's instance keeps its settings
        inst = with_prune(inst, prune)
    k = inst.settings.transport.nearest_facilities
    source = "--prune" if prune is not None else ("instance" if k else "none")
    data = prepare(inst)
    record: dict[str, object] = {"nearest_facilities": k, "source": source, "flows": len(data.flows),
                                 "threshold_flows": PRUNE_ABOVE_FLOWS, "default_k": DEFAULT_PRUNE_K}
    if (prune is None and not k and len(data.flows) > PRUNE_ABOVE_FLOWS
            and not inst.settings.transport.explicit_lanes_only):
        unpruned = len(data.flows)
        if progress is not None:
            progress.phase(f"{unpruned:,} flows (more than {PRUNE_ABOVE_FLOWS:,}): pruning lanes to the "
                           f"{DEFAULT_PRUNE_K} nearest facilities of each kind and technology")
        del data
        inst = inst.with_settings({"transport.nearest_facilities": DEFAULT_PRUNE_K})
        data = prepare(inst)
        record.update({"nearest_facilities": DEFAULT_PRUNE_K, "source": "default", "flows": len(data.flows),
                       "flows_unpruned": unpruned,
                       "warning": f"lanes pruned to the {DEFAULT_PRUNE_K} nearest facilities of each kind and "
                                  f"technology per origin by default ({unpruned:,} flows without pruning, more "
                                  f"than {PRUNE_ABOVE_FLOWS:,}): {len(data.flows):,} flows; the optimum may "
                                  "differ from the unpruned network's; --prune 0 solves without pruning"})
    return data, project_size(data), record
