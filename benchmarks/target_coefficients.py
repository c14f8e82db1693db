"""The target rows' coefficients in a run (issue 17): seconds of the passes that read them, on an
instance whose targets are many per-facility rows (china-2025-2032: 832 of scope step, 64 chain).

    python benchmarks/target_coefficients.py instances/china-2025-2032
    # the same for an older commit, e.g. before the coefficients were derived once:
    git worktree add /tmp/before 8f67450
    PYTHONPATH=/tmp/before python benchmarks/target_coefficients.py instances/china-2025-2032

Prints one JSON line: seconds of loading and preparing the model data with its size projection
(``prepare_sized``: one pass over the target rows), of the build (one pass) and of one
``target_measures`` on random flows (one pass; a run makes two), the target rows by scope, and a
checksum of the measures (equal across commits that compute the same coefficients).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from network_opt.inputs.load import load
from network_opt.model.build import build_model
from network_opt.model.size import prepare_sized
from network_opt.results.tables import target_measures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("instance")
    args = ap.parse_args()
    began = time.perf_counter()
    data, _, _ = prepare_sized(load(args.instance), None)
    prepared = time.perf_counter()
    build_model(data)
    built = time.perf_counter()
    flows = np.random.default_rng(0).random(len(data.flows))
    measures = target_measures(data, flows, np.zeros(len(data.supply)))
    measured = time.perf_counter()
    scopes = data.targets["scope"].value_counts().to_dict() if "scope" in data.targets else {}
    print(json.dumps({"load_prepare_s": round(prepared - began, 2), "build_s": round(built - prepared, 2),
                      "target_measures_s": round(measured - built, 2), "targets_by_scope": scopes,
                      "checksum": [float(np.nansum(measures["achieved"])), float(measures["base"].sum())]}))


if __name__ == "__main__":
    main()
