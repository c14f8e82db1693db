"""The shipped real instances: rebuilt identically from their sourced raw tables, valid, with the
retirement model's supply and the real existing plants. (They are solved, with mass-balance
checks, by benchmarks/solve_instances.py: too long for the test suite.)"""

from __future__ import annotations

import filecmp
import importlib.util
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from network_opt.inputs.load import validate

ROOT = Path(__file__).parents[1]
BUILDERS = sorted(p for p in (ROOT / "instances" / "build").glob("*.py") if not p.name.startswith("_"))


def _builder(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"builder_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_rebuild_gives_the_committed_files(tmp_path: Path, path: Path) -> None:
    builder = _builder(path)
    builder.build(tmp_path / "rebuilt")
    committed = builder.INSTANCE
    built = sorted(p.name for p in (tmp_path / "rebuilt").iterdir())
    for name in built:
        assert filecmp.cmp(committed / name, tmp_path / "rebuilt" / name, shallow=False), name
    assert set(built) <= {p.name for p in committed.iterdir()}


@pytest.mark.parametrize("path", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_instance_validates(path: Path) -> None:
    errors = [p for p in validate(_builder(path).INSTANCE) if p.severity == "error"]
    assert errors == []


@pytest.mark.parametrize("path", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_supply_matches_the_retirement_model(path: Path) -> None:
    builder = _builder(path)
    expected = builder.eol_supply().groupby(["year", "chemistry"])["tonnes"].sum()
    supply = pd.read_csv(builder.INSTANCE / "supply.csv")
    written = supply.groupby(["period", "chemistry"])["tonnes"].sum()
    written.index = written.index.set_names(["year", "chemistry"])
    pd.testing.assert_series_equal(written.sort_index(), expected.sort_index(), check_names=False, atol=0.05)


@pytest.mark.parametrize("path", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_existing_plants_appear_with_their_capacities(path: Path) -> None:
    builder = _builder(path)
    plants = builder.existing_plants()
    assert len(plants) > 0
    fac = pd.read_csv(builder.INSTANCE / "facilities.csv", keep_default_na=False)
    levels = pd.read_csv(builder.INSTANCE / "facility_levels.csv")
    existing = set(fac.loc[fac["status"] == "existing", "id"])
    assert set(plants["facility"]) == existing
    smallest = levels.groupby("facility")["capacity_t"].min()
    for r in plants.itertuples(index=False):
        assert smallest[r.facility] == pytest.approx(r.capacity_t), r.facility
