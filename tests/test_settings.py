"""Settings as a frozen, typed tree (issue 14): built once by the manifest check, never changed;
overrides, ``--soft-targets`` and ``--prune`` make a new tree on a copy of the instance."""

from __future__ import annotations

import dataclasses
import shutil
import typing
from pathlib import Path

import pytest

from network_opt.common.errors import InputError, Problem
from network_opt.inputs.coerce import CoercionError, coerce_value
from network_opt.inputs.convert import convert
from network_opt.inputs.instance import Instance
from network_opt.inputs.load import load
from network_opt.inputs.overrides import Origin, Override, apply_overrides, copy_instance
from network_opt.inputs.settings import SETTING_SPEC, SETTINGS, SettingError, Settings

ROOT = Path(__file__).parents[1]
TOY = ROOT / "instances" / "toy"
PY_TYPES: dict[str, object] = {"str": str, "float": float, "int": int, "bool": bool, "int|auto": int | str}


@pytest.fixture(scope="module")
def toy() -> Instance:
    return load(TOY)


def _leaf(settings: object, key: str) -> tuple[object, type]:
    """The value of a dotted key in the tree and the annotated type of its attribute."""
    *groups, last = key.split(".")
    obj = settings
    for g in groups:
        obj = getattr(obj, g)
    return getattr(obj, last), typing.get_type_hints(type(obj))[last]


def test_every_setting_is_a_typed_attribute_of_the_tree(toy: Instance) -> None:
    s = toy.settings
    assert isinstance(s, Settings)
    for key, (_, type_, default, *_rest) in SETTING_SPEC.items():
        value, annotated = _leaf(s, key)
        assert annotated == PY_TYPES[type_], key
        if type_ == "int|auto":  # a power, or the text "auto" and nothing else
            assert value == "auto" or type(value) is int, (key, value)
        else:
            assert type(value) is PY_TYPES[type_], (key, value)
        if default is not None:  # the tree's own defaults are the documented ones
            assert _leaf(Settings(name="x"), key)[0] == default, key
    assert s.transport.explicit_lanes_only is True and s.transport.max_lane_km == 3000.0
    assert s.transport.nearest_facilities == 0 and isinstance(s.transport.nearest_facilities, int)
    assert s.transport.cost_per_tkm["eol_packs"] == s.transport.cost_per_tkm.eol_packs
    assert set(s.flat()) == set(SETTING_SPEC) | {"policies", "scenarios", "uncertainty", "stochastic"}
    assert {k for k, *_ in SETTINGS} >= set(SETTING_SPEC)


def test_the_tree_is_frozen(toy: Instance) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        toy.settings.transport.max_lane_km = 5.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        toy.settings.transport = toy.settings.transport  # type: ignore[misc]
    assert not hasattr(toy, "setting")  # no untyped access by dotted key


def test_with_values_checks_with_the_manifest_rules_and_makes_a_new_tree(toy: Instance) -> None:
    base = toy.settings
    new = base.with_values({"targets.soft": True, "transport.nearest_facilities": 3.0, "emissions.carbon_price": "80"})
    assert new is not base and base.targets.soft is False and base.transport.nearest_facilities == 0
    assert new.targets.soft is True and new.transport.nearest_facilities == 3 and new.emissions.carbon_price == 80.0
    assert new.transport.max_lane_km == base.transport.max_lane_km
    cases: list[tuple[dict[str, object], str]] = [
        ({"transport.max_lane_km": -1}, "must be >= 0, got -1"),
        ({"transport.nearest_facilities": 2.5}, "expected a whole number, got 2.5"),
        ({"targets.soft": "maybe"}, "expected true or false, got 'maybe'"),
        ({"investment.opening_cost": "monthly"}, "expected one of upfront, annualised"),
        ({"discount_rate": float("nan")}, "expected a finite number"),
        ({"no.such": 1}, "unknown setting"),
        ({"currency": "euro"}, "expected an ISO 4217 code of three capital letters")]
    for values, words in cases:
        with pytest.raises(SettingError, match=words):
            base.with_values(values)


