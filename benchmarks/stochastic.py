"""Stochastic design: the extensive form (shared first-stage variables or equality rows) against
scenario decomposition on mpi-sppy (L-shaped, progressive hedging), for N scenarios of the lithium
price and the end-of-life volume on a real instance (a copy of it with an ``uncertainty:`` block,
the ranges of notebooks/04-stochastic-design.ipynb: Li price x U(0.8, 2.4), volume x
Tri(0.875, 1, 2.5), research brief 4.5 and 4.6).

Prints one row per (N, method): wall seconds of the solve (data preparation excluded, printed
apart), the objective of the plan found (expected cost, currency), the bound and the relative gap
reached within ``--time-limit`` seconds (the extensive form: HiGHS's limit; L-shaped: no iteration
starts after it; PH: checked between iterations), and the 1-minute load average when the row
ends. The decomposition's plan is evaluated on every scenario (its inner bound; evaluation time
excluded). With ``--out-of-sample M`` the extensive form's plan is also evaluated on M fresh draws
(one sample, the same for every N) for the 95 % confidence interval of its expected cost. Never
asserted in tests; figures in benchmarks/README.md.

    python benchmarks/stochastic.py --scenarios 10 50 --methods ef-shared lshaped ph --time-limit 600 \
        --out-of-sample 100
    python benchmarks/stochastic.py --scenarios 200 --methods lshaped --time-limit 600
    mpiexec -n 2 python benchmarks/stochastic.py --scenarios 50 --methods lshaped   # 2 ranks
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNCERTAINTY = """
uncertainty:
  lithium_price:
    scale: "material_prices[Li].price_per_t"
    distribution: uniform
    low: 0.8      # 60,000 CNY/t Li2CO3 / 75,000 (research brief 4.5)
    high: 2.4     # 180,000 / 75,000
  volumes:
    scale: supply.tonnes
    distribution: triangular
    low: 0.875    # 350 kt (CATARC 2019) / 400 kt (MIIT), research brief 4.6
    mode: 1.0
    high: 2.5     # about 1 Mt / 400 kt
