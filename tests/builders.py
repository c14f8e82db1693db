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


def two_technology_tables(periods: tuple[int, ...] = (2025,), jurisdiction: str = "XX",
                          groups: str = "") -> dict[str, list[dict[str, Any]]]:
    """The two-technology case used across the tests: 100 t/yr of X (10 kg Li/t) at C1, to be
    recycled at the existing PYRO plant P (10/t, Li yield 0, efficiency 0.5, 1.0 t CO2e/t) or the
    existing HYDRO plant H (30/t, Li yield 0.9, efficiency 0.8, 0.2 t CO2e/t), free lanes, no revenue.
    With a Li recovery target rho, H takes 100 rho / 0.9 t: cost = 1000 + 2000 rho / 0.9 per period."""
    return {
        "sites": [site("C1", "collection_point", jurisdiction), site("S1", "facility", jurisdiction),
                  site("S2", "facility", jurisdiction)],
        "jurisdictions": [{"id": jurisdiction, "name": "", "groups": groups}],
        **one_material_tables(periods=tuple(periods)),
        "supply": [{"site": "C1", "period": p, "chemistry": "X", "tonnes": 100} for p in periods],
        "technologies": [{"id": "PYRO", "process": "pyrometallurgical", "recycling_efficiency": 0.5,
                          "co2e_per_t": 1.0},
                         {"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.8,
                          "co2e_per_t": 0.2}],
        "technology_yields": [{"technology": "PYRO", "material": "Li", "recovery_yield": 0.0},
                              {"technology": "HYDRO", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "P", "site": "S1", "kind": "recycler", "technology": "PYRO", "status": "existing",
             "variable_cost_per_t": 10},
            {"id": "H", "site": "S2", "kind": "recycler", "technology": "HYDRO", "status": "existing",
             "variable_cost_per_t": 30},
        ],
        "facility_levels": [{"facility": "P", "level": "a", "capacity_t": 1000},
                            {"facility": "H", "level": "a", "capacity_t": 1000}],
        "lanes": lanes(("C1", "S1", 0), ("C1", "S2", 0)),
    }
