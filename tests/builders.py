"""Writing small instances for tests: tables as lists of dicts, settings as a dict."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

BASE_SETTINGS: dict[str, Any] = {
    "name": "micro",
    "currency": "EUR",
    "periods": [2025],
    "transport": {"explicit_lanes_only": True},
}


def write_instance(folder: Path, tables: dict[str, list[dict[str, Any]]], **settings: Any) -> Path:
    """Write ``instance.yaml`` and one CSV per table into ``folder``; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {**BASE_SETTINGS, **settings, "tables": {}}
    for name, rows in tables.items():
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns or ["id"])
            writer.writeheader()
            writer.writerows(rows)
        manifest["tables"][name] = f"{name}.csv"
    (folder / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return folder


def site(id_: str, kind: str, jurisdiction: str = "XX", lat: float = 0.0, lon: float = 0.0) -> dict[str, Any]:
    return {"id": id_, "name": id_, "kind": kind, "latitude": lat, "longitude": lon, "region": "",
            "jurisdiction": jurisdiction}


def one_material_tables(li_kg_per_t: float = 10.0, li_price: float = 0.0,
                        periods: tuple[int, ...] = (2025,)) -> dict[str, list[dict[str, Any]]]:
    """Chemistry X (100 kWh/t) holding Li, with a Li price in each period."""
    return {
        "chemistries": [{"id": "X", "energy_kwh_per_t": 100}],
        "materials": [{"id": "Li"}],
        "chemistry_materials": [{"chemistry": "X", "material": "Li", "kg_per_t": li_kg_per_t}],
        "material_prices": [{"material": "Li", "period": p, "price_per_t": li_price} for p in periods],
    }


def lanes(*pairs: tuple[str, str, float], commodity: str = "") -> list[dict[str, Any]]:
    """Explicit lanes (origin site, destination site, cost per t)."""
    return [{"origin": o, "destination": d, "commodity": commodity, "cost_per_t": c} for o, d, c in pairs]
