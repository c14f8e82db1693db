"""Benders decomposition (``solve --decomposition benders``, network_opt.solver.benders) against
HiGHS alone on the same model, built once:

- ``china-east``: the shipped instance, deterministic;
- ``generated``: ``network-opt generate --collection-points 100 --candidates 20 --periods 3
  --chemistries 3 --seed 1``;
- ``stochastic``: china-east (or ``--instance NAME``) with the uncertainty of
  benchmarks/stochastic.py (Li price x U(0.8, 2.4), volume x Tri(0.875, 1, 2.5), seed 1),
  N scenarios, extensive form with shared first stage.

Method ``benders-sw`` (stochastic case only): the scenario-wise path of ``solve --stochastic
--decomposition benders`` without CVaR (network_opt.solver.benders_scenarios.scenario_benders): one block
per scenario built from that scenario's own model in ``--workers`` processes, never the extensive
form; with ``--start ev`` the expected-value plan (one MIP, solved first, its seconds printed) is
evaluated before the first master solve. Its solve seconds include building the blocks (printed
apart as build_s); ``--shared-highs``: one HiGHS object per worker re-loaded with each block and its
basis instead of one per block.

Prints one row per (case, method): wall seconds of the solve (the build and the hand-off to HiGHS
excluded; each method gets a HighsModel of its own), objective (currency), bound (HiGHS alone: its
MIP dual bound; Benders: the master's dual bound), relative gap, Benders iterations, blocks and cuts.
Never asserted in tests; figures in benchmarks/README.md.

    python benchmarks/decomposition.py                      # all three cases, 600 s limit each
    python benchmarks/decomposition.py --cases china-east --time-limit 120
    python benchmarks/decomposition.py --cases stochastic --instance china-2025-2032 --scenarios 50 \
        --methods benders-sw --workers 2 --start ev --mip-gap 0.01 --uncollected-cost 10000
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stochastic import instance_copy  # benchmarks/stochastic.py: the uncertainty block

ROOT = Path(__file__).resolve().parents[1]
CASES = ("china-east", "generated", "stochastic")


def _money(v: float | None) -> str:
    return f"{v:18,.0f}" if v is not None and math.isfinite(v) else f"{'-':>18}"


def build(case: str, work: Path, scenarios: int,
          uncollected_cost: float | None = None, instance: str = "china-east") -> tuple[object, list[object]]:
    """The Pyomo model of ``case`` and its first-stage variables; ``uncollected_cost`` (currency/t)
    lets the stochastic case's packs stay uncollected at that price (complete recourse)."""
    import network_opt as no
    from network_opt.model import build_model
    from network_opt.model.data import prepare
    from network_opt.model.stages import first_stage_vars
    from network_opt.model.stochastic import build_extensive_form
    from network_opt.runs.stochastic import scenario_data, scenario_set

    if case == "stochastic":
        inst = no.load(instance_copy(instance, work, uncollected_cost))
        sset = scenario_set(inst, scenarios, 1)
        datas = [scenario_data(inst, o) for o in sset.overrides]
        m = build_extensive_form(datas, list(sset.probabilities))
        return m, first_stage_vars(m.scenario[0])
    if case == "generated":
        folder = work / "generated"
        subprocess.run([sys.executable, "-m", "network_opt", "generate", "--out", str(folder), "--seed", "1",
                        "--collection-points", "100", "--candidates", "20", "--periods", "3",
                        "--chemistries", "3"], check=True, capture_output=True)
    else:
        folder = ROOT / "instances" / case
    m = build_model(prepare(no.load(folder)))
    return m, first_stage_vars(m)


