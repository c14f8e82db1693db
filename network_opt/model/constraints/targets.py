"""Regulatory targets, one linear constraint per (target, period) in force.

A flow counts towards the jurisdiction in its ``jurisdiction`` column (see
:mod:`network_opt.inputs.lanes`); a target on a group covers every member. With soft targets each
constraint gains a shortfall variable, penalised in the objective; it is measured in tonnes of
the quantity the target counts (packs, recycled mass, material).
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from network_opt.common.errors import InputError, Problem
from network_opt.inputs.jurisdictions import covered
from network_opt.inputs.lanes import grades
from network_opt.inputs.read import ROW
from network_opt.inputs.schema import MATERIAL_SUM_SEPARATOR
from network_opt.model.data import RECYCLING_KINDS, ModelData, group_rows, yield_matrix
from network_opt.model.linear import linear, picked, var_list, weighted


def _collect(groups: dict, jurisdictions: set[str], period: int) -> np.ndarray:
    parts = [groups[(j, period)] for j in sorted(jurisdictions) if (j, period) in groups]
    return np.concatenate(parts) if parts else np.array([], dtype=int)


def target_rows(d: ModelData, metric: str) -> dict[int, np.ndarray]:
    """For each target row of ``metric``: the flow rows (or, for collection_rate, the supply
    rows; for second_life_priority, the flows into refurbishers) it counts. A row of scope
    ``facility``, ``chain`` or ``step`` counts the flows into its facility in its period.
    Found once per metric (:meth:`ModelData.once`) for the size projection, the build and the
    result tables; the arrays are shared, so callers must not change them."""
    return d.once(("target_rows", metric), lambda: _target_rows(d, metric))


def _target_rows(d: ModelData, metric: str) -> dict[int, np.ndarray]:
    t = d.targets
    f = d.flows
    facility = t.get("facility", None)
    if facility is not None and (facility != "").any():
        mine = t.loc[(t["metric"] == metric) & (facility != "")]
        at = ["destination", "period"]
        into = group_rows(f.loc[f["dest_kind"].isin(RECYCLING_KINDS), at], at)
        own = {int(cast(int, k)): into.get((str(r.facility), int(r.period)), np.array([], dtype=int))
               for k, r in mine.iterrows()}
        t = t.loc[facility == ""]
    else:
        own = {}
    # the rows taken with only their key columns: a take of every flow column costs seconds nationally
    if metric == "collection_rate":
        groups = group_rows(d.supply, ["jurisdiction", "period"])
    elif metric == "second_life_priority":
        key = ["jurisdiction", "period"]
        groups = group_rows(f.loc[(f["dest_kind"] == "refurbisher") & (f["commodity"] == "eol_packs"), key], key)
    else:
        key = ["site_jurisdiction" if metric == "domestic_recovery" else "jurisdiction", "period"]
        groups = group_rows(f.loc[f["dest_kind"].isin(RECYCLING_KINDS), key], key)
    # cast: the targets table has a RangeIndex, so its labels are ints
    pooled = {int(cast(int, k)): _collect(groups, covered(d.inst, r.jurisdiction), int(r.period))
              for k, r in t.loc[t["metric"] == metric].iterrows()}
    return dict(sorted({**pooled, **own}.items()))


def rate_coefficients(d: ModelData, t: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For target row ``t`` of a recycling_efficiency or material_recovery target and its flow
    rows ``rows``: what each tonne of flow counts in the numerator (mass recycled, material
    recovered) and in the base (mass, material entering). Pooled rows measure the mass and
    material entering recycling (packs into recyclers and pre-processors); facility rows the mass
    and material entering the facility itself (for a refiner, the black mass and its content);
    chain rows measure a refiner from the packs (:func:`chain_coefficients`); step rows the
    material entering the facility's smelting / refining step (:func:`step_coefficients`)."""
    r = d.targets.loc[t]
    facility = bool(r.get("facility", ""))
    if r["metric"] == "recycling_efficiency":
        if facility and r.get("scope", "") == "chain":
            return chain_coefficients(d, rows, None)
        num = d.flows["recycled_t"].to_numpy()[rows]
        base = d.flows["input_mass_t" if facility else "mass_entering_t"].to_numpy()[rows]
        return num, base
    # a rate on a sum of materials (``Li+Ni+Co+Mn``): the tonnes of all of them, recovered and entering
    num, base = np.zeros(len(rows)), np.zeros(len(rows))
    for material in str(r["material"]).split(MATERIAL_SUM_SEPARATOR):
        a, c = _material_coefficients(d, str(r.get("scope", "")) if facility else "", rows, material)
        num, base = num + a, base + c
    return num, base


