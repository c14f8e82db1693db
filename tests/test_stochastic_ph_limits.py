"""Progressive hedging that stops at its iteration limit without a plan serving every scenario:
``solve --stochastic --decomposition ph`` keeps its outer bound in summary.json (as a plain solve
keeps a bound without a plan, network_opt.cli.solve._no_plan), says why, and exits 4.

The micro instance: collection points C1 and C2 (100 t/yr each in the base), each with a lane only
to its own candidate recycler (C1 -> R1, C2 -> R2); each recycler one level of 100 t/yr, opening
cost 1000, processing 10/t, free lanes, no revenue, one period (2025), packs may not stay
uncollected. Scenarios (probability 0.5 each): ``a`` (C2 x 0: 100 t at C1) and ``b`` (C1 x 0: 100 t
at C2).

- On its own, ``a`` opens R1 only: 1000 + 10 x 100 = 2000; ``b`` opens R2 only: 2000 (WS = 2000,
  PH's trivial bound).
- The stochastic optimum opens both: 2000 + 1000 (the other recycler, unused) = 3000 in each
  scenario, RP = 3000 (the extensive form).
- PH's default rho is 10 % of the mean opening cost: 100. After iteration 0, xbar = 0.5 for both
  recyclers; one PH iteration sets W = rho (x - xbar): in ``a`` +50 on R1 and -50 on R2 (``b`` the
  mirror). With these W, ``a``'s best is still R1 only (1000 + 50 + 1000 = 2050; R2 too would cost
  1000 - 50 more), so the Lagrangian bound is 0.5 x 2050 + 0.5 x 2050 = 2050 > 2000: the outer bound.
- Stopped after that iteration, the candidates are "R1 only" and "R2 only", each infeasible in the
  other scenario (its packs cannot be collected): no plan; the bound 2050 stands.
- With ``--ph-rho 200`` instead: W = 200 x 0.5 = +100 on R1 in ``a`` (-100 on R2); ``a``'s best is
  still R1 only (1000 + 100 + 1000 = 2100; both: 2100 + 1000 - 100 = 3000), so the bound is
  0.5 x 2100 + 0.5 x 2100 = 2100.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from builders import lanes, one_material_tables, site, write_instance
from typer.testing import CliRunner

import network_opt.cli  # noqa: F401  (registers the commands)
from network_opt.cli.app import app
from network_opt.runs.stochastic import StochasticOptions, solve_stochastic


def split(folder: Path) -> Path:
    """The micro instance of the module docstring."""
    tables = {
        "sites": [site("C1", "collection_point"), site("C2", "collection_point", lat=2.0),
                  site("S1", "facility", lat=1.0, lon=1.0), site("S2", "facility", lat=3.0, lon=1.0)],
        "jurisdictions": [{"id": "XX", "name": "", "groups": ""}],
        **one_material_tables(),
        "supply": [{"site": "C1", "period": 2025, "chemistry": "X", "tonnes": 100},
                   {"site": "C2", "period": 2025, "chemistry": "X", "tonnes": 100}],
        "technologies": [{"id": "HYDRO", "process": "hydrometallurgical", "recycling_efficiency": 0.8}],
        "technology_yields": [{"technology": "HYDRO", "material": "Li", "recovery_yield": 0.9}],
        "facilities": [{"id": f"R{i}", "site": f"S{i}", "kind": "recycler", "technology": "HYDRO",
                        "status": "candidate", "variable_cost_per_t": 10} for i in (1, 2)],
        "facility_levels": [{"facility": f"R{i}", "level": "S", "capacity_t": 100, "opening_cost": 1000}
                            for i in (1, 2)],
        "lanes": lanes(("C1", "S1", 0), ("C2", "S2", 0)),
    }
    return write_instance(folder, tables,
                          scenarios={"a": {"overrides": [{"scale": "supply[site=C2].tonnes", "by": 0}]},
                                     "b": {"overrides": [{"scale": "supply[site=C1].tonnes", "by": 0}]}},
                          stochastic={"scenarios": {"a": 0.5, "b": 0.5}})


def test_extensive_form_opens_both(tmp_path: Path) -> None:
    res = solve_stochastic(split(tmp_path / "m"), StochasticOptions(regret_limit=0, out_of_sample=0))
    assert res is not None and res.plan is not None
    assert res.solution.objective == pytest.approx(3000.0)
    assert sorted(res.plan["level_open"].values()) == [1.0, 1.0]


def test_ph_at_its_iteration_limit_writes_its_bound(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["solve", str(split(tmp_path / "m")), "--out", str(out), "--stochastic",
                                   "--decomposition", "ph", "--ph-iterations", "1", "--threads", "1", "--quiet"])
    assert res.exit_code == 4, res.output
    assert "none of the 2 candidate plans serves every scenario" in res.output, res.output
    assert "the optimum is at least 2,050.00 EUR; no plan written, summary.json in" in res.output, res.output
    assert not any(out.glob("*.csv"))  # no plan: no table (results.xlsx holds the summary, as for a plain solve)
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "no_solution" and s["termination"] == "iterationLimit" and s["objective"] is None
    assert s["bound"] == pytest.approx(2050.0)  # the Lagrangian bound (module docstring)
    dec = s["stochastic"]["decomposition"]
    assert dec["method"] == "ph" and dec["iterations"] == 1
    assert dec["trivial_bound"] == pytest.approx(2000.0) and dec["outer_bound"] == pytest.approx(2050.0)
    assert s["options"]["decomposition"] == "ph"
    assert s["options"]["ph_iterations"] == 1 and s["options"]["ph_rho"] is None
    assert dec["rho"] == pytest.approx(100.0)  # the default: 10 % of the opening cost 1000


def test_a_failing_ph_subproblem_stops_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mpi-sppy prints "Solve failed for scenario ..." and iterates on with that scenario's stale
    values (seen: 50 iterations, 437 s, then no plan). Here HiGHS's result for scenario ``b`` is made
    to count as failed at PH iterations 1 to 10 (subproblem solves 4, 6, ..., 22: a and b at iteration
    0, then a, b at each iteration; PH is far from converged then: W moves by 50 an iteration against
    an opening cost of 1000, module docstring): the run stops at iteration 10 with an error naming the
    scenario, exit 4, nothing written. A single failure (solve 4 only) is let pass and noted in
    summary.json: PH goes on."""
    from mpisppy import spopt

    from network_opt.runs.decompose import FAILED_IN_A_ROW

    assert FAILED_IN_A_ROW == 10
    real = spopt.sputils.not_good_enough_results
    calls = [0]
    failing = set(range(4, 23, 2))

    def fails(results: Any) -> bool:
        calls[0] += 1
        return True if calls[0] in failing else bool(real(results))

    monkeypatch.setattr(spopt.sputils, "not_good_enough_results", fails)
    out = tmp_path / "out"
    args = ["solve", str(split(tmp_path / "m")), "--out", str(out), "--stochastic", "--decomposition", "ph",
            "--threads", "1", "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 4, res.output
    assert "HiGHS gave no solution for the subproblem of scenario(s) b (HiGHS: " in res.output, res.output
    assert "10 times in a row, the last at iteration 10; stopped there" in res.output, res.output
    assert calls[0] == 22  # no further PH solve
    assert not out.exists() or not any(p for p in out.iterdir() if not p.name.startswith("."))

    calls[0] = 0
    failing.clear()
    failing.add(4)
    res = CliRunner().invoke(app, [*args[:3], str(tmp_path / "once"), *args[4:]])
    assert res.exit_code == 0, res.output
    assert "HiGHS gave no solution for the subproblem" not in res.output, res.output
    assert calls[0] > 22  # PH went on (to convergence: RP 3000, module docstring)
    assert "RP 3,000.00 EUR" in res.output, res.output
    notes = json.loads((tmp_path / "once" / "summary.json").read_text())["stochastic"]["decomposition"]["notes"]
    assert any("HiGHS gave no solution for 1 scenario subproblem(s) of PH (b x1)" in n for n in notes), notes


def test_ph_rho_and_iterations_from_the_command_line(tmp_path: Path) -> None:
    """``--ph-rho 200 --ph-iterations 1``: the Lagrangian bound 2100 (module docstring) shows that both
    reached PH; summary.json records them among the options and the rho used in the decomposition."""
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["solve", str(split(tmp_path / "m")), "--out", str(out), "--stochastic",
                                   "--decomposition", "ph", "--ph-iterations", "1", "--ph-rho", "200",
                                   "--threads", "1", "--quiet"])
    assert res.exit_code == 4, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["options"]["ph_iterations"] == 1 and s["options"]["ph_rho"] == pytest.approx(200.0)
    dec = s["stochastic"]["decomposition"]
    assert dec["iterations"] == 1 and dec["rho"] == pytest.approx(200.0)
    assert dec["trivial_bound"] == pytest.approx(2000.0)
    assert s["bound"] == pytest.approx(2100.0) and dec["outer_bound"] == pytest.approx(2100.0)