"""
METHODS = ("ef-shared", "ef-equality", "lshaped", "ph")


def instance_copy(name: str, work: Path, uncollected_cost: float | None = None) -> Path:
    """A copy of instance ``name`` with the uncertainty block; with ``uncollected_cost`` (currency/t)
    packs may stay uncollected at that price (complete recourse: every scenario feasible whatever
    the plan, which the L-shaped method of mpi-sppy needs, having no feasibility cuts)."""
    folder = work / name
    shutil.copytree(ROOT / "instances" / name, folder)
    text = (folder / "instance.yaml").read_text(encoding="utf-8")
    if uncollected_cost is not None:
        strict = "uncollected:\n  allowed: false\n"
        assert strict in text, "the instance's uncollected block is not where expected"
        text = text.replace(strict, f"uncollected:\n  allowed: true\n  cost_per_t: {uncollected_cost:g}\n")
    (folder / "instance.yaml").write_text(text + UNCERTAINTY, encoding="utf-8")
    return folder


def costs(datas: list, plan: dict) -> list[float]:
    """The cost of ``plan`` in each scenario (an LP with the plan fixed; inf where infeasible)."""
    from network_opt.model import build_model
    from network_opt.model.stages import fix_plan
    from network_opt.solver.highs import solve_model

    out = []
    for d in datas:
        m = build_model(d)
        fix_plan(m, plan)
        res = solve_model(m)
        out.append(math.inf if res.objective is None else float(res.objective))
    return out


def evaluate(datas: list, probs: list[float], plan: dict) -> float:
    """Expected cost of ``plan`` over the scenarios (each an LP with the plan fixed)."""
    c = costs(datas, plan)
    return math.inf if not all(map(math.isfinite, c)) else sum(p * v for p, v in zip(probs, c, strict=True))


def confidence(values: list[float]) -> tuple[float, float, int]:
    """Mean and 95 % half-width (Student t) of the finite values, and how many were infinite."""
    from scipy.stats import t as student  # type: ignore[import-untyped]

    finite = [v for v in values if math.isfinite(v)]
    n = len(finite)
    mean = sum(finite) / n if n else math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1)) if n > 1 else math.nan
    return mean, float(student.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else math.nan, len(values) - n


def _money(v: float | None) -> str:
    return f"{v:18,.0f}" if v is not None and math.isfinite(v) else f"{'-':>18}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instance", default="china-east")
    ap.add_argument("--scenarios", type=int, nargs="+", default=[10, 50, 200])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out-of-sample", type=int, default=0, metavar="M",
                    help="evaluate the extensive form's plan on M fresh draws (95 %% interval of its cost)")
    ap.add_argument("--candidates", type=int, default=5, help="PH: candidate plans evaluated on every scenario")
    ap.add_argument("--uncollected-cost", type=float, default=None, metavar="X",
                    help="let packs stay uncollected at X per tonne (complete recourse; default: as the instance)")
    args = ap.parse_args()

    import network_opt as no
    from network_opt.model.stochastic import build_extensive_form
    from network_opt.runs.decompose import mpi_rank_size, solve_lshaped, solve_ph
    from network_opt.runs.stochastic import out_of_sample_set, scenario_data, scenario_set
    from network_opt.solver.highs import solve_model
    from network_opt.solver.options import SolveOptions

    rank, size = mpi_rank_size()
    work = Path(tempfile.mkdtemp(prefix="network-opt-stochastic-bench-"))
    inst = no.load(instance_copy(args.instance, work, args.uncollected_cost))
    if rank == 0:
        print(f"{args.instance}: time limit {args.time_limit:g} s, MPI ranks {size}, uncollected "
              f"{'as the instance' if args.uncollected_cost is None else f'at {args.uncollected_cost:g}/t'}, "
              f"load average {os.getloadavg()[0]:.2f}")
        print(f"{'N':>4} {'method':<12} {'prepare_s':>9} {'solve_s':>9} {'objective':>18} {'bound':>18} {'gap':>9}")
    for n in args.scenarios:
        sset = scenario_set(inst, n, args.seed)
        t = time.perf_counter()
        datas = [scenario_data(inst, o) for o in sset.overrides]
        prep = time.perf_counter() - t
        probs = list(sset.probabilities)
        for method in args.methods:
            if method.startswith("ef") and size > 1:
                continue  # the extensive form is one process
            t = time.perf_counter()
            if method.startswith("ef"):
                m = build_extensive_form(datas, probs, nonanticipativity=method.split("-")[1])
                out = solve_model(m, SolveOptions(time_limit=args.time_limit, threads=args.threads))
                seconds = time.perf_counter() - t
                obj, bound, gap = out.objective, out.bound, out.mip_gap
                iters = str(out.termination)
            else:
                if method == "lshaped":
                    dec = solve_lshaped(datas, list(sset.names), probs, time_limit=args.time_limit,
                                        threads=args.threads)
                else:
                    dec = solve_ph(datas, list(sset.names), probs, time_limit=args.time_limit,
                                   candidates=args.candidates, threads=args.threads)
                seconds = time.perf_counter() - t
                if rank != 0:
                    continue
                obj = min(evaluate(datas, probs, c) for c in dec.candidates)
                iters = f"{dec.iterations} it" + (f", {'; '.join(dec.notes)}" if dec.notes else "")
                bound = dec.outer_bound
                gap = abs(obj - bound) / abs(obj) if bound is not None and math.isfinite(obj) else None
            if rank == 0:
                print(f"{n:>4} {method:<12} {prep:9.1f} {seconds:9.1f} {_money(obj)} {_money(bound)} "
                      f"{'-' if gap is None else f'{gap:.4%}':>9}  load {os.getloadavg()[0]:.2f}  {iters}", flush=True)
            if method.startswith("ef") and args.out_of_sample and rank == 0 and out.objective is not None:
                from network_opt.model.stages import plan_values

                fresh = out_of_sample_set(inst, sset, args.out_of_sample, args.seed)
                fresh_datas = [scenario_data(inst, o) for o in fresh.overrides]
                mean, half, bad = confidence(costs(fresh_datas, plan_values(m.scenario[0])))
                print(f"{n:>4} out-of-sample ({args.out_of_sample} draws): mean {_money(mean)}, 95 % CI "
                      f"[{_money(mean - half)}, {_money(mean + half)}] (half-width {half / abs(mean):.3%}), "
                      f"in-sample {_money(obj)}, infeasible in {bad}", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
