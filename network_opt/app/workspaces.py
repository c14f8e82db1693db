"""Workspaces: the instances a planner opened in the app, and what the pages show of them.

Every workspace holds its own copy of the instance (``DATA/workspaces/ID/instance/`` for a folder,
``DATA/workspaces/ID/NAME.xlsx`` for a workbook): a shipped instance or a folder is copied, an
upload is saved (a workbook) or unpacked (a zipped folder, checked member by member before a byte is
written). The instance is then read and checked exactly as the command line does
(:func:`network_opt.inputs.load.validate`: manifest paths that lead outside the folder, YAML tags,
formulas without a saved value, ... are problems like any other), so the app never needs checks of
its own on the content.

Scenarios made in the app are written into the workspace's copy as overrides (the ``scenarios:``
block of ``instance.yaml``, or a ``scenarios.NAME`` row of a workbook's ``instance`` sheet), after a
trial on a scratch copy shows them valid; the tables themselves are never changed.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from network_opt.app.config import MAX_ZIP_BYTES, MAX_ZIP_MEMBERS
from network_opt.app.store import Store, Workspace, new_id
from network_opt.common.errors import InputError, Problem
from network_opt.inputs.manifest import load_yaml

#: Most rows of a table shown on a page (the rest: download the instance or the results).
MAX_ROWS_SHOWN = 500
#: Rows of a source file shown around a problem's cell.
SOURCE_WINDOW = 40
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SHEET_LABEL = re.compile(r"^(?P<book>.+\.xlsx)\[(?P<sheet>[^\]]+)\]$", re.IGNORECASE)
MANIFEST = "instance.yaml"


class WorkspaceError(ValueError):
    """A request the workspace cannot carry out (an unusable upload, an unknown instance, a scenario
    that cannot be written); the message says why and what is expected."""


# --- opening ----------------------------------------------------------------------------------


def shipped_instances(instances_dir: Path | None) -> list[str]:
    """Names of the shipped instance folders (those holding ``instance.yaml``)."""
    if instances_dir is None or not instances_dir.is_dir():
        return []
    return sorted(p.parent.name for p in instances_dir.glob(f"*/{MANIFEST}"))


def _no_links(src: str, names: list[str]) -> list[str]:
    """``shutil.copytree`` ignore function: symbolic links are never copied (nor followed)."""
    return [n for n in names if Path(src, n).is_symlink()]


def _copy_folder(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, ignore=_no_links, symlinks=False)


def _safe_filename(name: str, suffix: str) -> str:
    stem = _SAFE_NAME.sub("_", Path(name).stem).strip("._") or "instance"
    return f"{stem[:60]}{suffix}"


def _instance_name(entry: Path) -> str:
    """The ``name:`` of an instance (its manifest or settings sheet), else the file or folder name."""
    try:
        if entry.is_dir():
            data = load_yaml((entry / MANIFEST).read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("name"), str | int):
                return str(data["name"])
            return entry.name
        from openpyxl import load_workbook

        wb = load_workbook(entry, read_only=True)
        try:
            if "instance" in wb.sheetnames:
                for row in wb["instance"].iter_rows(min_row=2, max_col=2, values_only=True):
                    if row and row[0] == "name" and row[1]:
                        return str(row[1])
        finally:
            wb.close()
    except Exception:  # any unreadable file: the problems page says what is wrong
        pass
    return entry.stem if entry.is_file() else entry.name


def open_shipped(store: Store, instances_dir: Path | None, name: str) -> Workspace:
    """A workspace with a copy of the shipped instance ``name`` (one of :func:`shipped_instances`)."""
    if name not in shipped_instances(instances_dir):
        raise WorkspaceError(f"no shipped instance {name!r}; expected one of "
                             f"{', '.join(shipped_instances(instances_dir)) or '(none installed)'}")
    assert instances_dir is not None
    wid = new_id()
    _copy_folder(instances_dir / name, store.workspace_dir(wid) / "instance")
    return store.add_workspace(wid, name, f"shipped instance {name}", "instance")


def open_folder(store: Store, path: str) -> Workspace:
    """A workspace with a copy of an instance on this machine: a folder holding ``instance.yaml``, that
    file, or an ``.xlsx`` workbook."""
    if not path.strip():
        raise WorkspaceError("enter the path of an instance folder, its instance.yaml or an .xlsx workbook")
    src = Path(path.strip()).expanduser()
    if not src.is_absolute():  # relative to where the server was started, which the user does not see
        raise WorkspaceError(f"{path.strip()}: give the whole path (e.g. /home/me/my-network or ~/my-network)")
    if src.is_file() and src.name == MANIFEST:
        src = src.parent
    wid = new_id()
    folder = store.workspace_dir(wid)
    if src.is_dir():
        if not (src / MANIFEST).is_file():
            raise WorkspaceError(f"{src}: no {MANIFEST} in this folder; expected an instance folder")
        _copy_folder(src, folder / "instance")
        entry = "instance"
    elif src.is_file() and src.suffix.lower() == ".xlsx":
        folder.mkdir(parents=True)
        entry = _safe_filename(src.name, ".xlsx")
        shutil.copyfile(src, folder / entry)
    else:
        raise WorkspaceError(f"{src}: not found, or not an instance folder or .xlsx workbook")
    return store.add_workspace(wid, _instance_name(folder / entry), f"folder {src.resolve()}", entry)


def _unpack(upload: Path, original: str, dest: Path) -> str:
    """Put an uploaded workbook or zipped instance into the empty folder ``dest``; return the entry
    (``NAME.xlsx`` or ``instance``). Raises :class:`WorkspaceError` for anything else."""
    suffix = Path(original).suffix.lower()
    dest.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        entry = _safe_filename(original, ".xlsx")
        shutil.copyfile(upload, dest / entry)
        return entry
    if suffix != ".zip":
        raise WorkspaceError(f"{original}: expected an .xlsx workbook or a .zip of an instance folder")
    unpacked = dest / "unpacked"
    extract_zip(upload, unpacked, original)
    root = _instance_root(unpacked, original)
    if root.is_file():  # a workbook inside the zip
        entry = _safe_filename(root.name, ".xlsx")
        root.replace(dest / entry)
        shutil.rmtree(unpacked)
        return entry
    root.rename(dest / "instance")
    if unpacked.exists():
        shutil.rmtree(unpacked)
    return "instance"


def extract_zip(path: Path, dest: Path, label: str) -> None:
    """Unpack a zipped instance folder into ``dest``, refusing (before anything is written) archives
    with more than :data:`MAX_ZIP_MEMBERS` members or :data:`MAX_ZIP_BYTES` bytes, members that
    expand suspiciously (a zip bomb), absolute names, names with ``..``, and links."""
    from network_opt.inputs.xlsx import BOMB_MIN_BYTES, MAX_COMPRESSION_RATIO

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise WorkspaceError(f"{label}: not a zip archive or damaged: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise WorkspaceError(f"{label}: {len(infos)} members; at most {MAX_ZIP_MEMBERS} are accepted")
        total = sum(i.file_size for i in infos)
        if total > MAX_ZIP_BYTES:
            raise WorkspaceError(f"{label}: would expand to {total / 2**20:,.0f} MiB; at most "
                                 f"{MAX_ZIP_BYTES // 2**20} MiB are accepted")
        for info in infos:
            name = info.filename
            parts = Path(name).parts
            if name.startswith(("/", "\\")) or ".." in parts or "\\" in name or (parts and ":" in parts[0]):
                raise WorkspaceError(f"{label}: member {name!r} would be written outside the folder; refused")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise WorkspaceError(f"{label}: member {name!r} is a link; refused")
            if info.file_size > BOMB_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                ratio = info.file_size / max(info.compress_size, 1)
                raise WorkspaceError(f"{label}: member {name!r} would expand {ratio:,.0f}:1 (a zip bomb?); refused")
        root = dest.resolve()
        for info in infos:
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(root):
                raise WorkspaceError(f"{label}: member {info.filename!r} would be written outside the folder")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            except (RuntimeError, zipfile.BadZipFile, EOFError, ValueError) as exc:  # encrypted, damaged
                raise WorkspaceError(f"{label}: member {info.filename!r} cannot be read: {exc}") from None


def _instance_root(unpacked: Path, label: str) -> Path:
    """The instance in an unpacked zip: its top folder, the one folder in it, or the one workbook."""
    for folder in (unpacked, *[p for p in unpacked.iterdir() if p.is_dir() and not p.name.startswith("__MACOSX")]):
        if (folder / MANIFEST).is_file():
            return folder
    books = [p for p in unpacked.rglob("*.xlsx") if not p.name.startswith("~$")]
    if len(books) == 1:
        return books[0]
    raise WorkspaceError(f"{label}: no {MANIFEST} at the top of the archive or in its one folder, and not "
                         "exactly one .xlsx workbook; zip the instance folder itself")


def open_upload(store: Store, upload: Path, original: str) -> Workspace:
    """A workspace from an uploaded workbook or zipped folder (saved at ``upload``)."""
    wid = new_id()
    folder = store.workspace_dir(wid)
    try:
        entry = _unpack(upload, original, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return store.add_workspace(wid, _instance_name(folder / entry), f"upload {Path(original).name}", entry)


def _scenarios_of(path: Path) -> dict[str, Any]:
    """The ``scenarios:`` block of an instance (folder or workbook) as written, without checking the
    rest; empty when it has none or cannot be read."""
    try:
        if path.is_dir():
            data = load_yaml((path / MANIFEST).read_text(encoding="utf-8-sig"))
            found = data.get("scenarios") if isinstance(data, dict) else None
            return dict(found) if isinstance(found, dict) else {}
        from network_opt.inputs.xlsx import read_raw_workbook  # its settings sheet, read as the loader reads it

        book, _ = read_raw_workbook(path)
        found = book.settings.get("scenarios") if book is not None else None
        return dict(found) if isinstance(found, dict) else {}
    except Exception:  # an unreadable instance keeps nothing; its problems are shown on the page
        return {}


def replace_instance(store: Store, ws: Workspace, upload: Path, original: str) -> Workspace:
    """A corrected version of the workspace's instance (an upload) replaces its copy; the jobs
    already run keep their results, and the scenarios of the copy that the upload lacks (made in the
    app) are added to it, so that replacing never drops them silently (the workspace's origin line
    names them)."""
    folder = store.workspace_dir(ws.id)
    staging = Path(tempfile.mkdtemp(prefix=".replace-", dir=folder))
    kept: list[str] = []
    lost: list[str] = []
    try:
        entry = _unpack(upload, original, staging)
        old = folder / ws.entry
        before, now = _scenarios_of(old), _scenarios_of(staging / entry)
        for name, body in before.items():
            if name in now or not isinstance(body, dict):
                continue
            try:
                _write_scenario(staging / entry, name, body)
                kept.append(name)
            except (WorkspaceError, OSError, ValueError):
                lost.append(name)
        if lost:  # nothing replaced: the copy and its scenarios stay as they are
            raise WorkspaceError(f"the upload lacks the scenarios {', '.join(lost)} of this workspace and they "
                                 "could not be added to it; nothing was replaced: download the current copy, add "
                                 "them to your file, and upload it again")
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink(missing_ok=True)
        (staging / entry).rename(folder / entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    origin = f"upload {Path(original).name}"
    if kept:
        origin += f"; scenarios kept from before: {', '.join(kept)}"
    store.update_workspace(ws.id, entry=entry, name=_instance_name(folder / entry), origin=origin)
    out = store.workspace(ws.id)
    assert out is not None
    return out


def instance_path(store: Store, ws: Workspace) -> Path:
    """The instance of a workspace (folder or workbook) inside its folder."""
    return store.workspace_dir(ws.id) / ws.entry


# --- problems and the cells they name -----------------------------------------------------------


@dataclass
class ProblemRow:
    """A problem for the page: ``source`` is the file or sheet to open (None: not a file of the instance)."""

    file: str
    row: int
    column: str
    message: str
    severity: str
    source: str | None


def problems(store: Store, ws: Workspace) -> list[ProblemRow]:
    """Every problem of the workspace's instance and its scenarios, as ``network-opt validate`` finds
    them (errors first), each with the source (file or sheet) to open at its cell."""
    from network_opt.inputs.load import validate

    path = instance_path(store, ws)
    found = validate(path)
    known = set(sources(store, ws))
    rows = []
    for p in sorted(found, key=lambda p: (p.severity != "error", p)):
        label = _source_of(p.file, path)
        rows.append(ProblemRow(p.file, p.row, p.column, p.message, p.severity, label if label in known else None))
    return rows


def _source_of(file: str, path: Path) -> str:
    """The source label of a problem's file: a sheet name for a workbook, a file name for a folder."""
    m = _SHEET_LABEL.match(file)
    if m:
        return m.group("sheet")
    return Path(file).name


