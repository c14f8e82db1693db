"""Excel in and out: the workbook reader, lossless conversion both ways, the template, results.xlsx."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from builders import of_type
from openpyxl.worksheet.worksheet import Worksheet
from typer.testing import CliRunner

from network_opt import load, solve
from network_opt.cli.app import app
from network_opt.inputs.convert import cell_value, convert
from network_opt.inputs.load import read_instance
from network_opt.inputs.manifest import read_manifest
from network_opt.inputs.schema import TABLES
from network_opt.inputs.xlsx import number_text
from network_opt.results.write import write_results

ROOT = Path(__file__).parents[1]
INSTANCES = sorted(p.parent for p in (ROOT / "instances").glob("*/instance.yaml"))
TOY = ROOT / "instances" / "toy"
TOY_NET_COST = -1_790_500.0  # solved by hand in instances/toy/README.md
runner = CliRunner()


def _settings(manifest_file: Path) -> dict[str, object]:
    manifest, problems = read_manifest(manifest_file)
    assert manifest is not None, problems
    return {"periods": manifest.periods, **manifest.settings.flat()}


@pytest.fixture(scope="module")
def toy_xlsx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(TOY, "xlsx", tmp_path_factory.mktemp("toy") / "toy.xlsx")


def _edit(src: Path, dst: Path, edit: object) -> Path:
    wb = openpyxl.load_workbook(src)
    edit(wb)  # type: ignore[operator]
    wb.save(dst)
    return dst


def _validate(path: Path) -> tuple[int, list[str]]:
    result = runner.invoke(app, ["validate", str(path)])
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


# ---------------------------------------------------------------- lossless round trip


@pytest.mark.parametrize("instance", INSTANCES, ids=[p.name for p in INSTANCES])
def test_folder_to_workbook_to_folder_gives_the_same_csv_text_and_settings(tmp_path: Path, instance: Path) -> None:
    book = convert(instance, "xlsx", tmp_path / f"{instance.name}.xlsx")
    back = convert(book, "folder", tmp_path / "back")
    manifest, _ = read_manifest(instance / "instance.yaml")
    assert manifest is not None
    for name, path in manifest.tables.items():
        assert (back / f"{name}.csv").read_text(encoding="utf-8") == path.read_text(encoding="utf-8-sig"), name
    assert sorted(p.name for p in back.glob("*.csv")) == sorted(f"{n}.csv" for n in manifest.tables)
    assert _settings(back / "instance.yaml") == _settings(instance / "instance.yaml")
    # the workbook itself reads as the same typed tables, row numbers included
    from_folder, p1 = read_instance(instance)
    from_book, p2 = read_instance(book)
    assert from_folder is not None and from_book is not None
    assert len(p1) == len(p2)  # preset warnings only, the same in both
    for name in TABLES:
        pd.testing.assert_frame_equal(from_book[name], from_folder[name], check_dtype=True, obj=name)


def test_toy_workbook_has_the_hand_solved_optimum(tmp_path: Path, toy_xlsx: Path) -> None:
    sol = solve(toy_xlsx)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(TOY_NET_COST, abs=1e-3)


def test_china_east_workbook_has_the_same_optimum_as_its_folder(tmp_path: Path) -> None:
    instance = ROOT / "instances" / "china-east"
    from_book = solve(convert(instance, "xlsx", tmp_path / "i.xlsx"))
    from_folder = solve(instance)
    assert from_book.status == from_folder.status == "optimal"
    assert from_book.objective == pytest.approx(from_folder.objective, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("text", ["50.0", "0.25", "1200", "0.00001", "1e-05", "1.50", "-3", "-0", "007", "+5",
                                  "12345678901234567890", "0.1000000000000000055511151231257827", " 5", "2.5e3",
                                  "nan", "inf", "abc", ""])
def test_numbers_in_number_columns_read_back_as_the_same_text(tmp_path: Path, text: str) -> None:
    value, fmt = cell_value(text, TABLES["supply"].column("tonnes"))
    wb = openpyxl.Workbook()
    ws = of_type(Worksheet, wb.active)
    ws["A1"] = value
    ws["A1"].number_format = fmt
    wb.save(tmp_path / "n.xlsx")
    cell = of_type(Worksheet, openpyxl.load_workbook(tmp_path / "n.xlsx").active)["A1"]
    back = "" if cell.value is None else (number_text(cell.value, cell.number_format)
                                          if isinstance(cell.value, (int, float)) else cell.value)
    assert back == text
    if text in ("50.0", "0.25", "1200", "0.00001", "-3"):
        assert isinstance(cell.value, (int, float)), "a plain number must stay a number the sheet can sum"


def test_numbers_typed_by_a_person_read_as_their_shortest_form() -> None:
    assert number_text(0.1 + 0.2) == "0.30000000000000004"
    assert number_text(2500.0) == "2500"
    assert number_text(7) == "7"
    assert number_text(49.25, "0.0") == "49.25"  # the shown 49.3 is not the value: never rounded
    assert number_text(49.0, "0.00") == "49.00"


# ---------------------------------------------------------------- problems as a spreadsheet user sees them


def test_errors_name_sheet_row_and_column_letter(tmp_path: Path, toy_xlsx: Path) -> None:
    def edit(wb: openpyxl.Workbook) -> None:
        wb["supply"]["D3"] = "lots"          # tonnes of the second data row
        wb["sites"]["C4"] = "depot"          # kind
        wb["facilities"]["B2"] = "NOWHERE"   # site reference (a cross-table check)

    code, lines = _validate(_edit(toy_xlsx, tmp_path / "bad.xlsx", edit))
    assert code == 2
    assert "bad.xlsx[supply]:3:D: expected a number (t/yr), got 'lots'" in lines
    assert any(line.startswith("bad.xlsx[sites]:4:C: unknown value 'depot'") for line in lines)

    code, lines = _validate(_edit(toy_xlsx, tmp_path / "ref.xlsx", lambda wb: wb["facilities"].__setitem__(
        "B2", "NOWHERE")))
    assert code == 2
    assert lines[0].startswith("ref.xlsx[facilities]:2:B: unknown reference 'NOWHERE'")


def test_settings_errors_point_at_the_value_cell(tmp_path: Path, toy_xlsx: Path) -> None:
    ws = openpyxl.load_workbook(toy_xlsx)["instance"]
    row = next(c.row for c in ws["A"] if c.value == "transport.max_lane_km")

    def edit(wb: openpyxl.Workbook) -> None:
        wb["instance"][f"B{row}"] = -5

    code, lines = _validate(_edit(toy_xlsx, tmp_path / "s.xlsx", edit))
    assert code == 2
    assert lines[0] == f"s.xlsx[instance]:{row}:B: transport.max_lane_km: must be >= 0, got -5"

    def preset(wb: openpyxl.Workbook) -> None:
        wb["instance"].append(["policies.TOY", "no-such-preset"])

    code, lines = _validate(_edit(toy_xlsx, tmp_path / "p.xlsx", preset))
    last = openpyxl.load_workbook(tmp_path / "p.xlsx")["instance"].max_row
    assert code == 2
    assert any(line.startswith(f"p.xlsx[instance]:{last}:B: unknown policy preset 'no-such-preset'")
               for line in lines)


def test_a_refused_periods_cell_is_one_problem_not_also_a_missing_setting(tmp_path: Path, toy_xlsx: Path) -> None:
    ws = openpyxl.load_workbook(toy_xlsx)["instance"]
    row = next(c.row for c in ws["A"] if c.value == "periods")

    def edit(wb: openpyxl.Workbook) -> None:
        wb["instance"][f"B{row}"] = "{a: 1, a: 2}"  # a key given twice: refused by the YAML reader

    code, lines = _validate(_edit(toy_xlsx, tmp_path / "y.xlsx", edit))
    assert code == 2
    problems = [line for line in lines if line.startswith("y.xlsx[")]
    assert len(problems) == 1 and problems[0].startswith(f"y.xlsx[instance]:{row}:B: periods: not a valid YAML value")
    assert not any("required setting is missing" in line for line in lines), lines


@pytest.mark.parametrize(("cell", "message"), [
    ("[&y 2025]", "YAML anchors/aliases are not allowed"),  # an alias bomb would cost exponential time
    ("[" * 2000 + "2025" + "]" * 2000, "YAML nested too deeply"),  # a traceback before
])
def test_a_periods_cell_with_anchors_or_deep_nesting_is_refused(tmp_path: Path, toy_xlsx: Path, cell: str,
                                                                message: str) -> None:
    ws = openpyxl.load_workbook(toy_xlsx)["instance"]
    row = next(c.row for c in ws["A"] if c.value == "periods")

    def edit(wb: openpyxl.Workbook) -> None:
        wb["instance"][f"B{row}"] = cell

    code, lines = _validate(_edit(toy_xlsx, tmp_path / "a.xlsx", edit))
    assert code == 2
    assert any(line.startswith(f"a.xlsx[instance]:{row}:B: periods: not a valid YAML value: {message}")
               for line in lines), lines


# ---------------------------------------------------------------- bad workbooks: exit 2, nothing written


def _merged(wb: openpyxl.Workbook) -> None:
    wb["sites"].merge_cells("B3:C3")


def _formula(wb: openpyxl.Workbook) -> None:
    wb["supply"]["D3"] = "=D2*2"


def _date(wb: openpyxl.Workbook) -> None:
    wb["supply"]["D2"] = dt.datetime(2025, 3, 1)


def _missing(wb: openpyxl.Workbook) -> None:
    del wb["supply"]


def _spreadsheet_error(wb: openpyxl.Workbook) -> None:
    wb["supply"]["D2"] = "#N/A"
    wb["supply"]["D2"].data_type = "e"


@pytest.mark.parametrize(("edit", "expected"), [
    (_merged, "bad.xlsx[sites]:3:B: merged cells B3:C3; unmerge them"),
    (_formula, "bad.xlsx[supply]:3:D: formula =D2*2 has no saved value"),
    (_date, "bad.xlsx[supply]:2:D: a date or time (2025-03-01 00:00:00) where a number (t/yr) belongs"),
    (_missing, "bad.xlsx[supply]:1:A: required sheet 'supply' is missing"),
    (_spreadsheet_error, "bad.xlsx[supply]:2:D: the cell shows the error #N/A"),
], ids=["merged", "formula", "date", "missing-sheet", "cell-error"])
def test_bad_workbook_is_refused_with_its_cell_and_nothing_is_written(tmp_path: Path, toy_xlsx: Path,
                                                                     edit: object, expected: str) -> None:
    bad = _edit(toy_xlsx, tmp_path / "bad.xlsx", edit)
    code, lines = _validate(bad)
    assert code == 2
    assert any(line.startswith(expected) for line in lines), lines
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(bad), "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()
    result = runner.invoke(app, ["convert", str(bad), "--to", "folder", "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()


def test_refused_cells_and_type_errors_of_one_sheet_are_reported_in_one_pass(tmp_path: Path,
                                                                            toy_xlsx: Path) -> None:
    """A merged range and a formula without a saved value are reported at their cells, and a
    wrong type elsewhere in the same sheet in the same run (before, the type error only showed
    once the refused cells were fixed); the refused cells get no second, typed message."""

    def edit(wb: openpyxl.Workbook) -> None:
        wb["supply"].merge_cells("D2:E2")
        wb["supply"]["D3"] = "=D4*2"
        wb["supply"]["D4"] = "lots"

    code, lines = _validate(_edit(toy_xlsx, tmp_path / "m.xlsx", edit))
    assert code == 2
    mine = [line for line in lines if line.startswith("m.xlsx[supply]")]
    assert mine[0].startswith("m.xlsx[supply]:2:D: merged cells D2:E2")
    assert any(line.startswith("m.xlsx[supply]:3:D: formula =D4*2 has no saved value") for line in mine), mine
    assert any(line.startswith("m.xlsx[supply]:4:D: expected a number") for line in mine), mine
    assert len(mine) == 3, mine


def _encrypted(path: Path) -> None:
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096)  # OLE2 container, as Excel encrypts


def _not_a_zip(path: Path) -> None:
    path.write_bytes(b"name,periods\ntoy,2025\n")


def _broken_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "no workbook in here")


@pytest.mark.parametrize(("make", "expected"), [
    (_encrypted, "password-protected (encrypted) or old-format (.xls) workbook"),
    (_not_a_zip, "not an .xlsx workbook (zip) or damaged: no zip directory found"),
    (_broken_zip, "not an .xlsx workbook (zip) or damaged: it has no xl/workbook.xml"),
], ids=["encrypted", "not-a-zip", "corrupt-zip"])
def test_unreadable_workbook_is_refused(tmp_path: Path, make: object, expected: str) -> None:
    book = tmp_path / "plan.xlsx"
    make(book)  # type: ignore[operator]
    code, lines = _validate(book)
    assert code == 2
    assert lines[0].startswith(f"plan.xlsx:0:: {expected}")
    for args in (["solve", str(book), "--out", str(tmp_path / "out")],
                 ["convert", str(book), "--to", "folder", "--out", str(tmp_path / "out")]):
        assert runner.invoke(app, args).exit_code == 2
        assert not (tmp_path / "out").exists()


def test_convert_never_overwrites(tmp_path: Path, toy_xlsx: Path) -> None:
    target = tmp_path / "t.xlsx"
    target.write_bytes(b"keep me")
    result = runner.invoke(app, ["convert", str(TOY), "--to", "xlsx", "--out", str(target)])
    assert result.exit_code == 2 and "already exists" in result.output
    assert target.read_bytes() == b"keep me"
    (tmp_path / "f").mkdir()
    result = runner.invoke(app, ["convert", str(toy_xlsx), "--to", "folder", "--out", str(tmp_path / "f")])
    assert result.exit_code == 2 and list((tmp_path / "f").iterdir()) == []
    assert runner.invoke(app, ["template", "--out", str(target)]).exit_code == 2
    assert target.read_bytes() == b"keep me"


def test_the_readme_of_a_folder_goes_through_a_workbook_and_back(tmp_path: Path) -> None:
    """An instance folder's README.md (its sources and assumptions) becomes the workbook's sheet
    _README.md, which the reader ignores, and comes back as README.md; a line starting with '=' stays
    text (openpyxl would store it as a formula)."""
    folder = tmp_path / "toy"
    shutil.copytree(TOY, folder)
    text = (TOY / "README.md").read_text(encoding="utf-8") + "\n=== not a formula\n"
    (folder / "README.md").write_text(text, encoding="utf-8")
    book = convert(folder, "xlsx", tmp_path / "toy.xlsx")
    sheet = openpyxl.load_workbook(book)["_README.md"]
    assert sheet.cell(row=len(text.splitlines()), column=1).value == "=== not a formula"
    assert _validate(book)[0] == 0
    back = convert(book, "folder", tmp_path / "back")
    assert (back / "README.md").read_text(encoding="utf-8") == text
    again = openpyxl.load_workbook(convert(back, "xlsx", tmp_path / "again.xlsx"))
    assert again.sheetnames[:2] == ["README", "instance"] and again.sheetnames[-1] == "_README.md"


# ---------------------------------------------------------------- the template


def test_template_readme_gives_each_table_its_notes(tmp_path: Path) -> None:
    """The README sheet carries the notes docs/instance-format.md gives under a table, e.g. when a
    ban acts and what an import ban forbids."""
    assert runner.invoke(app, ["template", "--out", str(tmp_path / "t.xlsx")]).exit_code == 0
    readme = of_type(Worksheet, openpyxl.load_workbook(tmp_path / "t.xlsx")["README"])
    lines = [str(c.value) for c in readme["A"] if c.value is not None]
    start = lines.index("bans (optional)")
    notes = [line for line in lines[start:start + 6] if line.startswith("Note: ")]
    assert notes == [f"Note: {n}" for n in TABLES["bans"].notes] and len(notes) == 3
    assert any("Import bans remove flows" in n for n in notes)


def test_template_filled_with_the_toy_rows_validates(tmp_path: Path) -> None:
    result = runner.invoke(app, ["template", "--out", str(tmp_path / "t.xlsx")])
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(tmp_path / "t.xlsx")
    # documented headers and drop-down lists
    assert wb["supply"]["D1"].value == "tonnes" and "t/yr" in wb["supply"]["D1"].comment.text
    kinds = [dv for dv in wb["facilities"].data_validations.dataValidation if "C2" in str(dv.sqref)]
    assert kinds and "refurbisher" in kinds[0].formula1
    chem = [dv for dv in wb["supply"].data_validations.dataValidation if "C2" in str(dv.sqref)]
    assert chem and "chemistries" in chem[0].formula1
    assert wb["supply"].freeze_panes == "A2" and wb["supply"].max_row == 1  # empty: no data rows

    code, _ = _validate(tmp_path / "t.xlsx")
    assert code == 2  # an empty template is not an instance yet

    manifest, _ = read_manifest(TOY / "instance.yaml")
    assert manifest is not None
    for name, path in manifest.tables.items():
        ws = wb[name]
        header = [c.value for c in ws[1]]
        with open(path, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for r, row in enumerate(rows, start=2):
            for key, value in row.items():
                if value != "":
                    ws.cell(row=r, column=header.index(key) + 1, value=value)
    settings = wb["instance"]
    keys = {c.value: c.row for c in settings["A"]}
    for key, value in (("name", "toy"), ("currency", "EUR"), ("periods", 2025),
                       ("defaults.second_life_soh", 0.8), ("transport.explicit_lanes_only", True)):
        settings.cell(row=keys[key], column=2, value=value)
    wb.save(tmp_path / "filled.xlsx")
    code, lines = _validate(tmp_path / "filled.xlsx")
    assert code == 0, lines
    assert load(tmp_path / "filled.xlsx").years == [2025]


# ---------------------------------------------------------------- results.xlsx


def test_results_workbook_holds_the_numbers_of_the_csv_files(tmp_path: Path) -> None:
    out = write_results(solve(TOY), tmp_path / "res")
    wb = openpyxl.load_workbook(out / "results.xlsx")
    summary = {r[0]: r[1] for r in wb["summary"].iter_rows(min_row=2, max_col=2, values_only=True) if r[0]}
    assert summary["status"] == "optimal"
    assert summary["objective (net cost)"] == pytest.approx(TOY_NET_COST, abs=1e-3)
    assert summary["objective (net cost)"] == json.loads((out / "summary.json").read_text())["objective"]
    csvs = sorted(p.stem for p in out.glob("*.csv"))
    assert wb.sheetnames == ["summary", *[n for n in ("facilities", "flows", "collection", "costs", "targets",
                                                          "materials", "cascade", "emissions", "stock") if n in csvs]]
    for name in csvs:
        ws = wb[name]
        assert ws.freeze_panes == "A2"
        frame = pd.read_csv(out / f"{name}.csv", keep_default_na=False)
        rows = list(ws.iter_rows(values_only=True))
        assert list(rows[0]) == list(frame.columns)
        assert len(rows) - 1 == len(frame)
        for got, want in zip(rows[1:], frame.itertuples(index=False, name=None), strict=True):
            for g, w in zip(got, want, strict=True):
                if isinstance(w, float) or (isinstance(w, int) and not isinstance(w, bool)):
                    assert g == pytest.approx(w, abs=1e-6), name
                else:
                    assert ("" if g is None else str(g)) == str(w), name
    # hand-checked key figures (instances/toy/README.md): 2,000 t supply, all collected, 400 t to second life
    kpi_rows = list(wb["summary"].iter_rows(values_only=True))
    head = next(i for i, r in enumerate(kpi_rows) if r[0] == "period")
    kpis = dict(zip(kpi_rows[head], kpi_rows[head + 1], strict=False))
    assert kpis["supply_t"] == pytest.approx(2000) and kpis["collected_t"] == pytest.approx(2000)
    assert kpis["second_life_sold_t"] == pytest.approx(400)
    header = [c.value for c in wb["flows"][1]]
    assert wb["flows"].cell(2, header.index("tonnes") + 1).number_format == "#,##0.00"


def test_a_table_beyond_a_worksheet_is_refused_before_the_workbook_is_built(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A worksheet holds 1,048,576 rows; here as if it held 5 (the toy's supply.csv has 4 rows, its
    lanes.csv more): exit 2 naming the table, nothing written, no workbook built."""
    import network_opt.inputs.convert as converting

    monkeypatch.setattr(converting, "SHEET_ROWS", 5)
    built: list[object] = []
    monkeypatch.setattr(converting, "build_workbook", lambda raw: built.append(raw))
    out = tmp_path / "toy.xlsx"
    result = runner.invoke(app, ["convert", str(TOY), "--to", "xlsx", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "lanes.csv:0:: " in result.output and "a worksheet holds at most 4 rows of data" in result.output
    assert "supply.csv" not in result.output and not out.exists() and built == []
