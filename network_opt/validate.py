"""Checks across tables and on the network, run after every table has been read cleanly.

Each check returns :class:`~network_opt.errors.Problem` rows naming file, line and column, so
that all errors are reported at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from network_opt.errors import InputError, Problem
from network_opt.instance import Instance, read_instance
from network_opt.io.read import ROW
from network_opt.schema import TABLES


def validate(instance: str | Path) -> list[Problem]:
    """Every problem of an instance folder (errors and warnings); empty when it is valid."""
    inst, problems = read_instance(instance)
    if inst is not None and not any(p.severity == "error" for p in problems):
        problems.extend(check_instance(inst))
    return problems


def check_instance(inst: Instance) -> list[Problem]:
    """Cross-table and network checks of an instance whose tables each read cleanly."""
    problems: list[Problem] = []
    problems += _references(inst)
    problems += _site_roles(inst)
    problems += _facility_rules(inst)
    problems += _target_rules(inst)
    if not problems:
        problems += _network(inst)
    return problems


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
            known |= {g for groups in jur["groups"] for g in groups}
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
    recycler = fac["kind"] == "recycler"
    problems += _rows(inst, "facilities", recycler & (fac["technology"] == ""), "technology",
                      "a recycler needs a technology (technologies.id)")
    problems += _rows(inst, "facilities", ~recycler & (fac["technology"] != ""), "technology",
                      "a refurbisher has no recycling technology; leave it empty")
    problems += _rows(inst, "facilities", ~fac["id"].isin(levels["facility"]), "id",
                      "facility {id!r} has no row in facility_levels; give at least one capacity level")
    return problems


def _target_rules(inst: Instance) -> list[Problem]:
    t = inst["targets"]
    needs = t["metric"] == "material_recovery"
    problems = list(_rows(inst, "targets", needs & (t["material"] == ""), "material",
                          "material_recovery needs a material (materials.id)"))
    problems += _rows(inst, "targets", ~needs & (t["material"] != ""), "material",
                      "only material_recovery targets name a material; leave it empty")
    return problems


def _network(inst: Instance) -> list[Problem]:
    """Every collection point reaches a recycler; openable capacity can absorb the supply."""
    from network_opt.network import build_lanes, supply_by_grade, unreachable_supply

    problems: list[Problem] = []
    supply = supply_by_grade(inst)
    lanes = build_lanes(inst, supply)
    escape = inst.setting("uncollected.allowed") or inst.setting("disposal.allowed")
    if escape:
        return problems
    stuck = unreachable_supply(inst, lanes, supply)
    if len(stuck):
        s = inst["supply"].merge(stuck, on=["site", "chemistry"])
        for _, r in s.drop_duplicates(["site", "chemistry"]).iterrows():
            problems.append(Problem(inst.table_file("supply"), int(r[ROW]), "site",
                                    f"collection point {r['site']!r} has no lane to a recycler for "
                                    f"{r['chemistry']} within transport.max_lane_km (and neither "
                                    "disposal nor leaving packs uncollected is allowed)"))
    levels = inst["facility_levels"].merge(inst["facilities"][["id", "kind"]], left_on="facility", right_on="id")
    recycling_cap = levels.loc[levels["kind"] == "recycler"].groupby("facility")["capacity_t"].max().sum()
    total = inst["supply"].groupby("period")["tonnes"].sum()
    for period, tonnes in total.items():
        unfit = supply.loc[(supply["period"] == period) & (supply["grade"] == "unfit"), "tonnes"].sum()
        if unfit > recycling_cap + 1e-6:
            problems.append(Problem(inst.table_file("supply"), 0, "tonnes",
                                    f"period {period}: {unfit:,.0f} t/yr of packs unfit for second life exceed "
                                    f"the {recycling_cap:,.0f} t/yr of recycling capacity that could be opened"))
        if tonnes > 1e12:
            problems.append(Problem(inst.table_file("supply"), 0, "tonnes", "implausibly large total supply"))
    return problems


def raise_for(problems: list[Problem]) -> None:
    """Raise :class:`InputError` if ``problems`` holds an error."""
    if any(p.severity == "error" for p in problems):
        raise InputError(problems)
