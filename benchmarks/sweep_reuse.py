"""A sweep with and without re-solve without rebuild (``network_opt.solver.session``): the same grid of
points solved once updating the HiGHS model of the previous point in place and starting from its
plan, once handing every point to HiGHS anew (``--no-reuse``). Prints figures; asserts nothing.

For each way: the build + hand-off time of the first point (one build), the sum of the points'
solve times, the sum of their build + hand-off times, the wall time of the whole sweep (with
writing each point's results, as ``network-opt sweep`` does) and of the runs alone (overrides,
build, hand-off, solve, shadow prices, key figures; no writing), and the ratios of those totals to
one build + the solves. Also the largest relative difference in objective between the two ways.

Usage::

    python benchmarks/sweep_reuse.py [--instance instances/china-2025-2032] [--points 20]
        [--vary 'material_prices[Li].price_per_t*=0.8:1.2'] [--gap 0.01] [--time-limit 600]

The default (china-2025-2032, about 200 s per solve at 1 %) takes hours; ``--instance
instances/china-east`` (well under a second per solve) runs in a minute or so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def run(instance: object, vary: str, options: object, out: Path) -> dict[str, object]:
    """One sweep into ``out``; its figures."""
    from network_opt.runs.sweep import sweep

    begin = time.perf_counter()
    res = sweep(instance, out, vary=[vary], options=options)  # type: ignore[arg-type]
    wall = time.perf_counter() - begin
    summaries = [json.loads((out / p / "summary.json").read_text()) for p in res.table["point"]]
    timings = [s["timings"] for s in summaries]
    first = timings[0]["build_s"] + timings[0]["handoff_s"]
    solves = sum(t["solve_s"] for t in timings)
    builds = sum(t["build_s"] + t["handoff_s"] for t in timings)
    runs = float(res.runs["seconds"].sum())
    return {"first_build": first, "solves": solves, "builds": builds, "wall": wall, "runs": runs,
            "objectives": list(res.table["objective"]), "status": list(res.table["status"]),
            "in_place": sum(bool(s["resolve"]["in_place"]) for s in summaries),
            "warm": sum(bool(s["resolve"]["warm_start"]) for s in summaries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instance", type=Path, default=ROOT / "instances" / "china-2025-2032")
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--vary", default="material_prices[Li].price_per_t*=0.8:1.2",
                        help="KEY=START:STOP or KEY*=START:STOP (the points are spread over it)")
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--time-limit", type=float, default=600.0, help="per solve, seconds")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--ways", default="reuse,no-reuse", help="reuse, no-reuse or both (comma-separated)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import network_opt as no
    from network_opt.model import build_model, prepare
    from network_opt.solver.handoff import compile_model

    inst = no.load(args.instance)
    compile_model(build_model(prepare(inst)))  # imports and first-call costs, paid by neither way
    vary = f"{args.vary}:{args.points}"
    work = Path(tempfile.mkdtemp(prefix="network-opt-sweep-reuse-"))
    print(f"{args.instance.name}: {args.points} points, --vary '{vary}', gap {args.gap:g}, "
          f"time limit {args.time_limit:g} s per solve; results in {work}", flush=True)
    figures = {}
    for name in args.ways.split(","):
        reuse = name == "reuse"
        opts = no.SolveOptions(mip_gap=args.gap, time_limit=args.time_limit, threads=args.threads, reuse=reuse)
        figures[name] = run(inst, vary, opts, work / name)
        print(f"  {name} done in {figures[name]['wall']:.1f} s", flush=True)
    print()
    print("| way | points in place | warm starts | one build+handoff s | sum of build+handoff s | sum of solves s "
          "| runs s | sweep wall s | runs / (one build + solves) | wall / (one build + solves) |")
    print("|---" * 10 + "|")
    for name, f in figures.items():
        base = f["first_build"] + f["solves"]  # type: ignore[operator]
        print(f"| {name} | {f['in_place']} of {args.points} | {f['warm']} | {f['first_build']:.2f} | "
              f"{f['builds']:.2f} | {f['solves']:.2f} | {f['runs']:.2f} | {f['wall']:.2f} | "
              f"{f['runs'] / base:.2f} | {f['wall'] / base:.2f} |")
    if len(figures) < 2:
        return
    a, b = figures["reuse"], figures["no-reuse"]
    diffs = [abs(x - y) / max(abs(y), 1e-9) for x, y in zip(a["objectives"], b["objectives"], strict=True)  # type: ignore[call-overload]
             if x is not None and y is not None and x == x and y == y]
    same_status = a["status"] == b["status"]
    print(f"\nlargest relative objective difference: {max(diffs, default=float('nan')):.2e} "
          f"(gap {args.gap:g}); statuses {'equal' if same_status else 'differ'}")


if __name__ == "__main__":
    main()
