"""Policy presets: every shipped file loads, key legal facts hold, bad presets are refused, docs are current."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from network_opt.inputs import policies, schema
from network_opt.inputs.policies import (
    BAN_COLUMNS,
    PRESETS_DIR,
    TABLE_COLUMNS,
    TARGET_COLUMNS,
    PresetError,
    available_presets,
    get_preset,
    parse_preset,
    presets_table,
    render_markdown,
)

DOCS = Path(__file__).parents[1] / "docs"
EXPECTED_IDS = {"eu-2023-1542", "cn-2024-standard-conditions", "cn-2026-interim-measures", "in-bwmr-2022",
                "us-federal", "us-nj-2024", "us-ca-universal-waste", "cn-solid-waste-imports"}


def _target(preset_id: str, metric: str, material: str = "") -> pd.DataFrame:
    t = get_preset(preset_id).targets
    return t[(t["metric"] == metric) & (t["material"] == material)].sort_values("from_period")


def _ban(preset_id: str, **match: str) -> pd.DataFrame:
    b = get_preset(preset_id).bans
    for key, value in match.items():
        b = b[b[key] == value]
    return b


# --- loading ---------------------------------------------------------------------------------------


def test_every_shipped_file_loads_with_id_equal_to_stem() -> None:
    files = sorted(PRESETS_DIR.glob("*.yaml"))
    presets = available_presets()
    assert {f.stem for f in files} == set(presets) == EXPECTED_IDS
    assert len(files) == len(presets)
    for f in files:
        assert policies.load_preset_file(f).id == f.stem


def test_frames_have_documented_columns_and_types() -> None:
    for p in available_presets().values():
        assert tuple(p.targets.columns) == TARGET_COLUMNS
        assert tuple(p.bans.columns) == BAN_COLUMNS
        assert p.targets["from_period"].dtype == "int64" and p.bans["from_period"].dtype == "int64"
        assert p.targets["needs_confirmation"].dtype == bool
        for frame in (p.targets, p.bans):
            assert frame["source"].str.len().gt(0).all()
            assert frame["confidence"].isin(["V", "S", "D", "M"]).all()
            assert frame.loc[frame["confidence"] == "M", "needs_confirmation"].all()


def test_vocabulary_matches_instance_schema() -> None:
    for name in ("TARGET_METRICS", "RATE_METRICS", "MATERIAL_METRICS", "BAN_KINDS", "COMMODITIES", "APPLICATIONS"):
        assert set(getattr(policies, name)) == set(getattr(schema, name)), name


def test_get_preset_unknown_lists_ids() -> None:
    with pytest.raises(KeyError, match="eu-2023-1542"):
        get_preset("atlantis-2099")


def test_presets_table_has_one_row_per_rule() -> None:
    table = presets_table()
    assert tuple(table.columns) == TABLE_COLUMNS
    presets = available_presets().values()
    assert len(table) == sum(len(p.targets) + len(p.bans) for p in presets)
    assert set(table["rule"]) == {"target", "ban"}
    assert table.loc[table["rule"] == "ban", "value"].isna().all()


# --- legal facts -----------------------------------------------------------------------------------


def test_eu_recycling_efficiency_and_material_recovery() -> None:
    eu = get_preset("eu-2023-1542")
    assert eu.applies_to == "EU27"
    re_ = _target("eu-2023-1542", "recycling_efficiency")
    assert list(zip(re_["from_period"], re_["value"], strict=True)) == [(2026, 0.65), (2031, 0.70)]
    assert list(re_["legal_date"]) == ["2025-12-31", "2030-12-31"]
    li = _target("eu-2023-1542", "material_recovery", "Li")
    assert list(zip(li["from_period"], li["value"], strict=True)) == [(2028, 0.5), (2032, 0.8)]
    for metal in ("Co", "Cu", "Ni"):
        m = _target("eu-2023-1542", "material_recovery", metal)
        assert list(zip(m["from_period"], m["value"], strict=True)) == [(2028, 0.9), (2032, 0.95)]
    assert _target("eu-2023-1542", "material_recovery", "Pb").empty
    assert _target("eu-2023-1542", "collection_rate").empty  # EV batteries: take-back, no % target
    assert "take-back" in eu.notes and "recycled_content" in eu.notes
    # Art. 71(2): the recycler's process, counted across operators (Delegated Regulation 2025/606)
    assert set(eu.targets["scope"]) == {"chain"}
    assert eu.targets["note"].str.contains("Scope chain: Art. 71(2)", regex=False).all()
    assert "Art. 72(3)" in eu.notes


def test_eu_black_mass_and_waste_battery_export_ban_outside_basel_annex_vii() -> None:
    bans = _ban("eu-2023-1542", kind="export")
    assert set(bans["commodity"]) == {"black_mass", "eol_packs", "rejects", "returns"}
    assert set(bans["to"]) == {"not:BASEL_ANNEX_VII"}  # OECD + EU27 + LI, not OECD alone
    assert bans["needs_confirmation"].all()  # applicability date (9 Nov 2026) only secondary
    # List-of-Waste amendment (EU) 2025/934 applicable from 9 Nov 2026: the first full year is 2027
    assert set(bans["from_period"]) == {2027} and set(bans["legal_date"]) == {"2026-11-09"}
    assert "second_life_packs" not in set(bans["commodity"])


def test_china_standard_conditions() -> None:
    """Smelting-step rates (scope step on the hydro/pyro processes) per metal, and the
    material-repair route's 99 % (scope chain on the direct process: of the target materials in
    the original packs) as one rate on the sum of Li, Ni, Co and Mn."""
    assert get_preset("cn-2024-standard-conditions").applies_to == "CN"
    smelting = "hydrometallurgical|pyrometallurgical"
    for metal, rate in (("Li", 0.9), ("Ni", 0.98), ("Co", 0.98), ("Mn", 0.98)):
        m = _target("cn-2024-standard-conditions", "material_recovery", metal)
        assert list(zip(m["value"], m["scope"], m["process"], m["from_period"], strict=True)) == [
            (rate, "step", smelting, 2025)]
    d = _target("cn-2024-standard-conditions", "material_recovery", "Li+Ni+Co+Mn")
    assert list(zip(d["value"], d["scope"], d["process"], d["from_period"], strict=True)) == [
        (0.99, "chain", "direct", 2025)]
    assert d.iloc[0]["needs_confirmation"]  # secondary source; which target materials count: not verified


def test_china_interim_measures_e_bike_ban_is_unconfirmed() -> None:
    ban = _ban("cn-2026-interim-measures", kind="application")
    assert list(ban["application"]) == ["e_bike"]
    assert list(ban["from_period"]) == [2026] and list(ban["legal_date"]) == ["2026-04-01"]
    assert ban["needs_confirmation"].all()
    assert _ban("cn-2026-interim-measures", kind="landfill").empty  # not supported by the research brief


def test_india_bwmr() -> None:
    rec = _target("in-bwmr-2022", "recycling_efficiency")
    assert list(zip(rec["from_period"], rec["value"], strict=True)) == [(2024, 0.7), (2025, 0.8), (2026, 0.9)]
    assert list(rec["needs_confirmation"]) == [False, True, False]  # 80% for 2025-26: secondary only
    assert list(rec["confidence"]) == ["V", "S", "V"]
    col = _target("in-bwmr-2022", "collection_rate")
    assert list(zip(col["from_period"], col["value"], strict=True)) == [(2027, 0.7)]
    assert not _ban("in-bwmr-2022", kind="landfill").empty
    assert "first calendar year" in get_preset("in-bwmr-2022").notes


def test_china_import_ban_on_black_mass_ends_in_2025_and_on_waste_packs_does_not() -> None:
    """Solid-waste imports banned from 1 Jan 2021; recycled black mass meeting Annex 1 admitted
    again from 1 Aug 2025 (Announcement 2025 No. 14), so its last modelled year in force is 2025."""
    p = get_preset("cn-solid-waste-imports")
    assert p.applies_to == "CN" and p.targets.empty
    assert set(p.bans["kind"]) == {"import"} and set(p.bans["to"]) == {""}
    bm = _ban("cn-solid-waste-imports", commodity="black_mass").iloc[0]
    assert (bm["from_period"], bm["until_period"], bm["legal_date"], bm["legal_end_date"]) == (
        2021, 2025, "2021-01-01", "2025-08-01")
    waste = _ban("cn-solid-waste-imports").query("commodity != 'black_mass'")
    assert set(waste["commodity"]) == {"eol_packs", "rejects", "returns"}
    assert (waste["until_period"] == 0).all() and (waste["legal_end_date"] == "").all()
    assert p.bans["needs_confirmation"].all()  # secondary sources; the 2021 announcement number from memory
    assert "Annex 1" in bm["note"] and "second_life_packs" not in set(p.bans["commodity"])


def test_a_ban_that_ends_needs_both_end_keys_in_agreement() -> None:
    """until_period with legal_end_date: the date's year (held for part of it) or the year before."""
    ended = {"until_period": 2025, "legal_end_date": "2025-08-01"}
    data = _mutated(("bans", 0, "kind"), "import")
    data["bans"][0].pop("to")
    data["bans"][0].update(ended, from_period=2021, legal_date="2021-01-01")
    b = parse_preset(data, "test.yaml").bans.iloc[0]
    assert (b["kind"], b["to"], b["until_period"], b["legal_end_date"]) == ("import", "", 2025, "2025-08-01")
    data["bans"][0]["until_period"] = 2024
    assert parse_preset(data, "test.yaml").bans.iloc[0]["until_period"] == 2024
    for change, key, words in (({"until_period": 2023}, "until_period", "must be 2024 or 2025"),
                               ({"until_period": 2025, "legal_end_date": "2025-01-01"}, "until_period",
                                "must be 2024 for legal_end_date '2025-01-01'"),
                               ({"legal_end_date": "2021-01-01"}, "legal_end_date", "is not after legal_date"),
                               ({"legal_end_date": "2020-06"}, "legal_end_date", "is not after legal_date"),
                               ({"until_period": 2020, "legal_end_date": "2020-12"}, "until_period",
                                "before from_period 2021"),
                               ({"legal_end_date": None}, "legal_end_date", "required with until_period"),
                               ({"to": "OECD"}, "to", "must be empty for kind import")):
        bad = copy.deepcopy(data)
        bad["bans"][0].update(change)
        if change.get("legal_end_date", "") is None:
            del bad["bans"][0]["legal_end_date"]
        with pytest.raises(PresetError, match=words) as info:
            parse_preset(bad, "bad.yaml")
        assert info.value.key == f"bans[0].{key}"


