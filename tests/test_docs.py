"""The docs and the code agree: formulation components, builder docstrings, the format docs."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pyomo.environ as pyo
from builders import one_material_tables, site, write_instance

from network_opt import load
from network_opt.docs_tools.docs_gen import render
from network_opt.model import build_model, prepare
from network_opt.model.build import CONSTRAINT_FAMILIES

DOCS = Path(__file__).parents[1] / "docs"
KINDS = {pyo.Var: "variable", pyo.Constraint: "constraint", pyo.Expression: "expression",
         pyo.Objective: "objective"}


def _documented() -> dict[str, tuple[str, str]]:
    text = (DOCS / "formulation.md").read_text(encoding="utf-8")
    section = text.split("## Components", 1)[1]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| `([\w.]+)` \|$", section, flags=re.M)
    return {name: (kind, func) for name, kind, func in rows}


def _full_model(tmp_path: Path) -> pyo.ConcreteModel:
    """A micro instance that switches every optional component on."""
    metrics = ("collection_rate", "recycling_efficiency", "material_recovery", "second_life_priority",
               "domestic_recovery")
    tables: dict[str, list[dict[str, Any]]] = {
        "sites": [site("C", "collection_point"), site("S", "facility"), site("M", "market")],
        **one_material_tables(),
        "supply": [{"site": "C", "period": 2025, "chemistry": "X", "tonnes": 10, "fit_share": 0.5}],
        "technologies": [{"id": "T", "process": "direct", "recycling_efficiency": 0.7},
                         {"id": "MECH", "process": "mechanical", "recycling_efficiency": 0.2,
                          "black_mass_yield": 0.4}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "R", "site": "S", "kind": "refurbisher", "technology": "", "status": "candidate", "test_yield": 0.9,
             "closing_cost": 5},
            {"id": "Q", "site": "S", "kind": "recycler", "technology": "T", "status": "candidate",
             "module_capacity_t": 5, "max_modules": 2, "module_opening_cost": 1},
            {"id": "B", "site": "S", "kind": "preprocessor", "technology": "MECH", "status": "candidate"},
            {"id": "D", "site": "S", "kind": "refiner", "technology": "T", "status": "candidate"},
        ],
        "facility_levels": [{"facility": "R", "level": "a", "capacity_t": 10},
                            {"facility": "Q", "level": "a", "capacity_t": 10, "opening_cost": 3},
                            {"facility": "Q", "level": "b", "capacity_t": 20, "opening_cost": 4},
                            {"facility": "B", "level": "a", "capacity_t": 10},
                            {"facility": "D", "level": "a", "capacity_t": 10}],
        "markets": [{"id": "MK", "site": "M", "application": "ups", "chemistries": ""}],
        "market_demand": [{"market": "MK", "period": 2025, "demand_kwh": 100, "price_per_kwh": 1}],
        "second_life_returns": [{"application": "ups", "after_years": 0, "share": 1.0}],
        "targets": [{"jurisdiction": "XX", "metric": m, "material": "Li" if "recovery" in m else "",
                     "value": 0.5, "from_period": 2025} for m in metrics],
        "recycled_content": [{"jurisdiction": "XX", "period": 2025, "material": "Li", "new_battery_demand_t": 1,
                              "required_share": 0.01, "origin": "domestic"}],
        "ramp_up": [{"technology": "T", "year": 1, "usable_share": 0.5}],
        "storage": [{"site": "C", "cap_t": 10, "holding_cost_per_t_year": 1},
                    {"site": "S", "cap_t": 10, "holding_cost_per_t_year": 1}],
        "end_values": [{"chemistry": "X", "commodity": "eol_packs", "value_per_t": 1}],
    }
    folder = write_instance(tmp_path, tables, transport={"max_lane_km": 100},
                            uncollected={"allowed": True}, disposal={"allowed": True},
                            targets={"soft": True}, emissions={"cap_t": 1000.0}, stock={"allowed": True},
                            model={"capacity_cover": True, "candidate_reductions": True})
    return build_model(prepare(load(folder)))


def test_every_model_component_is_documented_and_nothing_more(tmp_path: Path) -> None:
    m = _full_model(tmp_path)
    built = {c.local_name: KINDS[ctype] for ctype in KINDS for c in m.component_objects(ctype, descend_into=True)}
    documented = _documented()
    assert set(built) == set(documented)
    for name, kind in built.items():
        assert documented[name][0] == kind, name


def test_documented_builders_exist_and_state_their_equation() -> None:
    for name, (_kind, func) in _documented().items():
        module, fn = func.rsplit(".", 1)
        builder = getattr(importlib.import_module(module), fn)
        assert builder.__doc__ and name in builder.__doc__, f"{func} docstring does not name {name}"
    for builder in CONSTRAINT_FAMILIES:
        assert ".. math::" in (builder.__doc__ or ""), builder.__name__
        assert builder.__name__ in (DOCS / "formulation.md").read_text(encoding="utf-8")


def test_instance_format_doc_is_generated_from_the_schema() -> None:
    committed = (DOCS / "instance-format.md").read_text(encoding="utf-8")
    assert committed == render(), "run: python -m network_opt.docs_tools.docs_gen docs/instance-format.md"


def test_docs_hold_no_control_characters() -> None:
    """No Markdown file or docstring-built page holds a control character other than newline: a
    LaTeX command such as ``\\tau`` or ``\\beta`` written through a Python string without ``r``
    becomes a tab or a backspace (formulation.md's scope-step paragraph had seven)."""
    root = DOCS.parent
    files = sorted(DOCS.rglob("*.md")) + sorted(root.glob("*.md")) + sorted((root / "instances").glob("*/README.md"))
    bad = {str(p.relative_to(root)): sorted({f"{ord(c):#04x}" for c in p.read_text(encoding="utf-8")
                                            if ord(c) < 32 and c not in "\n\r"})
           for p in files}
    assert len(files) > 10
    assert {k: v for k, v in bad.items() if v} == {}
