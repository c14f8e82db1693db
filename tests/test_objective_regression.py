"""Every optimum in the objective-regression table (tests/regression/objectives.json) is unchanged:
each shipped instance that solves in seconds (with each declared scenario) and four generated
instances, rebuilt here from their seeds, solved to a MIP gap of 0.

Status, objective and bound are compared at the table's relative tolerance; the set of opened
facilities (facility, period, level, capacity) only where the table records it, i.e. where it is
the unique optimal plan. The table is written by ``python benchmarks/regression_table.py --write``,
never by this test: see tests/regression/README.md for when rewriting it is legitimate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from regression.objectives import CASES, MIP_GAP, REL_TOL, TABLE, close, figures, solve_case

EXPECTED: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))


def test_table_matches_the_cases() -> None:
    assert list(EXPECTED["cases"]) == [c.id for c in CASES], "rewrite the table: python benchmarks/regression_table.py"
    assert EXPECTED["mip_gap"] == MIP_GAP
    assert EXPECTED["rel_tol"] == REL_TOL
    for cid, row in EXPECTED["cases"].items():
        assert (row["open_facilities"] is not None) == row["facilities_unique"], cid


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("regression")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_optimum_unchanged(case: Any, workdir: Path) -> None:
    want = EXPECTED["cases"][case.id]
    got = figures(solve_case(case, workdir))
    where = f"{case.id} ({want['source']})"
    assert got["status"] == want["status"], f"{where}: status {got['status']}, table {want['status']}"
    assert close(got["objective"], want["objective"]), (
        f"{where}: objective {got['objective']!r}, table {want['objective']!r} (rel tol {REL_TOL:g})")
    assert close(got["bound"], want["bound"]), f"{where}: bound {got['bound']!r}, table {want['bound']!r}"
    if want["facilities_unique"]:
        assert got["open_facilities"] == want["open_facilities"], (
            f"{where}: opened facilities changed (the table's plan is the unique optimum)\n"
            f"  now only: {sorted(set(got['open_facilities']) - set(want['open_facilities']))}\n"
            f"  table only: {sorted(set(want['open_facilities']) - set(got['open_facilities']))}")