def scenario_wise(args: argparse.Namespace, options: object, work: Path) -> None:
    """The ``benders-sw`` row: scenarios prepared in the workers, the expected-value plan first."""
    import os

    import network_opt as no
    from network_opt.runs.stochastic import BlockTask, ScenarioTask, run_scenario_task, scenario_block, scenario_set
    from network_opt.solver.benders import BendersOptions
    from network_opt.solver.benders_scenarios import scenario_benders

    t0 = time.perf_counter()
    (work / "sw").mkdir(exist_ok=True)
    inst = no.load(instance_copy(args.instance, work / "sw", args.uncollected_cost))
    sset = scenario_set(inst, args.scenarios, 1)
    prep = time.perf_counter() - t0
    start, ev_s = None, 0.0
    if args.start == "ev":
        t = time.perf_counter()
        ev = run_scenario_task(inst, ScenarioTask("expected-value", sset.expected_value, None, options))  # type: ignore[arg-type]
        ev_s = time.perf_counter() - t
        start = ev.plan
        print(f"expected-value plan: {ev.status} in {ev_s:.1f} s, cost {_money(ev.cost)}", flush=True)
    workers = args.workers or os.cpu_count() or 1
    tasks = [BlockTask(float(p), start if k == 0 else None, instance=inst, overrides=o)
             for k, (p, o) in enumerate(zip(sset.probabilities, sset.overrides, strict=True))]
    t = time.perf_counter()
    res = scenario_benders(scenario_block, tasks, list(sset.names), options,  # type: ignore[arg-type]
                           BendersOptions(persistent=not args.shared_highs), workers=workers,
                           progress=lambda text: print(f"  {text} ({time.perf_counter() - t:.0f} s)", flush=True))
    seconds = time.perf_counter() - t
    out, rec = res.outcome, res.record
    gap = "-" if out.mip_gap is None else f"{out.mip_gap:.4%}"
    cuts = f"{rec.optimality_cuts}/{rec.feasibility_cuts}"
    print(f"{'stochastic' + str(args.scenarios):<12} {'bd-sw':<8} {seconds:8.1f} {_money(out.objective)} "
          f"{_money(out.bound)} {gap:>9} {rec.iterations:>5} {rec.blocks:>6} {cuts:>13} {rec.master_s:8.1f} "
          f"{rec.subproblem_s:8.1f}", flush=True)
    print(f"  prepare {prep:.1f} s, expected-value plan {ev_s:.1f} s, blocks built in {rec.build_s:.1f} s "
          f"({workers} workers, {'shared' if args.shared_highs else 'one per block'} HiGHS), block arrays "
          f"{rec.block_arrays_mb:.0f} MB, worker peak RSS {[round(x) for x in rec.worker_peak_mb]} MB, "
          f"termination {out.termination}; notes {rec.notes}", flush=True)
    hwm = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
    print(f"  parent peak RSS {int(hwm) / 1024:.0f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--methods", nargs="+", default=["highs", "benders"], choices=["highs", "benders", "benders-sw"])
    ap.add_argument("--workers", type=int, default=None,
                    help="benders-sw: processes holding the scenario blocks (default: the machine's cores)")
    ap.add_argument("--shared-highs", action="store_true",
                    help="benders-sw: one HiGHS object per worker, re-loaded with each block and its basis")
    ap.add_argument("--start", choices=["ev", "none"], default="ev",
                    help="benders-sw: evaluate the expected-value plan first (default) or not")
    ap.add_argument("--scenarios", type=int, default=10)
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--mip-gap", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--uncollected-cost", type=float, default=None, metavar="X",
                    help="stochastic case: packs may stay uncollected at X per tonne (default: as the instance)")
    ap.add_argument("--instance", default="china-east",
                    help="stochastic case: the shipped instance it copies (default china-east)")
    args = ap.parse_args()

    from network_opt.solver.benders import benders_solve, first_stage_mask
    from network_opt.solver.handoff import HighsModel
    from network_opt.solver.highs import solve_model
    from network_opt.solver.options import SolveOptions

    options = SolveOptions(time_limit=args.time_limit, mip_gap=args.mip_gap, threads=args.threads)
    work = Path(tempfile.mkdtemp(prefix="network-opt-decomposition-bench-"))
    print(f"time limit {args.time_limit:g} s, MIP gap {args.mip_gap:g}")
    print(f"{'case':<12} {'method':<8} {'solve_s':>8} {'objective':>18} {'bound':>18} {'gap':>9} "
          f"{'iter':>5} {'blocks':>6} {'cuts opt/feas':>13} {'master_s':>8} {'sub_s':>8}")
    try:
        for case in args.cases:
            if case == "stochastic" and "benders-sw" in args.methods:
                scenario_wise(args, options, work)
            rest = [m for m in args.methods if m != "benders-sw" or case != "stochastic"]
            if not rest:
                continue
            if "benders-sw" in rest:
                raise SystemExit("benders-sw needs the stochastic case")
            m, first = build(case, work, args.scenarios, args.uncollected_cost, args.instance)
            for method in rest:
                hm = HighsModel(m)
                t = time.perf_counter()
                extra = f"{'-':>5} {'-':>6} {'-':>13} {'-':>8} {'-':>8}"
                if method == "highs":
                    out = solve_model(m, options, solver=hm)
                else:
                    out, rec = benders_solve(hm, first_stage_mask(hm, first), options)
                    cuts = f"{rec.optimality_cuts}/{rec.feasibility_cuts}"
                    extra = (f"{rec.iterations:>5} {rec.blocks:>6} {cuts:>13} "
                             f"{rec.master_s:8.1f} {rec.subproblem_s:8.1f}")
                seconds = time.perf_counter() - t
                gap = "-" if out.mip_gap is None else f"{out.mip_gap:.4%}"
                label = f"{case}{args.scenarios}" if case == "stochastic" else case
                print(f"{label:<12} {method:<8} {seconds:8.1f} {_money(out.objective)} {_money(out.bound)} {gap:>9} "
                      f"{extra}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
