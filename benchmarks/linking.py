"""Benchmark: the strong-linking variants, the capacity cover, the flow bounds, the candidate
reductions and the objective scale of issue 17 (``model.link_by_level``, ``model.link_max_share``,
``model.capacity_cover``, ``model.flow_bounds``, ``model.candidate_reductions``, ``model.objective_scale``,
``model.capacity_reach``) against the default model, in one run, on shipped and generated instances.

For each instance and variant, in a fresh process, the instance is solved with the variant's
settings (same gap, time limit, threads and start) and the script prints rows, nonzeros, HiGHS
seconds, status, objective, gap, nodes, and the ratio of HiGHS seconds to the default variant's in
the same run (the timing loop is ``timed_solve.py``, shared with ``tightening.py``). Never asserts
times. Generated sizes are collection points x candidates x periods
(3 chemistries, seed 1), as in ``generated.py``.

Usage::

    python benchmarks/linking.py [--instances instances/china-east] [--sizes 100x20x1] \
        [--time-limit 600] [--gap 0.01] [--variants default,capacity_cover] [--copies]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from generated import generated_instance, machine
from scratch import scratch_folder
from timed_solve import fmt_gap, fmt_objective, timed_solve

VARIANTS: dict[str, dict[str, object]] = {
    "default": {},  # every lane linked with U_i
    "link_by_level": {"model.link_by_level": True},
    "link_max_share 1": {"model.link_max_share": 1.0},
    "by_level + share 1": {"model.link_by_level": True, "model.link_max_share": 1.0},
    "capacity_cover": {"model.capacity_cover": True},
    "no strong linking": {"model.strong_linking": False},
    # issue 17 item 1, remainder (2026-12-05)
    "flow_bounds": {"model.flow_bounds": True},
    "candidate_reductions": {"model.candidate_reductions": True},
    "objective_scale -20": {"model.objective_scale": -20},
    # what HiGHS 1.16 suggests (the largest cost to about 2**20): china-2025-2032, eu-2025-2032, north-america
    "objective_scale -12": {"model.objective_scale": -12},
    "objective_scale -8": {"model.objective_scale": -8},
    "objective_scale -7": {"model.objective_scale": -7},
    "all three": {"model.flow_bounds": True, "model.candidate_reductions": True, "model.objective_scale": -20},
    # issue 17, national scale (wt17n): each level's capacity cut to the facility's reach
    "capacity_reach": {"model.capacity_reach": True},
}


def with_copies(folder: Path, work: Path) -> Path:
    """A copy of the instance in ``folder`` where every candidate facility C (not external) has a twin
    ``C~T`` (same site, levels and costs: identical in the model) and a dominated copy ``C~D`` (same
    site, every level's fixed and opening cost 10 % higher): the case ``model.candidate_reductions``
    is for (a site offering several identical or dearer plants). Synthetic: for that measurement only."""
    import shutil

    import pandas as pd
    import yaml

    out = work / f"{folder.name}+copies"
    if out.exists():
        return out
    shutil.copytree(folder, out)
    tables = yaml.safe_load((out / "instance.yaml").read_text(encoding="utf-8"))["tables"]
    fac = pd.read_csv(out / tables["facilities"], dtype=str, keep_default_na=False)
    lv = pd.read_csv(out / tables["facility_levels"], dtype=str, keep_default_na=False)
    external = fac["external"].str.lower().isin(("true", "1", "yes")) if "external" in fac else False
    cand = fac.loc[(fac["status"] == "candidate") & ~external, "id"]
    twins = fac.loc[fac["id"].isin(cand)].assign(id=lambda x: x["id"] + "~T")
    dom = fac.loc[fac["id"].isin(cand)].assign(id=lambda x: x["id"] + "~D")
    lv_t = lv.loc[lv["facility"].isin(cand)].assign(facility=lambda x: x["facility"] + "~T")
    lv_d = lv.loc[lv["facility"].isin(cand)].assign(facility=lambda x: x["facility"] + "~D")
    for c in ("fixed_cost_per_year", "opening_cost"):
        if c in lv_d:
            lv_d[c] = [str(float(v) * 1.1) if v != "" else v for v in lv_d[c]]
    pd.concat([fac, twins, dom]).to_csv(out / tables["facilities"], index=False)
    pd.concat([lv, lv_t, lv_d]).to_csv(out / tables["facility_levels"], index=False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", default="instances/china-east")
    parser.add_argument("--sizes", default="100x20x1")
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--copies", action="store_true",
                        help="also each instance with a twin and a dominated copy of every candidate (with_copies)")
    args = parser.parse_args()
    work = scratch_folder(args.workdir, "network-opt-linking-")
    print(f"{machine()}; time limit {args.time_limit:g} s, gap {args.gap:g}, start none")
    print("| instance | variant | rows | nonzeros | HiGHS s | / default | status | objective | gap | nodes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    folders = [(Path(p).name, Path(p)) for p in args.instances.split(",") if p]
    folders += [(s, generated_instance(work, s)) for s in args.sizes.split(",") if s]
    if args.copies:
        folders += [(f"{name}+copies", with_copies(folder, work)) for name, folder in folders]
    for name, folder in folders:
        base = None
        for variant in args.variants.split(","):
            settings = VARIANTS[variant]
            try:
                r = timed_solve(folder, settings, args.time_limit, args.gap)
            except RuntimeError as exc:
                print(f"| {name} | {variant} | failed: {exc} |", flush=True)
                continue
            base = r["solve_s"] if base is None else base
            red = r.get("reductions")
            note = "" if not red else (f" ({len(red['twins'])} twins, {len(red['dominated'])} dominated, "
                                       f"{len(red['fixed_closed'])} closed)")
            print(f"| {name} | {variant}{note} | {r['rows']:,} | {r['nonzeros']:,} | {r['solve_s']:.1f} | "
                  f"{r['solve_s'] / base:.2f} | {r['status']} | {fmt_objective(r['objective'])} | "
                  f"{fmt_gap(r['gap'])} | {r['nodes']} |", flush=True)


if __name__ == "__main__":
    main()
