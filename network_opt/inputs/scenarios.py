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
language is described in :mod:`network_opt.inputs.overrides` and ``docs/scenarios.md``. Every problem
(unknown scenario, a cycle in ``extends``, a malformed override, an override that names nothing)
raises :class:`~network_opt.common.errors.InputError` naming the line of instance.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from network_opt.common.errors import InputError, Problem
from network_opt.inputs.instance import Instance
from network_opt.inputs.overrides import OPERATIONS, Origin, Override, apply_overrides

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
    return inst.manifest.lines


def _fname(inst: Instance) -> str:
    return inst.manifest.path.name


def read_scenarios(inst: Instance) -> dict[str, Scenario]:
    """Every scenario of ``inst``'s ``scenarios:`` block, checked for form (not yet applied).
    Raises :class:`InputError` listing every problem found."""
    out, problems = _read_scenarios(inst)
    if problems:
        raise InputError(problems)
    return out


def _read_scenarios(inst: Instance) -> tuple[dict[str, Scenario], list[Problem]]:
    """The scenarios that could be read, and every problem of form found (unknown keys, bad
    names, malformed overrides, unknown ``extends`` targets, cycles)."""
    raw = inst.settings.scenarios
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
        if not items and extends is None:  # overrides given but refused are reported as such, not as none
            problems.append(Problem(fname, line, where, "a scenario needs overrides or extends (else it is the base)"))
        out[name] = Scenario(name, str(body.get("description") or ""), extends, tuple(overrides), line)
    for s in out.values():
        if s.extends is not None and s.extends != BASE and s.extends not in out and s.extends not in raw:
            problems.append(Problem(fname, _lines(inst).get(f"scenarios.{s.name}.extends", s.line),
                                    f"scenarios.{s.name}.extends", f"unknown scenario {s.extends!r}; "
                                    f"declared: {', '.join(sorted(out)) or 'none'}"))
    problems += _cycles(out, lines, fname)
    return out, problems


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
    """Every override of scenario ``name``: its ancestors' first (root first), then its own.
    Raises :class:`InputError` on an unknown name, or when the scenario or one it extends is
    malformed (problems of other scenarios do not stop this one)."""
    if name == BASE:
        return []
    if scenarios is None:
        scenarios, problems = _read_scenarios(inst)
        mine = [p for p in problems if _scenario_of(p.column) in _ancestors(scenarios, name)]
        if mine:
            raise InputError(mine)
    if name not in scenarios:
        declared = [str(n) for n in (inst.settings.scenarios)]
        raise InputError([Problem(_fname(inst), _lines(inst).get("scenarios", 0), "scenarios",
                                  f"unknown scenario {name!r}; expected one of {', '.join([BASE, *declared])}")])
    chain = _chain(scenarios, name)
    assert chain is not None, name  # unknown parents and cycles were refused above (or by read_scenarios)
    return [o for n in reversed(chain) for o in scenarios[n].overrides]


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


# --- checking scenarios without solving --------------------------------------------------------

VALID, INVALID, INFEASIBLE = "valid", "invalid", "infeasible"


@dataclass(frozen=True)
class ScenarioCheck:
    """What applying one scenario without solving found. ``status``: ``valid``; ``invalid`` (an
    override names nothing or is malformed, or the changed tables fail the table checks); or
    ``infeasible`` (well formed, but the feasibility pre-check that solve runs fails: supply that
    reaches no recycler, more supply unfit for second life than the capacity that could be
    opened). ``problems`` name instance.yaml, the line and ``scenarios.NAME...``; ``instance``
    is the changed copy unless the status is ``invalid``."""

    name: str
    status: str
    problems: tuple[Problem, ...] = ()
    instance: Instance | None = None

    @property
    def message(self) -> str:
        """The problems as one line (the ``error`` of a compare or sweep row)."""
        return "; ".join(str(p) for p in self.problems)


def _chain(scenarios: dict[str, Scenario], name: str) -> list[str] | None:
    """``name`` and its ancestors (child first), or None when the chain meets an unknown
    scenario or a cycle."""
    chain: list[str] = []
    current: str | None = name
    while current is not None and current != BASE:
        if current not in scenarios or current in chain:
            return None
        chain.append(current)
        current = scenarios[current].extends
    return chain


def _scenario_of(column: str) -> str:
    """The scenario a problem's column (``scenarios.NAME`` or ``scenarios.NAME.KEY...``) names."""
    return column.split(".")[1] if column.startswith("scenarios.") else ""


