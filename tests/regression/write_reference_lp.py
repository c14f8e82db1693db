"""Reference LP forms of the model on a micro instance: one text file per constraint family, plus
the variables (domains and bounds) and the objective's coefficients.

``tests/test_reference_lp.py`` builds the micro instance below, computes these texts and compares
them with the files in ``tests/regression/lp/``. Run this module as a script to (re)write the files,
only after a deliberate change of the formulation (see ``tests/regression/README.md``)::

    python tests/regression/write_reference_lp.py            # write tests/regression/lp/*.txt
    python tests/regression/write_reference_lp.py --check    # only report which files differ

How a form is made: the model is built as a solve builds it (``prepare`` + ``build_model``) and
compiled by Pyomo's linear standard-form compiler in mixed form, as ``network_opt/solver/handoff.py`` hands
it to HiGHS. Rows are grouped by constraint component (a family such as ``add_module_rules`` builds
two). Variables and rows carry readable labels instead of row numbers (``flow[eol_packs|C>Q|X|fit|XX|2025]``
rather than ``flow[4]``), so that re-ordering lanes or supply rows alone changes no file. Terms are
sorted by label, coefficients rounded to 10 significant digits, zero coefficients left out; a
ranged constraint's two rows are shown as one row with both bounds.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyomo.environ as pyo
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for builders

from builders import one_material_tables, site, write_instance

from network_opt import load
from network_opt.model import build_model, prepare

LP_DIR = Path(__file__).parent / "lp"
PERIODS = (2025, 2027)
METRICS = ("collection_rate", "recycling_efficiency", "material_recovery", "second_life_priority",
           "domestic_recovery")

#: Builder of each constraint component (the families of network_opt/model/build.py).
BUILT_BY = {
    "supply_balance": "add_supply_balance",
    "refurbisher_output": "add_refurbisher_output",
    "refurbisher_rejects": "add_refurbisher_rejects",
    "preprocessor_output": "add_preprocessor_output",
    "returns_balance": "add_returns_balance",
    "market_demand": "add_market_demand",
    "level_choice": "add_level_choice",
    "facility_continuity": "add_facility_continuity",
    "capacity_growth": "add_capacity_growth",
    "opening_investment": "add_opening_investment",
    "module_growth": "add_module_rules",
    "module_needs_open": "add_module_rules",
    "facility_capacity": "add_facility_capacity",
    "lane_link": "add_lane_link",
    "target_collection_rate": "add_target_collection_rate",
    "target_recycling_efficiency": "add_target_recycling_efficiency",
    "target_material_recovery": "add_target_material_recovery",
    "target_second_life_priority": "add_target_second_life_priority",
    "target_domestic_recovery": "add_target_domestic_recovery",
    "recycled_content": "add_recycled_content",
    "recycled_content_allocation": "add_recycled_content",
    "emissions_cap": "add_emissions",
    "ramp_up": "add_ramp_up",
    "stock_cap": "add_stock_rules",
    "stock_age": "add_stock_rules",
    "capacity_cover": "add_capacity_cover",
    "candidate_order": "add_candidate_reductions",
    "candidate_closed": "add_candidate_reductions",
}
#: Prefix of the forms of the time-structure micro instance (:func:`time_micro_tables`).
TIME = "time."
#: Prefix of the forms of the candidate-reductions micro instance (:func:`reductions_micro_tables`).
REDUCTIONS = "reductions."

#: What was checked by hand against docs/formulation.md (kept in the files' headers). Each note
#: must be re-checked when the file is regenerated after a deliberate change of the formulation.
REVIEWED: dict[str, str] = {
    "supply_balance": """S_s = 10 t x fit_share 0.5 = 5 per grade; x + w + u = S_s with coefficient 1 on every
flow out of the row (unfit packs have no lane to the refurbisher R: second-life grades only).""",
    "refurbisher_output": """eta_R = 0.9: 0.9 x(C>R) - 1 x(R>MK) = 0, i.e. sold = eta x received.""",
    "refurbisher_rejects": """1 - eta_R = 0.1 (0.0999... rounded): rejects to B and Q = 0.1 x received.""",
    "preprocessor_output": """beta(MECH) = 0.4 on every pack flow into B (eol, rejects, returns); black mass
