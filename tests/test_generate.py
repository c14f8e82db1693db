"""The synthetic generator: deterministic, valid for a range of sizes, points inside the region."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from network_opt.cli.app import app
from network_opt.datasets.generate import GeneratorSpec, generate
from network_opt.inputs.load import validate

runner = CliRunner()


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        filecmp.cmp(a / n, b / n, shallow=False) for n in names) and not cmp.diff_files


def test_same_seed_same_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = runner.invoke(app, ["generate", "--out", str(tmp_path / name), "--seed", "7",
                                     "--collection-points", "30", "--candidates", "10"])
        assert result.exit_code == 0, result.output
    assert _same_tree(tmp_path / "a", tmp_path / "b")
    generate(tmp_path / "c", GeneratorSpec(seed=8, collection_points=30, candidates=10))
    assert not filecmp.cmp(tmp_path / "a" / "supply.csv", tmp_path / "c" / "supply.csv", shallow=False)


@pytest.mark.parametrize(("region", "points", "candidates", "periods", "chemistries"), [
    ("china", 5, 2, 1, 1), ("china", 200, 40, 4, 3), ("europe", 60, 15, 2, 5), ("us", 120, 25, 3, 2),
])
def test_generated_instances_validate(tmp_path: Path, region: str, points: int, candidates: int, periods: int,
                                      chemistries: int) -> None:
    spec = GeneratorSpec(seed=3, region=region, collection_points=points, candidates=candidates, periods=periods,
                         chemistries=chemistries)
    folder = generate(tmp_path, spec)
    problems = [p for p in validate(folder) if p.severity == "error"]
    assert problems == []
    sites = pd.read_csv(folder / "sites.csv")
    assert (sites["kind"] == "collection_point").sum() == points
    assert pd.read_csv(folder / "supply.csv")["period"].nunique() == periods


def test_small_generated_instance_solves(tmp_path: Path) -> None:
    folder = generate(tmp_path / "inst", GeneratorSpec(seed=1, collection_points=12, candidates=5, periods=2))
    result = runner.invoke(app, ["solve", str(folder), "--out", str(tmp_path / "out"), "--mip-gap", "0.01"])
    assert result.exit_code == 0, result.output


def test_generate_refuses_a_non_empty_folder_and_bad_region(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    assert runner.invoke(app, ["generate", "--out", str(tmp_path / "x")]).exit_code == 2
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    assert runner.invoke(app, ["generate", "--out", str(tmp_path / "y"), "--region", "mars"]).exit_code == 2
