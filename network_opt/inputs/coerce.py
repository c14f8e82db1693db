"""One set of rules for turning a given value into the typed value of a column or a setting.

:func:`coerce_value` reads one value (from YAML, the command line or a spreadsheet cell) as a
``str``, ``float``, ``int``, ``bool`` or ``list``, checking range and choices. It is used for the
settings of ``instance.yaml`` (:mod:`network_opt.inputs.settings`), for override values
(:mod:`network_opt.inputs.overrides`); the vectorised reading of CSV cells
(:mod:`network_opt.inputs.read`) applies the same rules and words its problems with the message
functions below, so that a bad value reads the same wherever it was written.
"""

from __future__ import annotations

import math
from typing import Any

#: texts read as true / false (lower case)
TRUE_TEXTS = frozenset({"true", "yes", "1"})
FALSE_TEXTS = frozenset({"false", "no", "0"})


class CoercionError(ValueError):
    """A value that cannot be read as its type; ``str(exc)`` is the message (no location)."""


def number_message(value: Any, unit: str = "") -> str:
    return f"expected a number{f' ({unit})' if unit else ''}, got {value!r}"


def bool_message(value: Any) -> str:
    return f"expected true or false, got {value!r}"


def text_message(value: Any) -> str:
    return f"expected a text value, got {value!r}"


def whole_message(value: float) -> str:
    return f"expected a whole number, got {value:g}"


def choice_message(value: Any, choices: tuple[str, ...]) -> str:
    return f"unknown value {value!r}; expected one of {', '.join(choices)}"


#: no input number is larger than this (t/yr, kWh, currency): HiGHS reads 1e20 as infinite, and a
#: value this size is a typing error, not data
MAX_MAGNITUDE = 1e15


def magnitude_message(value: float) -> str:
    return (f"{value:g} is beyond {MAX_MAGNITUDE:g} in size: no quantity, price or cost of an instance is that "
            "large (the solver would read it as infinite)")


def range_message(minimum: float | None, maximum: float | None, value: float) -> str | None:
    """The problem with ``value`` outside [minimum, maximum] or beyond :data:`MAX_MAGNITUDE`, or
    None when it is inside."""
    if abs(value) > MAX_MAGNITUDE:
        return magnitude_message(value)
    if minimum is not None and value < minimum:
        return f"must be >= {minimum:g}, got {value:g}"
    if maximum is not None and value > maximum:
        return f"must be <= {maximum:g}, got {value:g}"
    return None


def coerce_value(value: Any, type_: str, *, minimum: float | None = None, maximum: float | None = None,
                 choices: tuple[str, ...] | None = None, unit: str = "") -> Any:
    """``value`` as a ``type_`` value (``str``, ``float``, ``int``, ``int|auto``, ``bool`` or ``list``).

    Numbers may be given as numbers or as text (``"1e3"``), must be finite and within
    [``minimum``, ``maximum``]; an ``int`` must be whole. A ``bool`` is true/false (or the texts
    yes/no/1/0). A ``str`` must be one of ``choices`` when given. A ``list`` is a list or a
    ``;``-separated text. Empty values are the caller's to handle (defaults, required values).
    Raises :class:`CoercionError` with the message.
    """
    if type_ == "int|auto":  # a whole number, or the text "auto" (the tool decides)
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            return coerce_value(value, "int", minimum=minimum, maximum=maximum, unit=unit)
        except CoercionError as exc:
            raise CoercionError(f"{exc} (or auto)") from None
    if type_ in ("float", "int"):
        if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
            raise CoercionError(number_message(value, unit))
        if not isinstance(value, (int, float)):
            try:
                number = float(str(value).strip())
            except ValueError:
                raise CoercionError(number_message(value, unit)) from None
        else:
            number = float(value)
        if not math.isfinite(number):
            raise CoercionError(f"expected a finite number, got {value!r}")
        if type_ == "int" and number != round(number):
            raise CoercionError(whole_message(number))
        bad = range_message(minimum, maximum, number)
        if bad:
            raise CoercionError(bad)
        return round(number) if type_ == "int" else number
    if type_ == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, str) else None
        if text in TRUE_TEXTS or text in FALSE_TEXTS:
            return text in TRUE_TEXTS
        raise CoercionError(bool_message(value))
    if type_ == "list":
        items = value if isinstance(value, list) else str(value).split(";")
        return [str(v).strip() for v in items if str(v).strip()]
    if value is None or isinstance(value, (dict, list)):
        raise CoercionError(text_message(value))
    text = str(value)
    if choices and text not in choices:
        raise CoercionError(choice_message(text, choices))
    return text
