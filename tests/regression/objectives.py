"""The cases of the objective-regression table (tests/regression/objectives.json) and how each is
solved: shared by tests/test_objective_regression.py (which compares) and
benchmarks/regression_table.py (which writes the table).

A case is a shipped instance (optionally with one of its declared scenarios) or an instance made
by the generator from a seed, solved through the public API to a relative MIP gap of 0 (each
solves in about a second or less on the project's 2-core machine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import network_opt as no

ROOT = Path(__file__).resolve().parents[2]
TABLE = Path(__file__).parent / "objectives.json"
#: Gap every case is solved to: 0, so that the table can be compared at a tight tolerance.
MIP_GAP = 0.0
#: Relative (and absolute) tolerance on objective and bound.
REL_TOL = 1e-6


@dataclass(frozen=True)
class Case:
    """One row of the table: ``instance`` (a folder under the repository) with ``scenario``, or
    the generator's ``generate`` spec (keyword arguments of ``GeneratorSpec``)."""

    id: str
    instance: str | None = None
    scenario: str | None = None
    generate: dict[str, Any] = field(default_factory=dict)

    def source(self) -> str:
        if self.instance is not None:
            return self.instance + (f" --scenario {self.scenario}" if self.scenario else "")
        return "network-opt generate " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in self.generate.items())


TOY_SCENARIOS = ("li-70", "cheap-lithium", "volumes-up", "no-refurbisher", "no-hydro", "li-70-volumes-up")

CASES: tuple[Case, ...] = (
    Case("toy", instance="instances/toy"),
    Case("toy-scenarios", instance="instances/toy-scenarios"),
    *(Case(f"toy-scenarios:{s}", instance="instances/toy-scenarios", scenario=s) for s in TOY_SCENARIOS),
    Case("china-east", instance="instances/china-east"),
    Case("generated-china-10x8x1x1-s1", generate={"seed": 1, "collection_points": 10, "candidates": 8,
                                                  "periods": 1, "chemistries": 1}),
    Case("generated-china-20x10x2x2-s2", generate={"seed": 2, "collection_points": 20, "candidates": 10,
                                                   "periods": 2, "chemistries": 2}),
    Case("generated-europe-15x8x3x1-s3", generate={"seed": 3, "collection_points": 15, "candidates": 8,
                                                   "periods": 3, "chemistries": 1, "region": "europe"}),
    Case("generated-us-30x12x2x3-s4", generate={"seed": 4, "collection_points": 30, "candidates": 12,
                                                "periods": 2, "chemistries": 3, "region": "us"}),
)


def case_instance(case: Case, workdir: Path) -> no.Instance:
    """Load the case's instance (writing a generated one into ``workdir`` first), scenario applied."""
    if case.instance is not None:
        inst = no.load(ROOT / case.instance)
        if case.scenario:
            from network_opt.inputs.scenarios import apply_scenario

            inst = apply_scenario(inst, case.scenario)
        return inst
    from network_opt.datasets.generate import GeneratorSpec, generate

    folder = workdir / case.id.replace(":", "_")
    if not folder.exists():
        generate(folder, GeneratorSpec(**case.generate))
    return no.load(folder)


def open_facilities(sol: Any) -> list[str]:
    """``facility|period|level|capacity_t[|modules]`` of every facility open in each period, sorted."""
    if "facilities" not in sol.tables:
        return []
    f = sol["facilities"]
    rows = f.loc[f["open"].astype(bool)]
    out = []
    for r in rows.itertuples():
        text = f"{r.facility}|{r.period}|{r.level}|{float(r.capacity_t):g}"
        if int(r.modules):
            text += f"|modules={int(r.modules)}"
        out.append(text)
    return sorted(out)


def figures(sol: Any) -> dict[str, Any]:
    """What the table records of a solve."""
    return {"status": sol.status, "objective": sol.objective, "bound": sol.summary.get("bound"),
            "open_facilities": open_facilities(sol)}


def solve_case(case: Case, workdir: Path, threads: int | None = None) -> Any:
    return no.solve(case_instance(case, workdir), no.SolveOptions(mip_gap=MIP_GAP, threads=threads))


def close(a: float | None, b: float | None) -> bool:
    """Equal within :data:`REL_TOL` (relative, with the same absolute floor); None only with None."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=REL_TOL)