out with coefficient 1.""",
    "returns_balance": """after 2 years, periods of 2 years: sales in 2025 and 2026 come back in 2027
and 2028, both in period 2027: R_{2025,2027} = (1 + 1) / L_2027 = 1; sales of 2027 return
beyond the horizon (no row).""",
    "market_demand": """e_X sigma_fit = 100 kWh/t x 0.8 = 80; D = 100 kWh/yr.""",
    "opening_investment": """O_bar_Q = max(max_l O = 4, O_mod n_bar = 1 x 2) = 4, the row divided by it:
O_Q,a/4 = 0.75, O_Q,b/4 = 1, O_mod/4 = 0.25; in 2027 the same on (y_p - y_p-1) and (n_p - n_p-1).""",
    "capacity_growth": """C_Q,a = 10, C_Q,b = 20, C_bar_Q = 20 (largest level, modules excluded):
10 y_a,25 + 20 y_b,25 - 10 y_a,27 - 20 y_b,27 - 20 z_27 <= 0.""",
    "facility_continuity": """existing D: y_D,2025 >= y0 = 1; R and Q (closing cost) carry -z_f,p;
B and D (no closing cost) do not; no 2025 row for candidates (y_p0-1 = 0).""",
    "facility_capacity": """inflow <= sum_l C_f,l y + C_mod n: Q 10, 20 and module 5 t; B, D and R 10 t.""",
    "capacity_cover": """model.capacity_cover on: pack takers R (10), Q (levels 10 / 20, module 5, x 1 module
coefficient 5), B (10); + u + w of both grades; >= supply 10 t of the year. Refiner D (black mass
only) is not in the row.""",
    "time.capacity_cover": """Pack takers B (20), Q (10), R (10) at the investment period of each
year (2025 and 2026 share 2025's levels); + this year's pack stock - last year's (as in
supply_balance); >= supply of the year (10, 20, 10 t).""",
    "lane_link": """U_i: eol = min(supply 5, capacity); rejects R>B = min(10, 10 x (1 - 0.9)) = 1;
second life = min(10 x 0.9, 100 kWh / 80 kWh/t) = 1.25; black mass B>D = min(10, 10 x 0.4) = 4;
returns into Q = 20 + 2 x 5 = 30 (capacity with modules).""",
    "target_collection_rate": """2025, scope jurisdiction: u - xi <= (1 - 0.5) x 10 = 5 (written as xi - u >= -5);
2027, scope placed_on_market (a later row replaces it): u - xi <= S - rho P = 10 - 0.6 x 12 = 2.8.""",
    "target_recycling_efficiency": """eps - rho b: packs into B 0.2 - 0.5 = -0.3, into Q 0.7 - 0.5 = 0.2,
black mass into D 0.7 - 0 = 0.7 (b = 0 for black mass).""",
    "target_material_recovery": """a - rho c for Li: packs into Q 0.01 x 0.9 - 0.5 x 0.01 = 0.004, into B
(no Li yield) 0 - 0.005 = -0.005, black mass into D 0.025 x 0.9 - 0 = 0.0225.
Scope step on process direct (T), one row per facility: Q smelts the black mass it makes
(beta_T = 0.5): 0.009 - 0.5 x 0.5 x 0.025 = 0.00275 per t of packs; D on its black mass:
0.0225 - 0.5 x 0.025 = 0.01; B (pre-processor) has no row.""",
    "target_second_life_priority": """rho x S^SL = 0.5 x 5 = 2.5; only eol flows into R count.""",
    "target_domestic_recovery": """a for Li: 0.009 into Q, 0.0225 from black mass into D, 0 into B
(left out); V = 0.5 t.""",
    "recycled_content": """sigma D = 0.05 x 10 = 0.5 t of Li in 2025 (origin domestic: Q and D stand in XX);