def sources(store: Store, ws: Workspace) -> list[str]:
    """Files (a folder: ``instance.yaml`` and each file in it) or sheets (a workbook) of the instance."""
    path = instance_path(store, ws)
    if path.is_dir():
        return sorted(p.name for p in path.iterdir() if p.is_file() and not p.is_symlink()
                      and p.suffix.lower() in (".yaml", ".yml", ".csv"))
    try:
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()
    except Exception:  # unreadable: the problems say why
        return []


@dataclass
class SourceView:
    """A window of a file or sheet around a cell: ``header`` and ``rows`` (``(line, cells)``), with
    the highlighted line and column index (None: none)."""

    label: str
    header: list[str]
    rows: list[tuple[int, list[str]]]
    line: int
    column: int | None
    text: bool  # a text file (instance.yaml): one cell per line


def _letters_to_index(letters: str) -> int | None:
    if not letters.isalpha() or not letters.isupper() or len(letters) > 3:
        return None
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def source_view(store: Store, ws: Workspace, label: str, line: int, column: str) -> SourceView:
    """The file or sheet ``label`` (one of :func:`sources`; anything else is refused) around
    ``line``, with ``column`` (a name, or a letter for a sheet) highlighted."""
    if label not in sources(store, ws):
        raise WorkspaceError(f"{label!r} is not a file of this instance")
    path = instance_path(store, ws)
    lo = max(1, line - SOURCE_WINDOW // 2)
    hi = lo + SOURCE_WINDOW
    if path.is_dir():
        file = path / label
        if file.suffix.lower() in (".yaml", ".yml"):
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            rows = [(i, [text]) for i, text in enumerate(lines, start=1) if lo <= i <= hi]
            return SourceView(label, ["text"], rows, line, 0, True)
        with open(file, encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            rows = [(i, cells) for i, cells in enumerate(reader, start=2) if lo <= i <= hi]
        col = header.index(column) if column in header else None
        return SourceView(label, header, rows, line, col, False)
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=False)
    try:
        sheet = wb[label]
        values = list(sheet.iter_rows(min_row=1, max_row=max(hi, 1), values_only=True))
    finally:
        wb.close()
    header = ["" if v is None else str(v) for v in (values[0] if values else ())]
    rows = [(i, ["" if v is None else str(v) for v in r]) for i, r in enumerate(values, start=1) if lo <= i <= hi
            and i > 1]
    col = _letters_to_index(column)
    if col is None and column in header:
        col = header.index(column)
    return SourceView(label, header, rows, line, col, False)


# --- the instance as the pages show it ----------------------------------------------------------


@dataclass
class Overview:
    """What the instance page shows of a valid instance."""

    name: str
    description: str
    currency: str
    years: list[int]
    counts: dict[str, int]
    presets: list[tuple[str, str, str]]  # jurisdiction, preset id, title
    scenarios: list[tuple[str, str, str]]  # name, extends, description
    tables: dict[int, dict[str, Any]]  # period -> table name -> frame (records)
    facilities: list[str]
    suggestions: list[tuple[str, str, str]]  # operation, key, label
    jurisdictions: list[str]
    warnings: list[str]
    periods: str  # as instance.yaml writes them


def load_instance(store: Store, ws: Workspace) -> Any:
    """The workspace's instance, loaded and checked (:func:`network_opt.inputs.load.load`)."""
    from network_opt.inputs.load import load

    return load(instance_path(store, ws))


def _records(frame: Any) -> dict[str, Any]:
    """A table for a page: columns, rows (strings) and how many rows there are in all."""
    frame = frame.drop(columns="_row", errors="ignore")
    shown = frame.head(MAX_ROWS_SHOWN)
    rows = [["" if _blank(v) else _cell(v) for v in r] for r in shown.itertuples(index=False, name=None)]
    return {"columns": [str(c) for c in frame.columns], "rows": rows, "total": len(frame)}


def _blank(v: Any) -> bool:
    try:
        return v is None or v != v  # NaN
    except (TypeError, ValueError):
        return False


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.6g}" if abs(v) < 1e15 else f"{v:.6g}"
    if isinstance(v, tuple | list):
        return "; ".join(map(str, v))
    return str(v)