def test_one_coercion_for_cells_and_settings() -> None:
    assert coerce_value("1e3", "float") == 1000.0
    assert coerce_value(4.0, "int") == 4 and isinstance(coerce_value(4.0, "int"), int)
    assert coerce_value("yes", "bool") is True and coerce_value(False, "bool") is False
    assert coerce_value("a; b;", "list") == ["a", "b"]
    assert coerce_value(12, "str") == "12"
    for value, type_, words in [(True, "float", "expected a number, got True"), ("x", "float", "expected a number"),
                                ([1], "str", "expected a text value"), ("c", "str", "unknown value 'c'")]:
        with pytest.raises(CoercionError, match=words):
            coerce_value(value, type_, choices=("a", "b"))
    with pytest.raises(CoercionError, match="must be <= 1, got 2"):
        coerce_value(2, "float", minimum=0, maximum=1)


def test_an_override_yields_a_new_tree_and_leaves_the_base_untouched(toy: Instance) -> None:
    before = toy.settings
    flat = before.flat()
    origin = Origin("test", 0, "")
    out = apply_overrides(toy, [Override("set", "targets.soft", True, origin),
                                Override("scale", "transport.max_lane_km", 2, origin),
                                Override("set", "emissions.carbon_price", 50, origin)])
    assert toy.settings is before and toy.settings.flat() == flat
    assert out.settings.targets.soft is True and out.settings.transport.max_lane_km == 6000.0
    assert out.settings.emissions.carbon_price == 50.0
    with pytest.raises(InputError, match=r"test:0:: transport.max_lane_km: must be >= 0, got -1"):
        apply_overrides(toy, [Override("set", "transport.max_lane_km", -1, origin)])


def test_solve_with_soft_targets_leaves_the_callers_instance_alone() -> None:
    from network_opt.model.size import prepare_sized
    from network_opt.runs.pipeline import solve

    inst = load(TOY)
    settings = inst.settings
    sol = solve(inst, soft_targets=True)
    assert sol.summary["soft_targets"] is True
    assert inst.settings is settings and inst.settings.targets.soft is False
    data, _, record = prepare_sized(inst, 1)
    assert record["nearest_facilities"] == 1 and data.inst.settings.transport.nearest_facilities == 1
    assert inst.settings.transport.nearest_facilities == 0


def test_copy_instance_keeps_the_workbook_cell_references(tmp_path: Path) -> None:
    book = convert(TOY, "xlsx", tmp_path / "toy.xlsx")
    inst = load(book)
    assert inst.file_aliases
    copied = copy_instance(inst)
    assert copied.file_aliases == inst.file_aliases
    changed = apply_overrides(inst, [Override("set", "emissions.carbon_price", 10, Origin("t", 0, ""))])
    assert changed.file_aliases == inst.file_aliases
    name = next(iter(inst.file_aliases))
    shown = changed.relabel([Problem(name, 3, "transport.max_lane_km", "x")])[0]
    assert shown.file == "toy.xlsx[instance]"


def test_a_bad_setting_value_names_file_line_and_key(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    shutil.copytree(TOY, folder)
    manifest = folder / "instance.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("  explicit_lanes_only: true",
                                     "  explicit_lanes_only: true\n  max_lane_km: far\n  nearest_facilities: 1.5"),
                        encoding="utf-8")
    line = next(i for i, t in enumerate(manifest.read_text().splitlines(), 1) if "max_lane_km" in t)
    with pytest.raises(InputError) as err:
        load(folder)
    shown = [str(p) for p in err.value.problems]
    assert f"instance.yaml:{line}:transport.max_lane_km: expected a number, got 'far'" in shown
    assert f"instance.yaml:{line + 1}:transport.nearest_facilities: expected a whole number, got 1.5" in shown
