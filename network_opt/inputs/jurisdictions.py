"""Jurisdictions, groups and which site jurisdictions a code covers."""

from __future__ import annotations

from network_opt.inputs.instance import Instance

NOT_PREFIX = "not:"


def jurisdiction_members(inst: Instance) -> dict[str, set[str]]:
    """Site jurisdictions covered by each jurisdiction or group code."""
    jur = inst["jurisdictions"]
    ids = set(jur["id"]) if len(jur) else set(inst["sites"]["jurisdiction"])
    members: dict[str, set[str]] = {j: {j} for j in ids}
    for _, r in jur.iterrows():
        for g in r["groups"]:
            members.setdefault(g, set()).add(r["id"])
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
