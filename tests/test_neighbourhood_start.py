"""The first plan searched near the LP's rounding (:func:`network_opt.solver.starts.lp_neighbourhood_plan`,
RINS): never worse than the rounded plan, the optimum over the plans that keep the LP's agreeing
integer values (checked against a fresh model with those columns held, solved on its own), and a
plan the MIP accepts as its start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from builders import as_number, of_type

from network_opt.datasets.generate import GeneratorSpec, generate
from network_opt.inputs.load import load
from network_opt.model import build_model
from network_opt.model.data import ModelData, prepare
from network_opt.solver.handoff import HighsModel
from network_opt.solver.highs import solve_model
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_solution
from network_opt.solver.starts import AGREE, lp_neighbourhood_plan


def _generated_lp(folder: Path, points: int, candidates: int, options: SolveOptions
                  ) -> tuple[ModelData, pyo.ConcreteModel, HighsModel, np.ndarray]:
    """A generated points x candidates x 2 x 2 instance (seed 1): its data, model, HiGHS model and
    the column values of its LP relaxation (dual simplex)."""
    d = prepare(load(generate(folder, GeneratorSpec(seed=1, collection_points=points, candidates=candidates,
                                                    periods=2, chemistries=2))))
    m = build_model(d)
    hm = HighsModel(m)
    _, x, _ = lp_solution(hm, options, "simplex")
    assert x is not None
    return d, m, hm, x


def test_neighbourhood_improves_the_rounded_plan_to_its_own_optimum(tmp_path: Path) -> None:
    """Generated 60 x 12 x 2 x 2 (seed 1): the LP rounded gives one plan; the search over the plans
    whose integer columns keep the values where the LP and that rounding agree finds a better one,
    the optimum of that neighbourhood as a fresh model with the same columns held and no start
    finds it; solve_model takes it as its start ("given") and ends no worse."""
    options = SolveOptions(mip_gap=0.0, time_limit=120.0)
    d, m, hm, x = _generated_lp(tmp_path / "gen", 60, 12, options)
    values, record = lp_neighbourhood_plan(m, d, hm, options, x, 120.0)
    assert values is not None and hm.start_values is not None
    integers = np.flatnonzero(hm.matrix.integer)
    rounded = hm.start_values[integers]  # the rounded plan lp_round_start set
    held = integers[np.abs(x[integers] - hm.start_values[integers]) <= AGREE].astype(np.int32)
    assert record["held"] == len(held) < as_number(record["integers"]) == len(integers)
    assert as_number(record["objective"]) < as_number(record["rounded"])  # strictly better here
    assert record["start"] == "lp_neighbourhood"
    assert not np.array_equal(values, rounded)
    # where the LP and the rounding agree, the plan keeps the rounding's values
    where = np.isin(integers, held)
    np.testing.assert_array_equal(values[where], np.round(rounded[where]))

    # the neighbourhood's optimum, independently: a fresh model, the held columns fixed, no start
    m2 = build_model(d)
    fresh = HighsModel(m2)
    fresh.h.changeColsBounds(len(held), held, hm.start_values[held], hm.start_values[held])
    alone = solve_model(m2, SolveOptions(mip_gap=0.0, warm_start=False, start="none"), solver=fresh)
    assert alone.status == "optimal"
    assert alone.objective == pytest.approx(record["objective"], rel=1e-7)

    # the plan is a start of the full MIP, which ends at least as well
    out = solve_model(m, options, solver=hm, data=d, start=values)
    assert out.start == "given"
    assert out.objective is not None and out.objective <= as_number(record["objective"]) + 1e-6 * abs(out.objective)


def test_screen_says_when_its_first_plan_came_from_the_neighbourhood(tmp_path: Path) -> None:
    """The clustered screen on the same generated instance (40 clusters): its record says
    "lp_neighbourhood" as the start when the search improved the rounded plan, and the clustered
    MIP ends no worse than that plan."""
    from network_opt.common.progress import Progress
    from network_opt.runs.heuristic import relaxed_screen

    d = prepare(load(generate(tmp_path / "gen", GeneratorSpec(seed=1, collection_points=60, candidates=12,
                                                               periods=2, chemistries=2))))
    screen = relaxed_screen(d, 40, SolveOptions(mip_gap=0.0, time_limit=120.0), Progress("quiet"))
    near = of_type(dict, screen.record["neighbourhood"])
    assert near["objective"] < near["rounded"]
    assert screen.record["start"] == "lp_neighbourhood"
    assert as_number(screen.record["objective"]) <= near["objective"] + 1e-6 * abs(near["objective"])


def test_a_rounding_that_falls_back_to_every_facility_open_gives_that_plan(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the rounding falls back to every facility open, that plan is returned unsearched (the
    screen's MIP then starts from it without rounding the LP again): every level column of the
    largest levels at 1, labelled "open_all"; the MIP takes it as its start."""
    from network_opt.solver import starts

    options = SolveOptions(mip_gap=0.0, time_limit=60.0)
    d, m, hm, x = _generated_lp(tmp_path / "gen", 14, 5, options)

    def fallback(m: object, d: object, hm: HighsModel, options: SolveOptions, relaxed: object) -> str | None:
        return "open_all" if starts.open_all_start(m, d, hm, options) else None  # type: ignore[arg-type]

    monkeypatch.setattr(starts, "lp_round_start", fallback)
    values, record = lp_neighbourhood_plan(m, d, hm, options, x, 60.0)
    assert record == {"rounded": None, "start": "open_all"}
    assert values is not None and hm.start_values is not None
    opened = {c for (j, _p), v in m.level_open.items() if j in starts.largest_levels(d) and (c := hm.cols.get(id(v)))
              is not None}
    integers = np.flatnonzero(hm.matrix.integer)
    assert {int(c) for c, v in zip(integers, values, strict=True) if v > 0.5} >= opened
    out = solve_model(m, options, solver=hm, data=d, start=values)
    assert out.start == "given" and out.status == "optimal"
