"""The model's rows, coefficients and bounds on two micro instances equal the stored reference forms
(tests/regression/lp/, one file per constraint family plus the variables and the objective; ``time.*``
for the time-structure micro instance: yearly operations, stock, ramp-up, end values).

A failure shows a unified diff from the stored form to the one built now. Regenerate the files
(``python tests/regression/write_reference_lp.py``) only for a deliberate change of the formulation,
and say so in the commit: see tests/regression/README.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from regression.write_reference_lp import BUILT_BY, LP_DIR, REDUCTIONS, TIME, diff, reference_forms

from network_opt.model.build import CONSTRAINT_FAMILIES

STORED = sorted(p.stem for p in LP_DIR.glob("*.txt"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return reference_forms(tmp_path_factory.mktemp("micro") / "micro")


def test_every_family_has_a_stored_form_and_nothing_more(built: dict[str, str]) -> None:
    assert set(built) == set(STORED), (
        f"built but not stored: {sorted(set(built) - set(STORED))}; "
        f"stored but not built: {sorted(set(STORED) - set(built))}")
    builders = {f.__name__ for f in CONSTRAINT_FAMILIES}
    assert builders == set(BUILT_BY.values()), "a constraint family without rows on the micro instances"
    assert set(BUILT_BY) <= {name.removeprefix(TIME).removeprefix(REDUCTIONS) for name in built}


@pytest.mark.parametrize("name", STORED)
def test_reference_form(built: dict[str, str], name: str) -> None:
    stored = (LP_DIR / f"{name}.txt").read_text(encoding="utf-8")
    now = built.get(name, "")
    assert now == stored, f"reference form of {name} changed:\n{diff(stored, now, name)}"


def test_stored_forms_stay_reviewable() -> None:
    for name in STORED:
        lines = (LP_DIR / f"{name}.txt").read_text(encoding="utf-8").count("\n")
        assert lines < 200, f"{name}.txt has {lines} lines: keep the micro instance small"


def test_the_forms_do_not_depend_on_the_folder(tmp_path: Path, built: dict[str, str]) -> None:
    assert reference_forms(tmp_path / "elsewhere") == built