def in_force(targets: Any, year: int) -> Any:
    """The targets in force in ``year``: per jurisdiction, metric, material and scope the row with the
    latest ``from_period`` not after ``year`` (a later row replaces an earlier one from its year)."""
    t = targets.loc[targets["from_period"] <= year]
    keys = [c for c in ("jurisdiction", "metric", "material", "scope") if c in t]
    return t.sort_values("from_period", kind="stable").drop_duplicates(keys, keep="last").sort_values(keys)


def overview(inst: Any) -> Overview:
    """The instance's key facts, its tables per period and the keys a scenario may change."""
    from network_opt.inputs.policies import available_presets
    from network_opt.inputs.scenarios import read_scenarios

    known = available_presets()
    presets = [(str(jur), str(pid), f"{known[pid].name} ({known[pid].legal_source.split(';')[0]})"
                if pid in known else "") for jur, ids in inst.settings.policies.items() for pid in ids]
    try:
        declared = read_scenarios(inst)
        scenarios = [(s.name, s.extends or "", s.description) for s in declared.values()]
    except InputError:
        scenarios = []
    fac, levels = inst["facilities"], inst["facility_levels"]
    tables: dict[int, dict[str, Any]] = {}
    for year in inst.years:
        supply = inst["supply"]
        tables[year] = {
            "supply": _records(supply.loc[supply["period"] == year]),
            "facilities": _records(fac),
            "facility levels": _records(levels),
            "targets in force": _records(in_force(inst["targets"], year)),
            "material prices": _records(_period_rows(inst["material_prices"], year)),
            "market demand": _records(_period_rows(inst["market_demand"], year)),
        }
    return Overview(
        name=inst.name, description=str(inst.settings.description or ""), currency=inst.settings.currency,
        years=list(inst.years),
        counts={"collection points": int((inst["sites"]["kind"] == "collection_point").sum()),
                "facilities": len(fac), "candidates": int((fac["status"] == "candidate").sum()),
                "markets": len(inst["markets"]), "targets": len(inst["targets"])},
        presets=presets, scenarios=scenarios, tables=tables, facilities=[str(f) for f in fac["id"]],
        suggestions=suggestions(inst), jurisdictions=sorted(str(j) for j in inst["jurisdictions"]["id"]),
        warnings=[str(w) for w in inst.warnings], periods=periods_text(inst))


