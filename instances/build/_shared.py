"""Helpers shared by the real-instance builders in this folder (china_east.py and the
*_2025_2032.py builders): reading the raw tables, the parameters table, the pack tables every
instance derives its chemistries and materials from, exact splits of totals, and writing the
instance with stable formatting (so that a rebuild gives byte-identical files).

A builder imports this module by name: ``python instances/build/<builder>.py`` puts this folder
on ``sys.path``, and a builder loaded by file path (tests/test_real_instances.py) adds it first.
The name starts with ``_`` so that the tests do not take it for a builder.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd


def read_raw(raw: Path, name: str, **kw) -> pd.DataFrame:
    """The raw table ``name`` of the folder ``raw``, empty cells read as empty strings."""
    return pd.read_csv(raw / name, keep_default_na=False, **kw)


def parameter_text(raw: Path) -> dict[str, str]:
    """Every row of ``parameters.csv``: parameter -> value as written."""
    p = read_raw(raw, "parameters.csv", dtype=str)
    return dict(zip(p["parameter"], p["value"], strict=True))


def parameter_numbers(raw: Path) -> dict[str, float]:
    """The numeric rows of ``parameters.csv`` (descriptive, non-numeric rows are left out)."""
    out: dict[str, float] = {}
    for key, value in parameter_text(raw).items():
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def vintage_masses(table: pd.DataFrame, vintages: list[int], chemistries: list[str],
                   name: str = "pack_mass_by_vintage.csv") -> dict[int, dict[str, float]]:
    """Pack mass (kg per kWh) per vintage (sale year) and chemistry from ``table`` (columns
    chemistry, from_vintage, to_vintage, kg_pack_per_kwh): for each of ``vintages`` the one row of
    each chemistry whose vintage range covers it; a ValueError naming the file ``name`` when a
    chemistry has no row or several for a vintage."""
    out: dict[int, dict[str, float]] = {}
    for v in vintages:
        row = {}
        for c in chemistries:
            hit = table.loc[(table["chemistry"] == c) & (table["from_vintage"] <= v) & (table["to_vintage"] >= v),
                            "kg_pack_per_kwh"]
            if len(hit) != 1:
                raise ValueError(f"{name}: {len(hit)} rows for chemistry {c}, vintage {v} (need 1)")
            row[c] = float(hit.iloc[0])
        out[int(v)] = row
    return out


def level_name(capacity_t: float) -> str:
    """Name of a capacity level: 5000 t -> '5kt'."""
    return f"{capacity_t / 1000:g}kt"


def crf(rate: float, years: float) -> float:
    """Capital recovery factor: annual payment per unit of capex."""
    g = (1.0 + rate) ** years
    return rate * g / (g - 1.0)


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Split the integer ``total`` into integer parts proportional to ``weights`` that add up
    exactly (largest remainder; ties go to the earlier position)."""
    wsum = float(sum(weights))
    if total == 0 or wsum <= 0:
        return [0] * len(weights)
    raw = [total * w / wsum for w in weights]
    parts = [math.floor(x) for x in raw]
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def pack_tables(raw: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """From ``chemistries.csv`` (kg of pack per kWh), ``materials.csv`` and
    ``chemistry_content.csv`` (kg per kWh): the raw chemistries with column ``energy`` (kWh per
    t of pack), the ``chemistries`` and ``materials`` tables of the instance, and the content
    with column ``kg_per_t`` (kg of material per t of pack, 2 decimals)."""
    chem = read_raw(raw, "chemistries.csv")
    chem["energy"] = 1000.0 / chem["kg_pack_per_kwh"]
    chemistries = pd.DataFrame({"id": chem["chemistry"], "name": chem["name"],
                                "energy_kwh_per_t": chem["energy"].round(1)})
    mats = read_raw(raw, "materials.csv")
    materials = pd.DataFrame({"id": mats["material"], "name": mats["name"]})
    content = read_raw(raw, "chemistry_content.csv")
    energy = chem.set_index("chemistry")["energy"]
    content["kg_per_t"] = (content["kg_per_kwh"] * content["chemistry"].map(energy)).round(2)
    return chem, chemistries, materials, content


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write one output table with stable formatting (no index, '\\n' line ends)."""
    df.to_csv(path, index=False, lineterminator="\n", float_format="%.10g")


def write_instance(out: Path, tables: dict[str, pd.DataFrame], manifest: str) -> None:
    """Write every table as ``<name>.csv`` and ``manifest`` as ``instance.yaml`` into ``out``
    (created if needed)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        write_csv(df, out / f"{name}.csv")
    (out / "instance.yaml").write_text(manifest, encoding="utf-8", newline="\n")


def ramp_up(raw: Path) -> pd.DataFrame:
    """The raw ``ramp_up.csv`` of ``raw`` (usable share of a new plant's capacity in its first
    operating years, per technology, each row with its source), as the instance table."""
    return read_raw(raw, "ramp_up.csv")[["technology", "year", "usable_share", "source"]]