def _material_coefficients(d: ModelData, scope: str, rows: np.ndarray,
                           material: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rate_coefficients` of one material of a material_recovery row; ``scope`` is the
    row's scope for a per-facility row, "" for a pooled one."""
    if scope == "chain":
        return chain_coefficients(d, rows, material)
    if scope == "step":
        return step_coefficients(d, rows, material)
    j = d.materials.index(material)
    return d.recovered[rows, j], (d.input_content if scope else d.entering)[rows, j]


def chain_coefficients(d: ModelData, rows: np.ndarray, material: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Lane-level chain coefficients of the flow rows ``rows`` for a rate measured over the whole
    route from the packs (scope ``chain``): per tonne of flow, what counts in the numerator and in
    the base, for the mass (``material`` None) or for ``material``.

    Packs into an integrated recycler count as in scope ``facility``. A tonne of black mass from
    pre-processor p (black-mass yield beta_p) into a refiner was made from 1 / beta_p t of packs
    holding c_k / beta_p t of the material (c_k: the pack content of its chemistry k). This is
    the black mass's own content c^B_k divided by the pre-processor's capture of the material
    into black mass, beta_p c^B_k / c_k (how the instances derive ``black_mass_kg_per_t``), and
    stays defined where nothing is captured. The numerator is what the refiner recovers from it
    (c^B_k x the refiner's yield, or its recycling efficiency) plus the pre-processor's own
    recovery attributed to it (c_k x the pre-processor's yield / beta_p, or its recycling
    efficiency / beta_p): the route's output, as the pooled row counts it.

    The coefficients of every flow are computed once per material (:meth:`ModelData.once`) and
    indexed by ``rows``."""
    num, base = d.once(("chain", material), lambda: _chain_all(d, material))
    return num[rows], base[rows]


def _chain_all(d: ModelData, material: str | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`chain_coefficients` of every flow row (numerator, base), t per t of flow."""
    f = d.flows
    per_bm, pre_tech = d.once("chain_black_mass", lambda: _black_mass_sources(d))
    bm = per_bm > 0
    if material is None:
        tech = d.inst["technologies"].set_index("id")
        own = pd.Series(pre_tech).map(tech["recycling_efficiency"]).fillna(0.0).to_numpy(dtype=float)
        num = f["recycled_t"].to_numpy() + own * per_bm
        return num, np.where(bm, per_bm, f["input_mass_t"].to_numpy())
    j = d.materials.index(material)
    cm = d.inst["chemistry_materials"]
    content = cm.loc[cm["material"] == material].set_index("chemistry")["kg_per_t"] / 1000.0
    c = f["chemistry"].map(content).fillna(0.0).to_numpy(dtype=float)
    pre_yield = yield_matrix(d.inst, pre_tech, f["chemistry"].to_numpy(), [material])[:, 0]
    num = d.recovered[:, j] + c * pre_yield * per_bm
    return num, np.where(bm, c * per_bm, d.input_content[:, j])


def _black_mass_sources(d: ModelData) -> tuple[np.ndarray, np.ndarray]:
    """For every flow row: the tonnes of packs one tonne of it was made from if it is black mass
    from a pre-processor into a refiner (1 / beta_p; 0 otherwise), and the technology of its origin
    ("" where the origin is no facility)."""
    f = d.flows
    tech = d.inst["technologies"].set_index("id")
    pre_tech = f["origin"].map(d.facilities.set_index("id")["technology"]).fillna("").astype(str)
    beta = pre_tech.map(tech["black_mass_yield"]).fillna(0.0).to_numpy(dtype=float)
    bm = ((f["commodity"] == "black_mass") & (f["dest_kind"] == "refiner")).to_numpy() & (beta > 0)
    return np.divide(1.0, beta, out=np.zeros(len(beta)), where=bm), pre_tech.to_numpy()


def step_coefficients(d: ModelData, rows: np.ndarray, material: str) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients of the flow rows ``rows`` (into one recycler or refiner) for a material rate
    measured on the input of the facility's smelting / refining step (scope ``step``): per tonne of
    flow, the tonnes of ``material`` recovered (numerator, as scope ``facility``) and entering that
    step (base).

    Black mass into a refiner enters its refining step as it is: its content c^B_k (as scope
    ``facility``). Packs into an integrated recycler whose technology makes black mass internally
    (black_mass_yield beta > 0) reach the smelting step as beta t of black mass per t of packs,
    holding beta c^B_k t of the material; with beta = 0 (pyrometallurgy smelts whole packs) the
    packs themselves enter the step, c_k. The recycler's whole recovery of the material counts as
    the step's output (the cathode metals reach the recycler's output only through that step).

    The base of every flow is computed once per material (:meth:`ModelData.once`) and indexed by
    ``rows``."""
    j = d.materials.index(material)
    return d.recovered[rows, j], d.once(("step", material), lambda: _step_base_all(d, material))[rows]


def _step_base_all(d: ModelData, material: str) -> np.ndarray:
    """The base of :func:`step_coefficients` for every flow row: t of ``material`` entering the
    smelting / refining step per t of flow."""
    j = d.materials.index(material)
    f = d.flows
    tech = d.inst["technologies"].set_index("id")
    beta = f["technology"].map(tech["black_mass_yield"]).fillna(0.0).to_numpy(dtype=float)
    packs = ((f["dest_kind"] == "recycler") & (f["commodity"] != "black_mass")).to_numpy() & (beta > 0)
    cm = d.inst["chemistry_materials"]
    bm_content = cm.loc[cm["material"] == material].set_index("chemistry")["black_mass_kg_per_t"] / 1000.0
    cb = f["chemistry"].map(bm_content).fillna(0.0).to_numpy(dtype=float)
    return np.where(packs, beta * cb, d.input_content[:, j])


def second_life_supply(d: ModelData, t: int) -> float:
    """Tonnes of second-life grades generated in target row t's jurisdiction and period."""
    g = grades(d.inst)
    eligible = set(g.loc[g["second_life"], "id"])
    r = d.targets.loc[t]
    s = d.supply
    mask = s["jurisdiction"].isin(covered(d.inst, str(r["jurisdiction"]))) & (s["period"] == r["period"]) & s[
        "grade"].isin(eligible)
    return float(s.loc[mask, "tonnes"].sum())


def _slack_terms(m: pyo.ConcreteModel, t: int) -> list[object]:
    return [m.shortfall[t]] if m.find_component("shortfall") is not None else []


def _add(m: pyo.ConcreteModel, name: str, set_name: str, keys: list[int], rule: object) -> None:
    setattr(m, set_name, pyo.Set(initialize=keys, ordered=True))
    setattr(m, name, pyo.Constraint(getattr(m, set_name), rule=rule))


def placed_on_market(d: ModelData, t: int) -> float:
    """Tonnes (t/yr) placed on the market that collection target row ``t`` (scope
    placed_on_market) is a share of: the ``placed_on_market`` row of its jurisdiction and period
    (NaN when there is none; validation requires it)."""
    jur, period = d.targets.at[t, "jurisdiction"], int(cast(int, d.targets.at[t, "period"]))
    pom = d.inst["placed_on_market"]
    hit = pom.loc[(pom["jurisdiction"] == jur) & (pom["period"] == period), "tonnes"]
    return float(hit.iloc[0]) if len(hit) else math.nan


def collection_rows(d: ModelData, uncollected: bool) -> dict[int, tuple[np.ndarray, float]]:
    """For each collection_rate target row that gets a constraint: the supply rows whose uncollected
    tonnes it counts (none without ``uncollected`` variables) and its right-hand side in t/yr, for
    the row sum(u) - xi <= rhs.

    Scope jurisdiction: rhs = (1 - rho) x the supply generated; a row only where packs may stay
    uncollected (otherwise every tonne is collected and the rate is 1). Scope placed_on_market:
    rhs = supply generated - rho x tonnes placed on the market; without uncollected variables a
    row only where rhs < 0 (the target then asks for more than is generated: a row with only the
    shortfall when targets are soft, and an infeasible model otherwise, which validation reports)."""
    tonnes = d.supply["tonnes"].to_numpy()
    value = d.targets["value"].to_numpy()
    scope = d.targets["scope"].to_numpy() if len(d.targets) else np.zeros(0, dtype=object)
    out: dict[int, tuple[np.ndarray, float]] = {}
    for t, r in target_rows(d, "collection_rate").items():
        generated = float(tonnes[r].sum())
        counted = r if uncollected else r[:0]
        if scope[t] == "placed_on_market":
            rhs = generated - float(value[t]) * placed_on_market(d, t)
            if len(counted) or rhs < -1e-9:
                out[t] = (counted, rhs)
        elif len(counted):
            out[t] = (counted, (1.0 - float(value[t])) * generated)
    return out


def _beyond_generation(d: ModelData, t: int, rhs: float, generated: bool) -> Problem:
    """The error for hard collection target row ``t`` (scope placed_on_market) that asks for
    -``rhs`` t/yr more than the packs generated (t/yr), when every pack is collected or
    (``generated`` False) no supply row is in its jurisdiction and period."""
    r = d.targets.loc[t]
    pom = d.inst["placed_on_market"]
    hit = pom.loc[(pom["jurisdiction"] == r["jurisdiction"]) & (pom["period"] == r["period"]), ROW]
    what = ("more than the packs generated there; every pack is collected (uncollected.allowed: false) and still "
            "no plan can meet it" if generated else
            "; no packs are generated there (no supply row in the jurisdiction and period), so no plan can meet it")
    return Problem(d.inst.table_file("placed_on_market"), int(hit.iloc[0]) if len(hit) else 0, "tonnes",
                   f"period {r['period']}: collection_rate {r['value']:g} of the tonnes placed on the market in "
                   f"{r['jurisdiction']} needs {-rhs:,.6g} t/yr{' ' if generated else ''}{what}: lower the rate or "
                   "the tonnes, or solve with soft targets (--soft-targets) to see the shortfall")


def add_target_collection_rate(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Collected tonnes reach the required share of the supply generated in the jurisdiction
    (scope jurisdiction) or of the tonnes placed on the market :math:`P_{J,p}` (scope
    placed_on_market, the ``placed_on_market`` table); collected = supply - uncollected.

    .. math:: \sum_{s \in S(J,p)} u_s \le (1-\rho_t) \sum_{s \in S(J,p)} S_s + \xi_t
              \quad \forall t \text{ of scope jurisdiction}

    .. math:: \sum_{s \in S(J,p)} (S_s - u_s) + \xi_t \ge \rho_t\, P_{J,p}
              \quad \forall t \text{ of scope placed\_on\_market}

    written :math:`\sum u_s - \xi_t \le \sum S_s - \rho_t P_{J,p}` (t/yr of packs). Pyomo:
    ``target_collection_rate[t]``. Without ``uncollected`` variables every tonne is collected: a
    jurisdiction row is not needed, a placed-on-market row only when it asks for more than the
    supply (see :func:`collection_rows`): with soft targets it holds the shortfall alone, with hard
    ones the build stops with an :class:`~network_opt.common.errors.InputError` naming the
    placed_on_market row (no plan can meet it).
    """
    uncollected = m.find_component("uncollected") is not None
    rows = collection_rows(d, uncollected)
    u = var_list(m.uncollected) if uncollected and rows else []

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        r, rhs = rows[t]
        terms = picked(u, r) + weighted(-1.0, _slack_terms(m, t))
        if not terms:  # every pack is collected (or none is generated), and still short: no row can say it
            raise InputError([_beyond_generation(d, t, rhs, bool(len(target_rows(d, "collection_rate")[t])))])
        return linear(terms) <= rhs

    _add(m, "target_collection_rate", "COLLECTION_TARGETS", sorted(rows), rule)


def add_target_recycling_efficiency(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""The mass recycled is at least the required share of the mass entering recycling.

    .. math:: \sum_{i \in R(J,p)} (\epsilon_i - \rho_t\, b_i)\, x_i + \xi_t \ge 0
              \quad \forall t \text{ of scope jurisdiction}

    .. math:: \sum_{i \in \mathrm{in}(f,p)} (\epsilon_i - \rho_t\, b^F_i)\, x_i + \xi_t \ge 0
              \quad \forall t = (f, p) \text{ of scope facility}

    .. math:: \sum_{i \in \mathrm{in}(f,p)} (\epsilon^C_i - \rho_t\, b^C_i)\, x_i + \xi_t \ge 0
              \quad \forall t = (f, p) \text{ of scope chain}

    with :math:`\epsilon_i` the recycling efficiency of the receiving technology (for black mass
    into a refiner, the share of the black mass recycled), :math:`b_i = 1` for packs entering
    an integrated recycler or a pre-processor and :math:`b^F_i = 1` for every flow into a recycler
    or refiner (packs or black mass: the facility's own input). Scope chain measures a refiner
    from the packs: black mass from pre-processor :math:`q` counts :math:`b^C_i = 1/\beta_q` (the
    pack tonnes it was made from) and :math:`\epsilon^C_i = \epsilon_i + \epsilon_q / \beta_q`
    (the refiner's and the pre-processor's recycled mass); packs into a recycler as in scope
    facility. Pyomo: ``target_recycling_efficiency[t]``.
    """
    rows = target_rows(d, "recycling_efficiency")
    value = d.targets["value"].to_numpy()

    flow = var_list(m.flow)

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        r = rows[t]
        eff, mass = rate_coefficients(d, t, r)
        terms = weighted(eff - value[t] * mass, picked(flow, r)) + _slack_terms(m, t)
        return linear(terms) >= 0.0 if terms else pyo.Constraint.Skip

    _add(m, "target_recycling_efficiency", "EFFICIENCY_TARGETS", sorted(rows), rule)


def add_target_material_recovery(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""Material recovered is at least the required share of that material entering recycling.

    .. math:: \sum_{i \in R(J,p)} (a_{i,\mu} - \rho_t\, c_{i,\mu})\, x_i + \xi_t \ge 0
              \quad \forall t \text{ of scope jurisdiction}

    .. math:: \sum_{i \in \mathrm{in}(f,p)} (a_{i,\mu} - \rho_t\, c^F_{i,\mu})\, x_i + \xi_t \ge 0
              \quad \forall t = (f, p) \text{ of scope facility}

    .. math:: \sum_{i \in \mathrm{in}(f,p)} (a^C_{i,\mu} - \rho_t\, c^C_{i,\mu})\, x_i + \xi_t \ge 0
              \quad \forall t = (f, p) \text{ of scope chain}

    .. math:: \sum_{i \in \mathrm{in}(f,p)} (a_{i,\mu} - \rho_t\, c^S_{i,\mu})\, x_i + \xi_t \ge 0
              \quad \forall t = (f, p) \text{ of scope step}

    with :math:`c_{i,\mu}` the tonnes of material per tonne of packs entering recycling,
    :math:`c^F_{i,\mu}` the tonnes of material entering facility f per tonne of flow (pack content
    for packs into a recycler, black-mass content for black mass into a refiner) and
    :math:`a_{i,\mu}` the tonnes recovered (content x yield of the technology for the flow's
    chemistry; for black mass into a refiner, its content x the refiner's yield). Scope chain
    (lane-level chain coefficients) measures black mass from pre-processor :math:`q` into refiner
    :math:`f` on the pack material it was made from,
    :math:`c^C_{i,\mu} = c^B_{k,\mu} / \gamma_{q,\mu,k} = c_{k,\mu} / \beta_q` with
    :math:`\gamma_{q,\mu,k} = \beta_q c^B_{k,\mu} / c_{k,\mu}` the pre-processor's capture of
    :math:`\mu` into black mass, and counts :math:`a^C_{i,\mu} = a_{i,\mu} + c_{k,\mu}\, y_{q,\mu,k}
    / \beta_q` (the refiner's recovery plus the pre-processor's own, :math:`y_q` its yield, usually
    0); packs into a recycler as in scope facility. Scope step measures the input of the facility's
    smelting / refining step (:func:`step_coefficients`): :math:`c^S_{i,\mu} = \beta_{\tau(f)}
    c^B_{k,\mu}` for packs into a recycler whose technology makes black mass internally
    (:math:`\beta > 0`), else :math:`c^F_{i,\mu}` (whole packs smelted; a refiner's black mass). Rows of
    scope facility, chain and step exist for the facilities whose technology's process the row names
    (all when it names none). A row on a sum of materials (``Li+Ni+Co+Mn``) sums :math:`a` and
    :math:`c` over them: one rate, the tonnes of all of them recovered over the tonnes of all of
    them entering. Units: t/yr of material. Pyomo: ``target_material_recovery[t]``.
    """
    rows = target_rows(d, "material_recovery")
    value = d.targets["value"].to_numpy()

    flow = var_list(m.flow)

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        recovered, entering = rate_coefficients(d, t, rows[t])
        coef = recovered - value[t] * entering
        terms = weighted(coef, picked(flow, rows[t])) + _slack_terms(m, t)
        return linear(terms) >= 0.0 if terms else pyo.Constraint.Skip

    _add(m, "target_material_recovery", "RECOVERY_TARGETS", sorted(rows), rule)


def add_target_second_life_priority(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""At least the required share of the packs fit for second life go to refurbishers.

    .. math:: \sum_{i \in E(J,p)} x_i + \xi_t \ge \rho_t \sum_{s \in S^{SL}(J,p)} S_s \quad \forall t

    with :math:`E` the end-of-life flows into refurbishers and :math:`S^{SL}` the supply of
    second-life grades. Pyomo: ``target_second_life_priority[t]``.
    """
    rows = target_rows(d, "second_life_priority")
    value = d.targets["value"].to_numpy()
    need = {t: float(value[t]) * second_life_supply(d, t) for t in rows}
    keys = sorted(t for t in rows if need[t] > 0)

    flow = var_list(m.flow)

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        return linear(picked(flow, rows[t]), _slack_terms(m, t)) >= need[t]

    _add(m, "target_second_life_priority", "SECOND_LIFE_TARGETS", keys, rule)


def add_target_domestic_recovery(m: pyo.ConcreteModel, d: ModelData) -> None:
    r"""At least the required tonnes of a material are recovered at facilities in the jurisdiction.

    .. math:: \sum_{i \in D(J,p)} a_{i,\mu}\, x_i + \xi_t \ge V_t \quad \forall t

    with :math:`D(J,p)` the flows into recycling facilities located in J. Pyomo:
    ``target_domestic_recovery[t]``.
    """
    rows = target_rows(d, "domestic_recovery")
    value = d.targets["value"].to_numpy()
    col = {mu: n for n, mu in enumerate(d.materials)}
    material = d.targets["material"].to_numpy()
    keys = sorted(t for t in rows if value[t] > 0)

    flow = var_list(m.flow)

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        a = d.recovered[rows[t], col[material[t]]]
        return linear(weighted(a, picked(flow, rows[t])), _slack_terms(m, t)) >= float(value[t])

    _add(m, "target_domestic_recovery", "DOMESTIC_TARGETS", keys, rule)
