"""The heuristic's restricted MIP built without the flows of the facilities it closes
(:func:`network_opt.model.screen.without_facilities`): the same optimum as the full model with those
facilities closed by bounds (the formulation used before, an independent check), fewer columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_heuristic import _two_customers, open_facilities

from network_opt.inputs.load import load
from network_opt.model import build_model
from network_opt.model.data import ModelData, prepare
from network_opt.model.screen import without_facilities
from network_opt.runs.heuristic import Heuristic, close_others
from network_opt.runs.pipeline import solve as run_solve
from network_opt.solver.handoff import HighsModel
from network_opt.solver.highs import solve_model
from network_opt.solver.options import SolveOptions

ROOT = Path(__file__).resolve().parents[1]


def _closed_optimum(d: ModelData, closed: set[str]) -> tuple[float, dict[str, bool], int]:
    """Optimum of ``d``'s model with the facilities ``closed`` fixed closed in HiGHS, which of the
    facilities it opens in any period, and its column count."""
    m = build_model(d)
    hm = HighsModel(m)
    close_others(m, d, hm, set(d.facilities["id"]) - closed)
    out = solve_model(m, SolveOptions(mip_gap=1e-9), solver=hm, data=d)
    assert out.status == "optimal"
    assert out.objective is not None
    level = hm.values_of(m.level_open)
    facility = d.levels["facility"].to_numpy()
    keys = list(m.level_open.keys())
    opened = {str(f): False for f in d.facilities["id"]}
    for (j, _p), v in zip(keys, level, strict=True):
        opened[str(facility[j])] |= v > 0.5
    return float(out.objective), opened, int(hm.h.getNumCol())


def test_restricted_build_keeps_the_optimum_of_closing_by_bounds() -> None:
    """china-east (recyclers and refurbishers, second-life markets, rejects, facility-scoped target
    rows) with every other candidate closed: built without their flows, the model has fewer columns
    and the same optimum and open facilities as the full model with them closed by bounds."""
    d = prepare(load(ROOT / "instances" / "china-east"))
    cand = sorted(d.facilities.loc[d.facilities["status"] == "candidate", "id"])
    closed = set(cand[::2])
    kinds = set(d.facilities.loc[d.facilities["id"].isin(closed), "kind"])
    assert kinds == {"recycler", "refurbisher"}  # both the packs' and the refurbishers' outputs go
    r = without_facilities(d, closed)
    gone = d.flows["origin"].isin(closed) | d.flows["destination"].isin(closed)
    assert len(r.flows) == int((~gone).sum()) < len(d.flows)
    assert r.recovered.shape == (len(r.flows), len(d.materials))
    np.testing.assert_array_equal(r.entering, d.entering[~gone.to_numpy()])
    # facility-scoped target rows go only for facilities without a flow row left in their period
    dropped = int(d.targets["facility"].isin(closed).sum())
    assert dropped > 0
    assert len(r.targets) == len(d.targets) - dropped
    full, full_open, full_cols = _closed_optimum(d, closed)
    restricted, restricted_open, restricted_cols = _closed_optimum(r, closed)
    assert restricted == pytest.approx(full, rel=1e-9)
    assert restricted_open == full_open
    assert not any(restricted_open[f] for f in closed)
    assert restricted_cols < full_cols


def test_nothing_closed_is_the_same_data() -> None:
    """Closing nothing (or facilities without flows) returns the data itself: nothing rebuilt."""
    d = prepare(load(ROOT / "instances" / "toy"))
    assert without_facilities(d, set()) is d


def test_clustered_heuristic_builds_only_the_kept_facilities(tmp_path: Path) -> None:
    """The two-customer instance (5 t each; P0 100 t, fixed 100, free; P1 10 t, fixed 50, 1 per t;
    strong linking) screened by one cluster: the relaxed optimum opens P1 (60), P0 is closed, so
    the full model is built with the 2 flows into P1 only (of 4) and its optimum, 60, is the hand-
    worked one. The facilities table still lists P0, closed."""
    path = _two_customers(tmp_path, np.array([[0.0, 0.0], [1.0, 1.0]]))
    sol = run_solve(path, aggregate=1, heuristic=Heuristic(neighbours=0))
    assert sol.objective == pytest.approx(60.0)
    assert open_facilities(sol) == {"P1"}
    h = sol.summary["heuristic"]
    assert (h["closed"], h["flows_built"], h["flows_full"]) == (1, 2, 4)
    assert sol.model is not None and len(sol.model.flow) == 2  # P0's flows not built
    fac = sol["facilities"]
    assert set(fac["facility"]) == {"P0", "P1"}
    assert not fac.loc[fac["facility"] == "P0", "open"].any()