credit from Q and from D, coefficient 1, plus the shortfall xi.""",
    "recycled_content_allocation": """credit <= recovered: z - 0.009 x(packs into Q) <= 0 at Q (0.01 x 0.9;
eol, rejects and returns) and z - 0.0225 x(B>D) <= 0 at D (0.025 x 0.9); B recovers no Li (no row).""",
    "emissions_cap": """phi = co2e/tkm x 0 km + 0.5 t/t at technology T (Q and D), 0 at B and R; cap 1000.""",
    "variables": """u_s, w_s in [0, S_s = 5]; z in [0, 1] (R and Q have a closing cost); n_Q integer in
[0, n_bar = 2]; y binary; I, x, xi >= 0; investment only for Q (the only opening/module cost).""",
    "objective": """omega_2025 = 1 + 1/1.1 = 1.909090909, omega_2027 = 1.1^-2 + 1.1^-3 = 1.577761082,
delta_2027 = 1/1.21; constant = kappa S = 6 x 10 x (omega_25 + omega_27) = 209.2111195;
x(C>Q) = omega (2 lane + 30 processing + 3 x 0.5 carbon - 1000 x 0.009 Li) = 24.5 omega;
x(B>D) = (40 + 1.5 - 1000 x 0.0225) omega = 19 omega; x(R>MK) = -80 omega; I_Q,p = 4 delta_p
(the investment unit); z_R,p = 5 delta_p; u = (11 - 6) omega; w = 7 omega; xi = 1000 omega.""",
    TIME + "supply_balance": """S = 10, 20, 10 t x fit_share 0.5 = 5, 10, 5 per grade; + h_y - h_(y-1) of the same
collection point, chemistry and grade (no h_2024).""",
    TIME + "preprocessor_output": """beta(MECH) = 0.5 on packs (eol, returns) into B; black mass out 1;
+ h_y - h_(y-1).""",
    TIME + "stock_cap": """C holds two stock rows per year (fit, unfit): sum <= cap 15; S holds one (B's black
mass): its cap 8 is the variable's bound instead.""",
    TIME + "stock_age": """max_age 2: h_B,y <= 0.5 x packs into B in y and y-1 (2025: 2025 only).""",
    TIME + "ramp_up": """A_Q,2025 >= 10 (y_2025 - 0) (candidate); A_Q,2027 >= 10 (y_2027 - y_2025).""",
    TIME + "facility_capacity": """y of the year's investment period (2026 -> 2025); Q loses (1 - rho): 2025 0.5 A_2025
(first year), 2026 0.2 A_2025 (second), 2027 0.5 A_2027 and nothing of A_2025 (third year: rho 1).""",
    TIME + "facility_continuity": """per investment period (2025, 2027) only; existing B, D, R from 2025.""",
    TIME + "opening_investment": """O_bar_Q = 3: I_Q,2025 >= y_2025, I_Q,2027 >= y_2027 - y_2025.""",
    TIME + "lane_link": """U of eol packs from C adds the most C held the year before: C>B 2026 min(20, 10 + 5) = 15;
C>Q stays 10 (capacity); black mass B>D min(10, 20 x 0.5 + cap 8) = 10; y of the investment period.""",
    TIME + "variables": """stock of packs <= min(cap 15, supply of y and y-1): 5, 15, 15; black mass <= 8;
added_capacity >= 0; level and investment columns per investment period (2025, 2027).""",
    REDUCTIONS + "candidate_order": """Candidates A and A2 (twins: 20 t, fixed 50, lane 1 from C), D (20 t, fixed 60,
lane 2: dominated by both), B (40 t, fixed 50, lane 1 from C2), B2 (as B, fixed 70: dominated by B).
Order by how many each dominates, then id: A, A2, B, B2, D. Rows to the nearest dominating one above:
y_A2 - y_A <= 0 (twins), y_D - y_A2 <= 0 (dominated, single period); B2 is fixed closed instead.""",
    REDUCTIONS + "candidate_closed": """B2: supply reaching B or B2 (C2: 10 t) <= B's smallest level (40 t),
so B can take B2's flows: y_B2 <= 0. A2 and D are not fixed: C's 30 t > A's 20 t.""",
    TIME + "objective": """rate 10 %: second life -80 / 1.1^(y-2025), 2027 also -5 x 1.1^-3 = -3.7566 (returns in 2028,
valued 5/t): -69.87; holding 2 (packs) and 3 (black mass) / 1.1^(y-2025), in 2027 less the end value
discounted to 2028 (5 and 7 x 1.1^-3): -2.1037, -2.7799; I_Q 3 and 3/1.21; z_Q 1 and 1/1.21.""",
}


