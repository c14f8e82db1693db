"""The settings of an instance as a frozen, typed tree.

:data:`SETTINGS` describes every setting of ``instance.yaml`` once (checking, defaults, the
generated docs). :class:`Settings` holds their values, typed, in groups that follow the dotted keys
(``settings.transport.max_lane_km`` is ``transport.max_lane_km``). It is built once, when the
manifest is checked (:func:`network_opt.inputs.manifest.check_manifest`), and never changed:
:meth:`Settings.with_values` (overrides, ``--soft-targets``, ``--prune``) returns a new tree,
checking the new values with the same rules (:func:`network_opt.inputs.coerce.coerce_value`).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from network_opt.inputs.coerce import CoercionError, coerce_value
from network_opt.inputs.schema import COMMODITIES

#: (dotted key, type, default, unit, minimum, maximum, description)
SETTINGS: tuple[tuple[str, str, Any, str, float | None, float | None, str], ...] = (
    ("name", "str", None, "", None, None, "Instance name (required)."),
    ("description", "str", "", "", None, None, "Free text."),
    ("currency", "str", "EUR", "", None, None, "Currency of every money column (ISO 4217 code)."),
    ("units.mass", "str", "t", "", None, None, "Must be t (tonnes) if given."),
    ("units.energy", "str", "kWh", "", None, None, "Must be kWh if given."),
    ("units.distance", "str", "km", "", None, None, "Must be km if given."),
    ("periods", "list", None, "year", None, None,
     "Required. Investment periods, e.g. [2025, 2030], or a list of {year: 2025, length: 5, operations: mean}: "
     "investments are decided once per period, which lasts `length` years (default 1). `operations: mean` "
     "(default): one operating year standing for the `length` years at the mean annual flows (tables give rows "
     "for `year`); `operations: yearly`: one operating year per calendar year, each with its own rows in the "
     "tables (supply, demand, prices), e.g. {year: 2028, length: 3, operations: yearly} is operated in 2028, "
     "2029 and 2030 under one investment decision."),
    ("tables.<name>", "str", None, "", None, None,
     "Path of each table's CSV file, relative to the instance folder (must stay inside it)."),
    ("csv.delimiter", "str", ",", "", None, None,
     "Field separator of every CSV file: `,`, `;` (what Excel writes where the decimal separator is a comma) "
     "or a tab (`\"\\t\"`); quote it in YAML, e.g. `csv: {delimiter: ';', decimal: ','}`."),
    ("csv.decimal", "str", ".", "", None, None,
     "Decimal separator of numbers in the CSV files: `.` or `,` (then `1234,5`; a `.` in a number is an error, "
     "as it may be a thousands separator)."),
    ("defaults.fit_share", "float", 0.0, "-", 0.0, 1.0,
     "Share of supply fit for second life where supply.fit_share is empty."),
    ("defaults.collection_cost_per_t", "float", 0.0, "currency/t", 0.0, None,
     "Collection cost where supply.collection_cost_per_t is empty."),
    ("defaults.second_life_soh", "float", 0.8, "-", 0.0, 1.0,
     "State of health of fit packs: usable kWh per tonne = energy_kwh_per_t x this."),
    ("transport.detour_factor", "float", 1.3, "-", 1.0, 5.0,
     "Road distance over great-circle distance where regions.csv gives none."),
    ("transport.max_lane_km", "float", 3000.0, "km", 0.0, None,
     "Longest lane generated from coordinates (explicit lanes are exempt)."),
    ("transport.explicit_lanes_only", "bool", False, "", None, None,
     "Use only the lanes listed in lanes.csv."),
    ("transport.nearest_facilities", "int", 0, "", 0.0, 10000.0,
     "Keep only the lanes to the k nearest destinations of each facility kind and technology per origin (0: all within "
     "max_lane_km); explicit lanes always stay. Prunes large instances; check the optimum with 0 on a small one."),
    ("transport.cost_per_tkm.eol_packs", "float", 0.0, "currency/(t km)", 0.0, None,
     "End-of-life packs (hazardous goods, ADR class 9)."),
    ("transport.cost_per_tkm.second_life_packs", "float", 0.0, "currency/(t km)", 0.0, None,
     "Repurposed packs sold to second-life markets."),
    ("transport.cost_per_tkm.rejects", "float", 0.0, "currency/(t km)", 0.0, None,
     "Packs rejected by refurbishers, sent to recycling (hazardous goods)."),
    ("transport.cost_per_tkm.returns", "float", 0.0, "currency/(t km)", 0.0, None,
     "Packs at the end of their second life, sent to recycling (hazardous goods)."),
    ("transport.cost_per_tkm.black_mass", "float", 0.0, "currency/(t km)", 0.0, None,
     "Black mass from pre-processors to refiners (hazardous in the EU since 2025)."),
    ("transport.rail.cost_per_tkm", "float", 0.0, "currency/(t km)", 0.0, None,
     "Rail legs (legs.csv): cost per tonne-km of every commodity."),
    ("transport.rail.handling_cost_per_t", "float", 0.0, "currency/t", 0.0, None,
     "Rail legs: loading and unloading per tonne, once per leg."),
    ("transport.rail.co2e_per_tkm", "float", 0.0, "t CO2e/(t km)", 0.0, None, "Rail legs: transport emissions."),
    ("transport.sea.cost_per_tkm", "float", 0.0, "currency/(t km)", 0.0, None,
     "Sea legs (legs.csv): cost per tonne-km of every commodity."),
    ("transport.sea.handling_cost_per_t", "float", 0.0, "currency/t", 0.0, None,
     "Sea legs: port handling (loading and unloading) per tonne, once per leg."),
    ("transport.sea.co2e_per_tkm", "float", 0.0, "t CO2e/(t km)", 0.0, None, "Sea legs: transport emissions."),
    ("transport.damaged_premium_per_t", "float", 0.0, "currency/t", 0.0, None,
     "Extra cost per tonne of packs of a damaged grade (grades.damaged) on every lane they take: ADR special "
     "packaging (P908 / LP904, P911 / LP906) and handling."),
    ("discount_rate", "float", 0.0, "1/yr", 0.0, 1.0,
     "Annual discount rate; year 0 is the first period's year."),
    ("investment.opening_cost", "str", "upfront", "", None, None,
     "`upfront`: opening costs are paid in the period of opening; `annualised`: as an annuity "
     "(investment.interest_rate, investment.lifetime_years) in every year from opening to the horizon's end."),
    ("investment.interest_rate", "float", 0.08, "1/yr", 0.0, 1.0, "Interest rate of the annuity."),
    ("investment.lifetime_years", "float", 15.0, "yr", 1.0, 100.0, "Economic lifetime of the annuity."),
    ("emissions.co2e_per_tkm.eol_packs", "float", 0.0, "t CO2e/(t km)", 0.0, None, "Transport emissions."),
    ("emissions.co2e_per_tkm.second_life_packs", "float", 0.0, "t CO2e/(t km)", 0.0, None, "Transport emissions."),
    ("emissions.co2e_per_tkm.rejects", "float", 0.0, "t CO2e/(t km)", 0.0, None, "Transport emissions."),
    ("emissions.co2e_per_tkm.returns", "float", 0.0, "t CO2e/(t km)", 0.0, None, "Transport emissions."),
    ("emissions.co2e_per_tkm.black_mass", "float", 0.0, "t CO2e/(t km)", 0.0, None, "Transport emissions."),
    ("emissions.refurbishing_co2e_per_t", "float", 0.0, "t CO2e/t", 0.0, None,
     "Emissions per tonne of packs received by a refurbisher."),
    ("emissions.carbon_price", "float", 0.0, "currency/t CO2e", 0.0, None, "Carbon price in the objective."),
    ("emissions.cap_t", "float", -1.0, "t CO2e/yr", -1.0, None,
     "Most emissions per year in every period; -1: no cap."),
    ("targets.soft", "bool", False, "", None, None,
     "Turn every target into a penalised shortfall (also --soft-targets)."),
    ("targets.soft_penalty_per_t", "float", 1.0e6, "currency/t", 0.0, None,
     "Penalty per tonne of shortfall (of the measured quantity) of a soft target."),
    ("policies.<jurisdiction>", "str", None, "", None, None,
     "Policy preset id(s) applied to a jurisdiction or group (a list for several), e.g. "
     "`EU27: eu-2023-1542`; see `network-opt policies`."),
    ("uncollected.allowed", "bool", False, "", None, None,
     "May end-of-life packs stay uncollected? (collection_rate targets then bind)."),
    ("uncollected.cost_per_t", "float", 0.0, "currency/t", 0.0, None,
     "Cost (e.g. an environmental penalty) per tonne left uncollected."),
    ("disposal.allowed", "bool", False, "", None, None,
     "May collected packs be disposed of (landfill/incineration) at the collection point?"),
    ("disposal.cost_per_t", "float", 0.0, "currency/t", 0.0, None, "Disposal cost per tonne."),
    ("model.strong_linking", "bool", True, "", None, None,
     "Add flow <= bound x open for every lane (tighter LP relaxation)."),
    ("model.link_by_level", "bool", False, "", None, None,
     "Strong linking with each level's own capacity: flow <= sum over levels of min(bound, level capacity) x "
     "level open, for lanes into facilities without modules (tighter, same size; docs/formulation.md)."),
    ("model.capacity_cover", "bool", False, "", None, None,
     "Add, per operating year, one row: the capacity opened at facilities taking end-of-life packs covers the "
     "year's supply (a valid knapsack row over the level binaries; docs/formulation.md)."),
    ("model.capacity_reach", "bool", False, "", None, None,
     "Facility capacity rows with each level's capacity cut to the most the facility's lanes can bring in "
     "that year: min(level capacity, sum of its inflow lanes' bounds) (valid, same size; docs/formulation.md)."),
    ("model.link_max_share", "float", 0.0, "-", 0.0, None,
     "Strong linking only for lanes whose bound is below this share of their facility's largest capacity "
     "(1: leave out exactly the links the capacity row implies); 0: every lane."),
    ("model.flow_bounds", "bool", False, "", None, None,
     "Give every flow variable the upper bound the strong linking uses (origin's supply, facility's largest "
     "capacity, market demand; t/yr) as a column bound (docs/formulation.md)."),
    ("model.candidate_reductions", "bool", False, "", None, None,
     "Before the build, find identical candidate facilities (ordered: open[i] >= open[i+1]) and candidates "
     "dominated by another (ordered after it; fixed closed where that is provably safe); the run log and "
     "summary.json list them (docs/formulation.md)."),
    ("model.objective_scale", "int|auto", "auto", "-", -60.0, 60.0,
     "HiGHS `user_objective_scale`: the objective HiGHS works on is multiplied by 2 to this power (e.g. -20: "
     "about millions); results are always reported in the instance currency. `auto` (default): the power that "
     "brings the largest cost coefficient to at most 2^20 (about 1e6, what HiGHS itself advises), never "
     "scaling up; summary.json `numerics.objective_scale` gives the power used. HiGHS's tolerances then act on the "
     "scaled costs: an optimum is exact to about 1e-8 of the objective. 0: none (every digit)."),
    ("stock.allowed", "bool", False, "", None, None,
     "May end-of-life packs wait at collection points, and black mass at pre-processors, from one operating "
     "year to the next (at the sites of storage.csv, within their caps and at their holding costs)? Needs "
     "consecutive operating years of one year each."),
    ("stock.max_age_years", "int", 1, "yr", 1.0, 10.0,
     "Oldest stock allowed: the stock held at the end of a year is at most what arrived in the last "
     "`max_age_years` years (first in, first out), so nothing waits longer. 1 (one year): US RCRA universal "
     "waste (40 CFR 273.15, 273.35) and China's hazardous-waste storage limit (Solid Waste Law 2020, Art. 81); "
     "EU: storage before recovery under three years (Landfill Directive 1999/31/EC, Art. 2(g))."),
)


#: allowed values of text settings
CHOICES: dict[str, tuple[str, ...]] = {"investment.opening_cost": ("upfront", "annualised")}
#: the spec of every setting with a single value (not ``tables.*``, ``policies.*``, ``periods``)
SETTING_SPEC = {s[0]: s for s in SETTINGS if not s[0].startswith(("tables.", "policies.")) and s[0] != "periods"}


class SettingError(CoercionError):
    """A setting value refused by :func:`coerce_setting`: ``key`` names the setting."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def coerce_setting(key: str, value: Any) -> Any:
    """``value`` as the typed value of setting ``key`` (type, range and choices checked);
    raises :class:`SettingError` (an unknown key included)."""
    spec = SETTING_SPEC.get(key)
    if spec is None:
        raise SettingError(key, "unknown setting (see docs/instance-format.md for the allowed keys)")
    _, type_, _default, _unit, lo, hi, _desc = spec
    try:
        typed = coerce_value(value, type_, minimum=lo, maximum=hi, choices=CHOICES.get(key))
    except CoercionError as exc:
        raise SettingError(key, str(exc)) from None
    if key == "currency" and not re.fullmatch(r"[A-Z]{3}", typed):
        # every money figure is labelled with it (summary.json, tables, maps): one code, not a word
        raise SettingError(key, "expected an ISO 4217 code of three capital letters (EUR, CNY, USD, ...), "
                                f"got {typed!r}")
    return typed