def _period_rows(frame: Any, year: int) -> Any:
    return frame.loc[frame["period"] == year] if "period" in frame and len(frame) else frame


def suggestions(inst: Any) -> list[tuple[str, str, str]]:
    """Keys a scenario commonly changes, as (operation, key, label): facilities to force open or
    closed, capacities, material and market prices, target values."""
    out: list[tuple[str, str, str]] = []
    for r in inst["facilities"].itertuples(index=False):
        out.append(("facility", str(r.id), f"{r.id}: {r.kind} {r.technology or ''} ({r.status})".replace("  ", " ")))
    for r in inst["facility_levels"].itertuples(index=False):
        out.append(("value", f"facility_levels[{r.facility},{r.level}].capacity_t",
                    f"capacity of {r.facility} level {r.level} (now {r.capacity_t:,.6g} t/yr)"))
    cur = inst.settings.currency
    for r in inst["material_prices"].itertuples(index=False):
        out.append(("value", f"material_prices[{r.material},{r.period}].price_per_t",
                    f"price of {r.material} in {r.period} (now {r.price_per_t:,.6g} {cur}/t)"))
    for r in inst["market_demand"].itertuples(index=False):
        out.append(("value", f"market_demand[{r.market},{r.period}].price_per_kwh",
                    f"price at market {r.market} in {r.period} (now {r.price_per_kwh:,.6g} {cur}/kWh)"))
    for r in inst["targets"].itertuples(index=False):
        out.append(("value", f"targets[{r.jurisdiction},{r.metric},{r.material},{r.from_period}].value",
                    f"target {r.metric} {r.material or ''} in {r.jurisdiction} from {r.from_period} "
                    f"(now {r.value:,.6g})".replace("  ", " ")))
    out.append(("value", "emissions.carbon_price", f"carbon price (now {inst.settings.emissions.carbon_price:,.6g} "
                f"{cur}/t CO2e)"))
    return out