def test_us_federal_has_no_rules_and_nj_bans_landfill_from_2027() -> None:
    us = get_preset("us-federal")
    assert us.targets.empty and us.bans.empty and us.notes
    nj = _ban("us-nj-2024", kind="landfill")
    assert list(nj["from_period"]) == [2027]
    assert get_preset("us-nj-2024").applies_to == "US-NJ"


def test_unverified_facts_need_confirmation() -> None:
    table = presets_table()
    flagged = table[table["needs_confirmation"]]
    # Every [M] and [S] row is flagged.
    assert table.loc[table["confidence"].isin(["M", "S"]), "needs_confirmation"].all()
    keys = set(zip(flagged["preset"], flagged["metric_or_kind"], flagged["material_or_commodity"],
                   flagged["from_period"], strict=True))
    assert ("in-bwmr-2022", "recycling_efficiency", "", 2025) in keys
    assert ("eu-2023-1542", "recycling_efficiency", "", 2031) in keys
    assert ("cn-2024-standard-conditions", "material_recovery", "Ni", 2025) in keys
    assert ("cn-2026-interim-measures", "application", "", 2026) in keys


# --- validation ------------------------------------------------------------------------------------


def _good() -> dict[str, Any]:
    return {
        "id": "xx-test",
        "name": "Test preset",
        "applies_to": "XX",
        "legal_source": "Test Act",
        "url": "https://example.org/act",
        "notes": "",
        "targets": [
            {"metric": "material_recovery", "material": "Li", "value": 0.5, "from_period": 2028,
             "legal_date": "2027-12-31", "source": "Art. 1", "confidence": "V", "needs_confirmation": False,
             "base": "lithium in the waste batteries entering recycling"},
        ],
        "bans": [
            {"kind": "export", "commodity": "black_mass", "to": "not:OECD", "from_period": 2025,
             "legal_date": "2025-03-05", "source": "Art. 2", "confidence": "S", "needs_confirmation": True,
             "base": "export of hazardous waste for recovery"},
        ],
    }