@dataclass(frozen=True)
class Units:
    mass: str = "t"
    energy: str = "kWh"
    distance: str = "km"


@dataclass(frozen=True)
class Csv:
    """The dialect of every CSV file of an instance folder."""

    delimiter: str = ","
    decimal: str = "."


@dataclass(frozen=True)
class Defaults:
    """Values of empty cells (applied while the tables are read)."""

    fit_share: float = 0.0
    collection_cost_per_t: float = 0.0
    second_life_soh: float = 0.8


@dataclass(frozen=True)
class PerCommodity:
    """One number per transported commodity (:data:`~network_opt.inputs.schema.COMMODITIES`)."""

    eol_packs: float = 0.0
    second_life_packs: float = 0.0
    rejects: float = 0.0
    returns: float = 0.0
    black_mass: float = 0.0

    def __getitem__(self, commodity: str) -> float:
        if commodity not in COMMODITIES:
            raise KeyError(commodity)
        return float(getattr(self, commodity))


@dataclass(frozen=True)
class LegMode:
    """Rates of a mode of legs.csv (rail, sea): currency/(t km), currency/t per leg, t CO2e/(t km)."""

    cost_per_tkm: float = 0.0
    handling_cost_per_t: float = 0.0
    co2e_per_tkm: float = 0.0


