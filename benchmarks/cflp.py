"""Benchmark: OR-Library-style capacitated facility location (Cornuejols, Sridharan and Thizy 1991
generator, as in Beasley's OR-Library ``capa/capb/capc`` family: points in the unit square, demand
U[5, 35], capacity U[10, 160] scaled so that total capacity / total demand = ``--ratio``, fixed cost
U[0, 90] + U[100, 110] sqrt(capacity), cost per unit 10 x distance), solved

- by HiGHS alone on the textbook formulation (min sum f_i y_i + c_ij x_ij; sum_i x_ij = d_j;
  sum_j x_ij <= s_i y_i; x_ij <= d_j y_i; passed as one matrix to highspy), and
- end to end by network_opt (instance written as CSV, loaded, validated, built, solved; the same
  as ``tests/test_cflp.py``'s ``cflp_instance``) with each model variant,

with the same relative gap, threads and time limit, and prints seconds, status, objective, bound
and the ratio end-to-end / HiGHS alone. Never asserts times.

Usage::

    python benchmarks/cflp.py [--sites 100] [--customers 1000] [--ratio 3] [--seed 1] \
        [--time-limit 600] [--gap 1e-4] [--variants default,capacity_cover]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import highspy
import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from generated import machine
from scratch import scratch_folder

ROOT = Path(__file__).resolve().parents[1]
VARIANTS: dict[str, dict[str, object]] = {
    "default": {},
    "capacity_cover": {"model.capacity_cover": True},
    "no_linking": {"model.strong_linking": False},
    "no_linking+cover": {"model.strong_linking": False, "model.capacity_cover": True},
}


def generate(m: int, n: int, ratio: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    demand = rng.integers(5, 36, n).astype(float)
    cap = rng.uniform(10, 160, m)
    cap = np.round(cap * ratio * demand.sum() / cap.sum())
    fixed = np.round(rng.uniform(0, 90, m) + rng.uniform(100, 110, m) * np.sqrt(cap), 1)
    fac, cus = rng.random((m, 2)), rng.random((n, 2))
    cost = np.round(10 * np.linalg.norm(fac[:, None, :] - cus[None, :, :], axis=2), 3)  # per unit
    return {"demand": demand, "capacity": cap, "fixed": fixed, "cost": cost}


def textbook(data: dict[str, np.ndarray], limit: float, gap: float, threads: int | None) -> dict[str, object]:
    d, s, f, c = data["demand"], data["capacity"], data["fixed"], data["cost"]
    m, n = c.shape
    t0 = time.perf_counter()
    nx = m * n  # x[i, j] at column i * n + j, y[i] at nx + i
    xi = np.arange(nx)
    i_of, j_of = xi // n, xi % n
    rows = [sp.csr_matrix((np.ones(nx), (j_of, xi)), shape=(n, nx + m)),  # demand
            sp.hstack([sp.csr_matrix((np.ones(nx), (i_of, xi)), shape=(m, nx)), sp.diags(-s)]),  # capacity
            sp.csr_matrix((np.r_[np.ones(nx), -d[j_of]], (np.r_[xi, xi], np.r_[xi, nx + i_of])),
                          shape=(nx, nx + m))]  # links
    a = sp.vstack(rows).tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = nx + m, a.shape[0]
    lp.col_cost_ = np.r_[c.ravel(), f]
    lp.col_lower_ = np.zeros(nx + m)
    lp.col_upper_ = np.r_[np.full(nx, highspy.kHighsInf), np.ones(m)]
    lp.row_lower_ = np.r_[d, np.full(m + nx, -highspy.kHighsInf)]
    lp.row_upper_ = np.r_[d, np.zeros(m + nx)]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    lp.integrality_ = [highspy.HighsVarType.kContinuous] * nx + [highspy.HighsVarType.kInteger] * m
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", limit)
    h.setOptionValue("mip_rel_gap", gap)
    if threads:
        h.setOptionValue("threads", threads)
    h.passModel(lp)
    t1 = time.perf_counter()
    h.run()
    t2 = time.perf_counter()
    info = h.getInfo()
    return {"build_s": t1 - t0, "solve_s": t2 - t1, "total_s": t2 - t0,
            "status": h.modelStatusToString(h.getModelStatus()), "objective": info.objective_function_value,
            "bound": info.mip_dual_bound, "nodes": info.mip_node_count}


CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from network_opt import load, solve
from network_opt.solver.options import SolveOptions
folder, settings = sys.argv[1], json.loads(sys.argv[2])
limit, gap, threads = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
inst = load(folder).with_settings(settings)
sol = solve(inst, SolveOptions(time_limit=limit, mip_gap=gap, threads=threads or None, start="none", warm_start=False))
print(json.dumps({"total_s": time.perf_counter() - t0, "solve_s": sol.summary["timings"]["solve_s"],
                  "status": str(sol.status), "objective": sol.objective, "bound": sol.summary["bound"],
                  "nodes": sol.outcome.mip_node_count}))
"""


def write(data: dict[str, np.ndarray], folder: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_cflp import cflp_instance  # the instance the CFLP tests check against the textbook

    return cflp_instance(folder, data["demand"].tolist(), data["capacity"].tolist(), data["fixed"].tolist(),
                         data["cost"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--ratio", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--variants", default="default,capacity_cover")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    data = generate(args.sites, args.customers, args.ratio, args.seed)
    folder = write(data, scratch_folder(args.workdir, "network-opt-cflp-") / "cflp")
    print(f"{machine()}; {args.sites} sites x {args.customers} customers, capacity / demand {args.ratio:g}, "
          f"seed {args.seed}; time limit {args.time_limit:g} s, gap {args.gap:g}, threads {args.threads or 'HiGHS'}")
    print("| model | total s | HiGHS s | / HiGHS alone (total) | status | objective | bound | nodes |")
    print("|---|---|---|---|---|---|---|---|")
    alone = textbook(data, args.time_limit, args.gap, args.threads)
    print(f"| HiGHS alone, textbook | {alone['total_s']:.1f} | {alone['solve_s']:.1f} | 1.00 | {alone['status']} | "
          f"{alone['objective']:.8g} | {alone['bound']:.8g} | {alone['nodes']} |", flush=True)
    for name in args.variants.split(","):
        proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), json.dumps(VARIANTS[name]),
                               str(args.time_limit), str(args.gap), str(args.threads)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"| network_opt {name} | failed: {proc.stderr.strip().splitlines()[-1][:90]} |", flush=True)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| network_opt {name} | {r['total_s']:.1f} | {r['solve_s']:.1f} | "
              f"{r['total_s'] / alone['total_s']:.2f} | {r['status']} | {r['objective']:.8g} | "
              f"{r['bound']:.8g} | {r['nodes']} |", flush=True)


if __name__ == "__main__":
    main()
