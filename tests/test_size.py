"""Size known before building: the projected rows, columns and nonzeros against the built model,
the memory estimate against the measured peak, validate --stats, solve's refusal with the options
that fit (--force, --memory-limit, --prune), default lane pruning, and bounded workbook reading."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from network_opt import SolveOptions, load, solve
from network_opt.cli.app import app
from network_opt.datasets.generate import GeneratorSpec, generate
from network_opt.inputs import xlsx
from network_opt.inputs.convert import convert
from network_opt.model import build_model, prepare
from network_opt.model import size as size_module
from network_opt.model.size import (
    BASE_BYTES,
    ModelSize,
    ModelTooLarge,
    available_memory,
    format_bytes,
    parse_bytes,
    prepare_sized,
    project_size,
    pruned_flows,
)
from network_opt.runs.pipeline import model_size
from network_opt.solver.handoff import compile_model

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "instances" / "toy"
CHINA_EAST = ROOT / "instances" / "china-east"
runner = CliRunner()


def _gen(folder: Path, points: int, candidates: int, periods: int) -> Path:
    spec = GeneratorSpec(seed=1, collection_points=points, candidates=candidates, periods=periods, chemistries=3)
    return generate(folder, spec)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _gen(tmp_path_factory.mktemp("size") / "g60x12x2", 60, 12, 2)


def _built(inst_path: Path, **settings: object) -> tuple[ModelSize, dict[str, int]]:
    inst = load(inst_path).with_settings(settings)
    d = prepare(inst)
    m = build_model(d)
    mm, _, _ = compile_model(m)
    counts = model_size(m)
    return project_size(d), {"rows": mm.shape[0], "columns": counts["variables"], "highs_columns": mm.shape[1],
                             "integers": counts["binaries"] + counts["integers"], "nonzeros": len(mm.index)}


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The time-structure micro instance of the reference LP forms (yearly operations, stock, ramp-up)."""
    from regression.write_reference_lp import write_time_micro_instance

    return write_time_micro_instance(tmp_path_factory.mktemp("size") / "time-micro")