@dataclass(frozen=True)
class Transport:
    detour_factor: float = 1.3
    max_lane_km: float = 3000.0
    explicit_lanes_only: bool = False
    nearest_facilities: int = 0
    cost_per_tkm: PerCommodity = field(default_factory=PerCommodity)
    rail: LegMode = field(default_factory=LegMode)
    sea: LegMode = field(default_factory=LegMode)
    damaged_premium_per_t: float = 0.0


@dataclass(frozen=True)
class Investment:
    opening_cost: str = "upfront"
    interest_rate: float = 0.08
    lifetime_years: float = 15.0


@dataclass(frozen=True)
class Emissions:
    co2e_per_tkm: PerCommodity = field(default_factory=PerCommodity)
    refurbishing_co2e_per_t: float = 0.0
    carbon_price: float = 0.0
    cap_t: float = -1.0


@dataclass(frozen=True)
class Targets:
    soft: bool = False
    soft_penalty_per_t: float = 1.0e6


@dataclass(frozen=True)
class Escape:
    """An escape for packs (``uncollected``, ``disposal``): allowed?, at what cost per tonne."""

    allowed: bool = False
    cost_per_t: float = 0.0


@dataclass(frozen=True)
class ModelOptions:
    strong_linking: bool = True
    link_by_level: bool = False
    link_max_share: float = 0.0
    capacity_cover: bool = False
    capacity_reach: bool = False
    flow_bounds: bool = False
    candidate_reductions: bool = False
    objective_scale: int | str = "auto"  # a power of 2, or "auto" (network_opt.solver.options.cost_scale)


