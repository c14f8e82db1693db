"""The ``stochastic:`` block of instance.yaml: which scenarios a two-stage stochastic design
(``network-opt solve --stochastic``) uses, and its risk settings.

.. code-block:: yaml

    stochastic:
      scenarios:                 # declared scenarios (or base) and their probabilities, summing to 1
        base: 0.5
        volumes-up: 0.3
        cheap-lithium: 0.2
      expected_value: base       # the scenario of mean values (the expected-value plan); default base
      sample: [volumes, lithium_price]   # entries of uncertainty: drawn by --scenarios N (default: all)
      cvar_alpha: 0.9            # CVaR level (default 0.9)
      cvar_weight: 0.0           # weight of the CVaR in the objective (default 0: expected cost)
      recourse:                  # optional: how a plan that leaves a scenario infeasible is still priced
        uncollected_cost_per_t: 20000   # currency/t: packs the plan cannot take stay uncollected at this price
        disposal_cost_per_t: 30000      # currency/t (optional): or are disposed of (e.g. exported) at this cost
        source: "modelling assumption: ..."   # required: where the price comes from

Every problem raises :class:`~network_opt.common.errors.InputError` naming instance.yaml, the line
and the key (``stochastic.scenarios.volumes-up``) and what was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from network_opt.common.errors import InputError, Problem, problems_of
from network_opt.inputs.instance import Instance
from network_opt.inputs.scenarios import BASE

KEYS = ("scenarios", "expected_value", "sample", "cvar_alpha", "cvar_weight", "recourse")
RECOURSE_KEYS = ("uncollected_cost_per_t", "disposal_cost_per_t", "source")
#: probabilities must sum to 1 within this
PROBABILITY_TOL = 1e-6


@dataclass(frozen=True)
class Recourse:
    """The ``stochastic.recourse`` block: an emergency second stage that prices a plan in a scenario
    where it is infeasible (the finite variant of EEV, docs/stochastic.md). ``uncollected_cost_per_t``
    and ``disposal_cost_per_t`` (currency/t; None: that escape is not part of the recourse): packs the
    plan cannot take may stay uncollected or be disposed of at these prices (settings
    ``uncollected.*`` / ``disposal.*`` of that evaluation); ``source``: where the prices come from
    (a citation, or the words "modelling assumption" and why)."""

    uncollected_cost_per_t: float | None
    disposal_cost_per_t: float | None
    source: str

    def settings(self) -> dict[str, Any]:
        """The settings (dotted key -> value) of an evaluation with this recourse."""
        out: dict[str, Any] = {}
        if self.uncollected_cost_per_t is not None:
            out.update({"uncollected.allowed": True, "uncollected.cost_per_t": self.uncollected_cost_per_t})
        if self.disposal_cost_per_t is not None:
            out.update({"disposal.allowed": True, "disposal.cost_per_t": self.disposal_cost_per_t})
        return out

    def describe(self) -> str:
        """One line: what the recourse prices and on what it rests."""
        parts = [f"uncollected at {self.uncollected_cost_per_t:g}/t" if self.uncollected_cost_per_t is not None else "",
                 f"disposed of at {self.disposal_cost_per_t:g}/t" if self.disposal_cost_per_t is not None else ""]
        return f"packs the plan cannot take {' or '.join(p for p in parts if p)} ({self.source})"


@dataclass(frozen=True)
class StochasticSpec:
    """The ``stochastic:`` block, checked: declared scenarios with their probabilities (in the
    order written; empty when none are declared), the expected-value scenario, the names of the
    ``uncertainty:`` entries to draw (empty: all), the CVaR level and weight."""

    probabilities: dict[str, float] = field(default_factory=dict)
    expected_value: str = BASE
    sample: tuple[str, ...] = ()
    cvar_alpha: float = 0.9
    cvar_weight: float = 0.0
    recourse: Recourse | None = None


def read_stochastic(inst: Instance) -> StochasticSpec:
    """The checked ``stochastic:`` block of ``inst`` (defaults when absent). Raises
    :class:`InputError` listing every problem: unknown keys, probabilities that are not numbers,
    negative, or do not sum to 1, unknown scenarios, unknown ``uncertainty:`` entries, a CVaR level
    outside [0, 1), a negative weight, a ``recourse`` without a price, with a negative price or
    without its ``source``."""
    raw = inst.settings.stochastic
    lines, fname = inst.manifest.lines, inst.manifest.path.name
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        where = f"stochastic.{key}" if key else "stochastic"
        problems.append(Problem(fname, lines.get(where, lines.get("stochastic", 0)), where, message))

    for key in raw:
        if key not in KEYS:
            bad(str(key), f"unknown key; expected {', '.join(KEYS)}")
    declared = set(inst.settings.scenarios) | {BASE}
    probabilities: dict[str, float] = {}
    scen = raw.get("scenarios")
    if scen is not None and not isinstance(scen, dict):
        bad("scenarios", "expected a mapping of scenario name to probability, e.g. {base: 0.5, volumes-up: 0.5}")
    elif scen:
        for name, value in scen.items():
            key = f"scenarios.{name}"
            if str(name) not in declared:
                bad(key, f"unknown scenario {name!r}; declared: {', '.join(sorted(declared))}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
                bad(key, f"expected a probability (a number from 0 to 1), got {value!r}")
                continue
            if value < 0 or value > 1:
                bad(key, f"a probability is from 0 to 1, got {value!r}")
                continue
            probabilities[str(name)] = float(value)
        if len(probabilities) == len(scen) and abs(sum(probabilities.values()) - 1.0) > PROBABILITY_TOL:
            bad("scenarios", f"the probabilities sum to {sum(probabilities.values()):.6g}; expected 1")
    ev = raw.get("expected_value", BASE)
    if not isinstance(ev, str) or ev not in declared:
        bad("expected_value", f"expected the name of a declared scenario or base, got {ev!r}")
        ev = BASE
    sample = raw.get("sample", [])
    names: list[str] = []
    if isinstance(sample, str):
        sample = [sample]
    if not isinstance(sample, list):
        bad("sample", "expected a list of names of entries of the uncertainty: block")
    else:
        known = [str(k) for k in inst.settings.uncertainty]
        for i, name in enumerate(sample):
            if str(name) not in known:
                problems.append(Problem(fname, lines.get(f"stochastic.sample[{i}]", lines.get("stochastic.sample", 0)),
                                        f"stochastic.sample[{i}]", f"unknown uncertainty entry {name!r}; declared "
                                        f"under uncertainty: {', '.join(known) or 'none'}"))
            else:
                names.append(str(name))
    alpha = _number(raw, "cvar_alpha", 0.9, bad)
    if alpha is not None and not 0.0 <= alpha < 1.0:
        bad("cvar_alpha", f"the CVaR level is from 0 (included) to 1 (excluded), got {alpha:g}")
    weight = _number(raw, "cvar_weight", 0.0, bad)
    if weight is not None and weight < 0:
        bad("cvar_weight", f"the CVaR weight is a number >= 0, got {weight:g}")
    recourse = _recourse(raw.get("recourse"), bad)
    if problems:
        raise InputError(problems)
    return StochasticSpec(probabilities, ev, tuple(names), float(alpha if alpha is not None else 0.9),
                          float(weight if weight is not None else 0.0), recourse)


def _recourse(raw: Any, bad: Any) -> Recourse | None:
    """The checked ``stochastic.recourse`` block (None when absent); problems go to ``bad``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        bad("recourse", "expected a mapping: uncollected_cost_per_t and/or disposal_cost_per_t (currency/t) and "
            "source (where the price comes from)")
        return None
    ok = True
    for key in raw:
        if key not in RECOURSE_KEYS:
            bad(f"recourse.{key}", f"unknown key; expected {', '.join(RECOURSE_KEYS)}")
            ok = False
    prices: dict[str, float | None] = {}
    for key in ("uncollected_cost_per_t", "disposal_cost_per_t"):
        value = raw.get(key)
        if value is None:
            prices[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
            bad(f"recourse.{key}", f"expected a price in currency per tonne (a number >= 0), got {value!r}")
            ok = False
        elif value < 0:
            bad(f"recourse.{key}", f"a price per tonne is >= 0, got {value:g}")
            ok = False
        else:
            prices[key] = float(value)
    if ok and all(v is None for v in prices.values()):
        bad("recourse", "expected uncollected_cost_per_t and/or disposal_cost_per_t (currency/t): the price of "
            "the packs a plan cannot take")
        ok = False
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        bad("recourse.source" if "source" in raw else "recourse", "expected source: where the recourse price "
            "comes from (a citation, or \"modelling assumption: ...\" and why)")
        ok = False
    if not ok:
        return None
    return Recourse(prices["uncollected_cost_per_t"], prices["disposal_cost_per_t"], str(source).strip())


def stochastic_problems(inst: Instance) -> list[Problem]:
    """The problems :func:`read_stochastic` finds (empty when the block is valid or absent), for
    ``network-opt validate``."""
    return problems_of(lambda: read_stochastic(inst))


def _number(raw: Any, key: str, default: float, bad: Any) -> float | None:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        bad(key, f"expected a number, got {value!r}")
        return None
    return float(value)