# --- scenarios ----------------------------------------------------------------------------------

#: Operations the scenario form offers (docs/scenarios.md).
FORM_OPERATIONS = ("close", "open", "set", "scale", "policies")


def build_override(op: str, key: str, value: str) -> dict[str, Any]:
    """One override item from a row of the scenario form: ``close``/``open`` a facility id, ``set``
    a key to a value (read as YAML: a number, true/false or text), ``scale`` a key by a factor, or
    ``policies`` of a jurisdiction (preset ids separated by ``;``; empty: none)."""
    key, value = key.strip(), value.strip()
    if op not in FORM_OPERATIONS:
        raise WorkspaceError(f"unknown operation {op!r}; expected one of {', '.join(FORM_OPERATIONS)}")
    if not key:
        raise WorkspaceError(f"{op}: expected a {'facility id' if op in ('open', 'close') else 'key'}")
    if op in ("open", "close"):
        return {op: key}
    if op == "policies":
        return {"policies": {key: [v.strip() for v in value.split(";") if v.strip()]}}
    if not value:
        raise WorkspaceError(f"{op} {key}: expected a value")
    if op == "scale":
        try:
            by = float(value)
        except ValueError:
            raise WorkspaceError(f"scale {key}: expected a number, got {value!r}") from None
        if not math.isfinite(by):  # NaN would not even read back equal to itself
            raise WorkspaceError(f"scale {key}: the factor must be a finite number, got {value!r}")
        return {"scale": key, "by": by}
    try:
        parsed = load_yaml(value)
    except yaml.YAMLError:
        parsed = value
    if not isinstance(parsed, str | int | float | bool):
        parsed = value
    if isinstance(parsed, float) and not math.isfinite(parsed):
        raise WorkspaceError(f"set {key}: the value must be a finite number, got {value!r}")
    return {"set": key, "value": parsed}