def micro_tables() -> dict[str, list[dict[str, Any]]]:
    """The micro instance's tables.

    Two periods (2025 and 2027, 2 years each, discount rate 10 %); one collection point C with
    10 t/yr of chemistry X (10 kg Li/t in packs, 25 kg Li/t in black mass, 100 kWh/t), half of it
    fit for second life; one site S holding a refurbisher R (test yield 0.9, may close), a
    recycler Q (two levels, modules, may close), a pre-processor B (black mass yield 0.4) and an
    existing refiner D; a market MK buying 100 kWh/yr whose packs come back 2 years later; every
    target metric at 0.5, soft, plus a Li rate of scope step on the direct process (T) and, from
    2027, a collection rate of 0.6 of 12 t placed on the market; uncollected and disposed tonnes
    allowed; an emissions cap and a carbon price. Every variable and every constraint family of the
    model has at least one row.
    """
    return {
        "sites": [site("C", "collection_point"), site("S", "facility"), site("M", "market")],
        **one_material_tables(li_price=1000.0, periods=PERIODS),
        "chemistry_materials": [{"chemistry": "X", "material": "Li", "kg_per_t": 10, "black_mass_kg_per_t": 25}],
        "supply": [{"site": "C", "period": p, "chemistry": "X", "tonnes": 10, "fit_share": 0.5,
                    "collection_cost_per_t": 6} for p in PERIODS],
        "technologies": [{"id": "T", "process": "direct", "recycling_efficiency": 0.7, "co2e_per_t": 0.5,
                          "black_mass_yield": 0.5},  # read only by the step-scope row (Q's internal black mass)
                         {"id": "MECH", "process": "mechanical", "recycling_efficiency": 0.2,
                          "black_mass_yield": 0.4}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "R", "site": "S", "kind": "refurbisher", "technology": "", "status": "candidate",
             "test_yield": 0.9, "variable_cost_per_t": 20, "closing_cost": 5},
            {"id": "Q", "site": "S", "kind": "recycler", "technology": "T", "status": "candidate",
             "variable_cost_per_t": 30, "module_capacity_t": 5, "max_modules": 2, "module_opening_cost": 1,
             "module_fixed_cost_per_year": 0.5, "closing_cost": 2},
            {"id": "B", "site": "S", "kind": "preprocessor", "technology": "MECH", "status": "candidate",
             "variable_cost_per_t": 10},
            {"id": "D", "site": "S", "kind": "refiner", "technology": "T", "status": "existing",
             "variable_cost_per_t": 40},
        ],
        "facility_levels": [{"facility": "R", "level": "a", "capacity_t": 10, "fixed_cost_per_year": 8},
                            {"facility": "Q", "level": "a", "capacity_t": 10, "opening_cost": 3,
                             "fixed_cost_per_year": 1},
                            {"facility": "Q", "level": "b", "capacity_t": 20, "opening_cost": 4,
                             "fixed_cost_per_year": 2},
                            {"facility": "B", "level": "a", "capacity_t": 10},
                            {"facility": "D", "level": "a", "capacity_t": 10}],
        "markets": [{"id": "MK", "site": "M", "application": "ups", "chemistries": ""}],
        "market_demand": [{"market": "MK", "period": p, "demand_kwh": 100, "price_per_kwh": 1} for p in PERIODS],
        "second_life_returns": [{"application": "ups", "after_years": 2, "share": 1.0}],
        "targets": [*({"jurisdiction": "XX", "metric": m, "material": "Li" if "recovery" in m else "",
                       "value": 0.5, "from_period": 2025} for m in METRICS),
                    {"jurisdiction": "XX", "metric": "material_recovery", "material": "Li", "value": 0.5,
                     "from_period": 2025, "scope": "step", "process": "direct"},
                    {"jurisdiction": "XX", "metric": "collection_rate", "material": "", "value": 0.6,
                     "from_period": 2027, "scope": "placed_on_market"}],
        "placed_on_market": [{"jurisdiction": "XX", "period": 2027, "tonnes": 12}],
        "lanes": [{"origin": "C", "destination": "S", "commodity": "eol_packs", "cost_per_t": 2}],
        "recycled_content": [{"jurisdiction": "XX", "period": 2025, "material": "Li", "new_battery_demand_t": 10,
                              "required_share": 0.05, "origin": "domestic"}],
    }


