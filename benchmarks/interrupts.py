"""Seconds from SIGINT/SIGTERM to HiGHS stopping and to the process's end, per phase and size.

    python benchmarks/interrupts.py                      # 50x20x3 and 200x40x3
    python benchmarks/interrupts.py --sizes 400x60x3 --signal SIGTERM

For each generated size (collection points x candidates x periods) a ``network-opt solve`` runs
in a subprocess and gets the signal:

- ``build``: 0.3 s after the "building the model" progress line;
- ``mip``: ``--delay`` seconds (default 6) after "solving with HiGHS" with ``--start none``: in the
  MIP's presolve or root LP on the larger sizes (HiGHS calls back nothing there), in the branch
  and bound on small ones;
- ``mip+start``: the same with ``--start open-all`` (a plan exists from the first second).

It prints where the signal landed (the phase named in the CLI's message, or the last progress
line), the seconds to "solver finished" (HiGHS stopped), to the end of the process (the plan
written, if any) and the exit code. Memory: about 0.3 GB (50x20x3) and 1.4 GB (200x40x3) per run.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _run(instance: Path, out: Path, marker: str, delay: float, sig: int, extra: list[str]) -> dict[str, object]:
    proc = subprocess.Popen([sys.executable, "-m", "network_opt", "solve", str(instance), "--out", str(out), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append((time.perf_counter(), line.rstrip()))
            if marker in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not seen.wait(600):
        proc.kill()
        return {"error": "marker not seen"}
    time.sleep(delay)
    before = [text for _, text in lines if text.startswith("[")]
    sent = time.perf_counter()
    proc.send_signal(sig)
    code = proc.wait(timeout=600)
    ended = time.perf_counter()
    reader.join(timeout=10)
    finished = next((t for t, text in lines if "solver finished" in text and t >= sent), None)
    said = next((text for _, text in lines if text.startswith("interrupted")), "")
    return {"code": code, "stopped_s": None if finished is None else finished - sent, "exit_s": ended - sent,
            "last_phase": before[-1] if before else "", "message": said}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["50x20x3", "200x40x3"])
    parser.add_argument("--signal", default="SIGINT", choices=["SIGINT", "SIGTERM"])
    parser.add_argument("--delay", type=float, default=6.0, help="seconds after HiGHS starts")
    args = parser.parse_args()
    sig = getattr(signal, args.signal)
    from network_opt.datasets.generate import GeneratorSpec, generate

    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'size':>10} {'phase':>9} {'exit':>4} {'stopped_s':>9} {'exit_s':>7}  where")
        for size in args.sizes:
            points, candidates, periods = (int(x) for x in size.split("x"))
            instance = generate(Path(tmp) / size, GeneratorSpec(seed=0, collection_points=points,
                                                                candidates=candidates, periods=periods))
            cases = [("build", "building the model", 0.3, []),
                     ("mip", "solving with HiGHS", args.delay, ["--start", "none"]),
                     ("mip+start", "solving with HiGHS", args.delay, ["--start", "open-all"])]
            for k, (phase, marker, delay, extra) in enumerate(cases):
                r = _run(instance, Path(tmp) / f"out-{size}-{k}", marker, delay, sig, extra)
                if "error" in r:
                    print(f"{size:>10} {phase:>9} {r['error']}")
                    continue
                stopped = "-" if r["stopped_s"] is None else f"{r['stopped_s']:.2f}"
                where = str(r["message"]) or str(r["last_phase"])
                print(f"{size:>10} {phase:>9} {r['code']:>4} {stopped:>9} {r['exit_s']:>7.2f}  {where[:90]}",
                      flush=True)


if __name__ == "__main__":
    main()