def _scenario_body(description: str, extends: str, overrides: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if description.strip():
        body["description"] = description.strip()
    if extends.strip():
        body["extends"] = extends.strip()
    body["overrides"] = overrides
    return body


def scenario_yaml(name: str, body: dict[str, Any]) -> str:
    """The scenario as a ``scenarios:`` block (what is written into instance.yaml, or downloaded)."""
    return yaml.safe_dump({"scenarios": {name: body}}, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _flow_yaml(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10_000)
    return text.removesuffix("\n...\n").strip()


#: the comment above a scenarios block the app adds to an instance.yaml that had none
_ADDED_COMMENT = "# Scenario added in network-opt app"
_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*:(?P<rest>.*)$")


def _insert_yaml(text: str, name: str, body: dict[str, Any]) -> str:
    """``instance.yaml`` with the scenario added to its ``scenarios:`` block (made if missing), the
    rest of the text (comments included) left as it was."""
    entry = yaml.safe_dump({name: body}, sort_keys=False, default_flow_style=False, allow_unicode=True)
    block = "".join(f"  {line}\n" for line in entry.splitlines())
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, ln in enumerate(lines) if (m := _TOP_KEY.match(ln)) and m.group("key") == "scenarios"),
                 None)
    if start is None:
        return "".join(lines) + f"\n{_ADDED_COMMENT}\nscenarios:\n" + block
    rest = _TOP_KEY.match(lines[start]).group("rest").split("#", 1)[0].strip()  # type: ignore[union-attr]
    if rest not in ("", "{}"):
        raise WorkspaceError("instance.yaml: the scenarios block is written in flow style; it cannot be added to "
                             "without rewriting it: download the scenario and add it by hand")
    if rest == "{}":
        lines[start] = "scenarios:\n"
    end = start + 1
    last = start
    while end < len(lines):
        ln = lines[end]
        if ln.strip() and not ln.startswith((" ", "\t", "#")):
            break
        if ln.strip() and ln.startswith((" ", "\t")):
            last = end
        end += 1
    return "".join(lines[:last + 1]) + block + "".join(lines[last + 1:])


def _save_manifest(manifest: Path, new: str, expected: dict[str, Any], failure: str) -> None:
    """Write ``new`` as ``manifest`` (through a temporary file) if it reads back as ``expected``;
    else raise :class:`WorkspaceError` with ``failure`` and write nothing."""
    if (load_yaml(new) or {}) != expected:
        raise WorkspaceError(failure)
    tmp = manifest.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(manifest)