@pytest.fixture(scope="module")
def small_yearly(small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``small`` with its periods (two years each) operated yearly (supply, prices and demand of a
    period's year copied to its second year) and stock at every collection point."""
    import shutil

    import pandas as pd
    import yaml

    folder = tmp_path_factory.mktemp("size") / "yearly"
    shutil.copytree(small, folder)
    manifest = yaml.safe_load((folder / "instance.yaml").read_text())
    years = [p["year"] for p in manifest["periods"]]
    manifest["periods"] = [{"year": y, "length": 2, "operations": "yearly"} for y in years]
    for table in ("supply", "material_prices", "market_demand"):
        path = folder / manifest["tables"][table]
        frame = pd.read_csv(path)
        pd.concat([frame, frame.assign(period=frame["period"] + 1)]).to_csv(path, index=False)
    sites = pd.read_csv(folder / manifest["tables"]["supply"])["site"].unique()
    pd.DataFrame({"site": sites, "cap_t": 50.0, "holding_cost_per_t_year": 10.0}).to_csv(folder / "storage.csv",
                                                                                        index=False)
    manifest["tables"]["storage"] = "storage.csv"
    manifest["stock"] = {"allowed": True, "max_age_years": 2}
    (folder / "instance.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


@pytest.mark.parametrize(("which", "settings"), [
    ("toy", {}),
    ("china-east", {}),
    ("time-micro", {}),
    ("small-yearly", {}),
    ("small", {}),
    ("small", {"model.strong_linking": False}),
    ("small", {"targets.soft": True, "uncollected.allowed": True, "disposal.allowed": True, "emissions.cap_t": 1e9}),
    ("small", {"transport.nearest_facilities": 2.0}),
    # issue 17's model options: capacity cover (with stock, and with escapes), linking variants
    ("small-yearly", {"model.capacity_cover": True, "model.link_by_level": True, "model.link_max_share": 1.0}),
    ("small", {"model.capacity_cover": True, "uncollected.allowed": True, "disposal.allowed": True,
               "model.link_max_share": 0.5}),
    ("china-east", {"model.candidate_reductions": True, "model.flow_bounds": True}),
    ("small", {"model.candidate_reductions": True, "model.flow_bounds": True, "model.objective_scale": -20}),
])
def test_projection_equals_the_built_model(which: str, settings: dict[str, object], small: Path, timed: Path,
                                           small_yearly: Path) -> None:
    path = {"toy": TOY, "china-east": CHINA_EAST, "small": small, "time-micro": timed,
            "small-yearly": small_yearly}[which]
    projected, built = _built(path, **settings)
    assert projected.rows == built["rows"]
    assert projected.columns == built["columns"] == built["highs_columns"]
    assert projected.integers == built["integers"]
    assert projected.nonzeros == built["nonzeros"]
    assert sum(projected.rows_by_family.values()) == projected.rows
    assert projected.memory_bytes > BASE_BYTES


def test_pruning_projection_from_the_unpruned_data_matches_a_re_prepared_instance(small: Path) -> None:
    full = prepare(load(small))
    for k in (1, 3):
        emulated = project_size(full, flows=pruned_flows(full, k))
        inst = load(small).with_settings({"transport.nearest_facilities": k})
        real = project_size(prepare(inst))
        # never below the real one (downstream flows the pruning removes are kept), close to it
        assert real.nonzeros <= emulated.nonzeros <= 1.05 * real.nonzeros
        assert real.rows <= emulated.rows <= 1.05 * real.rows
        assert emulated.nonzeros < project_size(full).nonzeros


def test_summary_records_the_projection_next_to_the_built_model() -> None:
    sol = solve(TOY)
    p, m = sol.summary["projected"], sol.summary["model"]
    assert (p["rows"], p["columns"], p["integers"], p["nonzeros"]) == (
        m["constraints"], m["variables"], m["binaries"] + m["integers"], m["nonzeros"])
    assert p["memory_bytes"] > 0 and p["available_memory_bytes"] > 0 and p["forced"] is False
    assert p["lanes"] == sol.summary["lanes"]
    assert sol.summary["pruning"]["source"] == "none" and sol.summary["pruning"]["nearest_facilities"] == 0


CHILD = r"""
import json, sys
from pathlib import Path
# a solve writes network.gpkg (geopandas) while its model is alive: part of the peak the projection
# (BUILD_BASE_BYTES) covers; `import network_opt` no longer brings matplotlib along, so import it here
import network_opt.results.gpkg
from network_opt import load
from network_opt.solver.handoff import HighsModel
from network_opt.model import build_model
from network_opt.model.size import prepare_sized
from network_opt.solver.options import SolveOptions
from network_opt.solver.highs import solve_model
d, size, _ = prepare_sized(load(sys.argv[1]))
m = build_model(d)
hm = HighsModel(m)
# no branch and bound: presolve and the start's LP only, the same peak however loaded the machine is
# (solve_model sets threads, limits and output, not the node limit)
hm.h.setOptionValue("mip_max_nodes", 0)
solve_model(m, SolveOptions(time_limit=300, mip_gap=1e-4), solver=hm, data=d)
assert hm.h.getOptionValue("mip_max_nodes")[1] == 0 and hm.h.getInfo().mip_node_count <= 0
peak = next(int(x.split()[1]) * 1024 for x in Path("/proc/self/status").read_text().splitlines()
            if x.startswith("VmHWM:"))
print(json.dumps({"build": size.memory_build_bytes, "projected": size.memory_bytes, "peak": peak,
                  "nonzeros": size.nonzeros}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (VmHWM)")
def test_memory_estimate_within_30_percent_of_the_measured_peak(tmp_path: Path) -> None:
    """Three generated sizes, each loaded, built, handed off and given to HiGHS in a fresh process
    with ``mip_max_nodes = 0`` (presolve and start LP, no branch and bound: deterministic, unlike a
    time limit); its peak resident set size against the deterministic part of the projection
    (``memory_build_bytes``) made before building. The full projection is that times the search
    allowance ``SEARCH_FACTOR``."""
    nonzeros = []
    for points, candidates, periods in ((20, 6, 2), (150, 25, 2), (300, 40, 2)):
        folder = _gen(tmp_path / f"g{points}", points, candidates, periods)
        done = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True,
                              check=True, timeout=600)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        nonzeros.append(r["nonzeros"])
        ratio = r["build"] / r["peak"]
        print(f"{points}x{candidates}x{periods}: projected {r['build'] / 1e6:,.1f} MB (build part), "
              f"peak {r['peak'] / 1e6:,.1f} MB, ratio {ratio:.2f}")
        assert 0.7 <= ratio <= 1.3, (points, r, f"{ratio:.2f}")
        assert r["projected"] == int(size_module.SEARCH_FACTOR * r["build"])
    assert nonzeros[0] < 50_000 < nonzeros[1] < nonzeros[2]  # the sizes differ by far (memory 0.2-0.8 GB)


def test_validate_stats_prints_the_projected_size() -> None:
    result = runner.invoke(app, ["validate", str(TOY), "--stats"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith(": valid")
    assert "lanes: 17 (eol_packs 14, rejects 2, second_life_packs 1)" in lines
    assert "rows: 32" in lines
    assert "columns: 21 (17 continuous, 4 integer)" in lines
    assert "nonzeros: 100" in lines
    memory = next(line for line in lines if line.startswith("memory: about "))
    assert format_bytes(project_size(prepare(load(TOY))).memory_bytes) in memory and "available" in memory
    pruned = runner.invoke(app, ["validate", str(TOY), "--stats", "--prune", "1"])
    assert pruned.exit_code == 0 and "lanes pruned to the 1 nearest facilities by --prune" in pruned.output


def test_parse_and_available_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_bytes("8G") == 8 * 2**30 and parse_bytes("512M") == 512 * 2**20 and parse_bytes("2.5GiB") == int(
        2.5 * 2**30) and parse_bytes("1000") == 1000
    for bad in ("lots", "-1G", "0", ""):
        with pytest.raises(ValueError):
            parse_bytes(bad)
    assert available_memory() > 0
    monkeypatch.setenv("NETWORK_OPT_MEMORY_LIMIT", "3G")
    assert available_memory() == 3 * 2**30


def test_solve_refuses_a_model_above_the_memory_limit_with_options_that_fit(small: Path, tmp_path: Path) -> None:
    projected = project_size(prepare(load(small)))
    limit = int(BASE_BYTES + 0.6 * (projected.memory_bytes - BASE_BYTES))
    out = tmp_path / "out"
    result = runner.invoke(app, ["solve", str(small), "--out", str(out), "--memory-limit", str(limit), "-q"])
    assert result.exit_code == 2, result.output
    assert "nothing was built" in result.output and format_bytes(projected.memory_bytes) in result.output
    assert "options that fit (projected):" in result.output and "--force" in result.output
    # the limit is the user's, not what the machine has, and the remedy is to raise it
    assert f"the memory limit set (--memory-limit) is {format_bytes(limit)}" in result.output
    assert "raise the limit (--memory-limit)" in result.output and "is available" not in result.output
    assert not (out / "summary.json").exists()
    # every option offered does fit when used (their projections are upper bounds)
    offered = [line.strip().split(":")[0] for line in result.output.splitlines() if line.startswith("  --")]
    assert any(o.startswith("--prune ") for o in offered) and any(o.startswith("--aggregate ") for o in offered)
    for option in offered:
        flag, value = option.split()[:2]
        kwargs = {"prune": int(value)} if flag == "--prune" else {"aggregate": int(value)}
        inst = load(small)
        if "aggregate" in kwargs:
            from network_opt.model.aggregate import aggregate

            inst, _ = aggregate(inst, kwargs.pop("aggregate"))
        _, size, _ = prepare_sized(inst, kwargs.get("prune"))
        assert size.memory_bytes <= limit, option
    # the same limit from the environment; --force solves anyway and says so in summary.json
    env = {"NETWORK_OPT_MEMORY_LIMIT": str(limit)}
    refused = runner.invoke(app, ["solve", str(small), "--out", str(out), "-q"], env=env)
    assert refused.exit_code == 2 and "the memory limit set (NETWORK_OPT_MEMORY_LIMIT)" in refused.output
    forced = runner.invoke(app, ["solve", str(small), "--out", str(out), "-q", "--force", "--time-limit", "5"],
                           env=env)
    assert forced.exit_code == 0, forced.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["projected"]["forced"] is True and summary["projected"]["available_memory_bytes"] == limit
    bad = runner.invoke(app, ["solve", str(small), "--out", str(tmp_path / "o2"), "--memory-limit", "lots"])
    assert bad.exit_code == 2 and "not a memory size" in bad.output


def test_api_raises_model_too_large_unless_forced() -> None:
    with pytest.raises(ModelTooLarge) as exc:
        solve(TOY, memory_limit=1000)
    assert "no single remedy tried fits" in exc.value.problems[0].message  # even an empty model needs the base
    forced = solve(TOY, memory_limit=1000, force=True)  # built and solved, its search stopped by the guard
    assert forced.status == "no_solution" and forced.summary["termination"] == "memoryLimit"


def test_prune_option_and_default_pruning(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quick = SolveOptions(time_limit=5, mip_gap=0.05)  # only the summaries matter here
    full = solve(small, quick, prune=0, memory_limit=2**40).summary
    assert full["pruning"]["source"] == "--prune" and full["pruning"]["nearest_facilities"] == 0
    pruned = solve(small, quick, prune=2, memory_limit=2**40).summary
    assert pruned["pruning"] == {**pruned["pruning"], "source": "--prune", "nearest_facilities": 2}
    assert pruned["projected"]["flows"] < full["projected"]["flows"]
    # above the threshold, lanes are pruned by default, stated in the summary and as a warning
    monkeypatch.setattr(size_module, "PRUNE_ABOVE_FLOWS", full["projected"]["flows"] - 1)
    monkeypatch.setattr(size_module, "DEFAULT_PRUNE_K", 2)
    auto = solve(small, quick, memory_limit=2**40).summary
    assert auto["pruning"]["source"] == "default" and auto["pruning"]["nearest_facilities"] == 2
    assert auto["pruning"]["flows_unpruned"] == full["projected"]["flows"]
    assert auto["projected"]["flows"] == pruned["projected"]["flows"]
    assert any("pruned to the 2 nearest facilities" in w and "--prune 0" in w for w in auto["warnings"])
    assert solve(small, quick, prune=0, memory_limit=2**40).summary["pruning"]["source"] == "--prune"  # opt out


def test_default_pruning_threshold_is_above_every_shipped_instance() -> None:
    for folder in sorted((ROOT / "instances").glob("*/instance.yaml")):
        _, size, pruning = prepare_sized(load(folder.parent))
        assert pruning["source"] != "default", folder
        assert size.flows < size_module.PRUNE_ABOVE_FLOWS / 10


# ---------------------------------------------------------------- bounded workbook reading


@pytest.fixture(scope="module")
def toy_xlsx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(TOY, "xlsx", tmp_path_factory.mktemp("book") / "toy.xlsx")


def _with_member(src: Path, dst: Path, name: str, data: bytes) -> Path:
    """A copy of workbook ``src`` with member ``name`` replaced by ``data`` (deflated)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, data if info.filename == name else zin.read(info.filename))
    return dst


def test_zip_bomb_workbook_is_refused_without_reading_it(toy_xlsx: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    row = b"<row><c t=\"inlineStr\"><is><t>x</t></is></c></row>"
    sheet = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/"
             b"spreadsheetml/2006/main\"><sheetData>" + row * 1_000_000 + b"</sheetData></worksheet>")
    assert len(sheet) > 45_000_000
    with zipfile.ZipFile(toy_xlsx) as z:
        target = next(n for n in z.namelist() if n.startswith("xl/worksheets/"))
    bomb = _with_member(toy_xlsx, tmp_path / "bomb.xlsx", target, sheet)
    assert bomb.stat().st_size < 1_000_000
    opened: list[str] = []  # members decompressed: the bomb must be refused from the zip directory alone
    real_open = zipfile.ZipFile.open

    def recording_open(self: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)
    result = runner.invoke(app, ["validate", str(bomb)])
    assert target not in opened
    assert result.exit_code == 2
    first = result.output.splitlines()[0]
    assert first.startswith(f"bomb.xlsx:0:: refused: member {target} would expand from ")
    assert "a zip bomb?" in first and "nothing was read" in first
    out = tmp_path / "out"
    assert runner.invoke(app, ["solve", str(bomb), "--out", str(out)]).exit_code == 2
    assert not (out / "summary.json").exists()


def test_workbook_limits_on_total_size_and_cells(toy_xlsx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_UNCOMPRESSED_BYTES", 1000)
    result = runner.invoke(app, ["validate", str(toy_xlsx)])
    assert result.exit_code == 2 and "toy.xlsx:0:: refused: the workbook would expand to" in result.output
    monkeypatch.setattr(xlsx, "MAX_UNCOMPRESSED_BYTES", 256 * 2**20)
    monkeypatch.setattr(xlsx, "MAX_SHEET_CELLS", 20)
    result = runner.invoke(app, ["validate", str(toy_xlsx)])
    assert result.exit_code == 2 and "more than 20 cells; delete the unused rows" in result.output
    assert "toy.xlsx[sites]:0::" in result.output


def test_damaged_zip_names_the_file(toy_xlsx: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.xlsx"
    data = toy_xlsx.read_bytes()
    cut.write_bytes(data[: len(data) // 2] + data[-22:])  # the end record kept, the directory points nowhere
    result = runner.invoke(app, ["validate", str(cut)])
    assert result.exit_code == 2
    assert result.output.startswith("cut.xlsx:0:: not an .xlsx workbook (zip) or damaged: ")


def test_solve_says_a_plan_is_optimal_for_the_lanes_kept_when_pruned(tmp_path: Path) -> None:
    pruned = runner.invoke(app, ["solve", str(TOY), "--out", str(tmp_path / "p"), "--prune", "1"])
    assert pruned.exit_code == 0, pruned.output
    assert ("note: lanes pruned to the 1 nearest facilities of each kind and technology per origin (--prune): "
            "optimal for the lanes kept; --prune 0 solves the whole network") in pruned.output
    whole = runner.invoke(app, ["solve", str(TOY), "--out", str(tmp_path / "w"), "--prune", "0"])
    assert whole.exit_code == 0 and "note: lanes pruned" not in whole.output
