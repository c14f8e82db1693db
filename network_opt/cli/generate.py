"""``network-opt generate``: write a synthetic instance drawn around real cities of a region."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from network_opt.cli.app import (
    EXIT_INPUT,
    app,
    err,
    out,
)
from network_opt.common.errors import OutputExistsError, OutputRefused


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the instance into (new or empty).")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 0,
    collection_points: Annotated[int, typer.Option(min=1, help="Collection points.")] = 50,
    candidates: Annotated[int, typer.Option(min=1, help="Candidate facility sites.")] = 20,
    periods: Annotated[int, typer.Option(min=1, max=20, help="Periods (2 years each).")] = 3,
    chemistries: Annotated[int, typer.Option(min=1, max=5, help="Chemistries (LFP, NCM, NCA, LMO, other).")] = 3,
    markets: Annotated[int, typer.Option(min=1, help="Second-life markets.")] = 5,
    region: Annotated[str, typer.Option(help="china, europe or us.")] = "china",
    max_lane_km: Annotated[float, typer.Option(min=1, help="Longest lane (widened if a point would be cut off).")]
    = 1500.0,
) -> None:
    """Write a synthetic instance of any size, drawn around real cities of a region."""
    from network_opt.datasets.generate import REGIONS, GeneratorSpec
    from network_opt.datasets.generate import generate as run_generate

    if region not in REGIONS:
        err.print(f"error: unknown region {region!r}; expected one of {', '.join(REGIONS)}", markup=False)
        raise typer.Exit(EXIT_INPUT)
    from network_opt.common.outdir import check_output_dir, output_lock

    try:
        with output_lock(out_dir):  # a second generate into the same folder is refused
            check_output_dir(out_dir, False)  # new or empty; never a file or the working directory
            spec = GeneratorSpec(seed=seed, collection_points=collection_points, candidates=candidates,
                                 periods=periods, chemistries=chemistries, markets=markets, region=region,
                                 max_lane_km=max_lane_km)
            run_generate(out_dir, spec)
    except OutputRefused as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    except OutputExistsError:
        err.print(f"error: {out_dir} exists and is not empty; choose a new folder", markup=False)
        raise typer.Exit(EXIT_INPUT) from None
    out.print(f"wrote {out_dir}", markup=False)
