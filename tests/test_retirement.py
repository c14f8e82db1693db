"""The retirement model against hand computations."""

from __future__ import annotations

import math

import pytest

from network_opt.datasets.retirement import retired_tonnes, weibull_retirement_probabilities


def test_weibull_probabilities_match_the_distribution_function() -> None:
    p = weibull_retirement_probabilities(shape=2.0, scale=10.0)
    # P(age 1) = F(1) = 1 - exp(-(0.1)^2); P(age 10) = F(10) - F(9)
    assert p[1] == pytest.approx(1 - math.exp(-0.01))
    assert p[10] == pytest.approx(math.exp(-0.81) - math.exp(-1.0))
    assert p.sum() == pytest.approx(1.0, abs=1e-6)


def test_retired_tonnes_by_hand() -> None:
    """1000 vehicles sold in 2020 with 50 kWh packs, 60% LFP (6.66 kg/kWh) and 40% NCM (5 kg/kWh).
    In 2030 (age 10) P = exp(-0.81) - exp(-1) with shape 2, scale 10."""
    p10 = math.exp(-0.81) - math.exp(-1.0)
    out = retired_tonnes({2020: 1000}, {2020: 50}, {2020: {"LFP": 0.6, "NCM": 0.4}},
                         {"LFP": 6.66, "NCM": 5.0}, [2030], shape=2.0, scale=10.0)
    t = out.set_index("chemistry")["tonnes"]
    assert t["LFP"] == pytest.approx(1000 * p10 * 50 * 0.6 * 6.66 / 1000)
    assert t["NCM"] == pytest.approx(1000 * p10 * 50 * 0.4 * 5.0 / 1000)


def test_no_retirement_in_the_sale_year() -> None:
    out = retired_tonnes({2025: 1000}, {2025: 50}, {2025: {"LFP": 1.0}}, {"LFP": 6.0}, [2025], 2.0, 10.0)
    assert out.empty


def test_invalid_distribution_is_refused() -> None:
    with pytest.raises(ValueError):
        weibull_retirement_probabilities(shape=0, scale=10)
