"""Writing small instances for tests: tables as lists of dicts, settings as a dict; reading the
figures back typed (:func:`objective_of`, :func:`as_number`, :func:`of_type`), asserting each is
what the test takes it for."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import yaml

BASE_SETTINGS: dict[str, Any] = {
    "name": "micro",
    "currency": "EUR",
    "periods": [2025],
    "transport": {"explicit_lanes_only": True},
}

T = TypeVar("T")


class _Solved(Protocol):
    @property
    def objective(self) -> float | None: ...


def objective_of(sol: _Solved) -> float:
    """The objective of a solved plan (a Solution, a SolveOutcome, ...), asserting it has one."""
    value = sol.objective
    assert value is not None, "no objective: the solve gave no plan"
    return value


def as_number(value: object) -> float:
    """A figure read back (a table cell, a record's entry) as a float, asserting it is a real number
    (a Python or numpy int or float)."""
    assert isinstance(value, (int, float, np.integer, np.floating)), f"not a number: {value!r}"
    return float(value)


def of_type(kind: type[T], value: object) -> T:
    """``value`` (a table cell, a record's entry, an artist of a figure, a sheet of a workbook, ...),
    asserting it is a ``kind``."""
    assert isinstance(value, kind), f"not a {kind.__name__}: {value!r}"
    return value


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


def existing_recyclers(folder: Path, *, supply: list[tuple[str, str, float]], li_kg_per_t: dict[str, float],
                       technologies: list[dict[str, Any]], yields: list[dict[str, Any]],
                       plants: list[tuple[str, str, float]], targets: list[dict[str, Any]],
                       black_mass_li_kg_per_t: dict[str, float] | None = None,
                       places: dict[str, tuple[float, float]] | None = None) -> Path:
    """Write a one-period (2025) instance in jurisdiction XX with Li as its only material (price 0;
    every chemistry 100 kWh/t) and existing integrated recyclers, each 1000 t/yr, free lanes from
    every collection point to every plant; return the folder. The caller states the data:

    - ``supply``: (collection point, chemistry, t/yr) rows, the collection points in that order;
    - ``li_kg_per_t``: kg of Li per t of pack by chemistry (``black_mass_li_kg_per_t``: per t of
      black mass, when the test reads it);
    - ``technologies`` and ``yields``: the rows of technologies.csv and technology_yields.csv;
    - ``plants``: (id, technology, variable cost per t) of each recycler, at site ``S<id>``;
    - ``targets``: the rows of targets.csv;
    - ``places``: (latitude, longitude) of a site by id (default 0, 0)."""
    points = list(dict.fromkeys(cp for cp, _, _ in supply))

    def at(id_: str, kind: str) -> dict[str, Any]:
        lat, lon = (places or {}).get(id_, (0.0, 0.0))
        return site(id_, kind, "XX", lat, lon)

    contents = []
    for chem, kg in li_kg_per_t.items():
        row: dict[str, Any] = {"chemistry": chem, "material": "Li", "kg_per_t": kg}
        if black_mass_li_kg_per_t is not None:
            row["black_mass_kg_per_t"] = black_mass_li_kg_per_t[chem]
        contents.append(row)
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [at(cp, "collection_point") for cp in points] + [at(f"S{p}", "facility") for p, _, _ in plants],
        "jurisdictions": [{"id": "XX", "name": "", "groups": ""}],
        "chemistries": [{"id": chem, "energy_kwh_per_t": 100} for chem in li_kg_per_t],
        "materials": [{"id": "Li"}],
        "chemistry_materials": contents,
        "material_prices": [{"material": "Li", "period": 2025, "price_per_t": 0}],
        "supply": [{"site": cp, "period": 2025, "chemistry": chem, "tonnes": t} for cp, chem, t in supply],
        "technologies": technologies,
        "technology_yields": yields,
        "facilities": [{"id": p, "site": f"S{p}", "kind": "recycler", "technology": tech, "status": "existing",
                        "variable_cost_per_t": cost} for p, tech, cost in plants],
        "facility_levels": [{"facility": p, "level": "a", "capacity_t": 1000} for p, _, _ in plants],
        "lanes": lanes(*[(cp, f"S{p}", 0) for cp in points for p, _, _ in plants]),
        "targets": targets,
    }
    return write_instance(folder, tables)


def candidate_recyclers(folder: Path, supply_t: float, levels: list[tuple[str, str, float, float]],
                        lane_cost: dict[str, float], jurisdiction: dict[str, str] | None = None,
                        tables: dict[str, list[dict[str, Any]]] | None = None, settings: dict[str, Any] | None = None,
                        **model: Any) -> Path:
    """Write an instance of candidate recyclers of one technology T (hydrometallurgical, efficiency
    0.5, Li yield 0.5; Li price 0) fed from collection point C with ``supply_t`` t of X in 2025;
    return the folder. The caller states the data: ``levels``: (facility, level, capacity t/yr,
    fixed cost per year) rows, the facilities in that order, each at site ``S<id>``; ``lane_cost``:
    cost per t of the lane from C to each facility; ``jurisdiction``: a facility site's jurisdiction
    when not XX; ``tables``: tables added or replaced; ``settings``: instance.yaml settings;
    ``model``: the ``model:`` settings."""
    facilities = list(dict.fromkeys(f for f, _, _, _ in levels))
    data: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C", "collection_point")]
        + [site(f"S{f}", "facility", jurisdiction=(jurisdiction or {}).get(f, "XX")) for f in facilities],
        **one_material_tables(),
        "supply": [{"site": "C", "period": 2025, "chemistry": "X", "tonnes": supply_t}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.5}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.5}],
        "facilities": [{"id": f, "site": f"S{f}", "kind": "recycler", "technology": "T", "status": "candidate"}
                       for f in facilities],
        "facility_levels": [{"facility": f, "level": lv, "capacity_t": cap, "fixed_cost_per_year": fixed}
                            for f, lv, cap, fixed in levels],
        "lanes": lanes(*[("C", f"S{f}", lane_cost[f]) for f in facilities]),
        **(tables or {}),
    }
    return write_instance(folder, data, model=model, **(settings or {}))