def write_micro_instance(folder: Path) -> Path:
    """Write the micro instance into ``folder``; return it."""
    return write_instance(
        folder, micro_tables(), periods=[{"year": p, "length": 2} for p in PERIODS], discount_rate=0.1,
        transport={"max_lane_km": 100}, uncollected={"allowed": True, "cost_per_t": 11},
        disposal={"allowed": True, "cost_per_t": 7}, targets={"soft": True, "soft_penalty_per_t": 1000.0},
        emissions={"cap_t": 1000.0, "carbon_price": 3.0}, model={"capacity_cover": True})


def _num(x: float) -> str:
    """10 significant digits, no negative zero."""
    text = f"{float(x):.10g}"
    return "0" if text == "-0" else text


def _row_lines(terms: list[tuple[str, float]], lower: float | None, upper: float | None) -> list[str]:
    """A row as text, in one orientation whatever way the code writes it: multiplied by -1 if
    needed so that its first term (by label) has a positive coefficient, bounds and ``<=``/``>=``
    following (``a >= b``, ``b <= a`` and ``a - b >= 0`` give the same text)."""
    if terms and terms[0][1] < 0:
        terms = [(v, -c) for v, c in terms]
        lower, upper = (None if upper is None else -upper), (None if lower is None else -lower)
    out = [f"  {_num(c)} {v}" for v, c in terms]
    if lower is not None and lower == upper:
        return [*out, f"  = {_num(upper)}"]
    return out + ([f"  >= {_num(lower)}"] if lower is not None else []) + (
        [f"  <= {_num(upper)}"] if upper is not None else [])


