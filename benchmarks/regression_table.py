"""Solve every case of the objective-regression table and print the figures; ``--write`` also
rewrites tests/regression/objectives.json, which tests/test_objective_regression.py compares with.

Each case (tests/regression/objectives.py) is solved to a relative MIP gap of 0 three times: twice
with HiGHS's default threads and once with one thread (after all default-thread solves, since
HiGHS's thread pool is process-wide). Status, objective and bound must agree across the three.
The set of opened facilities (facility, period, level, capacity) is recorded only where it is
the unique optimal level plan: the case is re-solved with a cut excluding exactly that plan
(sum over the level binaries at 1 of (1 - y) + sum over those at 0 of y >= 1), and the plan is
unique if that re-solve is infeasible or worse by more than the table's tolerance. Otherwise the
table notes the alternative optimum and the test compares only objective and bound.

``--big`` instead solves the shipped instances left out of the table (they take minutes) to
``--gap`` within ``--time-limit`` and prints their figures (nothing is written).

    python benchmarks/regression_table.py            # print only
    python benchmarks/regression_table.py --write    # print and rewrite the table
    python benchmarks/regression_table.py --big --gap 1e-4 --time-limit 600
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyomo.environ as pyo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from regression.objectives import CASES, MIP_GAP, REL_TOL, ROOT, TABLE, close, figures, solve_case

import network_opt as no
from network_opt.solver.highs import solve_model

BIG = ("china-2025-2032", "eu-2025-2032", "north-america-2025-2032")


def next_best(sol: Any) -> float | None:
    """Optimum of the case's model with its optimal level plan cut off (None: no other plan)."""
    m = sol.model
    ys = list(m.level_open.values())
    at_one = [y for y in ys if round(y.value or 0.0) == 1]
    at_zero = [y for y in ys if round(y.value or 0.0) == 0]
    m.regression_other_plan = pyo.Constraint(expr=sum(1 - y for y in at_one) + sum(at_zero) >= 1)
    try:
        out = solve_model(m, no.SolveOptions(mip_gap=MIP_GAP))
    finally:
        m.del_component(m.regression_other_plan)
    return out.objective if out.has_plan else None


def uniqueness(sol: Any) -> tuple[bool, str]:
    if not sol.outcome.has_plan:
        return False, "no plan"
    if not sol.tables["facilities"]["modules"].eq(0).all():
        return False, "has modules: only the level plan would be checked, so the set is not recorded"
    other = next_best(sol)
    best = float(sol.objective)
    if other is None:
        return True, "unique: no other level plan is feasible"
    if close(other, best):
        return False, f"alternative optimum: another level plan costs {other!r} (equal within {REL_TOL:g})"
    return True, f"unique: the next-best level plan costs {other!r} ({(other - best) / abs(best):+.3g} relative)"


def table(write: bool) -> int:
    rows: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        first: dict[str, Any] = {}
        for case in CASES:
            t0 = time.perf_counter()
            sol = solve_case(case, work)
            seconds = time.perf_counter() - t0
            again = solve_case(case, work)
            first[case.id] = sol
            rows[case.id] = {"source": case.source(), **figures(sol), "seconds": round(seconds, 2),
                             "solver": sol.summary["solver"]}
            if figures(again) != figures(sol):
                problems.append(f"{case.id}: a second solve differs: {figures(again)}")
            print(f"{case.id}: {sol.status} {sol.objective!r} in {seconds:.2f} s", flush=True)
        for case in CASES:  # one thread, after every default-thread solve (HiGHS's pool is process-wide)
            one = figures(solve_case(case, work, threads=1))
            ref = rows[case.id]
            if one["status"] != ref["status"] or not close(one["objective"], ref["objective"]) or (
                    one["open_facilities"] != ref["open_facilities"]):
                problems.append(f"{case.id}: threads=1 differs: {one}")
        for case in CASES:
            unique, note = uniqueness(first[case.id])
            row = rows[case.id]
            row["facilities_unique"] = unique and not any(p.startswith(case.id + ":") for p in problems)
            row["uniqueness"] = note
            if not row["facilities_unique"]:
                row["open_facilities"] = None
            print(f"{case.id}: {note}", flush=True)
    print()
    print("| case | status | objective | bound | seconds | open facility-periods | set pinned |")
    print("|---|---|---|---|---|---|---|")
    for cid, r in rows.items():
        n = "-" if r["open_facilities"] is None else len(r["open_facilities"])
        obj = "-" if r["objective"] is None else f"{r['objective']:,.2f}"
        bound = "-" if r["bound"] is None else f"{r['bound']:,.2f}"
        print(f"| {cid} | {r['status']} | {obj} | {bound} | {r['seconds']:.2f} | {n} | "
              f"{'yes' if r['facilities_unique'] else 'no'} |")
    for p in problems:
        print("NONDETERMINISM:", p)
    if write:
        if problems:
            print("not written: solves disagree (see above)")
            return 1
        doc = {
            "about": [
                "Objective-regression table: written by `python benchmarks/regression_table.py --write`, "
                "compared by tests/test_objective_regression.py (see tests/regression/README.md).",
                f"Every case solved to mip_gap={MIP_GAP} through network_opt.solve; objective and bound "
                f"compared at rel_tol={REL_TOL} (same absolute floor).",
                "open_facilities: facility|period|level|capacity_t of each open facility-period, recorded "
                "only where the level plan is the unique optimum (cut-off re-solve strictly worse) and "
                "was the same in two default-thread solves and a one-thread solve; null otherwise.",
            ],
            "measured": f"{datetime.date.today().isoformat()} on {platform.machine()} {platform.system()}, "
                        f"Python {platform.python_version()}",
            "mip_gap": MIP_GAP,
            "rel_tol": REL_TOL,
            "cases": rows,
        }
        TABLE.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        print(f"written: {TABLE.relative_to(ROOT)}")
    return 1 if problems else 0


def big(gap: float, time_limit: float, threads: int | None) -> int:
    print("| instance | status | objective | bound | gap | model rows x cols | solve s | total s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in BIG:
        t0 = time.perf_counter()
        sol = no.solve(no.load(ROOT / "instances" / name),
                       no.SolveOptions(mip_gap=gap, time_limit=time_limit, threads=threads))
        s = sol.summary
        gap_now = "-" if s["mip_gap"] is None else f"{s['mip_gap']:.2e}"
        obj = "-" if sol.objective is None else f"{sol.objective:,.0f}"
        bound = "-" if s["bound"] is None else f"{s['bound']:,.0f}"
        print(f"| {name} | {s['status']} ({s['termination']}) | {obj} | {bound} | {gap_now} | "
              f"{s['model']['constraints']:,} x {s['model']['variables']:,} | {s['timings']['solve_s']:.1f} | "
              f"{time.perf_counter() - t0:.1f} |", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite tests/regression/objectives.json")
    parser.add_argument("--big", action="store_true", help="solve the big shipped instances instead (print only)")
    parser.add_argument("--gap", type=float, default=1e-4, help="--big: relative MIP gap")
    parser.add_argument("--time-limit", type=float, default=600.0, help="--big: seconds per instance")
    parser.add_argument("--threads", type=int, default=None, help="--big: HiGHS threads")
    args = parser.parse_args()
    if args.big:
        return big(args.gap, args.time_limit, args.threads)
    return table(args.write)


if __name__ == "__main__":
    raise SystemExit(main())
