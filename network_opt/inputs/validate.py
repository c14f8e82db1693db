"""Checks across tables and on the network, run after every table has been read cleanly.

Each check returns :class:`~network_opt.common.errors.Problem` rows naming file, line and column, so
that all errors are reported at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pandas as pd

from network_opt.common.errors import InputError, Problem
from network_opt.inputs.degenerate import degenerate
from network_opt.inputs.instance import Instance
from network_opt.inputs.jurisdictions import NOT_PREFIX, known_codes
from network_opt.inputs.read import ROW
from network_opt.inputs.schema import FACILITY_SCOPE_METRICS, MATERIAL_METRICS, RATE_METRICS, TABLES


def check_instance(inst: Instance, *, feasibility: bool = True) -> list[Problem]:
    """Cross-table and network checks of an instance whose tables each read cleanly. With
    ``feasibility=False`` the capacity pre-check (:func:`feasibility_precheck`) is left out."""
    problems: list[Problem] = []
    problems += _references(inst)
    problems += _site_roles(inst)
    problems += _facility_rules(inst)
    problems += _target_rules(inst)
    problems += _grade_rules(inst)
    problems += _ban_rules(inst)
    problems += _return_rules(inst)
    problems += _policy_rules(inst)
    problems += _price_rules(inst)
    problems += _transport_rules(inst)
    problems += _time_rules(inst)
    if not problems:
        problems += _pack_price_clashes(inst)
    if not problems:
        if feasibility:
            problems += _network(inst)
        problems += _suspicious(inst)
        problems += degenerate(inst)  # no data, no supply, a period or market with nothing, ...
    return problems


def feasibility_precheck(inst: Instance) -> list[Problem]:
    """The pre-check that ``solve`` runs before building the model: every collection point
    reaches a recycler and the capacity that could be opened can absorb the supply unfit for
    second life (unless disposal or leaving packs uncollected is allowed). Errors here prove the
    instance infeasible; they are not malformed input."""
    return _network(inst)


def _rows(inst: Instance, table: str, mask: pd.Series, column: str, message: str) -> Iterable[Problem]:
    frame = inst[table]
    for _, r in frame.loc[mask].iterrows():
        text = message.format(**{k: r[k] for k in frame.columns if k != ROW})
        yield Problem(inst.table_file(table), int(r[ROW]), column, text)


def _known(inst: Instance, ref: str) -> set[object]:
    if ref == "periods":
        return set(inst.years)
    if ref.startswith("jurisdictions.id"):
        jur = inst["jurisdictions"]
        known: set[object] = set(jur["id"]) if len(jur) else set(inst["sites"]["jurisdiction"])
        if ref.endswith("|groups"):
            known |= set(known_codes(inst))
        return known
    table, column = ref.split(".")
    return set(inst[table][column])


def _references(inst: Instance) -> list[Problem]:
    """Every value naming another table's row (or a period) must exist there."""
    problems: list[Problem] = []
    for name, table in TABLES.items():
        frame = inst[name]
        if frame.empty:
            continue
        for col in table.columns:
            if not col.references:
                continue
            if name == "sites" and col.name == "jurisdiction" and inst["jurisdictions"].empty:
                continue
            known = _known(inst, col.references)
            what = "period declared in instance.yaml" if col.references == "periods" else col.references
            if col.type == "list":
                for _, r in frame.iterrows():
                    for v in r[col.name]:
                        if v not in known:
                            problems.append(Problem(inst.table_file(name), int(r[ROW]), col.name,
                                                    f"unknown reference {v!r}; expected a {what}"))
                continue
            values = frame[col.name]
            mask = ~values.isin(known)
            if not col.required:
                mask &= values != ""
            problems += _rows(inst, name, mask, col.name, f"unknown reference {{{col.name}!r}}; expected a {what}")
    return problems


def _site_roles(inst: Instance) -> list[Problem]:
    """Supply sits at collection points, facilities at facility sites, markets at market sites."""
    kind = inst["sites"].set_index("id")["kind"]
    problems: list[Problem] = []
    for table, expected in (("supply", "collection_point"), ("facilities", "facility"), ("markets", "market")):
        frame = inst[table]
        bad = frame["site"].map(kind).fillna(expected) != expected
        problems += _rows(inst, table, bad, "site", f"site {{site!r}} is not of kind {expected}")
    return problems


