"""``summary.json``: what a solve reports besides its tables, as one typed record.

:class:`Summary` has one field per key of ``summary.json``; :meth:`Summary.as_dict` gives the file's
content, keys in the file's order. Keys added after the solve (``scenario`` by the CLI and by runs of
a comparison or sweep, with ``input_hash``, ``inputs`` and ``kpis``; ``rescue`` by
:func:`network_opt.results.write.rescue_results`) are kept in :attr:`Summary.extras`, after the
others. A summary can also be read and written like the dict it replaces (``summary["status"]``,
``summary.get("aggregation")``, ``summary["scenario"] = ...``, ``{**summary}``), so that code and
notebooks written for the dict keep working.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from network_opt.solver.status import SolveStatus

_OPTIONAL = ("aggregation", "heuristic")  # left out of summary.json when None


@dataclass(eq=False)
class Summary(MutableMapping[str, Any]):
    """The record written to ``summary.json`` (see docs/getting-started.md for each key)."""

    instance: str = ""
    status: SolveStatus = SolveStatus.NO_SOLUTION
    termination: str = ""
    objective: float | None = None
    bound: float | None = None
    mip_gap: float | None = None
    currency: str = ""
    #: what the objective measures, in words (network_opt.model.objective.OBJECTIVE_LABEL)
    objective_label: str = ""
    #: each cost term of the objective summed over the periods (currency, discounted as in the objective;
    #: revenues negative): they add up to ``objective``; empty without a plan
    cost_terms: dict[str, float] = field(default_factory=dict)
    periods: list[int] = field(default_factory=list)
    soft_targets: bool = False
    #: seconds: load_s, build_s, handoff_s, solve_s, extract_s (and write_s in the file)
    timings: dict[str, float] = field(default_factory=dict)
    #: in_place, warm_start (re-solve without rebuild)
    resolve: dict[str, bool] = field(default_factory=dict)
    #: variables, binaries, integers, constraints, nonzeros of the built model; with
    #: model.candidate_reductions also ``candidate_reductions`` (twins, dominated, fixed_closed pairs)
    model: dict[str, Any] = field(default_factory=dict)
    #: the size and memory projected before building (network_opt.model.size)
    projected: dict[str, Any] = field(default_factory=dict)
    pruning: dict[str, Any] = field(default_factory=dict)
    #: lanes per commodity
    lanes: dict[str, int] = field(default_factory=dict)
    #: name, version, the MIP start HiGHS was given (``start``: None for none; solver.starts) and the
    #: seconds of the time limit its MIP left for the shadow-price LP (``held_back_s``); with
    #: ``--concurrent-mip`` the companion searches' record (``companions``, solver.companion)
    solver: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: coefficient ranges HiGHS received (network_opt.solver.highs.numerics, without its warnings)
    numerics: dict[str, Any] = field(default_factory=dict)
    # the audit record (network_opt.results.audit.audit_record)
    tool: dict[str, Any] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    instance_path: str = ""
    input_files: Any = field(default_factory=list)
    #: a solve of aggregated collection points (network_opt.model.aggregate.aggregation_summary)
    aggregation: dict[str, Any] | None = None
    #: a solve with --heuristic (network_opt.runs.heuristic): screen, facilities kept, LP bound
    heuristic: dict[str, Any] | None = None
    #: keys added after the solve (scenario, input_hash, inputs, kpis, rescue, ...), in that order
    extras: dict[str, Any] = field(default_factory=dict)
    #: fields a dict read by :meth:`from_dict` did not have (left out of :meth:`as_dict` again)
    _absent: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.status, str) and self.status in SolveStatus._value2member_map_:
            self.status = SolveStatus(self.status)

    @classmethod
    def keys_in_file(cls) -> tuple[str, ...]:
        """The fixed keys of ``summary.json``, in order (``aggregation`` only when aggregated)."""
        return _FILE_KEYS

    @classmethod
    def from_dict(cls, summary: Mapping[str, Any]) -> Summary:
        """A summary from a dict, e.g. a ``summary.json`` read back (unknown keys go to ``extras``)."""
        if isinstance(summary, Summary):
            return summary
        known = cls.keys_in_file()
        fixed = {k: v for k, v in summary.items() if k in known}
        extras = {k: v for k, v in summary.items() if k not in known}
        absent = frozenset(k for k in known if k not in summary)
        return cls(**fixed, extras=extras, _absent=absent)

    def as_dict(self) -> dict[str, Any]:
        """The content of ``summary.json`` (before the writer adds ``timings.write_s``)."""
        out = {k: getattr(self, k) for k in self.keys_in_file()
               if k not in self._absent and not (k in _OPTIONAL and getattr(self, k) is None)}
        return {**out, **self.extras}

    # --- the dict interface of the summary this class replaces --------------------------------

    def _is_field(self, key: str) -> bool:
        return key in _FIELD_SET

    def __getitem__(self, key: str) -> Any:
        if self._is_field(key):
            if key in self._absent or (key in _OPTIONAL and getattr(self, key) is None):
                raise KeyError(key)
            return getattr(self, key)
        return self.extras[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if self._is_field(key):
            setattr(self, key, value)
            self.__post_init__()
            self._absent = self._absent - {key}
        else:
            self.extras[key] = value

    def __delitem__(self, key: str) -> None:
        if self._is_field(key):
            if key not in self:
                raise KeyError(key)
            self._absent = self._absent | {key}
        else:
            del self.extras[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.as_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


_FILE_KEYS = tuple(f.name for f in dataclasses.fields(Summary) if f.name not in ("extras", "_absent"))
_FIELD_SET = frozenset(_FILE_KEYS)

__all__ = ["Summary"]
