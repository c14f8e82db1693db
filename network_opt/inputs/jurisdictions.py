"""Jurisdictions, groups and which site jurisdictions a code covers."""

from __future__ import annotations

from dataclasses import dataclass

from network_opt.inputs.instance import Instance

NOT_PREFIX = "not:"


@dataclass(frozen=True)
class UnionGroup:
    """A group known to every instance, defined as the union of other codes (jurisdictions or groups).

    It exists in an instance when the instance declares at least one of ``parts``; parts it does not
    declare add nothing. A group of the same name declared in ``jurisdictions.csv`` wins.
    """

    parts: tuple[str, ...]
    meaning: str
    source: str


#: The shipped group table: unions that presets may name (``to: not:BASEL_ANNEX_VII``).
BUILTIN_GROUPS: dict[str, UnionGroup] = {
    "BASEL_ANNEX_VII": UnionGroup(
        parts=("OECD", "EU27", "LI"),
        meaning="Basel Convention Annex VII: OECD members, EU member states and Liechtenstein",
        source="Basel Convention Art. 4A and Annex VII (Ban Amendment, Decision III/1, in force 5 Dec 2019): "
               "'Parties and other States which are members of OECD, EC, Liechtenstein' [S: quoted by "
               "recycling-magazine.com 2019-09-11; docs/legal-review.md, EU export bans]",
    ),
}


def jurisdiction_members(inst: Instance) -> dict[str, set[str]]:
    """Site jurisdictions covered by each jurisdiction or group code (built-in union groups included)."""
    jur = inst["jurisdictions"]
    ids = set(jur["id"]) if len(jur) else set(inst["sites"]["jurisdiction"])
    members: dict[str, set[str]] = {j: {j} for j in ids}
    for _, r in jur.iterrows():
        for g in r["groups"]:
            members.setdefault(g, set()).add(r["id"])
    for name, group in BUILTIN_GROUPS.items():
        if name not in members and any(p in members for p in group.parts):
            members[name] = set().union(*(members.get(p, set()) for p in group.parts))
    return members


def covered(inst: Instance, code: str) -> set[str]:
    """Jurisdictions covered by ``code``: a jurisdiction, a group, or ``not:GROUP`` (every
    jurisdiction outside the group)."""
    members = jurisdiction_members(inst)
    if code.startswith(NOT_PREFIX):
        everything = set().union(*members.values()) if members else set()
        return everything - members.get(code[len(NOT_PREFIX):], set())
    return members.get(code, set())


def known_codes(inst: Instance) -> set[str]:
    """Every code a target or ban may name."""
    return set(jurisdiction_members(inst))
