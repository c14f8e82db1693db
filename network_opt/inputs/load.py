"""Loading an instance: read its files into an :class:`~network_opt.inputs.instance.Instance`
(:func:`read_instance`), check it (:func:`load`, :func:`validate`), or check it for scenarios
(:func:`load_for_scenarios`). The entry points from a path; the checks on a loaded instance are
:mod:`network_opt.inputs.validate`, those of its scenarios :mod:`network_opt.inputs.scenarios`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from network_opt.common.errors import InputError, PrecheckError, Problem
from network_opt.inputs.instance import Instance
from network_opt.inputs.manifest import MANIFEST_NAME, read_manifest
from network_opt.inputs.read import empty_table, read_table
from network_opt.inputs.regulation import apply_policies
from network_opt.inputs.scenarios import scenario_problems
from network_opt.inputs.schema import TABLES
from network_opt.inputs.stochastic import stochastic_problems
from network_opt.inputs.uncertainty import uncertainty_problems
from network_opt.inputs.validate import check_instance, feasibility_precheck
from network_opt.inputs.xlsx import is_workbook, read_workbook


def manifest_path(instance: str | Path) -> Path:
    """``instance`` is a folder holding ``instance.yaml``, the path of that file, or an ``.xlsx``
    workbook (returned as it is: the workbook holds the settings)."""
    path = Path(instance)
    return path / MANIFEST_NAME if path.is_dir() else path


def read_instance(instance: str | Path) -> tuple[Instance | None, list[Problem]]:
    """Read the manifest and every table; per-table problems only (no cross-table checks).

    ``instance`` is a folder, its ``instance.yaml``, or an ``.xlsx`` workbook
    (:mod:`network_opt.inputs.xlsx`; problems then name ``WORKBOOK.xlsx[SHEET]:ROW:COLUMN``).
    """
    if is_workbook(instance):
        book, problems = read_workbook(instance)
        if book is None:
            return None, problems
        inst = Instance(book.manifest, book.tables, column_labels=book.column_labels, file_labels=book.file_labels,
                        file_aliases=book.file_aliases)
        return _with_policies(inst, problems)
    manifest, problems = read_manifest(manifest_path(instance))
    if manifest is None:
        return None, problems
    defaults = manifest.settings.table_defaults()
    tables: dict[str, pd.DataFrame] = {}
    for name, table in TABLES.items():
        path = manifest.tables.get(name)
        if path is None:
            tables[name] = empty_table(table, defaults)
            continue
        frame, found = read_table(table, path, defaults, delimiter=manifest.settings.csv.delimiter,
                                  decimal=manifest.settings.csv.decimal)
        problems.extend(found)
        tables[name] = frame if frame is not None else empty_table(table, defaults)
    problems.extend(_unlisted_tables(manifest.path.parent, set(manifest.tables)))
    return _with_policies(Instance(manifest, tables), problems)


def _unlisted_tables(folder: Path, listed: set[str]) -> list[Problem]:
    """A warning for each file of the folder named like a table (``supply.csv``, ...) that
    ``tables:`` does not list: it is not read, which a user who deleted its line may not expect."""
    return [Problem(f"{name}.csv", 0, "", f"in the instance folder but not listed under tables: in instance.yaml, "
                    f"so it is not read (add '{name}: {name}.csv' under tables: to use it)", severity="warning")
            for name in TABLES if name not in listed and (folder / f"{name}.csv").is_file()]


def _with_policies(inst: Instance, problems: list[Problem]) -> tuple[Instance, list[Problem]]:
    """Add the rows of the policy presets the manifest names (when every table read cleanly)."""
    if inst.settings.policies and not problems:
        problems.extend(apply_policies(inst))
    return inst, problems


def load(instance: str | Path) -> Instance:
    """Load and fully validate an instance; raise :class:`InputError` listing every error, or
    :class:`~network_opt.common.errors.PrecheckError` (an :class:`InputError`) when the instance is
    well formed but the feasibility pre-check proves it infeasible (no plan exists: ``solve``
    exits as infeasible, not as invalid input).

    Warnings (legal but suspicious input) are kept in ``Instance.warnings``.
    """
    inst = load_for_scenarios(instance)
    infeasible = [p for p in inst.relabel(feasibility_precheck(inst)) if p.severity == "error"]
    if infeasible:
        raise PrecheckError([*infeasible, *inst.warnings])
    return inst


def validate(instance: str | Path, scenario: str | None = None) -> list[Problem]:
    """Every problem of an instance folder (errors and warnings); empty when it is valid. The
    scenarios declared in instance.yaml (``scenario``: only that one and those it extends) are
    checked too, without solving: their form, overrides that match nothing, values made invalid
    by the overrides, and the feasibility pre-check of each
    (:func:`network_opt.inputs.scenarios.scenario_problems`; on an invalid base, only their form);
    the ``stochastic:`` block (:func:`network_opt.inputs.stochastic.stochastic_problems`) and the
    ``uncertainty:`` block (:func:`network_opt.inputs.uncertainty.uncertainty_problems`)."""
    inst, problems = read_instance(instance)
    names = None if scenario is None else [scenario]
    if inst is not None and not any(p.severity == "error" for p in problems):
        problems.extend(check_instance(inst))
        base_ok = not any(p.severity == "error" for p in problems)
        problems.extend(scenario_problems(inst, names, apply=base_ok))
        problems.extend(stochastic_problems(inst))
        problems.extend(uncertainty_problems(inst))
    elif inst is not None:
        problems.extend(scenario_problems(inst, names, apply=False))
        problems.extend(stochastic_problems(inst))
        problems.extend(uncertainty_problems(inst))
    return inst.relabel(problems) if inst is not None else problems


def load_for_scenarios(instance: str | Path | Instance) -> Instance:
    """Load and check an instance like :func:`load`, but without the
    feasibility pre-check: a base that fails it can still have scenarios or sweep points that
    pass (:func:`~network_opt.inputs.scenarios.check_scenario` runs it for each, the base included)."""
    if isinstance(instance, Instance):
        return instance
    inst, problems = read_instance(instance)
    if inst is not None and not any(p.severity == "error" for p in problems):
        problems.extend(check_instance(inst, feasibility=False))
    if inst is not None:
        problems = inst.relabel(problems)
    if inst is None or any(p.severity == "error" for p in problems):
        raise InputError(problems)
    inst.warnings = [p for p in problems if p.severity == "warning"]
    return inst