@dataclass(frozen=True)
class Stock:
    """Stock between operating years (``stock.*``)."""

    allowed: bool = False
    max_age_years: int = 1


@dataclass(frozen=True)
class Settings:
    """Every setting of an instance, typed; see :data:`SETTINGS` for the meaning of each.

    ``policies`` maps a jurisdiction or group to preset ids; ``scenarios``, ``uncertainty`` and
    ``stochastic`` are the raw blocks of ``instance.yaml`` (checked by :mod:`network_opt.inputs.scenarios`,
    :mod:`network_opt.runs.sweep` and :mod:`network_opt.inputs.stochastic`). Treat the mappings as read-only too."""

    name: str
    description: str = ""
    currency: str = "EUR"
    units: Units = field(default_factory=Units)
    csv: Csv = field(default_factory=Csv)
    defaults: Defaults = field(default_factory=Defaults)
    transport: Transport = field(default_factory=Transport)
    discount_rate: float = 0.0
    investment: Investment = field(default_factory=Investment)
    emissions: Emissions = field(default_factory=Emissions)
    targets: Targets = field(default_factory=Targets)
    uncollected: Escape = field(default_factory=Escape)
    disposal: Escape = field(default_factory=Escape)
    model: ModelOptions = field(default_factory=ModelOptions)
    stock: Stock = field(default_factory=Stock)
    policies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scenarios: Mapping[str, Any] = field(default_factory=dict)
    uncertainty: Mapping[str, Any] = field(default_factory=dict)
    stochastic: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> Settings:
        """The tree of already checked values by dotted key (missing keys: their defaults)."""
        out = _build(cls, values, "")
        assert isinstance(out, Settings)
        return out

    def flat(self) -> dict[str, Any]:
        """Every value by dotted key (``policies``, ``scenarios``, ``uncertainty``, ``stochastic`` as mappings)."""
        return _flatten(self, "")

    def table_defaults(self) -> dict[str, object]:
        """The ``defaults.*`` values by dotted key, for the empty cells of the tables."""
        return {f"defaults.{f.name}": getattr(self.defaults, f.name) for f in dataclasses.fields(Defaults)}

    def with_values(self, values: Mapping[str, Any]) -> Settings:
        """A new tree with ``values`` (dotted key -> value) checked by :func:`coerce_setting` and set;
        this one is left as it is. Raises :class:`SettingError` for the first bad value."""
        flat = self.flat()
        for key, value in values.items():
            flat[key] = coerce_setting(key, value)
        return Settings.from_flat(flat)

    def with_policies(self, policies: Mapping[str, list[str] | tuple[str, ...]]) -> Settings:
        """A new tree with ``policies`` (jurisdiction or group -> preset ids) instead of this one's."""
        return dataclasses.replace(self, policies={str(j): tuple(ids) for j, ids in policies.items()})


def _is_group(type_: Any) -> bool:
    return isinstance(type_, type) and dataclasses.is_dataclass(type_)


def _build(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if _is_group(hints[f.name]):
            kwargs[f.name] = _build(hints[f.name], values, key + ".")
        elif key in values:
            kwargs[f.name] = values[key]
    return cls(**kwargs)


def _flatten(obj: Any, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_flatten(value, prefix + f.name + "."))
        else:
            out[prefix + f.name] = value
    return out
