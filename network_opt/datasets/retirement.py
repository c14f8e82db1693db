"""Retirement model: end-of-life battery tonnes from vehicle sales.

A vehicle sold in year v retires (its pack reaches end of first life) at age a with probability
P(a) = F(a) - F(a - 1), a = 1, 2, ..., where F is a Weibull distribution function with shape k
and scale lambda (years): F(a) = 1 - exp(-(a / lambda)^k). Tonnes retiring in year y:

    T(y, c) = sum_v  N_v  P(y - v)  E_v  s_{v,c}  m_c / 1000

with N_v vehicles sold in year v, E_v the mean pack energy (kWh) of year-v vehicles, s_{v,c}
the share of chemistry c in year v and m_c the pack mass per kWh of chemistry c (kg/kWh).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd


def weibull_retirement_probabilities(shape: float, scale: float, max_age: int = 40) -> pd.Series:
    """P(retire at age a) for a = 1..max_age (the tail beyond max_age is dropped)."""
    if shape <= 0 or scale <= 0:
        raise ValueError("Weibull shape and scale must be positive")

    def cdf(a: float) -> float:
        return 1.0 - math.exp(-((a / scale) ** shape)) if a > 0 else 0.0

    return pd.Series({a: cdf(a) - cdf(a - 1) for a in range(1, max_age + 1)}, name="probability")


def retired_tonnes(sales: Mapping[int, float], pack_kwh: Mapping[int, float],
                   chemistry_shares: Mapping[int, Mapping[str, float]], kg_per_kwh: Mapping[str, float],
                   years: list[int], shape: float, scale: float) -> pd.DataFrame:
    """End-of-life tonnes per (year, chemistry) for ``years``.

    ``sales``: vehicles per sale year; ``pack_kwh``: mean pack kWh per sale year;
    ``chemistry_shares``: per sale year, share of each chemistry (summing to 1); ``kg_per_kwh``:
    pack mass per kWh by chemistry. Returns columns year, chemistry, vehicles, tonnes.
    """
    prob = weibull_retirement_probabilities(shape, scale)
    rows = []
    for y in years:
        for v, n in sales.items():
            age = y - v
            if age < 1 or age not in prob.index:
                continue
            vehicles = n * prob[age]
            for chem, share in chemistry_shares[v].items():
                tonnes = vehicles * pack_kwh[v] * share * kg_per_kwh[chem] / 1000.0
                rows.append((y, chem, vehicles * share, tonnes))
    out = pd.DataFrame(rows, columns=["year", "chemistry", "vehicles", "tonnes"])
    return out.groupby(["year", "chemistry"], as_index=False).sum()
