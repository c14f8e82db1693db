"""Strong-linking variants (issue 17 item 1): ``model.link_by_level`` (each level's own capacity in
the link) and ``model.link_max_share`` (links only for lanes that cannot fill their facility),
on a hand-solved micro instance: the MIP optimum is the same, the LP relaxation as worked out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import candidate_recyclers

import network_opt as no
from network_opt.model import build_model
from network_opt.model.data import prepare
from network_opt.model.size import project_size
from network_opt.solver.handoff import HighsModel
from network_opt.solver.options import SolveOptions
from network_opt.solver.relaxation import lp_relaxation


def instance(folder: Path, **model: Any) -> Path:
    """C: 20 t. Recycler A: level small 10 t (fixed 10) or large 40 t (fixed 100), free transport.
    Recycler B: 20 t, fixed 50, 2 per t.

    MIP: A large alone 100; B alone 50 + 40 = 90; A small + B: 10 + 50 + 10 x 2 = 80 (optimum).

    LP relaxation, default links (x_A <= 20 (a + b), x_A <= 10 a + 40 b, a + b <= 1; B costs
    50/20 + 2 = 4.5 per t): a = 1 carries 10 t for 10; moving d from a to b adds 30 d t for 90 d
    (3 per t < 4.5) until x_A = 20 at d = 1/3: a = 2/3, b = 1/3, cost 10 x 2/3 + 100/3 = 40.
    With link_by_level: x_A <= min(20, 10) a + min(20, 40) b = 10 a + 20 b: the move adds 10 d t
    for 90 d (9 per t > 4.5), so a = 1 (10 t, 10) and B takes 10 t at 4.5: LP = 55."""
    return candidate_recyclers(
        folder, 20.0, [("A", "small", 10.0, 10.0), ("A", "large", 40.0, 100.0), ("B", "only", 20.0, 50.0)],
        {"A": 0.0, "B": 2.0}, **model)


def lp_and_links(path: Path) -> tuple[float, int]:
    inst = no.load(path)
    d = prepare(inst)
    m = build_model(d)
    links = len(m.lane_link) if hasattr(m, "lane_link") else 0
    assert project_size(d).rows_by_family["lane_link"] == links  # projected = built
    lp, _ = lp_relaxation(HighsModel(m), SolveOptions())
    assert lp is not None
    return lp, links


@pytest.mark.parametrize(("model", "lp", "links"), [
    ({}, 40.0, 2),                                   # both lanes linked
    ({"link_by_level": True}, 55.0, 2),              # tighter, same rows
    ({"link_max_share": 1.0}, 40.0, 1),              # C -> B (U = 20 = B's capacity) implied: left out
    ({"link_max_share": 0.4}, 40.0, 0),              # C -> A: 20 > 0.4 x 40; no links, same LP here
    ({"strong_linking": False}, 40.0, 0),
])
def test_linking_variants(tmp_path: Path, model: dict[str, Any], lp: float, links: int) -> None:
    path = instance(tmp_path, **model)
    got_lp, got_links = lp_and_links(path)
    assert got_lp == pytest.approx(lp)
    assert got_links == links
    sol = no.solve(path)
    assert sol.objective == pytest.approx(80.0)
    assert set(sol["facilities"].query("open")["facility"]) == {"A", "B"}


def test_capacity_cover(tmp_path: Path) -> None:
    """model.capacity_cover adds 10 a + 40 b + 20 y_B >= 20 (one row, three nonzeros). The LP of
    the default links (a = 2/3, b = 1/3: 10 x 2/3 + 40/3 = 20 >= 20) already meets it: LP 40, MIP 80
    (the row is implied in the LP; it gives HiGHS a knapsack row for cuts)."""
    path = instance(tmp_path, capacity_cover=True)
    inst = no.load(path)
    d = prepare(inst)
    m = build_model(d)
    assert len(m.capacity_cover) == 1
    size = project_size(d)
    assert (size.rows_by_family["capacity_cover"], size.nonzeros_by_family["capacity_cover"]) == (1, 3)
    lp, _ = lp_relaxation(HighsModel(m), SolveOptions())
    assert lp == pytest.approx(40.0)
    assert no.solve(path).objective == pytest.approx(80.0)


def test_capacity_cover_cuts_the_lp_without_links(tmp_path: Path) -> None:
    """Without strong linking and with A's large level at 50 t for fixed 100 (2 per t, the small
    level 1 per t up to 10 t), the LP takes y_s = 1 (10 t, 10) and moves d to the large level:
    + 40 d t for 90 d: 10 t at d = 1/4, cost 10 x 3/4 + 100/4 = 32.5, total capacity opened
    10 x 3/4 + 50/4 = 20 = supply: the cover holds with equality, so the LP stays 32.5. The cover
    is never violated by an LP point whose flows are feasible; this checks it cuts nothing valid."""
    path = instance(tmp_path, capacity_cover=True, strong_linking=False)
    levels = (path / "facility_levels.csv").read_text().replace("A,large,40.0", "A,large,50.0")
    (path / "facility_levels.csv").write_text(levels)
    lp, links = lp_and_links(path)
    assert links == 0
    assert lp == pytest.approx(32.5)
    assert no.solve(path).objective == pytest.approx(80.0)


@pytest.mark.parametrize(("model", "lp"), [
    ({"strong_linking": False}, 40.0),
    ({"strong_linking": False, "capacity_reach": True}, 55.0),
    ({"capacity_reach": True}, 55.0),
])
def test_capacity_reach(tmp_path: Path, model: dict[str, Any], lp: float) -> None:
    """model.capacity_reach: A's reach R_A = U(C -> A) = min(20 t supply, 40) = 20 t, so its capacity
    row x_A <= 10 a + 40 b becomes x_A <= min(10, 20) a + min(40, 20) b = 10 a + 20 b; B's row
    (R_B = 20 = its capacity) is unchanged.

    LP without it and without links (x_A <= 10 a + 40 b, a + b <= 1): a = 1 carries 10 t for 10,
    moving d from a to b adds 30 d t for 90 d (3 per t, below B's 50/20 + 2 = 4.5) until x_A = 20 at
    d = 1/3: 10 x 2/3 + 100/3 = 40. With it the move adds 10 d t for 90 d (9 per t > 4.5): a = 1
    (10 t, 10) and B takes 10 t at y_B = 1/2 (25 + 20): LP = 55; with the default links as well
    (x_A <= 20 (a + b) is weaker than 10 a + 20 b) the same 55. MIP: 80 (A small + B) either way,
    as in :func:`instance`: the rows cut no integer plan."""
    path = instance(tmp_path, **model)
    inst = no.load(path)
    d = prepare(inst)
    m = build_model(d)
    size = project_size(d)
    assert size.rows_by_family["facility_capacity"] == len(m.facility_capacity) == 2  # same rows
    hm = HighsModel(m)
    got, _ = lp_relaxation(hm, SolveOptions())
    assert got == pytest.approx(lp)
    sol = no.solve(path)
    assert sol.objective == pytest.approx(80.0)
    assert set(sol["facilities"].query("open")["facility"]) == {"A", "B"}
    flows = sol["flows"].groupby("destination")["tonnes"].sum()
    assert flows["A"] == pytest.approx(10.0) and flows["B"] == pytest.approx(10.0)


def test_capacity_reach_coefficients(tmp_path: Path) -> None:
    """The row's coefficients themselves: A's (20 t reach) -10 and -20 on its levels; B's (20 t reach,
    20 t capacity) -20. With supply 50 t (reach 50 above every level) nothing changes: -10, -40."""
    from pyomo.repn import generate_standard_repn

    def coefficients(supply: float) -> dict[str, list[float]]:
        path = instance(tmp_path / str(supply), strong_linking=False, capacity_reach=True)
        text = (path / "supply.csv").read_text().replace("20.0", str(supply))
        (path / "supply.csv").write_text(text)
        m = build_model(prepare(no.load(path)))
        out = {}
        for (fac, _p), row in m.facility_capacity.items():
            repn = generate_standard_repn(row.body)
            out[fac] = sorted(float(c) for v, c in zip(repn.linear_vars, repn.linear_coefs, strict=True)
                              if v.parent_component().name == "level_open")
        return out

    assert coefficients(20.0) == {"A": [-20.0, -10.0], "B": [-20.0]}
    assert coefficients(50.0) == {"A": [-40.0, -10.0], "B": [-20.0]}