def time_micro_tables() -> dict[str, list[dict[str, Any]]]:
    """The time-structure micro instance's tables (issue 16).

    Investment periods 2025 (operated yearly: 2025 and 2026) and 2027 (one year), discount rate
    10 %; collection point C with 10, 20 and 10 t of chemistry X (half fit for second life); at
    site S a candidate recycler Q (10 t/yr, opening 3, closing cost 1) of technology T that ramps
    up (50 % in its first year of operation, 80 % in its second), an existing pre-processor B
    (black-mass yield 0.5), an existing refiner D and an existing refurbisher R; a market MK whose
    packs return a year later (after the horizon for sales in 2027); stock allowed (oldest 2 years)
    at C (cap 15 t, 2 per t-year) and at S (cap 8 t, 3 per t-year); end values 5/t for packs and
    7/t for black mass. Every family of the time structure has rows.
    """
    years = (2025, 2026, 2027)
    return {
        "sites": [site("C", "collection_point"), site("S", "facility"), site("M", "market")],
        **one_material_tables(periods=years),
        "chemistry_materials": [{"chemistry": "X", "material": "Li", "kg_per_t": 10, "black_mass_kg_per_t": 20}],
        "supply": [{"site": "C", "period": p, "chemistry": "X", "tonnes": t, "fit_share": 0.5}
                   for p, t in zip(years, (10, 20, 10), strict=True)],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.7},
                         {"id": "MECH", "process": "mechanical", "recycling_efficiency": 0.2,
                          "black_mass_yield": 0.5}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [
            {"id": "R", "site": "S", "kind": "refurbisher", "technology": "", "status": "existing"},
            {"id": "Q", "site": "S", "kind": "recycler", "technology": "T", "status": "candidate", "closing_cost": 1},
            {"id": "B", "site": "S", "kind": "preprocessor", "technology": "MECH", "status": "existing"},
            {"id": "D", "site": "S", "kind": "refiner", "technology": "T", "status": "existing"},
        ],
        "facility_levels": [{"facility": "R", "level": "a", "capacity_t": 10},
                            {"facility": "Q", "level": "a", "capacity_t": 10, "opening_cost": 3},
                            {"facility": "B", "level": "a", "capacity_t": 20},
                            {"facility": "D", "level": "a", "capacity_t": 10}],
        "markets": [{"id": "MK", "site": "M", "application": "ups", "chemistries": ""}],
        "market_demand": [{"market": "MK", "period": p, "demand_kwh": 100, "price_per_kwh": 1} for p in years],
        "second_life_returns": [{"application": "ups", "after_years": 1, "share": 1.0}],
        "ramp_up": [{"technology": "T", "year": 1, "usable_share": 0.5}, {"technology": "T", "year": 2,
                                                                         "usable_share": 0.8}],
        "storage": [{"site": "C", "cap_t": 15, "holding_cost_per_t_year": 2},
                    {"site": "S", "cap_t": 8, "holding_cost_per_t_year": 3}],
        "end_values": [{"chemistry": "X", "commodity": "eol_packs", "value_per_t": 5},
                       {"chemistry": "X", "commodity": "black_mass", "value_per_t": 7}],
    }


def write_time_micro_instance(folder: Path) -> Path:
    """Write the time-structure micro instance into ``folder``; return it."""
    return write_instance(
        folder, time_micro_tables(), periods=[{"year": 2025, "length": 2, "operations": "yearly"}, 2027],
        discount_rate=0.1, transport={"max_lane_km": 100}, stock={"allowed": True, "max_age_years": 2},
        model={"capacity_cover": True})


def reductions_micro_tables() -> dict[str, list[dict[str, Any]]]:
    """The candidate-reductions micro instance (``model.candidate_reductions``, one period): C (30 t)
    with lanes to A, A2 (cost 1) and D (cost 2); C2 (10 t) with lanes to B and B2 (cost 1); recyclers
    of one technology, one level each: A, A2 20 t fixed 50; D 20 t fixed 60; B 40 t fixed 50; B2 40 t
    fixed 70. Optimum: A + A2 for C (100 + 30), B for C2 (50 + 10): 190."""
    fac = [("A", 20.0, 50.0), ("A2", 20.0, 50.0), ("D", 20.0, 60.0), ("B", 40.0, 50.0), ("B2", 40.0, 70.0)]
    return {
        "sites": [site("C", "collection_point"), site("C2", "collection_point")]
        + [site(f"S{f}", "facility") for f, _, _ in fac],
        **one_material_tables(),
        "supply": [{"site": "C", "period": 2025, "chemistry": "X", "tonnes": 30.0},
                   {"site": "C2", "period": 2025, "chemistry": "X", "tonnes": 10.0}],
        "technologies": [{"id": "T", "process": "hydrometallurgical", "recycling_efficiency": 0.5}],
        "technology_yields": [{"technology": "T", "material": "Li", "recovery_yield": 0.5}],
        "facilities": [{"id": f, "site": f"S{f}", "kind": "recycler", "technology": "T", "status": "candidate"}
                       for f, _, _ in fac],
        "facility_levels": [{"facility": f, "level": "only", "capacity_t": c, "fixed_cost_per_year": k}
                            for f, c, k in fac],
        "lanes": [{"origin": o, "destination": f"S{f}", "commodity": "", "cost_per_t": c}
                  for o, f, c in (("C", "A", 1.0), ("C", "A2", 1.0), ("C", "D", 2.0), ("C2", "B", 1.0),
                                  ("C2", "B2", 1.0))],
    }


