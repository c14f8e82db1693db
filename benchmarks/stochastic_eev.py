"""EEV of the expected-value plan on china-east, strict and with a recourse (benchmarks/README.md,
"Stochastic design re-measured"): N draws of the uncertainty block of benchmarks/stochastic.py
(seed 1), the stochastic design solved by the extensive form, then RP, WS, EVPI, the strict EEV
(infinite where the plan is infeasible) and EEV_recourse / VSS_recourse for two recourse prices
(both modelling assumptions, stated in the source line). Never asserted in tests.

    python benchmarks/stochastic_eev.py 10
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stochastic import instance_copy

from network_opt.runs.stochastic import StochasticOptions, solve_stochastic

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
for penalty, src in [(0, "modelling assumption: packs the network cannot take are sold on to recyclers outside it; "
                         "the network forgoes their margin and pays no penalty"),
                     (10000, "modelling assumption: emergency processing elsewhere at the top of the instance's "
                             "variable-cost range (README: 4,000-10,000 CNY/t), on top of the margin forgone")]:
    work = Path(tempfile.mkdtemp())
    try:
        folder = instance_copy("china-east", work)
        with open(folder / "instance.yaml", "a") as fh:
            fh.write(f'stochastic:\n  recourse:\n    uncollected_cost_per_t: {penalty}\n    source: "{src}"\n')
        t = time.perf_counter()
        res = solve_stochastic(folder, StochasticOptions(scenarios=n, seed=1, regret_limit=0, out_of_sample=0))
        assert res is not None  # None only on an MPI rank other than 0; this runs in one process
        m = res.metrics
        r = m["recourse"]
        print(f"N={n} penalty {penalty}: RP {m['RP']:,.0f} WS {m['WS']:,.0f} EVPI {m['EVPI']:,.0f} EEV {m['EEV']} "
              f"(infeasible in {m['expected_value_plan_infeasible_scenarios']}), EEV_recourse "
              f"{m['EEV_recourse']:,.0f}, "
              f"VSS_recourse {m['VSS_recourse']:,.0f}; recourse in {r['expected_value_plan_scenarios']} scenarios "
              f"(prob {r['expected_value_plan_probability']:.2f}), expected "
              f"{r['expected_value_plan_expected_t']:,.0f} t "
              f"uncollected; still infeasible {r['expected_value_plan_still_infeasible']}; "
              f"{time.perf_counter() - t:.0f} s, load {os.getloadavg()[0]:.2f}", flush=True)
    finally:  # the temporary copy goes even when a run fails or is interrupted
        shutil.rmtree(work, ignore_errors=True)