def _facility_rules(inst: Instance) -> list[Problem]:
    fac, levels = inst["facilities"], inst["facility_levels"]
    problems: list[Problem] = []
    refurb = fac["kind"] == "refurbisher"
    problems += _rows(inst, "facilities", ~refurb & (fac["technology"] == ""), "technology",
                      "a {kind} needs a technology (technologies.id)")
    problems += _rows(inst, "facilities", refurb & (fac["technology"] != ""), "technology",
                      "a refurbisher has no recycling technology; leave it empty")
    process = fac["technology"].map(inst["technologies"].set_index("id")["process"])
    mechanical = process == "mechanical"
    problems += _rows(inst, "facilities", (fac["kind"] == "preprocessor") & process.notna() & ~mechanical,
                      "technology", "a preprocessor needs a technology whose process is mechanical")
    problems += _rows(inst, "facilities", fac["kind"].isin(["recycler", "refiner"]) & mechanical, "technology",
                      "a {kind} cannot use a mechanical (pre-processing) technology; make it a preprocessor")
    tech = inst["technologies"]
    used_pre = set(fac.loc[fac["kind"] == "preprocessor", "technology"])
    problems += _rows(inst, "technologies", tech["id"].isin(used_pre) & (tech["black_mass_yield"] <= 0),
                      "black_mass_yield", "a pre-processing technology needs a black_mass_yield > 0")
    problems += _rows(inst, "facilities", ~fac["id"].isin(levels["facility"]), "id",
                      "facility {id!r} has no row in facility_levels; give at least one capacity level")
    return problems


def _target_rules(inst: Instance) -> list[Problem]:
    t = inst["targets"]
    needs = t["metric"].isin(MATERIAL_METRICS)
    problems = list(_rows(inst, "targets", needs & (t["material"] == ""), "material",
                          "{metric} needs a material (materials.id)"))
    problems += _rows(inst, "targets", ~needs & (t["material"] != ""), "material",
                      "only material_recovery and domestic_recovery targets name a material; leave it empty")
    problems += _rows(inst, "targets", t["metric"].isin(RATE_METRICS) & (t["value"] > 1.0), "value",
                      "{metric} is a rate: expected a value in [0, 1], got {value:g}")
    per_facility = t["scope"].isin(("facility", "chain"))
    problems += _rows(inst, "targets", per_facility & ~t["metric"].isin(FACILITY_SCOPE_METRICS), "scope",
                      "scope {scope} applies to " + " and ".join(FACILITY_SCOPE_METRICS)
                      + " only; {metric} is measured per jurisdiction")
    return problems


def _grade_rules(inst: Instance) -> list[Problem]:
    """Grade bands are proper and do not overlap; shares add up to 1; supply rows have a grade."""
    g = inst["grades"].sort_values("soh_min")
    problems = list(_rows(inst, "grades", g["soh_min"] >= g["soh_max"], "soh_max",
                          "soh_max must be above soh_min ({soh_min:g})"))
    overlap = g["soh_min"] < g["soh_max"].shift(1) - 1e-12
    problems += _rows(inst, "grades", overlap.reindex(inst["grades"].index, fill_value=False), "soh_min",
                      "grade band {soh_min:g}-{soh_max:g} overlaps another grade's band")
    sh = inst["grade_shares"]
    totals = sh.groupby("chemistry")["share"].sum()
    for chem, total in totals.items():
        if abs(total - 1.0) > 1e-6:
            row = int(sh.loc[sh["chemistry"] == chem, ROW].iloc[-1])
            problems.append(Problem(inst.table_file("grade_shares"), row, "share",
                                    f"shares of {chem} add up to {total:g}; expected 1"))
    s = inst["supply"]
    if len(inst["grades"]):
        ungraded = (s["grade"] == "") & ~s["chemistry"].isin(set(totals.index))
        problems += _rows(inst, "supply", ungraded, "grade",
                          "no grade: give supply.grade or grade_shares rows for {chemistry}")
    return problems


