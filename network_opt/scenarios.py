"""Named scenarios declared under ``scenarios:`` in instance.yaml: parsing, inheritance and
applying them to a loaded instance.

.. code-block:: yaml

    scenarios:
      li-80:
        description: Lithium recovery target raised to 80 %
        overrides:
          - set: targets[CN,material_recovery,Li,2025].value
            value: 0.8
      li-80-cheap-li:
        extends: li-80                  # the parent's overrides first, then these
        overrides:
          - scale: material_prices[Li].price_per_t
            by: 0.5

``base`` is the instance as written (no overrides); it cannot be declared. The override
language is described in :mod:`network_opt.overrides` and ``docs/scenarios.md``. Every problem
(unknown scenario, a cycle in ``extends``, a malformed override, an override that names nothing)
raises :class:`~network_opt.errors.InputError` naming the line of instance.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from network_opt.errors import InputError, Problem
from network_opt.instance import Instance
from network_opt.overrides import OPERATIONS, Origin, Override, apply_overrides

BASE = "base"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: keys an override item may hold besides its operation
PARAMETERS = {"set": ("value",), "scale": ("by",), "remove": (), "open": (), "close": (), "add": ("rows",),
              "policies": ()}
SCENARIO_KEYS = ("description", "extends", "overrides")


@dataclass(frozen=True)
class Scenario:
    """A declared scenario: its own overrides (not its parent's) and where it was written."""

    name: str
    description: str
    extends: str | None
    overrides: tuple[Override, ...]
    line: int


def _lines(inst: Instance) -> dict[str, int]:
    return inst.manifest.settings.get("_lines", {})


def _fname(inst: Instance) -> str:
    return inst.manifest.path.name


def read_scenarios(inst: Instance) -> dict[str, Scenario]:
    """Every scenario of ``inst``'s ``scenarios:`` block, checked for form (not yet applied).
    Raises :class:`InputError` listing every problem found."""
    raw = inst.manifest.settings.get("scenarios") or {}
    lines, fname = _lines(inst), _fname(inst)
    problems: list[Problem] = []
    out: dict[str, Scenario] = {}
    for name, body in raw.items():
        name = str(name)
        where = f"scenarios.{name}"
        line = lines.get(where, 0)
        if name == BASE:
            problems.append(Problem(fname, line, where, "'base' is the instance as written; choose another name"))
            continue
        if not NAME.match(name):
            problems.append(Problem(fname, line, where, "a scenario name is 1-64 letters, digits, '-' or '_' "
                                    "(it names a results folder)"))
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            problems.append(Problem(fname, line, where, "expected a mapping with description, extends, overrides"))
            continue
        for key in body:
            if key not in SCENARIO_KEYS:
                problems.append(Problem(fname, lines.get(f"{where}.{key}", line), f"{where}.{key}",
                                        f"unknown key; expected {', '.join(SCENARIO_KEYS)}"))
        extends = body.get("extends")
        if extends is not None and not isinstance(extends, str):
            problems.append(Problem(fname, lines.get(f"{where}.extends", line), f"{where}.extends",
                                    "expected the name of another scenario"))
            extends = None
        items = body.get("overrides") or []
        if not isinstance(items, list):
            problems.append(Problem(fname, lines.get(f"{where}.overrides", line), f"{where}.overrides",
                                    "expected a list of overrides (- set: KEY / value: V, - scale: KEY / by: F, ...)"))
            items = []
        overrides = []
        for i, item in enumerate(items):
            o = _parse_item(item, f"{where}.overrides[{i}]", lines, fname, problems)
            if o is not None:
                overrides.append(o)
        if not overrides and extends is None:
            problems.append(Problem(fname, line, where, "a scenario needs overrides or extends (else it is the base)"))
        out[name] = Scenario(name, str(body.get("description") or ""), extends, tuple(overrides), line)
    for s in out.values():
        if s.extends is not None and s.extends != BASE and s.extends not in out and s.extends not in raw:
            problems.append(Problem(fname, _lines(inst).get(f"scenarios.{s.name}.extends", s.line),
                                    f"scenarios.{s.name}.extends", f"unknown scenario {s.extends!r}; "
                                    f"declared: {', '.join(sorted(out)) or 'none'}"))
    problems += _cycles(out, lines, fname)
    if problems:
        raise InputError(problems)
    return out


def _parse_item(item: Any, where: str, lines: dict[str, int], fname: str, problems: list[Problem]) -> Override | None:
    line = lines.get(where, 0)
    if not isinstance(item, dict):
        problems.append(Problem(fname, line, where, "expected a mapping such as {set: KEY, value: V}"))
        return None
    ops = [k for k in item if k in OPERATIONS]
    if len(ops) != 1:
        problems.append(Problem(fname, line, where, f"expected exactly one operation of {', '.join(OPERATIONS)}; "
                                f"got {', '.join(map(str, item)) or 'none'}"))
        return None
    op = ops[0]
    params = PARAMETERS[op]
    for key in item:
        if key != op and key not in params:
            problems.append(Problem(fname, lines.get(f"{where}.{key}", line), f"{where}.{key}",
                                    f"unknown key for {op}; expected {', '.join([op, *params])}"))
            return None
    for key in params:
        if key not in item:
            problems.append(Problem(fname, line, where, f"{op} needs {key}:"))
            return None
    value = item.get(params[0]) if params else None
    return Override(op, item[op], value, Origin(fname, line, where))


def _cycles(scenarios: dict[str, Scenario], lines: dict[str, int], fname: str) -> list[Problem]:
    problems, reported = [], set()
    for start in scenarios:
        chain, name = [start], scenarios[start].extends
        while name is not None and name in scenarios:
            if name in chain:
                loop = [*chain[chain.index(name):], name]
                if frozenset(loop) not in reported:
                    reported.add(frozenset(loop))
                    where = f"scenarios.{name}.extends"
                    problems.append(Problem(fname, lines.get(where, 0), where,
                                            f"scenarios extend each other in a cycle: {' -> '.join(loop)}"))
                break
            chain.append(name)
            name = scenarios[name].extends
    return problems


def scenario_names(inst: Instance) -> list[str]:
    """``base`` followed by every declared scenario, in the order written."""
    return [BASE, *read_scenarios(inst)]


def resolve(inst: Instance, name: str, scenarios: dict[str, Scenario] | None = None) -> list[Override]:
    """Every override of scenario ``name``: its ancestors' first (root first), then its own."""
    scenarios = read_scenarios(inst) if scenarios is None else scenarios
    if name == BASE:
        return []
    if name not in scenarios:
        raise InputError([Problem(_fname(inst), 0, "scenarios", f"unknown scenario {name!r}; expected one of "
                                  f"{', '.join([BASE, *scenarios])}")])
    chain: list[Scenario] = []
    current: str | None = name
    while current is not None and current != BASE:
        chain.append(scenarios[current])  # cycles were refused by read_scenarios
        current = scenarios[current].extends
    return [o for s in reversed(chain) for o in s.overrides]


def apply_scenario(inst: Instance, name: str) -> Instance:
    """A copy of ``inst`` with scenario ``name`` applied and checked again (``base``: a plain
    copy). Raises :class:`InputError` on an unknown name or an override that names nothing."""
    return apply_overrides(inst, resolve(inst, name), label=f"scenario {name}")


def check_scenarios(inst: Instance, names: list[str] | None = None) -> None:
    """Apply each named scenario (default: all) without solving; raise :class:`InputError`
    listing the problems of every scenario that fails."""
    scenarios = read_scenarios(inst)
    problems: list[Problem] = []
    for name in names if names is not None else [BASE, *scenarios]:
        try:
            apply_overrides(inst, resolve(inst, name, scenarios), label=f"scenario {name}")
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)


__all__ = ["BASE", "Scenario", "apply_scenario", "check_scenarios", "read_scenarios", "resolve", "scenario_names"]