def test_ph_iterations_reach_a_converging_run(tmp_path: Path) -> None:
    """Enough iterations (``--ph-iterations 200``): PH converges to the stochastic optimum 3000 (both
    recyclers open, module docstring) before its limit, exit 0; the limit is recorded."""
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["solve", str(split(tmp_path / "m")), "--out", str(out), "--stochastic",
                                   "--decomposition", "ph", "--ph-iterations", "200", "--threads", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["objective"] == pytest.approx(3000.0)
    assert s["options"]["ph_iterations"] == 200
    assert s["stochastic"]["decomposition"]["iterations"] < 200


PH = ["--decomposition", "ph"]
RHO = "Invalid value for '--ph-rho': PH's rho must be a finite number > 0"
ITERATIONS = "Invalid value for '--ph-iterations'"


@pytest.mark.parametrize(("extra", "message"), [
    ([*PH, "--ph-rho", "0"], RHO), ([*PH, "--ph-rho", "-5"], RHO), ([*PH, "--ph-rho", "nan"], RHO),
    ([*PH, "--ph-rho", "inf"], RHO), ([*PH, "--ph-rho", "ten"], "Invalid value for '--ph-rho'"),
    ([*PH, "--ph-iterations", "0"], ITERATIONS), ([*PH, "--ph-iterations", "-1"], ITERATIONS),
    ([*PH, "--ph-iterations", "2.5"], "Invalid value for '--ph-iterations'"),
    (["--decomposition", "lshaped", "--ph-rho", "5"], "--ph-rho need --decomposition ph"),
    (["--ph-iterations", "5"], "--ph-iterations need --decomposition ph"),
])
def test_bad_ph_options_exit_2_naming_the_option(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["solve", str(split(tmp_path / "m")), "--out", str(out), "--stochastic",
                                   *extra, "--quiet"])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.replace("│", " ").split())  # Typer's error box, unwrapped
    assert message in text, res.output
    assert not out.exists()


def test_ph_options_need_stochastic(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["solve", str(split(tmp_path / "m")), "--out", str(tmp_path / "out"),
                                   "--ph-iterations", "3", "--ph-rho", "5"])
    assert res.exit_code == 2 and "--ph-iterations, --ph-rho need --stochastic" in res.output, res.output


@pytest.mark.parametrize(("change", "message"), [({"ph_iterations": 0}, "--ph-iterations must be"),
                                                 ({"ph_rho": 0.0}, "--ph-rho must be"),
                                                 ({"ph_rho": float("nan")}, "--ph-rho must be")])
def test_bad_ph_options_in_the_api(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        solve_stochastic(split(tmp_path / "m"), StochasticOptions(decomposition="ph", **change))