def _ban_rules(inst: Instance) -> list[Problem]:
    b = inst["bans"]
    export = b["kind"] == "export"
    problems = list(_rows(inst, "bans", export & (b["commodity"] == ""), "commodity",
                          "an export ban needs a commodity"))
    problems += _rows(inst, "bans", export & (b["to"] == ""), "to", "an export ban needs a destination (to)")
    codes = known_codes(inst)
    dest = b["to"].str.removeprefix(NOT_PREFIX)
    problems += _rows(inst, "bans", export & (b["to"] != "") & ~dest.isin(codes), "to",
                      "unknown jurisdiction or group {to!r}")
    problems += _rows(inst, "bans", (b["kind"] == "application") & (b["application"] == ""), "application",
                      "an application ban needs an application")
    return problems


def _return_rules(inst: Instance) -> list[Problem]:
    r = inst["second_life_returns"]
    problems = []
    for app, total in r.groupby("application")["share"].sum().items():
        if total > 1.0 + 1e-6:
            row = int(r.loc[r["application"] == app, ROW].iloc[-1])
            problems.append(Problem(inst.table_file("second_life_returns"), row, "share",
                                    f"return shares of {app} add up to {total:g}; expected at most 1"))
    return problems


def _price_rules(inst: Instance) -> list[Problem]:
    """Payables name a seller kind (material) or an external refiner as buyer (black mass); external
    refiners are existing refiners without costs of their own; pack prices name known grades and
    no two rows of equal rank price the same packs differently."""
    pay, fac, levels = inst["payables"], inst["facilities"], inst["facility_levels"]
    problems = list(_rows(inst, "payables", (pay["product"] == "black_mass") & (pay["seller"] != ""), "seller",
                          "seller applies to product material (black mass is sold by pre-processors); leave it "
                          "empty"))
    problems += _rows(inst, "payables", (pay["product"] == "material") & (pay["buyer"] != ""), "buyer",
                      "buyer applies to product black_mass (an external refiner); leave it empty for material")
    external = fac.loc[fac["external"] & (fac["kind"] == "refiner"), "id"]
    problems += _rows(inst, "payables", (pay["product"] == "black_mass") & (pay["buyer"] != "")
                      & pay["buyer"].isin(fac["id"]) & ~pay["buyer"].isin(external), "buyer",
                      "buyer {buyer!r} is not an external refiner (kind refiner with external true in facilities.csv)")
    ext = fac["external"]
    problems += _rows(inst, "facilities", ext & (fac["kind"] != "refiner"), "external",
                      "only a refiner may be external (an outside buyer of black mass); {id!r} is a {kind}")
    problems += _rows(inst, "facilities", ext & (fac["status"] != "existing"), "status",
                      "an external refiner is someone else's plant: status must be existing")
    for col in ("variable_cost_per_t", "module_opening_cost", "module_fixed_cost_per_year", "max_modules"):
        problems += _rows(inst, "facilities", ext & (fac[col] > 0), col,
                          "an external refiner's costs are not the network's: expected 0, got {" + col + ":g}")
    problems += _rows(inst, "facilities", ext & fac["closing_cost"].notna(), "closing_cost",
                      "an external refiner is not the network's to close: leave closing_cost empty")
    outside = levels["facility"].isin(fac.loc[ext, "id"])
    for col in ("fixed_cost_per_year", "opening_cost"):
        problems += _rows(inst, "facility_levels", outside & (levels[col] > 0), col,
                          "{facility!r} is an external refiner, whose costs are not the network's: expected 0, "
                          "got {" + col + ":g}")
    pp = inst["pack_prices"]
    if len(pp):
        from network_opt.inputs.lanes import grades

        known = set(grades(inst)["id"])
        problems += _rows(inst, "pack_prices", (pp["grade"] != "") & ~pp["grade"].isin(known), "grade",
                          "unknown grade {grade!r}; expected one of " + ", ".join(sorted(known))
                          + " (grades.csv, or fit / unfit without it)")
    return problems


