"""Each thing computed once (issue 14, item 3): how often loading and preparing an instance
builds the transport lanes, how long it takes, and how much a worker of ``compare``/``sweep``
sends back.

    network-opt generate --out /tmp/g1500 --seed 1 --collection-points 1500 --candidates 150 --periods 3
    python benchmarks/compute_once.py /tmp/g1500
    # the same figures for an older commit, e.g. before the change:
    git worktree add /tmp/before 3fc41dc
    PYTHONPATH=/tmp/before python benchmarks/compute_once.py /tmp/g1500

Printed: seconds of ``load`` (reading + validation, whose feasibility pre-check builds the lanes)
and of preparing the model data as ``solve`` does (``prepare_sized``: once, or twice when the
instance is pruned by default), the number of lane builds and the seconds they took, and the
pickled size of what a worker returns for the run (without solving: the prepared data and the
instance that used to go back with the tables, against the instance without its lanes that goes
back now; the tables are the same either way and are not counted). ``--profile`` also prints a
pyinstrument profile of load + prepare.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import time
from typing import Any


def _count_lane_builds() -> list[float]:
    """Wrap the lane builder wherever it is bound; return the list its calls' seconds go to."""
    import network_opt.inputs.lanes as lanes
    import network_opt.model.data as data

    seconds: list[float] = []
    real = lanes.build_lanes

    def counted(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - t)

    lanes.build_lanes = counted
    if hasattr(data, "build_lanes"):  # before: model/data.py bound the builder itself
        data.build_lanes = counted
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instance")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of load + prepare")
    args = parser.parse_args(argv)

    import network_opt
    from network_opt.inputs.load import load
    from network_opt.model.size import prepare_sized

    builds = _count_lane_builds()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.01)
        profiler.start()
    t0 = time.perf_counter()
    inst = load(args.instance)
    t1 = time.perf_counter()
    validate_builds = len(builds)
    data, _, pruning = prepare_sized(inst)
    t2 = time.perf_counter()
    if profiler is not None:
        profiler.stop()

    mib = 1024 * 1024
    plain = dataclasses.replace(inst)  # the instance without what was derived from it (no-op before)
    if hasattr(plain, "_derived"):
        plain._derived.clear()
    data_bytes = len(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    inst_bytes = len(pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL))
    with_lanes = len(pickle.dumps(inst, protocol=pickle.HIGHEST_PROTOCOL))
    print(f"network_opt from {network_opt.__file__}")
    print(f"instance: {args.instance}: {len(data.supply):,} supply rows, {len(data.lanes):,} lanes, "
          f"{len(data.flows):,} flows (pruning: {pruning.get('source')}, k={pruning.get('nearest_facilities')})")
    print(f"load (read + validate):        {t1 - t0:6.2f} s   lane builds: {validate_builds}")
    print(f"prepare (as solve does):       {t2 - t1:6.2f} s   lane builds: {len(builds) - validate_builds}")
    print(f"load + prepare:                {t2 - t0:6.2f} s   lane builds: {len(builds)} "
          f"({sum(builds):.2f} s: {', '.join(f'{s:.2f}' for s in builds)})")
    print(f"pickled ModelData:             {data_bytes / mib:8.1f} MiB (what a worker returned besides the tables)")
    print(f"pickled instance, no lanes:    {inst_bytes / mib:8.1f} MiB (what it returns now besides the tables)")
    print(f"pickled instance with lanes:   {with_lanes / mib:8.1f} MiB (sent to a worker with a scenario)")
    if profiler is not None:
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
