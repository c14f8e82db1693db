"""Prices that are paid: payable factors of what the network sells, and what it pays for packs.

- :func:`payable_factors`: the share of the benchmark price (``material_prices``) a buyer pays,
  per seller kind (recovered material) or external refiner (black mass), period and material
  (``payables.csv``; 1 where no row applies);
- :func:`pack_prices`: currency per tonne the network pays the owner of the end-of-life packs it
  collects (negative: a gate fee it is paid), per supply row (``pack_prices.csv``; 0 where no row
  applies).

A row in force in a period is one whose ``from_period`` is not after it; the more specific row wins
(a named seller or buyer over an empty one; a named grade over an empty one, then a jurisdiction
over a group containing it over no jurisdiction), and among rows alike the latest ``from_period``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from network_opt.inputs.instance import Instance
from network_opt.inputs.jurisdictions import jurisdiction_members
from network_opt.inputs.read import ROW


def payable_factors(inst: Instance, product: str, who: list[str]) -> pd.DataFrame:
    """Payable factor (share of the benchmark price, 0..1) indexed by (``who``, period), one column
    per material: ``who`` are seller kinds for ``product`` ``material`` and external refiner ids for
    ``black_mass``."""
    mats = inst["materials"]["id"].tolist()
    years = inst.years
    index = pd.MultiIndex.from_product([who, years], names=["who", "period"])
    out = pd.DataFrame(1.0, index=index, columns=mats)
    rows = inst["payables"]
    rows = rows.loc[rows["product"] == product]
    if rows.empty or not who or not mats:
        return out
    col = "seller" if product == "material" else "buyer"
    cand = rows[[col, "material", "payable", "from_period"]].merge(pd.DataFrame({"who": who}), how="cross")
    cand = cand.loc[(cand[col] == "") | (cand[col] == cand["who"])]
    cand = cand.merge(pd.DataFrame({"period": years}), how="cross")
    cand = cand.loc[cand["from_period"] <= cand["period"]].assign(specific=lambda c: (c[col] != "").astype(int))
    cand = cand.sort_values(["specific", "from_period"], kind="stable")
    cand = cand.drop_duplicates(["who", "period", "material"], keep="last")
    found = cand.pivot(index=["who", "period"], columns="material", values="payable")
    found = found.reindex(index=index, columns=mats)
    return found.where(found.notna(), out).astype(float)


def _jurisdiction_rank(inst: Instance, codes: pd.Series, jurisdiction: pd.Series) -> np.ndarray:
    """How specifically each row's code names the supply's jurisdiction: 2 the jurisdiction itself,
    1 a group containing it, 0 no code (empty), -1 a code not covering it."""
    members = jurisdiction_members(inst)
    pairs = [(c, m) for c, ms in members.items() for m in ms]
    keys = pd.MultiIndex.from_arrays([codes.to_numpy(dtype=object), jurisdiction.to_numpy(dtype=object)])
    inside = keys.isin(pd.MultiIndex.from_tuples(pairs)) if pairs else np.zeros(len(codes), dtype=bool)
    return np.where(codes == "", 0, np.where(codes == jurisdiction, 2, np.where(inside, 1, -1)))


def _pack_price_candidates(inst: Instance, keys: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``pack_prices`` in force for each key (chemistry, grade, jurisdiction, period), with
    their rank (grade, jurisdiction)."""
    rows = inst["pack_prices"]
    cand = keys.merge(rows[["chemistry", "grade", "jurisdiction", "from_period", "price_per_t", ROW]]
                      .rename(columns={"grade": "row_grade", "jurisdiction": "row_jurisdiction"}), on="chemistry")
    cand = cand.loc[((cand["row_grade"] == "") | (cand["row_grade"] == cand["grade"]))
                    & (cand["from_period"] <= cand["period"])]
    cand = cand.assign(grade_rank=(cand["row_grade"] != "").astype(int),
                       jur_rank=_jurisdiction_rank(inst, cand["row_jurisdiction"], cand["jurisdiction"]))
    return cand.loc[cand["jur_rank"] >= 0]


def pack_prices(inst: Instance, supply: pd.DataFrame) -> np.ndarray:
    """Price per tonne (currency/t; negative: a gate fee) of each row of ``supply`` (columns
    chemistry, grade, jurisdiction, period, as :func:`network_opt.inputs.lanes.supply_by_grade`)."""
    if inst["pack_prices"].empty or supply.empty:
        return np.zeros(len(supply))
    keys = supply[["chemistry", "grade", "jurisdiction", "period"]].drop_duplicates()
    cand = _pack_price_candidates(inst, keys)
    cand = cand.sort_values(["grade_rank", "jur_rank", "from_period"], kind="stable")
    best = cand.drop_duplicates(["chemistry", "grade", "jurisdiction", "period"], keep="last")
    price = supply[["chemistry", "grade", "jurisdiction", "period"]].merge(
        best[["chemistry", "grade", "jurisdiction", "period", "price_per_t"]], how="left",
        on=["chemistry", "grade", "jurisdiction", "period"])
    return price["price_per_t"].fillna(0.0).to_numpy(dtype=float)


def ambiguous_pack_prices(inst: Instance, supply: pd.DataFrame) -> pd.DataFrame:
    """Supply keys (chemistry, grade, jurisdiction, period) for which two rows of ``pack_prices``
    of the same rank and from_period (two groups both containing the jurisdiction) give different
    prices, with the rows (``_row``, ``other_row``) and their codes."""
    cols = ["chemistry", "grade", "jurisdiction", "period", ROW, "other_row", "row_jurisdiction", "other"]
    if inst["pack_prices"].empty or supply.empty:
        return pd.DataFrame(columns=cols)
    keys = supply[["chemistry", "grade", "jurisdiction", "period"]].drop_duplicates()
    cand = _pack_price_candidates(inst, keys)
    cand = cand.sort_values(["grade_rank", "jur_rank", "from_period"], kind="stable")
    key = ["chemistry", "grade", "jurisdiction", "period"]
    top = cand.groupby(key)[["grade_rank", "jur_rank", "from_period"]].transform("max")
    tied = cand.loc[(cand[["grade_rank", "jur_rank", "from_period"]] == top).all(axis=1)]
    first = tied.drop_duplicates(key, keep="first")
    pairs = tied.merge(first[[*key, ROW, "price_per_t", "row_jurisdiction"]].rename(
        columns={ROW: "other_row", "price_per_t": "other_price", "row_jurisdiction": "other"}), on=key)
    pairs = pairs.loc[(pairs[ROW] != pairs["other_row"]) & (pairs["price_per_t"] != pairs["other_price"])]
    return pairs[cols].drop_duplicates([ROW, "other_row"]).reset_index(drop=True)


__all__ = ["ambiguous_pack_prices", "pack_prices", "payable_factors"]
