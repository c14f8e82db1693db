"""The ``uncertainty:`` block of ``instance.yaml``: parameters drawn at random for ``sweep
--samples`` and ``solve --stochastic``, each an override key (``scale:`` a factor, or ``set:`` a
value) with a distribution (normal: mean, sd; uniform: low, high; triangular: low, mode, high) and
optional bounds ``min``/``max`` the draws are clipped to. Read and checked here, where ``network-opt
validate`` finds its problems too; drawn in :mod:`network_opt.runs.sweep`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from network_opt.common.errors import InputError, Problem, problems_of
from network_opt.inputs.instance import Instance
from network_opt.inputs.overrides import Origin, parse_key
from network_opt.inputs.scenarios import NAME

DISTRIBUTIONS = {"normal": ("mean", "sd"), "uniform": ("low", "high"), "triangular": ("low", "mode", "high")}


@dataclass(frozen=True)
class Uncertain:
    """A parameter drawn at random: name, operation (set or scale), key, distribution and its
    parameters, optional bounds (draws are clipped to them), and where it was declared."""

    name: str
    op: str
    key: str
    distribution: str
    params: tuple[float, ...]
    low: float | None
    high: float | None
    line: int


def read_uncertainty(inst: Instance) -> list[Uncertain]:
    """The ``uncertainty:`` block of instance.yaml; raise :class:`InputError` listing every
    problem."""
    raw = inst.settings.uncertainty
    lines = inst.manifest.lines
    fname = inst.manifest.path.name
    problems: list[Problem] = []
    out = []
    for name, body in raw.items():
        try:
            out.append(_uncertain(str(name), body, lines, fname))
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    return out


def _uncertain(name: str, body: Any, lines: dict[str, int], fname: str) -> Uncertain:
    """One entry of ``uncertainty:``; raises :class:`InputError` naming its line."""
    where = f"uncertainty.{name}"
    line = lines.get(where, 0)

    def bad(message: str, key: str = "") -> InputError:
        return InputError([Problem(fname, lines.get(f"{where}.{key}", line) if key else line, where, message)])

    if not NAME.match(name):
        raise bad("a name is 1-64 letters, digits, '-' or '_'")
    if not isinstance(body, dict):
        raise bad("expected a mapping: scale: KEY (or set: KEY), distribution: ..., and its parameters")
    ops = [k for k in ("scale", "set") if k in body]
    dist = body.get("distribution")
    if len(ops) != 1:
        raise bad("expected exactly one of scale: KEY or set: KEY")
    if dist not in DISTRIBUTIONS:
        raise bad(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {dist!r}", "distribution")
    allowed = {ops[0], "distribution", "min", "max", *DISTRIBUTIONS[dist]}
    extra = [k for k in body if k not in allowed]
    if extra:
        raise bad(f"unknown key {extra[0]!r}; a {dist} distribution takes {', '.join(DISTRIBUTIONS[dist])} "
                  "(and optional min, max)", str(extra[0]))
    params: list[float | None] = []
    for p in (*DISTRIBUTIONS[dist], "min", "max"):
        v = body.get(p)
        if v is None and p in ("min", "max"):
            params.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise bad(f"{p} must be a number, got {v!r}", p)
        params.append(float(v))
    *shape_, lo, hi = params
    shape = [float(v) for v in shape_ if v is not None]
    if (dist == "normal" and shape[1] <= 0) or (dist != "normal" and not shape[0] <= shape[-1]) \
            or (dist == "triangular" and not shape[0] <= shape[1] <= shape[2]):
        raise bad(f"inconsistent {dist} parameters {dict(zip(DISTRIBUTIONS[dist], shape, strict=True))}")
    if lo is not None and hi is not None and lo > hi:
        raise bad(f"min ({lo:g}) is above max ({hi:g})")
    if ops[0] == "scale" and lo is None:
        lo = 0.0  # a factor is never negative
    parse_key(str(body[ops[0]]), Origin(fname, lines.get(f"{where}.{ops[0]}", line), where))
    return Uncertain(name, ops[0], str(body[ops[0]]), dist, tuple(shape), lo, hi, line)


def uncertainty_problems(inst: Instance) -> list[Problem]:
    """The problems :func:`read_uncertainty` finds (empty when the block is valid or absent), for
    ``network-opt validate``."""
    return problems_of(lambda: read_uncertainty(inst))
