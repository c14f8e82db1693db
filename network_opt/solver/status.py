"""The statuses a solve or a run can end with, and why HiGHS stopped.

Both are :class:`enum.StrEnum`: a member *is* its string (``SolveStatus.OPTIMAL == "optimal"``), so
``summary.json``, ``runs.csv`` and the sweep tables hold the same words as before, and a status read
back from a file compares equal to the member.
"""

from __future__ import annotations

from enum import StrEnum


class SolveStatus(StrEnum):
    """How a solve (or a run of a comparison or sweep) ended."""

    OPTIMAL = "optimal"  # proven within the gap
    FEASIBLE = "feasible"  # a plan, limits reached (or interrupted)
    INFEASIBLE = "infeasible"  # proven infeasible (by HiGHS or the feasibility pre-check)
    UNBOUNDED = "unbounded"
    NO_SOLUTION = "no_solution"  # limits reached before any plan was found
    INVALID = "invalid"  # a run whose overrides miss or leave invalid input (no solve)
    ERROR = "error"  # a run that failed otherwise (no solve)

    @property
    def has_plan(self) -> bool:
        """A plan was found (tables and key figures exist)."""
        return self in PLAN_STATUSES


#: The statuses that come with a plan.
PLAN_STATUSES = frozenset({SolveStatus.OPTIMAL, SolveStatus.FEASIBLE})
#: The statuses of a finished run whose results may be reused (a resumed comparison skips it).
FINAL_STATUSES = (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.INFEASIBLE)


class Termination(StrEnum):
    """Why the solver stopped, under the names results files use (``summary["termination"]``)."""

    CONVERGED = "convergenceCriteriaSatisfied"
    INFEASIBLE = "provenInfeasible"
    INFEASIBLE_OR_UNBOUNDED = "infeasibleOrUnbounded"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "maxTimeLimit"
    ITERATION_LIMIT = "iterationLimit"
    SOLUTION_LIMIT = "solutionLimit"
    OBJECTIVE_LIMIT = "objectiveLimit"
    INTERRUPTED = "interrupted"
    MEMORY_LIMIT = "memoryLimit"


def has_plan(status: object) -> bool:
    """Whether ``status`` (a member or its string, e.g. read from a file) comes with a plan."""
    return status in PLAN_STATUSES


__all__ = ["FINAL_STATUSES", "PLAN_STATUSES", "SolveStatus", "Termination", "has_plan"]
