"""``network-opt map``: draw a solved plan from its results folder as a PNG/SVG/PDF or an HTML map."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from network_opt.cli.app import EXIT_INPUT, app, err, out
from network_opt.solver.status import has_plan

if TYPE_CHECKING:
    from network_opt.results.read import PlotResult

STATIC = (".png", ".svg", ".pdf")


@app.command("map")
def map_command(
    results_dir: Annotated[Path, typer.Argument(help="Results folder written by `network-opt solve` (or a folder "
                                                     "of scenario results, with --scenario).")],
    out_file: Annotated[Path, typer.Option("--out", help="FILE.png (also .svg, .pdf): static map; FILE.html: "
                                                         "interactive offline map.")],
    period: Annotated[int | None, typer.Option(help="Period (year) to draw. Default: every period (small "
                                                    "multiples in a PNG, a period selector in HTML).")] = None,
    min_flow: Annotated[float, typer.Option("--min-flow", min=0, help="Hide flows below this many t/yr "
                                                                      "(summed over chemistries and grades).")] = 0.0,
    scenario: Annotated[str | None, typer.Option(help="Scenario sub-folder of RESULTS_DIR to draw (default: the "
                                                      "folder itself; a PNG of a scenario folder shows them all "
                                                      "side by side).")] = None,
    labels: Annotated[int, typer.Option(min=0, help="Most facility sites labelled per map.")] = 20,
    targets: Annotated[bool, typer.Option("--targets", help="Ring each facility where a target of scope "
                                                            "facility, chain or step binds in the period (shadow price "
                                                            "above 0, or achieved = required; targets.csv), one "
                                                            "colour per rule named in the legend; dashed where "
                                                            "the target is missed (soft targets).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out if that file exists (else an "
                                                                "existing file is never touched).")] = False,
) -> None:
    """Draw the flow map of a plan: facilities by kind, technology and capacity, flows by commodity; for a
    stochastic design (solve --stochastic), the robustness map: each facility coloured by the share of
    scenarios whose own optimum opens it, the stochastic and expected-value plans side by side."""
    from network_opt.plotting.figures import save_figure
    from network_opt.results.read import ResultsError, scenario_folders

    suffix = out_file.suffix.lower()
    if suffix not in (*STATIC, ".html"):
        err.print(f"error: --out {out_file}: expected a .png, .svg, .pdf or .html file", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if not results_dir.is_dir():
        err.print(f"error: {results_dir}: no such folder", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if out_file.is_dir() or (out_file.exists() and not overwrite):
        what = "is a folder" if out_file.is_dir() else "exists; choose a new file, or --overwrite to replace it"
        err.print(f"error: --out {out_file} {what}; nothing written", markup=False)
        raise typer.Exit(EXIT_INPUT)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.stem}.{os.getpid()}.tmp{suffix}")  # the file appears only when complete
    try:
        if (results_dir / "robustness.csv").is_file() and scenario is None:
            # a stochastic design (solve --stochastic): the open share of each facility over the scenarios
            if suffix == ".html":
                raise ResultsError(f"{results_dir} holds a stochastic design; its robustness map is static: "
                                   "use --out FILE.png (or .svg, .pdf)")
            from network_opt.plotting.robustness import robustness_figure

            save_figure(robustness_figure(results_dir), tmp)
            tmp.replace(out_file)
            out.print(f"wrote {out_file}", markup=False)
            return
        scenarios = scenario_folders(results_dir)
        compare = scenario is None and not (results_dir / "summary.json").is_file() and (
            scenarios or (results_dir / "comparison.csv").is_file())
        if suffix == ".html":
            from network_opt.plotting.interactive import write_html_map

            if compare:
                raise ResultsError(f"{results_dir} holds scenarios {', '.join(scenarios)}; an HTML map shows one: "
                                   "choose it with --scenario")
            write_html_map(_plan(results_dir, scenario), tmp, period, min_flow=min_flow, targets=targets)
        else:
            from network_opt.plotting.maps import flow_map, flow_maps

            if compare:
                plans = _plans(results_dir, scenarios)
                fig = flow_maps(plans, None if period is None else [period], min_flow=min_flow, labels=labels,
                                targets=targets)
            else:
                res = _plan(results_dir, scenario)
                if period is None and len(res.years) > 1:
                    fig = flow_maps(res, min_flow=min_flow, labels=labels, targets=targets)
                else:
                    fig = flow_map(res, period, min_flow=min_flow, labels=labels, targets=targets)
            save_figure(fig, tmp)
        tmp.replace(out_file)
    except ResultsError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    out.print(f"wrote {out_file}", markup=False)


def _no_plan(folder: Path) -> str | None:
    """Why the results folder holds no plan to draw (its status, e.g. infeasible), or None when
    it has one or is not a results folder at all."""
    from network_opt.runs.executors import read_summary

    summary = read_summary(folder)
    if summary is None:
        return None  # not a results folder: from_folder says so
    status = str(summary.get("status", ""))
    if has_plan(status):
        return None
    return status or "no status"


def _plan(results_dir: Path, scenario: str | None) -> PlotResult:
    """The plan of ``results_dir`` (or of its ``scenario`` sub-folder); a clear error when that
    run has none."""
    from network_opt.results.read import ResultsError, from_folder

    folder = results_dir / scenario if scenario is not None and (results_dir / scenario).is_dir() else results_dir
    if scenario is not None and folder == results_dir:
        unsolved = _unsolved(results_dir, [])
        if scenario in unsolved:
            raise ResultsError(f"scenario {scenario!r} has no plan to draw ({unsolved[scenario]}); its reason is in "
                               f"the error row of {results_dir / 'comparison.csv'}")
    why = _no_plan(folder)
    if why is not None:
        what = f"scenario {scenario!r}" if scenario is not None else str(results_dir)
        raise ResultsError(f"{what} has no plan to draw ({why}); see its summary.json")
    return from_folder(results_dir, scenario)


def _plans(results_dir: Path, scenarios: list[str]) -> dict[str, PlotResult]:
    """The plans of a comparison folder's scenarios; those without one (infeasible, invalid,
    failed, or a folder that cannot be drawn) are skipped with a note on stderr."""
    from network_opt.results.read import ResultsError, from_folder

    plans: dict[str, PlotResult] = {}
    skipped: list[str] = []
    for name in scenarios:
        why = _no_plan(results_dir / name)
        if why is None:
            try:
                plans[name] = from_folder(results_dir / name)
                continue
            except ResultsError as exc:
                why = str(exc)
        skipped.append(f"{name} ({why})")
    skipped += [f"{name} ({why})" for name, why in _unsolved(results_dir, scenarios).items()]
    for text in skipped:
        err.print(f"note: skipping scenario {text}: no plan to draw", markup=False)
    if not plans:
        raise ResultsError(f"{results_dir}: no scenario has a plan to draw")
    return plans


def _unsolved(results_dir: Path, folders: list[str]) -> dict[str, str]:
    """Scenarios that comparison.csv lists without a results folder (not solved: invalid, or
    infeasible by the pre-check), with their status."""
    import pandas as pd

    path = results_dir / "comparison.csv"
    if not path.is_file():
        return {}
    try:
        table = pd.read_csv(path, index_col="kpi", keep_default_na=False)
    except (OSError, ValueError):
        return {}
    if "status" not in table.index:
        return {}
    status = table.loc["status"].drop("unit", errors="ignore")
    return {str(n): str(v) for n, v in status.items() if str(n) not in folders and not has_plan(v)}