def write_reductions_micro_instance(folder: Path) -> Path:
    """Write the candidate-reductions micro instance into ``folder``; return it."""
    return write_instance(folder, reductions_micro_tables(), transport={"explicit_lanes_only": True},
                          model={"candidate_reductions": True})


def _labellers(d: Any) -> dict[str, Any]:
    """Component name -> function of the Pyomo index giving a readable, order-free index."""
    f, s, lv, t = d.flows, d.supply, d.levels, d.targets

    def grade(g: object) -> str:
        return str(g) if isinstance(g, str) and g else "-"

    flows = [f"{r.commodity}|{r.origin}>{r.destination}|{r.chemistry}|{grade(r.grade)}|{r.jurisdiction}|{r.period}"
             for r in f.itertuples()]
    supply = [f"{r.site}|{r.chemistry}|{grade(r.grade)}|{r.period}" for r in s.itertuples()]
    levels = [f"{r.facility}/{r.level}" for r in lv.itertuples()]
    targets = [f"{r.jurisdiction}|{r.metric}|{r.material or '-'}|{r.period}"
               + (f"|{r.scope}:{r.facility}" if r.facility else "") for r in t.itertuples()]
    stock = [f"{r.kind}|{r.holder}|{r.chemistry}|{grade(r.grade)}|{r.jurisdiction or '-'}|{r.period}"
             for r in d.stock.itertuples()] if len(d.stock) else []
    by_flow = flows.__getitem__
    by_supply = supply.__getitem__
    by_target = targets.__getitem__
    return {
        "stock": stock.__getitem__, "stock_age": stock.__getitem__,
        "flow": by_flow, "lane_link": by_flow,
        "uncollected": by_supply, "disposed": by_supply, "supply_balance": by_supply,
        "level_open": lambda idx: f"{levels[idx[0]]},{idx[1]}",
        "shortfall": by_target, **{name: by_target for name in BUILT_BY if name.startswith("target_")},
        "recycled_content": by_target, "credit": lambda idx: f"{targets[idx[0]]},{idx[1]}",
    }


def _label(component: Any, labellers: dict[str, Any]) -> str:
    name = component.parent_component().local_name
    index = component.index()
    if index is None:
        return name
    if name in labellers:
        return f"{name}[{labellers[name](index)}]"
    parts = index if isinstance(index, tuple) else (index,)
    return f"{name}[{','.join(str(p) for p in parts)}]"


def _header(title: str, family: str | None = None) -> list[str]:
    which = ("time-structure micro instance" if title.startswith(TIME) else
             "candidate-reductions micro instance" if title.startswith(REDUCTIONS) else "micro instance")
    lines = [f"# {title}", f"# Generated by tests/regression/write_reference_lp.py on its {which};",
             "# compared by tests/test_reference_lp.py. Regenerate only for a deliberate formulation change."]
    note = REVIEWED.get(family or title)
    if note:
        lines.append("# Checked by hand against docs/formulation.md:")
        lines += [f"#   {line}" for line in note.strip().splitlines()]
    return lines


def reference_forms(folder: Path | None = None) -> dict[str, str]:
    """File name (without .txt) -> canonical text, for the micro instance written into ``folder``
    (a temporary folder if None)."""
    if folder is None:
        with tempfile.TemporaryDirectory() as tmp:
            return reference_forms(Path(tmp) / "micro")
    forms = _forms(prepare(load(write_micro_instance(folder))))
    timed = _forms(prepare(load(write_time_micro_instance(folder.parent / f"{folder.name}-time"))), TIME)
    reduced = _forms(prepare(load(write_reductions_micro_instance(folder.parent / f"{folder.name}-reductions"))),
                     REDUCTIONS)
    return {**forms, **timed, **reduced}


