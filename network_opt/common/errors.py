"""Problems found in the input, and the exceptions that carry them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about the input: ``FILE:ROW:COLUMN: message``.

    ``row`` is the 1-based line of the file as a text editor or spreadsheet shows it (the CSV
    header is line 1, so the first data row is 2); 0 when the problem concerns the whole file.
    """

    file: str
    row: int
    column: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.row}:{self.column}: {self.message}"


class InputError(Exception):
    """The instance is invalid; ``problems`` lists every error found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(p for p in problems if p.severity == "error")
        self.warnings = [p for p in problems if p.severity == "warning"]
        super().__init__("\n".join(str(p) for p in self.problems))


class PrecheckError(InputError):
    """The input is well formed but the feasibility pre-check (supply reaching a recycler, openable
    capacity) proves it infeasible before anything is built: compare and sweep report such a
    run as ``infeasible`` in its row."""


class OutputExistsError(Exception):
    """The output folder is not empty and overwriting was not asked for."""


class OutputRefused(OutputExistsError):
    """Writing the output there could lose something the user has (the instance, the working
    directory, a file, a folder the tool did not write), it cannot be written at all (read-only,
    no room), or another run is writing it; the message says which. Nothing was written."""


def problems_of(check: Callable[[], object]) -> list[Problem]:
    """The problems of the :class:`InputError` ``check()`` raises (empty when it raises none): a
    reader that raises, turned into a list for ``network-opt validate``."""
    try:
        check()
    except InputError as exc:
        return list(exc.problems)
    return []