def _pack_price_clashes(inst: Instance) -> list[Problem]:
    """Two rows of pack_prices of the same rank (two groups containing a collection point's
    jurisdiction, same grade and from_period) that price the same packs differently."""
    from network_opt.inputs.lanes import supply_by_grade
    from network_opt.inputs.prices import ambiguous_pack_prices

    pp = inst["pack_prices"]
    ids = set(inst["jurisdictions"]["id"]) | set(inst["sites"]["jurisdiction"])
    if (~pp["jurisdiction"].isin(ids | {""})).sum() < 2:  # fewer than two group rows: no clash
        return []
    out = []
    for _, row in ambiguous_pack_prices(inst, supply_by_grade(inst)).iterrows():
        out.append(Problem(inst.table_file("pack_prices"), int(row[ROW]), "jurisdiction",
                           f"this row ({row['row_jurisdiction']}) and row {row['other_row']} ({row['other']}) both "
                           f"price {row['chemistry']} packs of grade {row['grade']} in {row['jurisdiction']} in "
                           f"{row['period']}, differently: name the jurisdiction itself in a row, or give one of "
                           "the two its own from_period"))
    return out


def _transport_rules(inst: Instance) -> list[Problem]:
    """Legs join two ports; a lane of mode rail or sea has a leg of that mode and no road distance."""
    legs, lanes = inst["legs"], inst["lanes"]
    kind = inst["sites"].set_index("id")["kind"]
    problems: list[Problem] = []
    for col in ("origin", "destination"):
        k = legs[col].map(kind)
        problems += _rows(inst, "legs", k.notna() & (k != "port"), col,
                          "site {" + col + "!r} is not a port: a leg joins two sites of kind port (sites.csv)")
    problems += _rows(inst, "legs", legs["origin"] == legs["destination"], "destination",
                      "a leg joins two different ports")
    leg_mode = lanes["mode"].isin(("rail", "sea"))
    problems += _rows(inst, "lanes", leg_mode & lanes["distance_km"].notna(), "distance_km",
                      "distance_km is a road distance: a lane of mode {mode} takes its distances from its route "
                      "(legs.csv); leave it empty")
    problems += _rows(inst, "lanes", leg_mode & ~lanes["mode"].isin(set(legs["mode"])), "mode",
                      "mode {mode}: there is no {mode} leg in " + inst.table_file("legs")
                      + " for the lane's route to use")
    return problems


def _time_rules(inst: Instance) -> list[Problem]:
    """Stock needs consecutive operating years of one year each; storage sits at a collection point
    or at a pre-processor's site."""
    problems: list[Problem] = []
    storage = inst["storage"]
    if not inst.settings.stock.allowed or storage.empty:
        return problems
    steps = inst.periods
    gaps = [f"{a.year} stands for {a.length} years" for a in steps if a.length != 1]
    gaps += [f"{a.year} is followed by {b.year}" for a, b in itertools.pairwise(steps)
             if b.year != a.year + a.length]
    if gaps:
        problems.append(Problem(inst.manifest.path.name, inst.manifest.lines.get("stock.allowed", 0), "stock.allowed",
                                "stock between years needs consecutive operating years of one year each "
                                f"(periods of length 1 or operations: yearly); operating year {gaps[0]}"))
    kind = inst["sites"].set_index("id")["kind"]
    fac = inst["facilities"]
    holders = set(inst["supply"]["site"]) | set(fac.loc[fac["kind"] == "preprocessor", "site"])
    bad = ~storage["site"].isin(holders) & storage["site"].isin(kind.index)
    problems += _rows(inst, "storage", bad, "site", "site {site!r} holds neither supply (a collection point) nor a "
                      "pre-processor: nothing can be stored there")
    return problems


def _policy_rules(inst: Instance) -> list[Problem]:
    from network_opt.inputs.regulation import policy_problems

    return policy_problems(inst)


