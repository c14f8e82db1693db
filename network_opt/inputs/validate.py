"""Checks across tables and on the network, run after every table has been read cleanly.

Each check returns :class:`~network_opt.common.errors.Problem` rows naming file, line and column, so
that all errors are reported at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pandas as pd

from network_opt.common.errors import InputError, Problem
from network_opt.inputs.degenerate import degenerate
from network_opt.inputs.instance import Instance
from network_opt.inputs.jurisdictions import NOT_PREFIX, known_codes
from network_opt.inputs.read import ROW
from network_opt.inputs.schema import (
    MATERIAL_METRICS,
    MATERIAL_SUM_SEPARATOR,
    PER_FACILITY_SCOPES,
    PROCESS_SEPARATOR,
    RATE_METRICS,
    RECYCLING_PROCESSES,
    SCOPE_METRICS,
    TABLES,
)


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
        problems += _step_input_warnings(inst)
        problems += _collection_beyond_generation(inst)
        problems += degenerate(inst)  # no data, no supply, a period or market with nothing, ...
    return problems


def feasibility_precheck(inst: Instance) -> list[Problem]:
    """The pre-check that ``solve`` runs before building the model: every collection point
    reaches a recycler and the capacity that could be opened can absorb the supply unfit for
    second life (unless disposal or leaving packs uncollected is allowed). Errors here prove the
    instance infeasible; they are not malformed input."""
    return _network(inst)


def _rows(inst: Instance, table: str, mask: pd.Series, column: str, message: str) -> Iterable[Problem]:
    """A problem per row of ``mask``; a row a policy preset brought in (no line of its own) is named
    by the ``policies.<jurisdiction>`` entry of instance.yaml, with the preset and the column."""
    frame = inst[table]
    for _, r in frame.loc[mask].iterrows():
        text = message.format(**{k: r[k] for k in frame.columns if k != ROW})
        source = str(r.get("source", ""))
        if int(r[ROW]) == 0 and source.startswith("preset ") and "jurisdiction" in frame.columns:
            from network_opt.inputs.regulation import policy_line

            jur = str(r["jurisdiction"])
            yield Problem(inst.manifest.path.name, policy_line(inst, jur), f"policies.{jur}",
                          f"{source.split(':')[0]}, {table} {column}: {text}")
        else:
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
            if col.separator:
                for _, r in frame.loc[frame[col.name] != ""].iterrows():
                    for v in str(r[col.name]).split(col.separator):
                        if v not in known:
                            problems.append(Problem(inst.table_file(name), int(r[ROW]), col.name,
                                                    f"unknown reference {v!r} in {r[col.name]!r}; expected a {what}"
                                                    f" or several joined by '{col.separator}'"))
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
    parts = t["material"].str.split(MATERIAL_SUM_SEPARATOR, regex=False)
    summed = parts.map(len) > 1
    problems += _rows(inst, "targets", summed & (t["metric"] != "material_recovery"), "material",
                      f"only a material_recovery target may join materials with '{MATERIAL_SUM_SEPARATOR}' "
                      "(a rate on their sum); {metric} names one material")
    problems += _rows(inst, "targets", summed & parts.map(lambda ps: len(set(ps)) < len(ps)), "material",
                      "{material!r} names a material twice; name each once")
    problems += _rows(inst, "targets", t["metric"].isin(RATE_METRICS) & (t["value"] > 1.0), "value",
                      "{metric} is a rate: expected a value in [0, 1], got {value:g}")
    for scope, metrics in SCOPE_METRICS.items():
        problems += _rows(inst, "targets", (t["scope"] == scope) & ~t["metric"].isin(metrics), "scope",
                          f"scope {scope} applies to {' and '.join(metrics)} only; {{metric}} is measured per "
                          "jurisdiction")
    process = t["process"] if "process" in t else pd.Series("", index=t.index)
    problems += _rows(inst, "targets", (process != "") & ~t["scope"].isin(PER_FACILITY_SCOPES), "process",
                      "only rows of scope " + ", ".join(PER_FACILITY_SCOPES) + " name a process (the technologies "
                      "whose recyclers and refiners the row applies to); scope {scope} has none: leave it empty")
    known = set(RECYCLING_PROCESSES)
    parts = process.str.split(PROCESS_SEPARATOR, regex=False)
    unknown = (process != "") & ~parts.map(lambda ps: set(ps) <= known)
    problems += _rows(inst, "targets", unknown, "process",
                      "unknown process in {process!r}; expected one or more of " + ", ".join(RECYCLING_PROCESSES)
                      + f" separated by '{PROCESS_SEPARATOR}' (mechanical pre-processors get no target rows)")
    problems += _placed_on_market_rules(inst)
    return problems


def targets_in_force(targets: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """One row per (jurisdiction, metric, material, process, period) of ``years``: the latest row of
    ``targets`` whose from_period is not after the period (a later row for the same target replaces
    an earlier one). Keeps the columns of ``targets`` and adds ``period``."""
    key = ["jurisdiction", "metric", "material", "process"]
    t = targets if "process" in targets else targets.assign(process="")
    t = t.merge(pd.DataFrame({"period": years}), how="cross")
    t = t.loc[t["from_period"] <= t["period"]].sort_values("from_period", kind="stable")
    return t.drop_duplicates([*key, "period"], keep="last")


def _placed_on_market_rules(inst: Instance) -> list[Problem]:
    """Every collection target of scope placed_on_market in force in a modelled period has the
    placed_on_market row (jurisdiction, period) it is a share of."""
    t = inst["targets"]
    pom_rows = t["scope"] == "placed_on_market"
    if not pom_rows.any():
        return []
    force = targets_in_force(t, inst.years)
    force = force.loc[force["scope"] == "placed_on_market"]
    pom = inst["placed_on_market"]
    have = set(zip(pom["jurisdiction"], pom["period"].astype(int), strict=True))
    missing = force.loc[[(j, int(p)) not in have for j, p in zip(force["jurisdiction"], force["period"],
                                                                   strict=True)]]
    problems = []
    fname = inst.table_file("placed_on_market")
    absent = "placed_on_market" not in inst.manifest.tables
    for _, rows in missing.groupby([ROW, "jurisdiction"], sort=True):
        periods = ", ".join(str(int(p)) for p in sorted(rows["period"]))
        r: Any = rows.iloc[0]  # a row (pandas-stubs types its values as scalar | Series)
        row, jur = int(r[ROW]), str(r["jurisdiction"])
        what = (f"collection_rate {r['value']:g} from {int(r['from_period'])} is measured against the tonnes placed "
                f"on the market (scope placed_on_market), but {fname} has no row for jurisdiction {jur} and "
                f"period {periods}")
        what += ("; add the table (tables: placed_on_market: placed_on_market.csv in instance.yaml)" if absent
                 else "; add the row(s): jurisdiction, period, tonnes, source")
        if row > 0:  # a row of the instance's own targets table
            problems.append(Problem(inst.table_file("targets"), row, "scope", what))
        else:  # a preset rule: name the policies entry that brought it in
            from network_opt.inputs.regulation import policy_line

            source = str(r.get("source", ""))
            problems.append(Problem(inst.manifest.path.name, policy_line(inst, jur), f"policies.{jur}",
                                    f"{source.split(':')[0]}: {what}" if source.startswith("preset ") else what))
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
    imports = b["kind"] == "import"
    problems = list(_rows(inst, "bans", export & (b["commodity"] == ""), "commodity",
                          "an export ban needs a commodity"))
    problems += _rows(inst, "bans", export & (b["to"] == ""), "to", "an export ban needs a destination (to)")
    problems += _rows(inst, "bans", imports & (b["commodity"] == ""), "commodity", "an import ban needs a commodity")
    problems += _rows(inst, "bans", imports & (b["to"] != ""), "to",
                      "an import ban covers imports from everywhere outside {jurisdiction}; leave to empty")
    # what a kind does not read must be empty, as in the policy presets: a value there is a mistake
    for column, kinds in (("commodity", ("application", "landfill")), ("to", ("application", "landfill")),
                          ("application", ("export", "import", "landfill"))):
        problems += _rows(inst, "bans", b["kind"].isin(kinds) & (b[column] != ""), column,
                          f"{{{column}!r}} is not read by bans of kind {{kind}}; leave {column} empty")
    if "until_period" in b:
        ends = b["until_period"] != 0
        problems += _rows(inst, "bans", ends & (b["until_period"] < b["from_period"]),
                          "until_period", "{until_period} is before from_period {from_period}: expected a last "
                          "year in force at or after the first, or empty (no end)")
        years = pd.Series(sorted(inst.years))
        first, last = (int(years.min()), int(years.max())) if len(years) else (0, 0)
        # a window that overlaps the horizon but holds none of its modelled years bans nothing
        idle = (ends & (b["until_period"] >= b["from_period"]) & (b["from_period"] <= last)
                & (b["until_period"] >= first))
        idle &= pd.Series([not years.between(f, u).any() for f, u in zip(b["from_period"], b["until_period"],
                                                                         strict=True)], index=b.index, dtype=bool)
        problems += [Problem(p.file, p.row, p.column, p.message, severity="warning") for p in _rows(
            inst, "bans", idle, "until_period", "in force {from_period}-{until_period}, which holds no modelled "
            f"year ({', '.join(map(str, years))}): the ban forbids nothing")]
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
    problems += _unpriced_black_mass(inst, external)
    pp = inst["pack_prices"]
    if len(pp):
        from network_opt.inputs.lanes import grades

        known = set(grades(inst)["id"])
        problems += _rows(inst, "pack_prices", (pp["grade"] != "") & ~pp["grade"].isin(known), "grade",
                          "unknown grade {grade!r}; expected one of " + ", ".join(sorted(known))
                          + " (grades.csv, or fit / unfit without it)")
    return problems


def _unpriced_black_mass(inst: Instance, external: pd.Series) -> list[Problem]:
    """A warning per external refiner and material contained in black mass (black_mass_kg_per_t > 0)
    that no ``black_mass`` payables row prices for it: without one it pays 100 % of the benchmark,
    which no black-mass buyer pays for every metal (the default suits recovered material, not this)."""
    cm = inst["chemistry_materials"]
    if not len(external) or "black_mass_kg_per_t" not in cm:
        return []
    contained = sorted(set(cm.loc[pd.to_numeric(cm["black_mass_kg_per_t"], errors="coerce").fillna(0.0) > 0,
                              "material"]))
    pay = inst["payables"]
    pay = pay.loc[pay["product"] == "black_mass"]
    fac = inst["facilities"]
    out = []
    for fid in external:
        priced = set(pay.loc[pay["buyer"].isin([fid, ""]), "material"])
        if missing := [m for m in contained if m not in priced]:
            row = int(fac.loc[fac["id"] == fid, ROW].iloc[0])
            out.append(Problem(inst.table_file("facilities"), row, "external",
                               f"external refiner {fid!r} has no black_mass row in payables.csv for "
                               f"{', '.join(missing)}, contained in black mass: it pays 100 % of the benchmark "
                               "price for them (add rows, payable 0 where it pays nothing)", severity="warning"))
    return out


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


def _collection_beyond_generation(inst: Instance) -> list[Problem]:
    """Warnings for hard collection targets of scope placed_on_market that ask for more tonnes than
    the packs generated in their jurisdiction and period: no plan meets them (collected <= generated),
    so the solve is infeasible (or, without uncollected packs, refused when the model is built) unless
    targets are soft (``--soft-targets``: a shortfall)."""
    t = inst["targets"]
    if inst.settings.targets.soft or not (t["scope"] == "placed_on_market").any():
        return []
    from network_opt.inputs.jurisdictions import covered

    force = targets_in_force(t, inst.years)
    force = force.loc[(force["scope"] == "placed_on_market") & (force["metric"] == "collection_rate")]
    pom_table = inst["placed_on_market"].set_index(["jurisdiction", "period"])
    pom, pom_row = pom_table["tonnes"], pom_table[ROW]
    s = inst["supply"]
    jur = s["site"].map(inst["sites"].set_index("id")["jurisdiction"])
    problems = []
    for _, r in force.iterrows():
        key = (r["jurisdiction"], int(r["period"]))
        if key not in pom.index:
            continue  # reported by _placed_on_market_rules
        need = float(r["value"]) * float(pom[key])
        generated = float(s.loc[jur.isin(covered(inst, str(r["jurisdiction"]))) & (s["period"] == key[1]),
                                "tonnes"].sum())
        if need > generated * (1 + 1e-9) + 1e-9:
            problems.append(Problem(inst.table_file("placed_on_market"), int(pom_row[key]), "tonnes",
                                    f"period {key[1]}: collection_rate {r['value']:g} of the {pom[key]:,.6g} t placed "
                                    f"on the market in {key[0]} needs {need:,.6g} t/yr collected, but only "
                                    f"{generated:,.6g} t/yr of packs are generated there (supply): no plan can "
                                    "meet it (collection cannot exceed generation) unless targets are soft",
                                    severity="warning"))
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


def _step_input_warnings(inst: Instance) -> list[Problem]:
    """Warnings where a target of scope step measures an integrated recycler on the black mass it makes
    (black_mass_yield > 0) but that black mass holds less of the material than the recycler recovers:
    black_mass_yield x black_mass_kg_per_t < kg_per_t x recovery yield (e.g. black_mass_kg_per_t left
    at 0), so the step's rate would exceed 1 or its row count nothing entering."""
    t = inst["targets"]
    step = t.loc[t["scope"] == "step"]
    if step.empty:
        return []
    tech = inst["technologies"].set_index("id")
    fac = inst["facilities"]
    recyclers = fac.loc[(fac["kind"] == "recycler") & fac["technology"].map(tech["black_mass_yield"]).gt(0)]
    if recyclers.empty:
        return []
    cm = inst["chemistry_materials"]
    ty = inst["technology_yields"]
    ty_chem = ty["chemistry"] if "chemistry" in ty else pd.Series("", index=ty.index)
    warnings: list[Problem] = []
    info: Any = tech  # .at cells (pandas-stubs types them as any scalar)
    for tk in sorted(set(recyclers["technology"])):
        process, beta = str(info.at[tk, "process"]), float(info.at[tk, "black_mass_yield"])
        applies = step["process"].map(lambda ps, process=process: not ps or process in ps.split(PROCESS_SEPARATOR))
        summed = step.loc[applies, "material"].str.split(MATERIAL_SUM_SEPARATOR, regex=False)
        for mat in sorted({m for ms in summed for m in ms}):
            for _, c in cm.loc[(cm["material"] == mat) & (cm["kg_per_t"] > 0)].iterrows():
                own = ty.loc[(ty["technology"] == tk) & (ty["material"] == mat) & (ty_chem == c["chemistry"])]
                generic = ty.loc[(ty["technology"] == tk) & (ty["material"] == mat) & (ty_chem == "")]
                rows = own if len(own) else generic
                y = float(rows["recovery_yield"].iloc[0]) if len(rows) else 0.0
                entering, recovered = beta * float(c["black_mass_kg_per_t"]), float(c["kg_per_t"]) * y
                if entering < recovered - 1e-9:
                    warnings.append(Problem(
                        inst.table_file("chemistry_materials"), int(c[ROW]), "black_mass_kg_per_t",
                        f"a target of scope step measures recyclers of technology {tk} (black_mass_yield {beta:g}) "
                        f"on the black mass they make: {beta:g} x {float(c['black_mass_kg_per_t']):g} = "
                        f"{entering:g} kg of {mat} per t of {c['chemistry']} packs enter the smelting step, less "
                        f"than the {recovered:g} kg recovered (kg_per_t x yield {y:g}): check "
                        "black_mass_kg_per_t", severity="warning"))
    return warnings


def raise_for(problems: list[Problem]) -> None:
    """Raise :class:`InputError` if ``problems`` holds an error."""
    if any(p.severity == "error" for p in problems):
        raise InputError(problems)
