"""SIGINT and SIGTERM during ``solve --stochastic`` with the decompositions on mpi-sppy (PH and
L-shaped) and in the phases after the design (issue 13's rule, on the stochastic path): the
process ends within seconds with exit code 130 / 143; with no plan whose objective is known nothing
is written and a results folder already at --out is left as it was; once the design's plan is known
its summary is written (as a plain solve writes its best plan), the measures not computed.

Measured before the fix (2026-12-05, instance below, 6 scenarios): a SIGINT during PH was ignored
(the run went on for 210 s and exited 4, "no plan"); during the L-shaped method it came out as
exit 2 with "a scenario LP has no solution"; during a wait-and-see HiGHS run it was noted and PH
then ran on for 220 s. Pyomo's HiGHS interfaces run HiGHS in the main thread, where no signal
handler runs until HiGHS returns, and a handler run inside HiGHS's callbacks loses its exception.

The solves run in real subprocesses (``python -m network_opt``), the signal sent when the
progress output shows the phase. The instance: 30 collection points x 10 candidates, 1 period,
with an ``uncertainty:`` block wide enough that the scenarios' own plans differ (so PH iterates,
about 4 s per iteration of 6 scenarios on a 2-core machine, and the L-shaped method takes several
iterations) and packs allowed to stay uncollected at a cost (the L-shaped method needs every plan
feasible in every scenario). Each test takes 4-40 s on that machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_interrupts import Run, _leftovers

from network_opt.common import interrupts

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: appended to the generated instance.yaml. Synthetic ranges (not data): supply from 0.2 to 3 times
#: the generated tonnes, the lithium price normal around the generated one with a 40 % deviation;
#: packs left uncollected cost 20,000 CNY/t (a penalty above every route's cost, so that the optimum
#: collects wherever a plan can).
UNCERTAIN = """
uncertainty:
  volumes:
    scale: supply.tonnes
    distribution: uniform
    low: 0.2
    high: 3.0
  lithium_price:
    scale: material_prices[Li].price_per_t
    distribution: normal
    mean: 1.0
    sd: 0.4
uncollected:
  allowed: true
  cost_per_t: 20000
