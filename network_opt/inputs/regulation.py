"""Applying policy presets (``policies:`` in instance.yaml) to an instance's targets and bans.

Preset rows are added to ``targets`` and ``bans`` with the jurisdiction they are applied to; a
row of the instance's own ``targets.csv`` with the same (jurisdiction, metric, material,
from_period, process) replaces the preset's row, so any preset value can be overridden.
"""

from __future__ import annotations

import pandas as pd

from network_opt.common.errors import Problem
from network_opt.inputs.instance import Instance
from network_opt.inputs.jurisdictions import known_codes
from network_opt.inputs.read import ROW
from network_opt.inputs.schema import MATERIAL_SUM_SEPARATOR, PROCESS_SEPARATOR

TARGET_KEY = ["jurisdiction", "metric", "material", "from_period", "process"]
BAN_KEY = ["kind", "jurisdiction", "commodity", "to", "application"]


def policy_line(inst: Instance, jurisdiction: str) -> int:
    """Line of ``policies.<jurisdiction>`` in instance.yaml (0 when unknown)."""
    return int(inst.manifest.lines.get(f"policies.{jurisdiction}", 0))


def policy_problems(inst: Instance) -> list[Problem]:
    """Unknown preset ids and unknown jurisdictions under ``policies:``."""
    from network_opt.inputs.policies import available_presets

    problems = []
    presets = available_presets()
    codes = known_codes(inst)
    fname = inst.manifest.path.name
    for jur, ids in inst.settings.policies.items():
        key = f"policies.{jur}"
        if jur not in codes:
            problems.append(Problem(fname, policy_line(inst, jur), key,
                                    f"unknown jurisdiction or group {jur!r}; declare it in jurisdictions.csv"))
        for pid in ids:
            if pid not in presets:
                problems.append(Problem(fname, policy_line(inst, jur), key,
                                        f"unknown policy preset {pid!r}; expected one of "
                                        f"{', '.join(sorted(presets))} (see `network-opt policies`)"))
    return problems


def apply_policies(inst: Instance) -> list[Problem]:
    """Add the rows of the presets named under ``policies:`` to the targets and bans tables.

    Preset targets on materials the instance does not model are left out, with a warning.
    """
    from network_opt.inputs.policies import available_presets

    presets = available_presets()
    materials = set(inst["materials"]["id"])
    codes = known_codes(inst)
    warnings: list[Problem] = []
    targets, bans = [], []
    for jur, ids in inst.settings.policies.items():
        if jur not in codes:
            continue  # reported by policy_problems
        for pid in ids:
            preset = presets.get(pid)
            if preset is None:
                continue  # reported by policy_problems
            t = preset.targets.assign(jurisdiction=jur, source=f"preset {pid}: " + preset.targets["source"])
            t, left_out = _modelled_materials(t, materials)
            for text in left_out:
                warnings.append(Problem(inst.manifest.path.name, policy_line(inst, jur), f"policies.{jur}",
                                        f"preset {pid} sets {text}", severity="warning"))
            b = preset.bans.assign(jurisdiction=jur, source=f"preset {pid}: " + preset.bans["source"])
            targets.append(t)
            bans.append(b)
    if targets:
        own = inst.tables["targets"]
        merged = pd.concat([*targets, own], ignore_index=True)
        merged[ROW] = merged[ROW].fillna(0).astype(int) if ROW in merged else 0
        if "scope" in merged:  # a preset rule without a scope is a pooled (jurisdiction) target
            merged["scope"] = merged["scope"].fillna("jurisdiction").replace("", "jurisdiction")
        # one spelling of a set of processes (sorted), so that an own row naming them in another order
        # replaces the preset's row instead of adding a second target
        merged["process"] = (merged["process"].fillna("").map(
            lambda p: PROCESS_SEPARATOR.join(sorted(str(p).split(PROCESS_SEPARATOR))) if p else "")
            if "process" in merged else "")
        # likewise one spelling of a sum of materials: in the order of materials.csv
        order = {m: n for n, m in enumerate(inst["materials"]["id"])}
        merged["material"] = merged["material"].fillna("").map(
            lambda m: MATERIAL_SUM_SEPARATOR.join(sorted(str(m).split(MATERIAL_SUM_SEPARATOR),
                                                         key=lambda x: (order.get(x, len(order)), x))) if m else "")
        merged = merged.drop_duplicates(TARGET_KEY, keep="last")
        inst.tables["targets"] = merged[list(own.columns)].reset_index(drop=True)
    if bans:
        own = inst.tables["bans"]
        merged = pd.concat([*bans, own], ignore_index=True)
        merged[ROW] = merged[ROW].fillna(0).astype(int) if ROW in merged else 0
        for col in ("commodity", "to", "application"):
            merged[col] = merged[col].fillna("")
        merged = merged.drop_duplicates(BAN_KEY, keep="last")
        inst.tables["bans"] = merged[list(own.columns)].reset_index(drop=True)
    return warnings


def _modelled_materials(targets: pd.DataFrame, materials: set[str]) -> tuple[pd.DataFrame, list[str]]:
    """A preset's target rows on the instance's materials: a row on a material the instance does not
    model is left out, and a row on a sum of materials keeps the sum of those it models (a material
    the instance does not track has neither content nor recovery in it). Returns the rows kept and,
    for a warning, what was left out."""
    texts: list[str] = []
    kept = []
    for material in targets["material"]:
        parts = [m for m in str(material).split(MATERIAL_SUM_SEPARATOR) if m]
        known = [m for m in parts if m in materials]
        if parts and not known:
            texts.append(f"a {material} target, but {material} is not in materials.csv: left out")
        elif len(known) < len(parts):
            gone = ", ".join(m for m in parts if m not in materials)
            texts.append(f"a target on the sum {material}, but {gone} is not in materials.csv: measured on "
                         f"{MATERIAL_SUM_SEPARATOR.join(known)}")
        kept.append(MATERIAL_SUM_SEPARATOR.join(known) if parts else "")
    out = targets.assign(material=kept)
    return out.loc[(out["material"] != "") | (targets["material"] == "")], sorted(set(texts))
