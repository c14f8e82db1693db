"""``network-opt map``: draw a solved plan from its results folder as a PNG/SVG/PDF or an HTML map."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from network_opt.cli import EXIT_INPUT, app, err, out

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
) -> None:
    """Draw the flow map of a plan: facilities by kind, technology and capacity, flows by commodity."""
    from network_opt.plot.figures import save_figure
    from network_opt.plot.result import ResultsError, from_folder, scenario_folders

    suffix = out_file.suffix.lower()
    if suffix not in (*STATIC, ".html"):
        err.print(f"error: --out {out_file}: expected a .png, .svg, .pdf or .html file", markup=False)
        raise typer.Exit(EXIT_INPUT)
    if not results_dir.is_dir():
        err.print(f"error: {results_dir}: no such folder", markup=False)
        raise typer.Exit(EXIT_INPUT)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.stem}.tmp{suffix}")
    try:
        scenarios = scenario_folders(results_dir)
        compare = scenario is None and not (results_dir / "summary.json").is_file() and scenarios
        if suffix == ".html":
            from network_opt.plot.interactive import write_html_map

            if compare:
                raise ResultsError(f"{results_dir} holds scenarios {', '.join(scenarios)}; an HTML map shows one: "
                                   "choose it with --scenario")
            write_html_map(from_folder(results_dir, scenario), tmp, period, min_flow=min_flow)
        else:
            from network_opt.plot.maps import flow_map, flow_maps

            if compare:
                plans = {name: from_folder(results_dir / name) for name in scenarios}
                fig = flow_maps(plans, None if period is None else [period], min_flow=min_flow, labels=labels)
            else:
                res = from_folder(results_dir, scenario)
                if period is None and len(res.years) > 1:
                    fig = flow_maps(res, min_flow=min_flow, labels=labels)
                else:
                    fig = flow_map(res, period, min_flow=min_flow, labels=labels)
            save_figure(fig, tmp)
        tmp.replace(out_file)
    except ResultsError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    out.print(f"wrote {out_file}", markup=False)