"""


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from network_opt.datasets.generate import GeneratorSpec, generate

    folder = generate(tmp_path_factory.mktemp("interrupts-stochastic") / "g30",
                      GeneratorSpec(seed=2, collection_points=30, candidates=10, periods=1, chemistries=2))
    manifest = folder / "instance.yaml"
    manifest.write_text(manifest.read_text() + UNCERTAIN)
    return folder


def _earlier_results(out: Path) -> dict[str, bytes]:
    """A results folder an earlier run wrote at ``out`` (marker, summary, one table): --overwrite may
    replace it, an interrupted run that writes nothing must leave it as it is. Returns its files."""
    from network_opt.common.outdir import write_marker

    out.mkdir()
    (out / "summary.json").write_text('{"status": "optimal", "earlier": true}\n')
    (out / "facilities.csv").write_text("facility,open\nF0000,true\n")
    write_marker(out)
    return _files(out)


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _solve(instance: Path, out: Path, method: str, scenarios: int, *extra: str) -> Run:
    return Run(str(instance), "--stochastic", "--scenarios", str(scenarios), "--decomposition", method,
               "--out-of-sample", "0", "--threads", "1", "--out", str(out), "--overwrite", *extra)


def _interrupt(run: Run, phase: str, wait_s: float, sig: int) -> int:
    """Send ``sig`` ``wait_s`` seconds after ``run`` printed ``phase``; its exit code (within 60 s)."""
    run.wait_for(phase)
    threading.Event().wait(wait_s)
    run.signal(sig)
    code, _ = run.finish(timeout=60)
    return code


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("method, phase, scenarios, wait_s", [
    ("ph", "progressive hedging (mpi-sppy)", 6, 3.0),  # inside PH's iterations (iteration 0 alone takes about 4 s)
    # before the fix a signal inside a HiGHS run came out as "a scenario LP has no solution", exit 2
    ("lshaped", "L-shaped method (mpi-sppy)", 12, 1.5),  # the method takes about 10 s on 12 scenarios here
], ids=["ph", "lshaped"])
def test_a_signal_during_the_decomposition_ends_it_with_nothing_written(instance: Path, tmp_path: Path, sig: int,
                                                                        method: str, phase: str, scenarios: int,
                                                                        wait_s: float) -> None:
    out = tmp_path / "out"
    before = _earlier_results(out)
    run = _solve(instance, out, method, scenarios)
    code = _interrupt(run, phase, wait_s, sig)
    name = signal.Signals(sig).name
    assert code == 128 + sig, run.text
    assert f"interrupted during {phase} on {scenarios} scenarios ({name}); nothing written" in run.text
    assert "error:" not in run.text and "Traceback" not in run.text and "Solve failed" not in run.text, run.text
    assert _files(out) == before, "the earlier results must be left as they were"
    assert _leftovers(out) == []


def test_a_signal_in_the_wait_and_see_solves_ends_the_design_with_nothing_written(instance: Path,
                                                                                  tmp_path: Path) -> None:
    """The first phase (each scenario's own MIP, about 0.5 s each): before the fix a signal while
    HiGHS ran was only noted, every later scenario skipped HiGHS and PH ran on for minutes."""
    out = tmp_path / "out"
    before = _earlier_results(out)
    run = _solve(instance, out, "ph", 6)
    code = _interrupt(run, "wait-and-see", 1.0, signal.SIGINT)
    assert code == 130, run.text
    assert "nothing written" in run.text and "progressive hedging" not in run.text, run.text
    assert _files(out) == before
    assert _leftovers(out) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_after_the_design_writes_its_plan_without_the_measures(tmp_path: Path, sig: int) -> None:
    """Once PH's plan is evaluated (its objective known), the evaluations of the plans on every
    scenario (10 + 10 + 100 regret LPs on the toy, about 10 s here) are measures: a signal there
    writes the plan's summary (objective, bound, gap, plan) in place of the earlier results, no
    table, and exits 130 / 143."""
    toy = Path(__file__).parents[1] / "instances" / "toy-scenarios"
    out = tmp_path / "out"
    _earlier_results(out)
    run = _solve(toy, out, "ph", 10)
    code = _interrupt(run, "evaluating the stochastic plan and the expected-value plan", 1.0, sig)
    name = signal.Signals(sig).name
    assert code == 128 + sig, run.text
    assert f"its measures (RP, EEV, WS, VSS, EVPI, regret, out-of-sample) were not computed ({name})" in run.text
    summary = json.loads((out / "summary.json").read_text())
    assert "earlier" not in summary
    st = summary["stochastic"]
    assert st["interrupted"]["signal"] == name and st["plan"] and "RP" not in st
    assert summary["objective"] is not None and st["decomposition"]["method"] == "ph"
    assert not (out / "stochastic.csv").exists() and not (out / "facilities.csv").exists()
    assert _leftovers(out) == []


def test_a_signal_in_the_extensive_form_writes_its_best_plan_and_no_measure(instance: Path, tmp_path: Path) -> None:
    """HiGHS on the extensive form (20 scenarios, several seconds here) returns its incumbent; before
    the fix every later scenario solve then skipped HiGHS, and the run went on for 55 s, exited 0 and
    wrote RP inf, EEV nan as if they were measures."""
    out = tmp_path / "out"
    log = tmp_path / "run.log"  # HiGHS's figures, every second: the signal comes once it has a plan
    run = _solve(instance, out, "none", 20, "--log", str(log))
    run.wait_for("solving the extensive form")
    deadline = time.perf_counter() + 120
    while not re.search(r"solving: .* best plan -?[0-9]", log.read_text(encoding="utf-8").split(
            "solving the extensive form", 1)[-1]):
        assert time.perf_counter() < deadline and run.proc.poll() is None, run.text
        time.sleep(0.2)
    run.signal(signal.SIGINT)
    code, _ = run.finish(timeout=60)
    assert code == 130, run.text
    assert "evaluating the stochastic plan" not in run.text, run.text  # the signal came in the extensive form
    assert "were not computed (SIGINT)" in run.text, run.text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objective"] is not None and "RP" not in summary["stochastic"]
    assert summary["stochastic"]["interrupted"]["signal"] == "SIGINT"
    assert sorted(p.name for p in out.iterdir()) == [".network-opt-results", "results.xlsx", "summary.json"]
    assert _leftovers(out) == []


def _ctrl_c_at_a_terminal(instance: Path, out: Path, phase: str, wait_s: float) -> tuple[Any, str]:
    """Run a stochastic solve with two worker processes in its own process group and send SIGINT to
    the whole group (as a terminal's Ctrl-C does) ``wait_s`` seconds after it printed ``phase``;
    returns the process (ended) and its output."""
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "network_opt", "solve", str(instance), "--stochastic",
                             "--scenarios", "6", "--decomposition", "none", "--out-of-sample", "0", "--threads", "1",
                             "--workers", "2", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if phase in line:
            break
    else:
        raise AssertionError("".join(seen))
    time.sleep(wait_s)
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    return proc, "".join(seen) + rest


def test_ctrl_c_at_a_terminal_during_the_extensive_form_ends_every_process_quietly(
        instance: Path, tmp_path: Path) -> None:
    """A terminal's Ctrl-C goes to the whole process group. The wait-and-see batch ran in two worker
    processes, let go before the extensive form (tests/test_executor_pool.py: kept workers ignore
    SIGINT): exit 130, nothing written, no process's traceback."""
    out = tmp_path / "out"
    # the wait-and-see batch ran in the two workers, let go before this phase
    proc, text = _ctrl_c_at_a_terminal(instance, out, "solving the extensive form", 0.0)
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "SpawnProcess" not in text, text
    assert not out.exists()


def test_ctrl_c_at_a_terminal_while_the_first_workers_start_leaves_no_process(instance: Path,
                                                                          tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group) 0.3 s into the first batch, while the two workers
    are still starting. Before the fix: a worker importing died with a KeyboardInterrupt traceback,
    another could be left running after the parent ended, and multiprocessing warned of leaked
    semaphores. Now: exit 130, nothing written, no traceback, no warning, no process left."""
    out = tmp_path / "out"
    proc, text = _ctrl_c_at_a_terminal(instance, out, "wait-and-see", 0.3)
    assert proc.returncode == 130, text
    assert "nothing written" in text, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text and "leaked" not in text, text
    assert not out.exists()
    deadline = time.time() + 10  # the resource tracker leaves once the parent has gone
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.time() < deadline, "a process of the run is still alive"
        time.sleep(0.2)


# --- the mechanism, in this process --------------------------------------------------------------

def test_pyomo_highs_objects_are_stoppable_only_inside_the_decomposition() -> None:
    import highspy
    import pyomo.contrib.appsi.solvers.highs as appsi_highs
    import pyomo.contrib.solver.solvers.highs as contrib_highs

    from network_opt.runs.decompose import stoppable_highs

    with stoppable_highs():
        for module in (appsi_highs, contrib_highs):
            h = module.highspy.Highs()
            assert isinstance(h, highspy.Highs) and type(h).__name__ == "StoppableHighs"
            assert module.highspy.HighsModelStatus is highspy.HighsModelStatus  # the rest is highspy's
    assert appsi_highs.highspy.Highs()  # the module's own again
    assert type(appsi_highs.highspy.Highs()).__name__ == "Highs"
    assert type(contrib_highs.highspy.Highs()).__name__ == "Highs"


def test_a_highs_run_that_does_not_answer_is_left_and_the_decomposition_raises(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """HiGHS in presolve or a MIP's root LP calls back nothing: after the stop request the main
    thread leaves it running after GRACE_S (the CLI then ends the process) and raises Interrupted,
    which mpi-sppy's ``except Exception`` around each subproblem solve lets through."""
    import highspy
    import pyomo.contrib.appsi.solvers.highs as appsi_highs

    from network_opt.runs.decompose import stoppable_highs

    def stuck(self: object) -> None:  # a HiGHS run that would take 60 s and never sees cancelSolve
        threading.Event().wait(60)

    monkeypatch.setattr(highspy.Highs, "run", stuck)
    with interrupts.handling(ending=True), stoppable_highs():  # as in the CLI
        h = appsi_highs.highspy.Highs()
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
        with pytest.raises(interrupts.Interrupted) as caught:
            h.run()
        assert caught.value.exit_code == 143
        assert interrupts.abandoned()


def test_a_stop_inside_a_pyomo_highs_solve_is_held_until_highs_would_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGINT that arrives in Pyomo's own Python inside a HiGHS interface's ``solve`` (here while
    the interface adds the constraints, before HiGHS runs) does not raise there: raised amid the
    interface's output capture and model updates it once came out as an ``Exception``, which
    mpi-sppy printed as "Solve failed for scenario ..." before solving the scenario again with
    ``tee=True`` (the CI of 2026-12-07). The interface's code goes on, HiGHS does not start, and
    the solve raises Interrupted; outside the decomposition both interfaces' ``solve`` are Pyomo's
    again."""
    import pyomo.contrib.appsi.solvers.highs as appsi_highs
    import pyomo.contrib.solver.solvers.highs as contrib_highs
    import pyomo.environ as pyo

    from network_opt.runs.decompose import stoppable_highs

    appsi_solve = appsi_highs.Highs.solve
    add_constraints = appsi_highs.Highs._add_constraints
    went_on: list[str] = []
    ran: list[str] = []

    def signal_then_add(self: Any, cons: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        went_on.append("after the signal")  # a stop raised at once inside the interface never gets here
        return add_constraints(self, cons)

    monkeypatch.setattr(appsi_highs.Highs, "_add_constraints", signal_then_add)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.floor = pyo.Constraint(expr=m.x >= 0.5)
    m.cost = pyo.Objective(expr=m.x)
    with stoppable_highs():
        solver = pyo.SolverFactory("appsi_highs")
        h = solver._solver_model if hasattr(solver, "_solver_model") else None
        assert h is None or type(h).__name__ == "StoppableHighs"
        with pytest.raises(interrupts.Interrupted) as caught:
            solver.solve(m, load_solutions=False)
        ran.append(str(solver._solver_model.getModelStatus()))
    assert caught.value.exit_code == 130
    assert went_on == ["after the signal"]
    assert ran == [str(appsi_highs.highspy.HighsModelStatus.kNotset)]  # HiGHS was never run
    assert appsi_highs.Highs.solve is appsi_solve
    assert "solve" not in contrib_highs.Highs.__dict__