def check_scenario(inst: Instance, name: str, scenarios: dict[str, Scenario] | None = None) -> ScenarioCheck:
    """Apply scenario ``name`` (``base``: the instance itself) to ``inst`` without solving and
    check it: every override (each one, not only the first that misses), then the table checks
    on the changed tables, then the feasibility pre-check. Raises :class:`InputError` only for an
    unknown name or when the scenario or one it extends is malformed (see :func:`resolve`)."""
    from network_opt.inputs.overrides import apply_overrides
    from network_opt.inputs.validate import check_instance, feasibility_precheck

    fname = _fname(inst)
    if name == BASE:
        where, line, current = "", 0, inst
    else:
        overrides = resolve(inst, name, scenarios)
        if scenarios is None:
            scenarios, _ = _read_scenarios(inst)
        where, line = f"scenarios.{name}", scenarios[name].line
        problems: list[Problem] = []
        current = apply_overrides(inst, [], check=False)  # a copy, also for a scenario without overrides
        policy = [o for o in overrides if o.op == "policies"]
        steps = ([policy] if policy else []) + [[o] for o in overrides if o.op != "policies"]
        for step in steps:  # one at a time, so that every override that misses is reported
            try:
                current = apply_overrides(current, step, check=False)
            except InputError as exc:
                problems += [p for p in exc.problems if p not in problems]
        if problems:
            return ScenarioCheck(name, INVALID, tuple(problems))
        found = current.relabel(check_instance(current, feasibility=False))
        errors = [p for p in found if p.severity == "error"]
        if errors:
            return ScenarioCheck(name, INVALID, tuple(
                Problem(fname, line, where, f"after the scenario's overrides, {p}") for p in errors))
        current.warnings = [*current.warnings, *(p for p in found if p.severity == "warning"
                                                  and p not in current.warnings)]
    infeasible = [p for p in current.relabel(feasibility_precheck(current)) if p.severity == "error"]
    if infeasible:
        prefix = "infeasible before solving (feasibility pre-check): "
        return ScenarioCheck(name, INFEASIBLE, tuple(
            Problem(p.file, p.row, p.column, prefix + p.message) if name == BASE
            else Problem(fname, line, where, f"{prefix}{p}") for p in infeasible), current)
    return ScenarioCheck(name, VALID, (), current)


def scenario_problems(inst: Instance, names: list[str] | None = None, *, apply: bool = True) -> list[Problem]:
    """Every problem of the declared scenarios (``names``: only those, with their ancestors'
    problems of form), found without solving: the form of the block (unknown keys, malformed
    overrides, unknown ``extends`` targets, cycles) and, with ``apply``, for each scenario that
    can be read, :func:`check_scenario` (overrides that match nothing, invalid values after the
    overrides, the feasibility pre-check). ``inst`` is the base, already checked."""
    scenarios, problems = _read_scenarios(inst)
    declared = [str(n) for n in (inst.settings.scenarios)]
    if names is None:
        wanted = [n for n in declared if n in scenarios]
    else:
        known = [BASE, *declared]
        problems = [p for p in problems if _scenario_of(p.column) in
                    {a for n in names for a in _ancestors(scenarios, n)}]
        for n in names:
            if n not in known:
                problems.append(Problem(_fname(inst), _lines(inst).get("scenarios", 0), "scenarios",
                                        f"unknown scenario {n!r}; expected one of {', '.join(known)}"))
        wanted = [n for n in dict.fromkeys(names) if n in scenarios]
    broken = {_scenario_of(p.column) for p in problems}
    for name in wanted if apply else []:
        chain = _chain(scenarios, name)
        if chain is None or broken.intersection(chain):
            continue  # its chain is already reported as broken
        problems += [p for p in check_scenario(inst, name, scenarios).problems if p not in problems]
    return problems


def _ancestors(scenarios: dict[str, Scenario], name: str) -> list[str]:
    """``name`` and the scenarios it extends, as far as they can be followed."""
    out = [name]
    while name in scenarios and scenarios[name].extends is not None:
        name = str(scenarios[name].extends)
        if name in out:
            break
        out.append(name)
    return out


__all__ = ["BASE", "INFEASIBLE", "INVALID", "VALID", "Scenario", "ScenarioCheck", "apply_scenario", "check_scenario",
           "check_scenarios", "read_scenarios", "resolve", "scenario_names",
           "scenario_problems"]