def _write_scenario(path: Path, name: str, body: dict[str, Any]) -> None:
    """Write the scenario into the instance at ``path`` (folder or workbook), checking that the
    manifest reads back with exactly the scenario added."""
    if path.is_dir():
        manifest = path / MANIFEST
        old = manifest.read_text(encoding="utf-8")
        new = _insert_yaml(old, name, body)
        before = load_yaml(old) or {}
        expected = {**before, "scenarios": {**(before.get("scenarios") or {}), name: body}}
        _save_manifest(manifest, new, expected, "instance.yaml: the scenario could not be added without "
                       "changing something else; download it and add it by hand")
        return
    from openpyxl import load_workbook

    wb = load_workbook(path)
    if "instance" not in wb.sheetnames:
        raise WorkspaceError(f"{path.name}: no sheet 'instance' to hold the scenario")
    ws = wb["instance"]
    row = ws.max_row + 1
    ws.cell(row=row, column=1, value=f"scenarios.{name}")
    cell = ws.cell(row=row, column=2, value=_flow_yaml(body))
    cell.number_format = "@"
    tmp = path.with_name(f".{path.stem}.tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)


def _remove_yaml(text: str, name: str) -> str:
    """``instance.yaml`` without the scenario ``name`` of its ``scenarios:`` block (and without the
    block when it was the last), the rest of the text (comments included) left as it was."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if (m := _TOP_KEY.match(ln)) and m.group("key") == "scenarios"),
                 None)
    if start is None:
        raise WorkspaceError(f"instance.yaml has no scenarios block holding {name!r}")
    end = start + 1  # the block: indented, blank and comment lines up to the next top-level key
    while end < len(lines) and not (lines[end].strip() and not lines[end].startswith((" ", "\t", "#"))):
        end += 1
    entries = [(i, len(ln) - len(ln.lstrip())) for i, ln in enumerate(lines[start + 1:end], start + 1)
               if ln.strip() and not ln.lstrip().startswith("#")]
    indent = min((n for _, n in entries), default=0)
    heads = [i for i, n in entries if n == indent]
    first = next((i for i in heads if re.match(rf"^\s*['\"]?{re.escape(name)}['\"]?\s*:", lines[i])), None)
    if first is None:
        raise WorkspaceError(f"instance.yaml: the scenario {name!r} is not written as a block entry of scenarios; "
                             "remove it by hand")
    stop = next((i for i in heads if i > first), end)
    if len(heads) == 1:  # the last scenario: the block goes, with the lines the app wrote before it
        first, stop = start, end
        added = ["\n", f"{_ADDED_COMMENT}\n"]
        if lines[max(first - 2, 0):first] == added:
            first -= 2
    return "".join(lines[:first] + lines[stop:])


def delete_scenario(store: Store, ws: Workspace, name: str) -> None:
    """Remove the scenario ``name`` from the workspace's copy of the instance (its ``scenarios:``
    block, or its ``scenarios.NAME`` row of a workbook's settings sheet); refused when another
    scenario builds on it. The manifest must read back with exactly that scenario gone."""
    path = instance_path(store, ws)
    scenarios = _scenarios_of(path)
    if name not in scenarios:
        raise WorkspaceError(f"no scenario {name!r} in this instance")
    users = sorted(n for n, body in scenarios.items() if isinstance(body, dict) and body.get("extends") == name)
    if users:
        raise WorkspaceError(f"the scenario {name!r} cannot be deleted: {', '.join(users)} build"
                             f"{'s' if len(users) == 1 else ''} on it; delete or change those first")
    if path.is_dir():
        manifest = path / MANIFEST
        old = manifest.read_text(encoding="utf-8")
        new = _remove_yaml(old, name)
        expected = dict(load_yaml(old) or {})
        rest = {n: b for n, b in (expected.get("scenarios") or {}).items() if n != name}
        if rest:
            expected["scenarios"] = rest
        else:
            expected.pop("scenarios", None)
        _save_manifest(manifest, new, expected, f"instance.yaml: the scenario {name!r} could not be removed "
                       "without changing something else; remove it by hand")
        return
    from openpyxl import load_workbook

    wb = load_workbook(path)
    sheet = wb["instance"] if "instance" in wb.sheetnames else None
    rows = [c.row for c in (sheet["A"] if sheet is not None else []) if c.value == f"scenarios.{name}"]
    if sheet is None or len(rows) != 1:
        raise WorkspaceError(f"{path.name}: the scenario {name!r} is not one row 'scenarios.{name}' of the sheet "
                             "'instance'; remove it by hand")
    sheet.delete_rows(rows[0])
    tmp = path.with_name(f".{path.stem}.tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)
    if name in _scenarios_of(path):
        raise WorkspaceError(f"{path.name}: the scenario {name!r} is still read after removing its row")


def add_scenario(store: Store, ws: Workspace, name: str, description: str, extends: str,
                 overrides: list[dict[str, Any]]) -> list[Problem]:
    """Add a named scenario to the workspace's instance; return the problems that prevented it
    (nothing written) or an empty list. It is first written into a scratch copy and checked there
    as ``network-opt validate --scenario NAME`` does (overrides that match nothing, values they make
    invalid, the feasibility pre-check)."""
    from network_opt.inputs.load import validate
    from network_opt.inputs.scenarios import BASE, NAME

    path = instance_path(store, ws)
    if not NAME.match(name) or name == BASE:
        return [Problem("scenario", 0, "name", f"{name!r}: expected 1 to 64 letters, digits, - or _ (not 'base')")]
    if not overrides:
        return [Problem("scenario", 0, "overrides", "a scenario needs at least one change")]
    inst = load_instance(store, ws)
    if name in (inst.settings.scenarios or {}):
        return [Problem("scenario", 0, "name", f"a scenario {name!r} exists already; choose another name")]
    body = _scenario_body(description, extends, overrides)
    with tempfile.TemporaryDirectory(prefix=".trial-", dir=store.workspace_dir(ws.id)) as tmp:
        trial = Path(tmp) / path.name
        if path.is_dir():
            _copy_folder(path, trial)
        else:
            shutil.copyfile(path, trial)
        _write_scenario(trial, name, body)
        found = [p for p in validate(trial, name) if p.severity == "error"]
    if found:
        return found
    _write_scenario(path, name, body)
    return []


def _period_years(value: Any) -> list[int]:
    """The years whose rows a ``periods:`` value keeps (plain years or ``{year: Y, length: L}``
    items: the period's year; with ``operations: yearly``, each of its ``L`` calendar years)."""
    if not isinstance(value, list) or not value:
        raise WorkspaceError("periods: expected a list such as [2025, 2030] or [{year: 2025, length: 5}, 2030]")
    years: list[int] = []
    for item in value:
        year = item.get("year") if isinstance(item, dict) else item
        if not isinstance(year, int) or isinstance(year, bool):
            raise WorkspaceError(f"periods: {item!r} is not a year or {{year: Y, length: L}}")
        if not 1900 <= year <= 2200:  # checked here, before a copy is made, rather than in a broken copy
            raise WorkspaceError(f"periods: {year} is not a plausible year (1900-2200)")
        length = item.get("length", 1) if isinstance(item, dict) else 1
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise WorkspaceError(f"periods: {item!r}: length must be a whole number of years >= 1")
        yearly = isinstance(item, dict) and item.get("operations") == "yearly"
        years.extend(range(year, year + length) if yearly else [year])
    if len(set(years)) != len(years):
        raise WorkspaceError("periods: a year is given twice")
    return years


def copy_with_periods(store: Store, ws: Workspace, text: str) -> Workspace:
    """A new workspace: a copy of ``ws``'s instance with ``periods:`` replaced by ``text`` (YAML, as in
    instance.yaml) and the rows of other periods left out of the tables keyed by period (their
    ``period`` column). Scenarios cannot do this (tables are per period); the copy is a new instance,
    named as such, and checked like any other. Through :func:`network_opt.inputs.convert.read_raw`,
    so cells keep their text; a folder's ``instance.yaml`` is written anew (its comments are not kept)."""
    from network_opt.inputs.convert import build_workbook, read_raw, save_workbook, write_folder

    try:
        periods = load_yaml(text)
    except yaml.YAMLError as exc:
        raise WorkspaceError(f"periods: not valid YAML: {exc}") from None
    years = _period_years(periods)
    try:
        raw = read_raw(instance_path(store, ws))
    except InputError as exc:
        raise WorkspaceError(f"the instance cannot be read: {exc}") from None
    raw.settings["periods"] = periods
    keep = {str(y) for y in years}
    for name, frame in raw.tables.items():
        if "period" in frame.columns:
            raw.tables[name] = frame.loc[frame["period"].astype(str).str.strip().isin(keep)].reset_index(drop=True)
    label = ", ".join(map(str, years))
    wid = new_id()
    folder = store.workspace_dir(wid)
    folder.mkdir(parents=True)
    try:
        if ws.entry.lower().endswith(".xlsx"):
            entry = _safe_filename(f"{Path(ws.entry).stem}-periods", ".xlsx")
            save_workbook(build_workbook(raw), folder / entry)
        else:
            entry = "instance"
            (folder / entry).mkdir()
            write_folder(raw, folder / entry, source=f"{ws.name} (periods {label}) in network-opt app")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return store.add_workspace(wid, f"{ws.name} · periods {label}", f"copy of {ws.name} with periods {label}", entry)


def periods_text(inst: Any) -> str:
    """The periods of an instance as instance.yaml writes them (the form's starting value)."""
    items: list[Any] = [p.year if p.length == 1 else {"year": p.year, "length": p.length}
                        | ({"operations": "yearly"} if p.operations == "yearly" else {})
                        for p in inst.investment_periods]
    return _flow_yaml(items)


def scenario_names(store: Store, ws: Workspace) -> list[str]:
    """``base`` and the scenarios the instance declares."""
    from network_opt.inputs.scenarios import BASE

    try:
        inst = load_instance(store, ws)
        return [BASE, *[str(n) for n in (inst.settings.scenarios or {})]]
    except InputError:
        return [BASE]


def download_instance(store: Store, ws: Workspace, out: Path) -> Path:
    """The workspace's instance as a file to download: the workbook, or the folder zipped."""
    path = instance_path(store, ws)
    if path.is_file():
        return path
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            if file.is_file() and not file.is_symlink():
                zf.write(file, Path(_safe_filename(ws.name, "")) / file.relative_to(path))
    return out
