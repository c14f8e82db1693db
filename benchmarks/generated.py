"""Shared by the benchmark scripts: the machine they ran on, and the generated instance of a size."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def machine() -> str:
    """One line naming the machine and Python."""
    return (f"machine: {platform.processor() or platform.machine()}, {platform.system()} {platform.release()}, "
            f"python {platform.python_version()}")


def generated_instance(work: Path, size: str) -> Path:
    """The instance ``network-opt generate`` makes for SIZE = collection points x candidates x
    periods (3 chemistries, seed 1) in ``work``; generated once, then reused."""
    cp, cand, periods = (int(x) for x in size.split("x"))
    folder = work / f"i{size}"
    if not folder.exists():
        subprocess.run([sys.executable, "-m", "network_opt", "generate", "--out", str(folder), "--seed", "1",
                        "--collection-points", str(cp), "--candidates", str(cand), "--periods", str(periods),
                        "--chemistries", "3"], check=True, capture_output=True)
    return folder


def bound_model_args(ap: Any) -> None:
    """The arguments of :func:`bound_model_data` on an argparse parser: the instance, ``--prune K``,
    ``--set KEY=VALUE`` (repeatable, values read as YAML) and ``--aggregate N``."""
    ap.add_argument("instance")
    ap.add_argument("--prune", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--aggregate", type=int, default=None, metavar="N")


def bound_model_data(args: Any) -> tuple[Any, dict[str, Any], float]:
    """The model data a bound is measured on (the Lagrangian scripts): the instance loaded with the
    settings asked for and prepared with the lane pruning, or with ``--aggregate N`` the clustered
    relaxation ``solve --heuristic --aggregate N`` bounds with (strong linking on, lanes capped at
    the members' bounds). Returns (data, settings, the relaxation's correction for the full model)."""
    import yaml

    from network_opt.inputs.load import load
    from network_opt.model.data import prepare
    from network_opt.model.relax import member_reach, relaxed_aggregate
    from network_opt.model.size import prepare_sized
    from network_opt.runs.heuristic import RELAXED_SETTINGS

    settings = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    inst = load(args.instance)
    if settings:
        inst = inst.with_settings(settings)
    full, _, _ = prepare_sized(inst, args.prune)
    if args.aggregate is None:
        return full, settings, 0.0
    relaxed, relax = relaxed_aggregate(full.inst, args.aggregate, full.lanes)
    d = prepare(relaxed.with_settings(RELAXED_SETTINGS))
    d.flows["upper_bound_t"] = member_reach(full, d, relax.clustering.cluster)
    return d, settings, float(relax.correction)
