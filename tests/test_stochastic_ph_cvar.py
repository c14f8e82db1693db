"""Progressive hedging with a CVaR objective: the value at risk's proximal term no longer breaks the
scenario subproblems (HiGHS "Solve error" / "Infeasible"), and PH converges to the extensive form.

Cause (measured on the toy instance, 4 scenarios, seed 2, alpha 0.5, lambda 0.5): the value at risk
eta (currency, about -1.8e6 EUR) was a non-anticipative variable with the plan's rho (14,000) and
mpi-sppy's linearised proximal term, built on tangents of eta^2: the failing subproblem had
objective coefficients up to 1.6e10, an objective offset of 7.8e15 and right-hand sides up to 3.2e12.
HiGHS answered "Solve error" or "Infeasible" for 40 of the 200 subproblems and eta never agreed
(convergence metric 3e4 after 50 iterations). Now PH sees z = (eta - L) / s, s the spread of the
wait-and-see costs, with rho lambda x s and tangents 0.001 apart
(:func:`network_opt.runs.decompose.solve_ph`).

Hand check on the micro instance of ``test_stochastic.py`` (low 20 t / high 180 t, probability 0.5
each; R at level S 100 t/yr for 1000 or L 200 t/yr for 1800, processing 10/t, uncollected 25/t):
plan costs none (500, 4500), S (1200, 4000), L (2000, 3600). alpha = 0.5, lambda = 1. A scenario's
own objective is C + eta + (C - eta)^+ / (1 - 0.5) = C + eta + 2 (C - eta)^+: slope -1 in eta below C,
+1 above, so its minimum is 2 C at eta = C.

- ``high``: 2 x min(4500, 4000, 3600) = 7200 at plan L, eta = 3600.
- ``low``: 2 x 500 = 1000 at plan none, eta = 500 (the box's lower end L, the smallest wait-and-see
  dual bound).

With the box [500, 72,510] (``test_stochastic_decomposition_cvar.py``) and the unit s = 3600 - 500
= 3100: z = (3600 - 500) / 3100 = 1 in ``high`` and 0 in ``low``; z's bounds are
[0, (72,510 - 500) / 3100] = [0, 22.58...]. The design's plan is L (objective 6400), whose VaR may be
any eta in [2000, 3600]: E + CVaR = 2800 + min over eta of eta + (2000 - eta)^+ + (3600 - eta)^+, flat
at 3600 on that interval.
"""

from __future__ import annotations

import io
import math
from contextlib import redirect_stdout
from pathlib import Path

import pyomo.environ as pyo
import pytest
from builders import objective_of
from test_stochastic import TOY, micro, opened

import network_opt as no
from network_opt.model.data import prepare
from network_opt.model.stages import plan_values
from network_opt.model.stochastic import scenario_model
from network_opt.runs.decompose import solve_ph
from network_opt.runs.stochastic import StochasticOptions, scenario_data, scenario_set, solve_stochastic
from network_opt.solver.highs import solve_model
from network_opt.solver.options import SolveOptions
from network_opt.solver.status import Termination

TOL = 1e-6
RISK = {"scenarios": {"low": 0.5, "high": 0.5}, "cvar_alpha": 0.5, "cvar_weight": 1.0}
BOX = (500.0, 72510.0)
UNIT = 3100.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return micro(tmp_path_factory.mktemp("phcvar"), RISK)


@pytest.mark.parametrize("unit", [None, (BOX[0], UNIT)])
@pytest.mark.parametrize(("name", "objective", "eta", "level"), [("low", 1000.0, 500.0, "none"),
                                                                 ("high", 7200.0, 3600.0, "L")])
