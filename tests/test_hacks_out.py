"""Issue 14, "the hacks out": no model data stored as plain Python attributes on the Pyomo model
(the MIP starts read ModelData), file-descriptor juggling only where HiGHS writes to descriptor 1,
no synthetic KeyboardInterrupt, HiGHS's process-wide scheduler reset only when the thread count
changes, diagnostics through ``logging``, the HTML map template as package data, and one helper
module shared by the real-instance builders."""

from __future__ import annotations

import logging
import re
import tomllib
from importlib import resources
from pathlib import Path

import highspy
import pyomo.environ as pyo
import pytest
from pyomo.core.base.component import Component

from network_opt.inputs.load import load
from network_opt.model import build_model
from network_opt.model.data import prepare
from network_opt.solver import highs as highs_driver
from network_opt.solver.options import SolveOptions

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "network_opt"
TOY = ROOT / "instances" / "toy"


def _sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py"))}


# --- the model holds Pyomo components only ------------------------------------------------------


def test_the_model_holds_pyomo_components_only() -> None:
    m = build_model(prepare(load(TOY)))
    pyomo_internals = set(vars(pyo.ConcreteModel()))
    plain = {k: type(v).__name__ for k, v in vars(m).items()
             if k not in pyomo_internals and not isinstance(v, Component)}
    assert plain == {}
    for old in ("level_facility", "level_capacity", "LARGEST_LEVELS"):
        assert m.find_component(old) is None and old not in vars(m)


def test_no_hasattr_lookups_of_level_data() -> None:
    for name, text in _sources().items():
        assert not re.search(r"m\.(level_facility|level_capacity|LARGEST_LEVELS)\b", text), name


def test_the_starts_read_model_data() -> None:
    """The open-all start needs the model's data: with it HiGHS gets the start, without it none
    (a hand-made model has no level data); the optimum is the same."""
    d = prepare(load(TOY))
    options = SolveOptions(start="open_all", mip_gap=0)
    with_data = highs_driver.solve_model(build_model(d), options, data=d)
    without = highs_driver.solve_model(build_model(d), options)
    assert with_data.start == "open_all" and without.start is None
    assert with_data.objective == pytest.approx(-1_790_500.0)
    assert without.objective == pytest.approx(-1_790_500.0)


# --- HiGHS's global scheduler -------------------------------------------------------------------


def _tiny() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, 10))
    m.c = pyo.Constraint(expr=2 * m.x >= 3)
    m.obj = pyo.Objective(expr=m.x)
    return m


def test_the_scheduler_is_reset_only_when_the_thread_count_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = highspy.Highs.resetGlobalScheduler
    calls: list[bool] = []

    def counting(blocking: bool) -> None:
        calls.append(blocking)
        real(blocking)

    monkeypatch.setattr(highspy.Highs, "resetGlobalScheduler", staticmethod(counting))
    # not restored afterwards: the record must tell the real scheduler's state to later tests
    highs_driver._scheduler_threads = None
    for threads, resets in ((1, 1), (1, 1), (None, 1), (1, 1), (2, 2), (2, 2), (1, 3)):
        out = highs_driver.solve_model(_tiny(), SolveOptions(threads=threads))
        assert out.objective == pytest.approx(2.0)
        assert len(calls) == resets, (threads, calls)


# --- descriptors, interrupts, logging -----------------------------------------------------------


def test_descriptor_juggling_only_where_highs_prints_its_banner() -> None:
    users = {name for name, text in _sources().items() if re.search(r"os\.dup2?\(", text)}
    assert users == {"solver/handoff.py"}
    text = _sources()["solver/handoff.py"]
    assert "printf on descriptor 1" in text  # the reason, next to the code


def test_no_synthetic_keyboard_interrupt() -> None:
    for name, text in _sources().items():
        assert not re.search(r"KeyboardInterrupt\(|raise KeyboardInterrupt\b", text), name


def test_no_print_or_warnings_for_diagnostics() -> None:
    """Diagnostics go through logging.getLogger(__name__); user output through the CLI's consoles
    (``console.print``) or the docs generators' ``sys.stdout.write``."""
    for name, text in _sources().items():
        assert not re.search(r"(?<![.\w])print\(", text), name
        assert "warnings.warn(" not in text, name


def test_verbose_shows_the_package_diagnostics() -> None:
    from network_opt.cli.app import show_diagnostics

    logger = logging.getLogger("network_opt")
    level, handlers = logger.level, list(logger.handlers)
    try:
        show_diagnostics()
        show_diagnostics()  # a second call adds no second handler
        assert logger.level == logging.DEBUG
        assert len(logger.handlers) == len(handlers) + 1
        assert logging.getLogger("network_opt.solver.highs").isEnabledFor(logging.DEBUG)
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers


# --- the map template ---------------------------------------------------------------------------


def test_the_map_template_is_package_data() -> None:
    from network_opt.plotting import interactive

    template = resources.files("network_opt.plotting") / "templates" / "map.html"
    assert template.is_file()
    text = template.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for placeholder in ("__TITLE__", "__W__", "__H__", "__BASEMAP__", "__DATA__"):
        assert placeholder in text
    assert not hasattr(interactive, "_TEMPLATE")
    assert "<!DOCTYPE html>" not in Path(interactive.__file__).read_text(encoding="utf-8")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "plotting/templates/*.html" in data["tool"]["setuptools"]["package-data"]["network_opt"]


# --- the real-instance builders -----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "instances" / "build").glob("*.py")
                                        if not p.name.startswith("_")), ids=lambda p: p.stem)
def test_the_builders_share_one_helper_module(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "import _shared" in text
    for helper in ("read_raw", "write_csv", "level_name", "crf", "largest_remainder"):
        assert not re.search(rf"^def {helper}\(", text, re.MULTILINE), helper
