"""summary.json's ``options`` of ``solve --stochastic`` record what the run did (issue: the
decomposition was read from the plain solve's options and always said "none").

The instance is the micro instance of tests/test_stochastic.py (its docstring works the costs out
by hand): two scenarios, low (20 t) and high (180 t), probability 0.5 each. With CVaR at alpha 0.5
(the cost of the worse scenario) and weight 0.25, the objective E + 0.25 x CVaR is
none 2500 + 0.25 x 4500 = 3625, S 2600 + 0.25 x 4000 = 3600, L 2800 + 0.25 x 3600 = 3700:
the plan is S, RP = 3600 (the plain expected cost of S is 2600).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_stochastic import micro
from typer.testing import CliRunner

import network_opt.cli  # noqa: F401  (registers the commands)
from network_opt.cli.app import app


@pytest.mark.parametrize("method", ["benders", "ph"])
def test_summary_records_the_stochastic_options(tmp_path: Path, method: str) -> None:
    folder = micro(tmp_path / "m")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["solve", str(folder), "--out", str(out), "--stochastic", "--decomposition", method,
                                   "--seed", "4", "--cvar-alpha", "0.5", "--cvar-weight", "0.25", "--workers", "1",
                                   "--out-of-sample", "0", "--threads", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "RP 3,600.00 EUR" in res.output, res.output  # plan S (module docstring)
    s = json.loads((out / "summary.json").read_text())
    opts = s["options"]
    assert opts["decomposition"] == method  # was "none"
    assert s["stochastic"]["decomposition"]["method"] == method
    assert opts["scenarios"] == 2 and opts["seed"] == 4  # the two declared scenarios
    assert opts["cvar_alpha"] == 0.5 and opts["cvar_weight"] == 0.25
    assert opts["workers"] == 1 and opts["out_of_sample"] == 0 and opts["threads"] == 1


def test_summary_records_the_instance_risk_measure_when_no_option_is_given(tmp_path: Path) -> None:
    """Without --cvar-*, the instance's ``stochastic:`` block is in force and recorded; without
    --scenarios, the number of scenarios the run used."""
    folder = micro(tmp_path / "m", {"scenarios": {"low": 0.5, "high": 0.5}, "cvar_alpha": 0.5, "cvar_weight": 0.25})
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["solve", str(folder), "--out", str(out), "--stochastic", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "RP 3,600.00 EUR" in res.output, res.output
    opts = json.loads((out / "summary.json").read_text())["options"]
    assert opts["decomposition"] == "none" and opts["scenarios"] == 2 and opts["seed"] == 0
    assert opts["cvar_alpha"] == 0.5 and opts["cvar_weight"] == 0.25
