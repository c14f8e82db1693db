"""Colours, markers and names shared by the static and the interactive maps and the charts."""

from __future__ import annotations

import math

#: flow colour by commodity (colour-blind-safe Okabe-Ito hues)
COMMODITY_COLOURS = {
    "eol_packs": "#0072B2",
    "second_life_packs": "#009E73",
    "rejects": "#D55E00",
    "returns": "#CC79A7",
    "black_mass": "#3B3B3B",
}
COMMODITY_LABELS = {
    "eol_packs": "end-of-life packs",
    "second_life_packs": "second-life packs",
    "rejects": "rejects (to recycling)",
    "returns": "returns from second life",
    "black_mass": "black mass",
}

#: facility marker by kind (matplotlib marker codes; the HTML map draws the same shapes)
KIND_MARKERS = {"refurbisher": "s", "recycler": "o", "preprocessor": "^", "refiner": "D"}
KIND_LABELS = {"refurbisher": "refurbisher", "recycler": "recycler (integrated)", "preprocessor": "pre-processor",
               "refiner": "refiner"}
#: fill of refurbishers (they have no technology)
REFURBISHER_COLOUR = "#E69F00"
TECHNOLOGY_PALETTE = ["#1f77b4", "#d62728", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2",
                      "#2ca02c", "#ff7f0e"]
#: ring colours of the rules that bind at facilities (maps with targets), distinct from the fills
TARGET_PALETTE = ["#e6007e", "#00a6d6", "#f0a500", "#6a00c8", "#00a000", "#c80000", "#000000", "#8c6d00"]
COLLECTION_COLOUR = "#7a7a7a"
MARKET_COLOUR = "#6a3d9a"
CANDIDATE_COLOUR = "#9a9a9a"
LAND_COLOUR = "#f2efe9"
CONTEXT_COLOUR = "#e4e1da"
BORDER_COLOUR = "#b5b0a6"
SEA_COLOUR = "#dceaf3"


def technology_colours(technologies: list[str]) -> dict[str, str]:
    """A colour per technology id (sorted, so every map of a study agrees); refurbishers' empty
    technology gets :data:`REFURBISHER_COLOUR`."""
    colours = {"": REFURBISHER_COLOUR}
    for n, tech in enumerate(sorted({t for t in technologies if t})):
        colours[tech] = TECHNOLOGY_PALETTE[n % len(TECHNOLOGY_PALETTE)]
    return colours


def target_colours(rules: list[str]) -> dict[str, str]:
    """A ring colour per rule label (sorted, so every panel and period of a figure agrees)."""
    return {rule: TARGET_PALETTE[n % len(TARGET_PALETTE)] for n, rule in enumerate(sorted(set(rules)))}


def nice_number(x: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above ``x`` (x > 0)."""
    if x <= 0:
        return 0.0
    k = math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * 10**k <= x:
            return float(m * 10**k)
    return float(10**k)


def format_tonnes(t: float) -> str:
    """``12,300 t``, ``1.2 Mt``, ``850 kt``... for legends (t = tonnes)."""
    if t >= 1e6:
        return f"{t / 1e6:g} Mt"
    if t >= 1e4:
        return f"{t / 1e3:g} kt"
    return f"{t:,.0f} t" if t >= 10 else f"{t:g} t"