def _network(inst: Instance) -> list[Problem]:
    """Every collection point reaches a recycler; openable capacity can absorb the supply."""
    from network_opt.inputs.lanes import grades, supply_once
    from network_opt.inputs.reach import unreachable_offers

    problems: list[Problem] = []
    supply = supply_once(inst)  # kept on inst: preparing the model data uses it again
    escape = inst.settings.uncollected.allowed or inst.settings.disposal.allowed
    if escape:
        return problems
    stock = inst.settings.stock.allowed and not inst["storage"].empty  # a year's excess may wait: no yearly check
    stuck = unreachable_offers(inst, supply)  # a KD-tree query per collection point, no lane built
    if len(stuck):
        s = inst["supply"].merge(stuck, on=["site", "chemistry"])
        for _, r in s.drop_duplicates(["site", "chemistry"]).iterrows():
            problems.append(Problem(inst.table_file("supply"), int(r[ROW]), "site",
                                    f"collection point {r['site']!r} has no lane to a recycler for "
                                    f"{r['chemistry']} within transport.max_lane_km (and neither "
                                    "disposal nor leaving packs uncollected is allowed)"))
    levels = inst["facility_levels"].merge(inst["facilities"], left_on="facility", right_on="id")
    receiving = levels.loc[levels["kind"].isin(["recycler", "preprocessor"])]
    recycling_cap = (receiving.groupby("facility")["capacity_t"].max()
                     + receiving.groupby("facility")["module_capacity_t"].first()
                     * receiving.groupby("facility")["max_modules"].first()).sum()
    total = inst["supply"].groupby("period")["tonnes"].sum()
    for period, tonnes in total.items():
        g = grades(inst)
        recycle_only = set(g.loc[~g["second_life"], "id"])
        unfit = supply.loc[(supply["period"] == period) & supply["grade"].isin(recycle_only), "tonnes"].sum()
        if unfit > recycling_cap + 1e-6 and not stock:
            problems.append(Problem(inst.table_file("supply"), 0, "tonnes",
                                    f"period {period}: {unfit:,.0f} t/yr of packs unfit for second life exceed "
                                    f"the {recycling_cap:,.0f} t/yr of recycling capacity that could be opened"))
        if tonnes > 1e12:
            problems.append(Problem(inst.table_file("supply"), 0, "tonnes", "implausibly large total supply"))
    return problems


FAR_KM = 5000.0
OUTLIER_FACTOR = 1000.0


def _suspicious(inst: Instance) -> list[Problem]:
    """Warnings for legal but suspicious input: facilities far from all supply, values 1000x
    (or 1/1000) of their peers' median."""
    import numpy as np

    from network_opt.common.geo import haversine_km

    warnings: list[Problem] = []
    sites = inst["sites"].set_index("id")
    cps = sites.loc[sites.index.isin(inst["supply"]["site"])]
    fac = inst["facilities"]
    fac = fac.loc[fac["kind"] != "refiner"]  # refiners take black mass, never packs from collection points
    if len(cps) and len(fac):
        loc = sites.loc[fac["site"]]
        dist = haversine_km(loc["latitude"].to_numpy()[:, None], loc["longitude"].to_numpy()[:, None],
                            cps["latitude"].to_numpy()[None, :], cps["longitude"].to_numpy()[None, :]).min(axis=1)
        for (_, r), d in zip(fac.iterrows(), dist, strict=True):
            if d > FAR_KM:
                warnings.append(Problem(inst.table_file("facilities"), int(r[ROW]), "site",
                                        f"facility {r['id']} is {d:,.0f} km from the nearest collection point "
                                        f"(more than {FAR_KM:,.0f} km): check its coordinates", severity="warning"))
    checks = (("material_prices", "price_per_t", "material"), ("market_demand", "price_per_kwh", None),
              ("facilities", "variable_cost_per_t", "kind"), ("facility_levels", "fixed_cost_per_year", None),
              ("supply", "collection_cost_per_t", None))
    for table, column, by in checks:
        frame = inst[table]
        if frame.empty:
            continue
        groups = frame.groupby(by) if by else [(None, frame)]
        for _, g in groups:
            values = g.loc[g[column].astype(float) > 0, column].astype(float)
            if len(values) < 2:
                continue
            # the median of the other rows (leave-one-out on small groups, so a lone outlier is found)
            if len(values) <= 50:
                arr = values.to_numpy()
                peers = np.array([np.median(np.delete(arr, i)) for i in range(len(arr))])
            else:
                peers = np.full(len(values), float(np.median(values)))
            odd = (values.to_numpy() > OUTLIER_FACTOR * peers) | (values.to_numpy() < peers / OUTLIER_FACTOR)
            for (_, r), median in zip(g.loc[values.index[odd]].iterrows(), peers[odd], strict=True):
                warnings.append(Problem(inst.table_file(table), int(r[ROW]), column,
                                        f"{r[column]:g} is more than {OUTLIER_FACTOR:g} times off the median "
                                        f"{median:g} of its peers: check the unit", severity="warning"))
    return warnings


def raise_for(problems: list[Problem]) -> None:
    """Raise :class:`InputError` if ``problems`` holds an error."""
    if any(p.severity == "error" for p in problems):
        raise InputError(problems)