def test_good_dict_parses() -> None:
    p = parse_preset(_good(), "test.yaml")
    assert p.id == "xx-test" and len(p.targets) == 1 and len(p.bans) == 1
    assert p.bans.iloc[0]["application"] == ""


def _mutated(path: tuple[Any, ...], value: Any, *, delete: bool = False) -> dict[str, Any]:
    data = copy.deepcopy(_good())
    node = data
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "delete", "key"),
    [
        (("extra",), "x", False, "extra"),
        (("targets", 0, "colour"), "red", False, "targets[0].colour"),
        (("targets", 0, "value"), 1.5, False, "targets[0].value"),
        (("targets", 0, "metric"), "happiness", False, "targets[0].metric"),
        (("targets", 0, "material"), "", False, "targets[0].material"),
        (("targets", 0, "material"), None, True, "targets[0].material"),
        (("targets", 0, "from_period"), 2028.5, False, "targets[0].from_period"),
        (("targets", 0, "from_period"), "2028", False, "targets[0].from_period"),
        (("targets", 0, "from_period"), 1850, False, "targets[0].from_period"),
        (("targets", 0, "from_period"), 2030, False, "targets[0].from_period"),  # legal_date 2027-12-31
        (("targets", 0, "legal_date"), "end 2027", False, "targets[0].legal_date"),
        (("targets", 0, "confidence"), "X", False, "targets[0].confidence"),
        (("targets", 0, "confidence"), "M", False, "targets[0].needs_confirmation"),
        (("targets", 0, "needs_confirmation"), "no", False, "targets[0].needs_confirmation"),
        (("targets", 0, "source"), "", False, "targets[0].source"),
        (("targets", 0, "base"), None, True, "targets[0].base"),
        (("targets", 0, "base"), " ", False, "targets[0].base"),
        (("bans", 0, "base"), None, True, "bans[0].base"),
        (("targets", 0, "note"), 3, False, "targets[0].note"),
        (("bans", 0, "kind"), "tax", False, "bans[0].kind"),
        (("bans", 0, "commodity"), "gold", False, "bans[0].commodity"),
        (("bans", 0, "to"), "", False, "bans[0].to"),
        (("bans", 0, "application"), "ups", False, "bans[0].application"),
        (("bans", 0, "from_period"), True, False, "bans[0].from_period"),
        (("id",), "Bad Id", False, "id"),
        (("name",), None, True, "name"),
        (("url",), "eur-lex", False, "url"),
        (("targets",), {"metric": "x"}, False, "targets"),
    ],
)
def test_bad_dicts_raise_preset_error_naming_the_key(path: tuple[Any, ...], value: Any, delete: bool,
                                                     key: str) -> None:
    with pytest.raises(PresetError) as info:
        parse_preset(_mutated(path, value, delete=delete), "bad.yaml")
    assert info.value.key == key
    assert str(info.value).startswith(f"bad.yaml: {key}: ")