def test_scaled_value_at_risk_keeps_the_scenario_objective(folder: Path, unit: tuple[float, float] | None,
                                                           name: str, objective: float, eta: float,
                                                           level: str) -> None:
    inst = no.load(folder)
    sset = scenario_set(inst)
    d = scenario_data(inst, sset.overrides[sset.names.index(name)])
    m = scenario_model(d, 0.5, alpha=0.5, weight=1.0, var_at_risk_bounds=BOX, var_at_risk_unit=unit)
    if unit is not None:
        assert m.var_at_risk.bounds == pytest.approx((0.0, (BOX[1] - BOX[0]) / UNIT))
    out = solve_model(m, SolveOptions(mip_gap=0.0))
    assert out.objective == pytest.approx(objective, abs=TOL)
    z = pyo.value(m.var_at_risk)
    assert (z if unit is None else BOX[0] + UNIT * z) == pytest.approx(eta, abs=TOL)
    if unit is not None:
        assert z == pytest.approx({"low": 0.0, "high": 1.0}[name], abs=TOL)
    assert opened(plan_values(m), prepare(inst)) == level


def test_scaled_value_at_risk_needs_a_positive_unit(folder: Path) -> None:
    inst = no.load(folder)
    d = scenario_data(inst, scenario_set(inst).overrides[0])
    with pytest.raises(ValueError, match="unit > 0"):
        scenario_model(d, 0.5, alpha=0.5, weight=1.0, var_at_risk_bounds=BOX, var_at_risk_unit=(500.0, 0.0))


def test_ph_on_the_micro_gives_the_value_at_risk_in_currency(folder: Path) -> None:
    """PH on the micro finds plan L; the candidate's value at risk is back in currency, within
    [2000, 3600] (module docstring), not the scaled z (between 0 and 1 there). (The value at risk is
    not unique here, so PH's convergence metric creeps: 2.3e-4 after its 50 iterations.)"""
    inst = no.load(folder)
    sset = scenario_set(inst)
    datas = [scenario_data(inst, o) for o in sset.overrides]
    out = solve_ph(datas, list(sset.names), list(sset.probabilities), alpha=0.5, weight=1.0, eta_bounds=BOX,
                   eta_scale=UNIT)
    assert out.notes == []  # no subproblem without a solution
    best = out.candidates[0]
    assert opened(best, prepare(inst)) == "L"
    assert 2000.0 - TOL <= best["var_at_risk"][None] <= 3600.0 + TOL
    assert out.outer_bound is not None and out.outer_bound <= 6400.0 + TOL


def test_ph_with_cvar_on_the_toy_converges_to_the_extensive_form() -> None:
    """The case that failed: before the fix 40 of 200 subproblems had no solution (mpi-sppy's
    "Solve failed for scenario" on stdout, a note in the summary) and PH ran its 50 iterations
    without converging. Now none fails, PH converges (15 iterations measured) and its plan is the
    extensive form's, with the same objective, -2,103,522.86 EUR, and a valid bound (0.05 % below)."""
    opts = dict(scenarios=4, seed=2, cvar_alpha=0.5, cvar_weight=0.5, regret_limit=0, out_of_sample=0)
    ef = solve_stochastic(TOY, StochasticOptions(**opts))  # type: ignore[arg-type]
    printed = io.StringIO()
    with redirect_stdout(printed):
        ph = solve_stochastic(TOY, StochasticOptions(decomposition="ph", **opts))  # type: ignore[arg-type]
    assert ef is not None and ph is not None and ef.plan is not None and ph.plan is not None
    assert "Solve failed" not in printed.getvalue()
    dec = ph.solution.summary["stochastic"]["decomposition"]
    assert dec["notes"] == []
    assert ph.solution.outcome.termination == Termination.CONVERGED
    assert dec["iterations"] < 50 and dec["convergence"] <= 1e-4
    assert dec["eta_scale"] > 0 and math.isfinite(dec["eta_scale"])
    assert ef.solution.objective == pytest.approx(-2103522.86, abs=0.01)
    assert ph.solution.objective == pytest.approx(ef.solution.objective, rel=1e-9)
    assert ph.plan["level_open"] == ef.plan["level_open"]
    bound, gap = ph.solution.outcome.bound, ph.solution.outcome.mip_gap
    assert bound is not None and gap is not None
    z_ef = objective_of(ef.solution)
    assert bound <= z_ef + 1e-6 * abs(z_ef)
    assert gap <= 1e-3  # measured 5.4e-4 (Lagrangian bound -2,104,665.23)