def _forms(d: Any, prefix: str = "") -> dict[str, str]:
    """The forms of the model built from ``d``, names prefixed with ``prefix``."""
    m = build_model(d)
    sf = LinearStandardFormCompiler().write(m, mixed_form=True)
    labellers = _labellers(d)
    cols = [_label(v, labellers) for v in sf.columns]
    a = sf.A.tocsr()
    rows: dict[str, dict[str, dict[str, Any]]] = {}  # component -> row label -> row
    for k, entry in enumerate(sf.rows):
        con = entry.constraint
        comp = con.parent_component().local_name
        label = _label(con, labellers)
        span = slice(a.indptr[k], a.indptr[k + 1])
        terms = sorted((cols[j], float(x)) for j, x in zip(a.indices[span].tolist(), a.data[span].tolist(), strict=True)
                       if x != 0)
        row = rows.setdefault(comp, {}).setdefault(label, {"terms": terms, "lower": None, "upper": None})
        assert row["terms"] == terms, label
        if entry.bound_type in (0, 1):
            row["upper"] = float(sf.rhs[k])
        if entry.bound_type in (0, -1):
            row["lower"] = float(sf.rhs[k])
    forms: dict[str, str] = {}
    for comp, by_label in rows.items():
        lines = _header(prefix + comp)
        lines.insert(1, f"# Rows of constraint `{comp}` (built by {BUILT_BY.get(comp, '?')}): terms sorted by "
                        "variable, then the bounds.")
        for label in sorted(by_label):
            lines.append(label)
            lines += _row_lines(**by_label[label])
        forms[prefix + comp] = "\n".join(lines) + "\n"
    # variables: domain and bounds of each column
    lines = _header(prefix + "variables")
    lines.insert(1, "# Columns: label, domain (B binary, I integer, C continuous), lower and upper bound.")
    for label, v in sorted(zip(cols, sf.columns, strict=True)):
        domain = "B" if v.is_binary() else "I" if v.is_integer() else "C"
        lb = "-inf" if v.lb is None else _num(v.lb)
        ub = "inf" if v.ub is None else _num(v.ub)
        lines.append(f"{label} {domain} [{lb}, {ub}]")
    forms[prefix + "variables"] = "\n".join(lines) + "\n"
    # objective: sense, constant and the cost of each column
    (objective,) = list(m.component_data_objects(pyo.Objective, active=True))
    lines = _header(prefix + "objective")
    lines.insert(1, f"# `{objective.local_name}`: sense, constant, then the cost of each column with one.")
    c = sf.c.tocsr()
    costs = sorted((cols[j], _num(x)) for j, x in zip(c.indices.tolist(), c.data.tolist(), strict=True) if x != 0)
    lines += ["minimize" if objective.sense == pyo.minimize else "maximize",
              f"constant {_num(float(sum(sf.c_offset)) if len(sf.c_offset) else 0.0)}"]
    lines += [f"{coef} {var}" for var, coef in costs]
    forms[prefix + "objective"] = "\n".join(lines) + "\n"
    return forms


def diff(expected: str, actual: str, name: str) -> str:
    """Unified diff from the stored form to the built one."""
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                        fromfile=f"tests/regression/lp/{name}.txt (stored)",
                                        tofile=f"{name} (built now)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; list the files that differ")
    args = parser.parse_args(argv)
    forms = reference_forms()
    stale = sorted(p.stem for p in LP_DIR.glob("*.txt") if p.stem not in forms)
    changed = 0
    for name, text in sorted(forms.items()):
        path = LP_DIR / f"{name}.txt"
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old != text:
            changed += 1
            print(f"{'differs' if args.check else 'writing'}: {path} ({text.count(chr(10))} lines)")
            if args.check:
                print(diff(old, text, name))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    for name in stale:
        print(f"no longer built: {LP_DIR / name}.txt (delete it if the family was removed on purpose)")
    print(f"{len(forms)} forms, {changed} {'differ' if args.check else 'written'}")
    return 1 if args.check and (changed or stale) else 0


if __name__ == "__main__":
    raise SystemExit(main())