def test_non_mapping_and_duplicates_and_stem_mismatch() -> None:
    with pytest.raises(PresetError, match="expected a mapping"):
        parse_preset(["not", "a", "dict"], "bad.yaml")  # type: ignore[arg-type]
    data = _good()
    data["targets"].append(dict(data["targets"][0]))
    with pytest.raises(PresetError, match=r"targets\[1\]: duplicates targets\[0\]"):
        parse_preset(data, "bad.yaml")
    with pytest.raises(PresetError, match="file name stem"):
        parse_preset(_good(), "other.yaml", expected_id="other")


def test_material_must_be_empty_for_rate_without_material() -> None:
    data = _mutated(("targets", 0, "metric"), "recycling_efficiency")
    with pytest.raises(PresetError, match=r"targets\[0\]\.material: must be empty"):
        parse_preset(data, "bad.yaml")


def test_domestic_recovery_is_tonnes_and_fiscal_years_map_to_first_year() -> None:
    data = _good()
    data["targets"] = [{"metric": "domestic_recovery", "material": "Ni", "value": 1200, "from_period": 2027,
                        "legal_date": "FY2027-28", "source": "s", "confidence": "D", "needs_confirmation": False,
                        "base": "b"}]
    p = parse_preset(data, "ok.yaml")
    assert p.targets.iloc[0]["value"] == 1200.0
    data["targets"][0]["from_period"] = 2028
    with pytest.raises(PresetError, match=r"targets\[0\]\.from_period: 2028 must be 2027"):
        parse_preset(data, "bad.yaml")


def test_bad_yaml_file_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(PresetError, match=r"broken\.yaml"):
        policies.load_preset_file(f)


# --- docs ------------------------------------------------------------------------------------------


def test_docs_policies_md_is_current() -> None:
    assert (DOCS / "policies.md").read_text(encoding="utf-8") == render_markdown(), (
        "docs/policies.md is stale: python -c 'from network_opt.inputs.policies import render_markdown; "
        "print(render_markdown(), end=\"\")' > docs/policies.md"
    )


def test_markdown_marks_rows_needing_confirmation() -> None:
    text = render_markdown()
    flagged = int(presets_table()["needs_confirmation"].sum())
    assert text.count("| **needs confirmation** |") == flagged
    for preset_id in EXPECTED_IDS:
        assert f"## `{preset_id}`" in text
