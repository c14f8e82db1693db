"""results.xlsx cell by cell (network_opt.results.xlsx, written with xlsxwriter): the values, their
types and number formats, the header and title styles, column widths and frozen panes are those the
earlier openpyxl writer produced, read back with openpyxl; a failed write leaves no file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.worksheet.worksheet import Worksheet

import network_opt.results.xlsx as xlsx
from network_opt.results.summary import Summary
from network_opt.results.tables import Solution
from network_opt.results.xlsx import write_results_xlsx
from network_opt.solver.highs import SolveOutcome
from network_opt.solver.status import SolveStatus


def _solution() -> Solution:
    facilities = pd.DataFrame({
        "facility": ["F1", "F2", "F3"],
        "level": pd.Series(["30kt", "", "10kt"], dtype="str"),
        "period": [2025, 2025, 2027],
        "open": [True, False, True],
        "capacity_t": [1234.5678901234567, math.nan, math.inf],
        "utilisation": [0.5, 0.25, 1.0],
        "technology": pd.Series(["HYDRO", None, "PYRO"], dtype=object),
    })
    targets = pd.DataFrame({
        "metric": ["=1+1", "collection"],  # text that looks like a formula stays text
        "required": [0.123456789, 0.5],
        "achieved": [np.float64(0.2), np.nan],
        "source": pd.Series([["a", "b"], 3], dtype=object),  # mixed values: each written by its type
        "met": [True, False],
    })
    flows = pd.DataFrame({"origin": pd.Series([], dtype="str"), "tonnes": pd.Series([], dtype=float)})
    summary = {"instance": "unit", "status": "optimal", "objective": -1790500.25, "mip_gap": 0.0125,
               "currency": "EUR", "periods": [2025, 2027], "timings": {"solve_s": 1.5}}
    outcome = SolveOutcome(status=SolveStatus.OPTIMAL, termination="optimal", objective=-1790500.25,
                           bound=-1790500.25, mip_gap=0.0125)
    return Solution(outcome=outcome, tables={"facilities": facilities, "flows": flows, "targets": targets},
                    summary=Summary.from_dict(summary))


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> openpyxl.Workbook:
    path = write_results_xlsx(_solution(), tmp_path_factory.mktemp("xlsx") / "results.xlsx")
    return openpyxl.load_workbook(path)


def _cells(ws: Worksheet) -> list[list[tuple[object, str]]]:
    return [[(c.value, c.number_format) for c in row] for row in ws.iter_rows(min_row=2)]


def _widths(ws: Worksheet) -> dict[int, float]:
    """Width of each column by number, from the column dimensions (each a range of columns)."""
    widths = {}
    for d in ws.column_dimensions.values():
        assert d.min is not None and d.max is not None
        widths.update({i: d.width for i in range(d.min, d.max + 1)})
    return widths


def test_sheets_in_order_with_header_and_frozen_first_row(workbook: openpyxl.Workbook) -> None:
    assert workbook.sheetnames == ["summary", "facilities", "flows", "targets"]
    for ws in workbook.worksheets:
        assert ws.freeze_panes == "A2"
        for cell in ws[1]:
            if cell.value is not None:
                assert cell.font.b and cell.fill.fill_type == "solid" and cell.fill.fgColor.rgb.endswith("DDEBF7")
    assert [c.value for c in workbook["facilities"][1]] == ["facility", "level", "period", "open", "capacity_t",
                                                             "utilisation", "technology"]
    assert workbook["flows"].max_row == 1  # an empty table: the header only


def test_table_values_types_and_number_formats(workbook: openpyxl.Workbook) -> None:
    assert _cells(workbook["facilities"]) == [
        [("F1", "General"), ("30kt", "General"), (2025, "0"), (True, "General"), (1234.567890123457, "#,##0.00"),
         (0.5, "0.0%"), ("HYDRO", "General")],
        [("F2", "General"), (None, "General"), (2025, "0"), (False, "General"), (None, "#,##0.00"),
         (0.25, "0.0%"), (None, "General")],
        [("F3", "General"), ("10kt", "General"), (2027, "0"), (True, "General"), (None, "#,##0.00"),
         (1.0, "0.0%"), ("PYRO", "General")],
    ]
    assert _cells(workbook["targets"]) == [
        [("=1+1", "General"), (0.123456789, "0.0000"), (0.2, "0.0000"), ("['a', 'b']", "General"), (True, "General")],
        [("collection", "General"), (0.5, "0.0000"), (None, "0.0000"), (3, "General"), (False, "General")],
    ]
    assert workbook["targets"]["A2"].data_type == "s"
    assert isinstance(workbook["facilities"]["C2"].value, int)


def test_column_widths_fit_the_content(workbook: openpyxl.Workbook) -> None:
    ws = workbook["facilities"]
    widths = _widths(ws)
    # name or widest value + 2, within 8..45; capacity 1,234.57 shown with a sign's room
    assert widths == {1: 10, 2: 8, 3: 8, 4: 8, 5: 12, 6: 13, 7: 12}
    summary = workbook["summary"]
    assert _widths(summary) == {1: 24, 2: 18, 3: 18}


def test_summary_sheet(workbook: openpyxl.Workbook) -> None:
    ws = workbook["summary"]
    rows = {r[0].value: r[1] for r in ws.iter_rows(min_row=2) if r[0].value}
    assert rows["objective (net cost)"].value == -1790500.25 and rows["objective (net cost)"].number_format == \
        "#,##0.00"
    assert rows["MIP gap"].value == 0.0125 and rows["MIP gap"].number_format == "0.00%"
    assert rows["periods"].value == "2025, 2027" and rows["status"].value == "optimal"
    assert rows["solve time"].value == 1.5
    assert rows["warnings"].value == 0 and rows["warnings"].number_format == "General"


def test_key_figures_per_period(tmp_path: Path) -> None:
    sol = _solution()
    sol.tables["facilities"]["throughput_t"] = [10.0, 0.0, 5.0]
    ws = openpyxl.load_workbook(write_results_xlsx(sol, tmp_path / "r.xlsx"))["summary"]
    title = next(r[0] for r in ws.iter_rows() if r[0].value and str(r[0].value).startswith("Key figures"))
    assert title.font.b and title.font.sz == 13
    head = title.row + 1
    first = {str(c.value): (v.value, v.number_format) for c, v in zip(ws[head], ws[head + 1], strict=True) if c.value}
    assert first == {"period": (2025, "0"), "throughput_t": (10.0, "#,##0.00"),
                     "capacity_t": (1234.567890123457, "#,##0.00"), "facilities_open": (1, "0")}
    assert ws.cell(head - 2, 1).value is None  # an empty row before the title


def test_a_failed_write_leaves_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "results.xlsx"
    path.write_bytes(b"previous")

    def broken(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xlsx, "_table_sheet", broken)
    with pytest.raises(OSError, match="No space"):
        write_results_xlsx(_solution(), path)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["results.xlsx"]


def test_a_table_longer_than_a_sheet_goes_on_in_further_sheets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """Excel holds 1,048,576 rows a sheet; a longer table goes on in "NAME (2)", ... with its header,
    every row kept (SHEET_ROWS made 2 here: 5 flows in sheets of 2, 2 and 1; the 3 facilities in 2 and
    1; the 2 targets in one sheet)."""
    monkeypatch.setattr(xlsx, "SHEET_ROWS", 2)
    sol = _solution()
    sol.tables["flows"] = pd.DataFrame({"origin": list("abcde"), "tonnes": [1.0, 2.0, 3.0, 4.0, 5.0]})
    wb = openpyxl.load_workbook(write_results_xlsx(sol, tmp_path / "results.xlsx"))
    assert wb.sheetnames == ["summary", "facilities", "facilities (2)", "flows", "flows (2)", "flows (3)", "targets"]
    rows = [[c.value for c in row] for name in ("flows", "flows (2)", "flows (3)") for row in wb[name].iter_rows()]
    assert rows == [["origin", "tonnes"], ["a", 1], ["b", 2], ["origin", "tonnes"], ["c", 3], ["d", 4],
                    ["origin", "tonnes"], ["e", 5]]
