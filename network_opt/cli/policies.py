"""``network-opt policies``: list the shipped policy presets."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from network_opt.cli.app import (
    EXIT_INPUT,
    app,
    err,
    out,
)


@app.command()
def policies(
    preset: Annotated[str | None, typer.Argument(help="Show one preset (default: list them all).")] = None,
) -> None:
    """List the shipped policy presets with their targets, bans, dates, sources and bases (what each rate is of)."""
    from network_opt.inputs.policies import available_presets, describe_scope, presets_table

    presets = available_presets()
    if preset is not None and preset not in presets:
        err.print(f"error: unknown preset {preset!r}; expected one of {', '.join(sorted(presets))}", markup=False)
        raise typer.Exit(EXIT_INPUT)
    rules = presets_table()
    for pid, p in sorted(presets.items()):
        if preset is not None and pid != preset:
            continue
        out.print(f"[bold]{pid}[/bold]: {p.name} (suggested for {p.applies_to})")
        out.print(f"  legal source: {p.legal_source} {p.url}", markup=False)
        r: Any  # a row of presets_table(): its fields are the table's columns
        for r in rules.loc[rules["preset"] == pid].itertuples(index=False):
            if r.rule == "target":
                what = f"target {r.metric_or_kind} {r.material_or_commodity} >= {r.value:g}".replace("  ", " ")
            elif r.metric_or_kind == "export":
                what = f"ban export of {r.material_or_commodity} to {r.to}"
            elif r.metric_or_kind == "import":
                what = f"ban import of {r.material_or_commodity}"
            elif r.metric_or_kind == "application":
                what = f"ban second-life sales into {r.application}"
            else:
                what = f"ban {r.metric_or_kind}"
            confirm = ", TO BE CONFIRMED" if r.needs_confirmation else ""
            until = f" until {r.until_period} (ends {r.legal_end_date})" if r.until_period else ""
            out.print(f"  - {what} from {r.from_period}{until} (legal date {r.legal_date}; confidence "
                      f"{r.confidence}{confirm})", markup=False)
            if r.rule == "target":
                out.print(f"      {describe_scope(r.scope, r.process)}", markup=False)
            out.print(f"      source: {r.source}", markup=False)
            out.print(f"      base: {r.base}", markup=False)
            if r.note:
                out.print(f"      note: {r.note}", markup=False)
        n: Any  # a row of the not_modelled table: its fields are the table's columns
        for n in p.not_modelled.itertuples(index=False):
            confirm = ", TO BE CONFIRMED" if n.needs_confirmation else ""
            out.print(f"  - not modelled yet: {n.rule} ({n.citation}; legal date {n.legal_date}; confidence "
                      f"{n.confidence}{confirm})", markup=False)
            out.print(f"      base: {n.base}", markup=False)
        out.print("")
