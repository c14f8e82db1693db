"""Bad input: every kind of error gives exit 2, names FILE:ROW:COLUMN, and writes nothing."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from network_opt.cli.app import app
from network_opt.inputs.manifest import DuplicateKeyError, UnsafeYamlError, load_yaml
from network_opt.inputs.policies import PresetError, load_preset_file

ROOT = Path(__file__).parents[1]
TOY = ROOT / "instances" / "toy"
runner = CliRunner()


def _replace(name: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        text = (folder / name).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {name}"
        (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    return edit


def _add_table(name: str, text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
        manifest = (folder / "instance.yaml").read_text(encoding="utf-8")
        if f"\n  {name}: {name}.csv\n" not in manifest:  # a table listed already is replaced, not listed twice
            manifest = manifest.replace("tables:\n", f"tables:\n  {name}: {name}.csv\n")
            (folder / "instance.yaml").write_text(manifest, encoding="utf-8")
    return edit


def _append(name: str, text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        with open(folder / name, "a", encoding="utf-8") as fh:
            fh.write(text)
    return edit


def _remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


# (case id, edit, expected "FILE:ROW:COLUMN" prefix, words the message must contain)
CASES = [
    ("missing file", _remove("supply.csv"), "instance.yaml:", "not found"),
    ("unknown column", _replace("sites.csv", "jurisdiction\n", "jurisdiction,colour\n"), "sites.csv:1:colour",
     "unknown column"),
    ("missing column", _replace("chemistries.csv", "id,name,energy_kwh_per_t", "id,name,energy"),
     "chemistries.csv:1:energy_kwh_per_t", "required column"),
    ("text for number", _replace("supply.csv", "CP-SOUTH,2025,LFP,600", "CP-SOUTH,2025,LFP,six hundred"),
     "supply.csv:4:tonnes", "expected a number"),
    ("infinite whole number", _replace("targets.csv", "0.5,2025", "0.5,inf"), "targets.csv:2:from_period",
     "expected a number"),
    ("negative capacity", _replace("facility_levels.csv", "REC-EAST,1000t,1000", "REC-EAST,1000t,-1000"),
     "facility_levels.csv:3:capacity_t", ">= 0"),
    ("negative cost", _replace("facilities.csv", "recycler,HYDRO,candidate,400", "recycler,HYDRO,candidate,-400"),
     "facilities.csv:3:variable_cost_per_t", ">= 0"),
    ("duplicate id", _replace("sites.csv", "FS-WEST,West", "FS-EAST,West"), "sites.csv:5:id", "duplicate key"),
    ("unknown site", _replace("supply.csv", "CP-SOUTH,2025,NCM", "CP-NOWHERE,2025,NCM"), "supply.csv:5:site",
     "unknown reference 'CP-NOWHERE'"),
    ("unknown chemistry", _replace("supply.csv", "CP-SOUTH,2025,NCM", "CP-SOUTH,2025,NaIon"),
     "supply.csv:5:chemistry", "unknown reference 'NaIon'"),
    ("latitude out of range", _replace("sites.csv", "50.0,10.0", "95.0,10.0"), "sites.csv:2:latitude", "<= 90"),
    ("undeclared period", _replace("supply.csv", "CP-NORTH,2025,NCM", "CP-NORTH,2031,NCM"),
     "supply.csv:3:period", "period declared in instance.yaml"),
    ("malformed yaml", _replace("instance.yaml", "periods: [2025]", "periods: [2025"), "instance.yaml:",
     "malformed YAML"),
    ("repeated yaml key", _append("instance.yaml", "periods: [2030]\n"), "instance.yaml:27:periods",
     "key 'periods' is given twice in this mapping (here at column 1; first at line 6, column 1); keep one"),
    ("path outside folder", _replace("instance.yaml", "sites: sites.csv", "sites: ../../etc/passwd"),
     "instance.yaml:8:tables.sites", "outside the instance folder"),
    ("absolute path", _replace("instance.yaml", "sites: sites.csv", "sites: /etc/hostname"),
     "instance.yaml:8:tables.sites", "outside the instance folder"),
    ("unknown setting", _replace("instance.yaml", "defaults:", "defualts:\n  x: 1\ndefaults:"),
     "instance.yaml:", "unknown setting"),
    ("bad kind", _replace("sites.csv", "CP-NORTH,North city,collection_point", "CP-NORTH,North city,depot"),
     "sites.csv:2:kind", "expected one of"),
    ("recycler without technology", _replace("facilities.csv", "recycler,HYDRO", "recycler,"),
     "facilities.csv:3:technology", "needs a technology"),
    ("share above one", _replace("supply.csv", "900,0.4", "900,1.4"), "supply.csv:2:fit_share", "<= 1"),
    ("target above one", _replace("targets.csv", "Li,0.5", "Li,50"), "targets.csv:2:value",
     "expected a value in [0, 1]"),
    ("target on unknown material", _replace("targets.csv", "Li,0.5", "Unobtainium,0.5"), "targets.csv:2:material",
     "unknown reference"),
    ("target on unknown jurisdiction", _replace("targets.csv", "TOY,", "MARS,"), "targets.csv:2:jurisdiction",
     "unknown reference"),
    ("wrong unit", _replace("instance.yaml", "mass: t", "mass: kg"), "instance.yaml:5:units.mass", "works in t"),
    ("unknown policy preset", _append("instance.yaml", "policies:\n  TOY: eu-2099-imaginary\n"),
     "instance.yaml:28:policies.TOY", "unknown policy preset 'eu-2099-imaginary'"),
    ("policy for unknown jurisdiction", _append("instance.yaml", "policies:\n  MARS: eu-2023-1542\n"),
     "instance.yaml:28:policies.MARS", "unknown jurisdiction or group"),
    ("negative second-life duration", _add_table("second_life_returns", "application,after_years,share\n"
                                                 "energy_storage,-2,1.0\n"),
     "second_life_returns.csv:2:after_years", ">= 0"),
    ("return shares above one", _add_table("second_life_returns", "application,after_years,share\n"
                                           "energy_storage,5,0.7\nenergy_storage,8,0.6\n"),
     "second_life_returns.csv:3:share", "add up to 1.3"),
    ("overlapping grade bands", _add_table("grades", "id,soh_min,soh_max\nA,0.8,1.0\nB,0.5,0.85\n"),
     "grades.csv:", "overlaps"),
    ("unknown ban destination", _add_table("bans", "kind,jurisdiction,commodity,to,from_period\n"
                                           "export,TOY,black_mass,not:NOWHERE,2025\n"),
     "bans.csv:2:to", "unknown jurisdiction or group"),
    ("ban ending before it starts", _add_table("bans", "kind,jurisdiction,commodity,to,from_period,until_period\n"
                                               "export,TOY,black_mass,not:OECD,2027,2026\n"),
     "bans.csv:2:until_period", "2026 is before from_period 2027"),
    ("import ban with a destination", _add_table("bans", "kind,jurisdiction,commodity,to,from_period\n"
                                                 "import,TOY,black_mass,OECD,2025\n"),
     "bans.csv:2:to", "an import ban covers imports from everywhere outside TOY; leave to empty"),
    ("import ban without a commodity", _add_table("bans", "kind,jurisdiction,from_period\nimport,TOY,2025\n"),
     "bans.csv:2:commodity", "an import ban needs a commodity"),
    ("import ban with an application", _add_table("bans", "kind,jurisdiction,commodity,application,from_period\n"
                                                  "import,TOY,eol_packs,ups,2025\n"),
     "bans.csv:2:application", "'ups' is not read by bans of kind import; leave application empty"),
    ("landfill ban with a commodity", _add_table("bans", "kind,jurisdiction,commodity,from_period\n"
                                                 "landfill,TOY,black_mass,2025\n"),
     "bans.csv:2:commodity", "'black_mass' is not read by bans of kind landfill; leave commodity empty"),
    ("facility without levels", _replace("facility_levels.csv", "REF-EAST,500t,500,60000,0\n", ""),
     "facilities.csv:4:id", "no row in facility_levels"),
    ("unknown yield chemistry", _add_table("technology_yields", "technology,material,recovery_yield,chemistry\n"
                                           "HYDRO,Li,0.9,\nHYDRO,Li,0.8,LMO\n"),
     "technology_yields.csv:3:chemistry", "unknown reference 'LMO'"),
    ("duplicate yield chemistry", _add_table("technology_yields", "technology,material,recovery_yield,chemistry\n"
                                             "HYDRO,Li,0.9,\nHYDRO,Li,0.8,NMC\nHYDRO,Li,0.7,NMC\n"),
     "technology_yields.csv:4:chemistry", "duplicate key"),
    ("unknown target scope", _add_table("targets", "jurisdiction,metric,material,value,from_period,scope\n"
                                        "TOY,material_recovery,Li,0.5,2025,plant\n"),
     "targets.csv:2:scope", "plant"),
]


@pytest.mark.parametrize(("case", "edit", "where", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_reported_with_its_location(tmp_path: Path, case: str, edit: Callable[[Path], None],
                                                 where: str, words: str) -> None:
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    edit(folder)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith(where)]
    assert lines, f"no line starting {where!r} in:\n{result.stderr}"
    assert any(words in line for line in lines), result.stderr
    assert "Traceback" not in result.output

    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(folder), "--out", str(out)])
    assert result.exit_code == 2
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    _replace("sites.csv", "50.0,10.0", "95.0,10.0")(folder)
    _replace("supply.csv", "CP-SOUTH,2025,LFP,600", "CP-SOUTH,2025,LFP,lots")(folder)
    _replace("facility_levels.csv", "REC-EAST,1000t,1000", "REC-EAST,1000t,-5")(folder)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    for where in ("sites.csv:2:latitude", "supply.csv:4:tonnes", "facility_levels.csv:3:capacity_t"):
        assert where in result.stderr


def test_csv_with_byte_order_mark_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    text = (folder / "sites.csv").read_text(encoding="utf-8")
    (folder / "sites.csv").write_text("\ufeff" + text, encoding="utf-8")
    assert runner.invoke(app, ["validate", str(folder)]).exit_code == 0


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    _replace("instance.yaml", "defaults:\n  second_life_soh: 0.8", "defaults: &d\n  second_life_soh: 0.8")(folder)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "anchors" in result.stderr
    line = next(n for n, text in enumerate((folder / "instance.yaml").read_text().splitlines(), 1) if "&d" in text)
    assert f"instance.yaml:{line}:" in result.stderr  # the anchor's own line


def test_yaml_nested_too_deeply_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    with (folder / "instance.yaml").open("a", encoding="utf-8") as fh:
        fh.write("description2: " + "[" * 2000 + "]" * 2000 + "\n")
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    assert "instance.yaml:0:: YAML nested too deeply" in result.stderr and "Traceback" not in result.output


def test_a_byte_that_is_not_utf8_is_named_by_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    path = folder / "sites.csv"
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b",", b"\xe9,", 1)  # Latin-1 e-acute on the file's third line
    path.write_bytes(b"\n".join(lines))
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "sites.csv:3:: not UTF-8 text" in result.stderr
    (folder / "instance.yaml").write_bytes((folder / "instance.yaml").read_bytes() + b"# caf\xe9\n")
    result = runner.invoke(app, ["validate", str(folder)])
    last = (folder / "instance.yaml").read_bytes().count(b"\n")
    assert f"instance.yaml:{last}:: not UTF-8 text" in result.stderr


def test_no_route_to_recycling_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    _replace("lanes.csv", "CP-SOUTH,FS-WEST,eol_packs,250,40,true", "CP-SOUTH,FS-WEST,eol_packs,250,40,false")(folder)
    _replace("lanes.csv", "CP-SOUTH,FS-EAST,eol_packs,200,30,true", "CP-SOUTH,FS-EAST,eol_packs,200,30,false")(folder)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "supply.csv:4:site: collection point 'CP-SOUTH' has no lane to a recycler" in result.stderr


def test_shipped_toy_is_valid() -> None:
    result = runner.invoke(app, ["validate", str(TOY)])
    assert result.exit_code == 0, result.output


def test_scenario_with_two_overrides_lists_is_refused(tmp_path: Path) -> None:
    # PyYAML alone keeps the last list: the first would be dropped and another scenario solved
    folder = tmp_path / "inst"
    shutil.copytree(ROOT / "instances" / "toy-scenarios", folder)
    _replace("instance.yaml", "      - close: REF-EAST\n",
             "      - close: REF-EAST\n    overrides:\n      - close: REC-EAST\n")(folder)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    assert ("instance.yaml:50:scenarios.no-refurbisher.overrides: key 'overrides' is given twice in this mapping "
            "(here at column 5; first at line 48, column 5); keep one") in result.stderr
    out = tmp_path / "out"
    assert runner.invoke(app, ["solve", str(folder), "--scenario", "no-refurbisher", "--out", str(out)]).exit_code == 2
    assert not out.exists()


def test_repeated_key_is_refused_at_any_depth(tmp_path: Path) -> None:
    text = "a:\n  b:\n    - c: 1\n      d: {e: 1, f: 2}\n    - c: 1\n      d: {e: 1, 'e': 2}\n"
    with pytest.raises(DuplicateKeyError) as caught:
        load_yaml(text)
    exc = caught.value
    assert (exc.dotted, exc.line, exc.column, exc.first_line, exc.first_column) == ("a.b[1].d.e", 6, 17, 6, 11)
    assert str(exc) == ("line 6, column 17: key 'e' is given twice in this mapping (here at column 17; first at "
                        "line 6, column 11); keep one")
    with pytest.raises(DuplicateKeyError, match="key '1' is given twice"):
        load_yaml("x: {1: a, 0x1: b}")  # the same key as loaded
    with pytest.raises(UnsafeYamlError, match="anchors/aliases are not allowed"):  # merges need an alias
        load_yaml("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  x: 3\n")
    preset = tmp_path / "p.yaml"
    preset.write_text("id: p\nname: P\nname: Q\n", encoding="utf-8")
    with pytest.raises(PresetError, match=r"p\.yaml: name: line 3: key 'name' is given twice"):
        load_preset_file(preset)


def test_shipped_yaml_has_no_repeated_key() -> None:
    files = sorted([*ROOT.joinpath("instances").rglob("*.yaml"), *ROOT.joinpath("network_opt").rglob("*.yaml")])
    assert len(files) >= 13
    for path in files:
        assert isinstance(load_yaml(path.read_text(encoding="utf-8-sig")), dict), path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("distribution: uniform", "distribution: cauchy", "distribution must be one of normal, uniform, triangular"),
    ("low: 0.8\n    mode: 1.0", "low: 1.5\n    mode: 1.0", "inconsistent triangular parameters"),
])
def test_validate_checks_the_uncertainty_block(tmp_path: Path, old: str, new: str, message: str) -> None:
    """What sweep --samples and solve --stochastic would refuse, validate reports first."""
    folder = tmp_path / "inst"
    shutil.copytree(TOY.parent / "toy-scenarios", folder)
    text = (folder / "instance.yaml").read_text()
    assert old in text
    (folder / "instance.yaml").write_text(text.replace(old, new, 1))
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    assert "instance.yaml:" in result.stderr and message in result.stderr


def test_a_table_file_not_listed_under_tables_is_warned_about(tmp_path: Path) -> None:
    """Deleting the targets: line of instance.yaml drops the target silently no more."""
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    _replace("instance.yaml", "  targets: targets.csv\n", "")(folder)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 0, result.output
    assert "targets.csv:0:: in the instance folder but not listed under tables: in instance.yaml, so it is not " \
        "read (add 'targets: targets.csv' under tables: to use it)" in result.output
    assert "supply.csv" not in result.output


def test_a_number_beyond_any_sensible_size_is_refused(tmp_path: Path) -> None:
    """1e30 t/yr of capacity passed every range check and HiGHS then refused the model (a traceback in
    the app); now validation names the cell, and a scenario that sets or scales to it too."""
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    _replace("facility_levels.csv", "REC-EAST,1000t,1000", "REC-EAST,1000t,1e30")(folder)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "facility_levels.csv:3:capacity_t: 1e+30 is beyond 1e+15 in size" in result.stderr
    from network_opt.common.errors import InputError
    from network_opt.inputs.load import load
    from network_opt.inputs.overrides import Origin, Override, apply_overrides

    inst = load(TOY)
    for op in ("set", "scale"):
        o = Override(op, "facility_levels[REC-EAST,1000t].capacity_t", 1e30, Origin("instance.yaml", 7, "s"))
        with pytest.raises(InputError, match="beyond 1e\\+15 in size"):
            apply_overrides(inst, [o])


def test_a_csv_given_as_the_instance_and_a_folder_given_as_a_table_are_named_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(TOY / "supply.csv")])
    assert result.exit_code == 2
    assert "a .csv file is not an instance: expected a folder holding instance.yaml" in result.stderr
    folder = tmp_path / "inst"
    shutil.copytree(TOY, folder)
    (folder / "supply.csv").unlink()
    (folder / "supply.csv").mkdir()
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "file 'supply.csv' is a folder or a special file, not a CSV file" in result.stderr
