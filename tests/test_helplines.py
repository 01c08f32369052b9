"""Helplines with purposes: only verified numbers are ever shown, and the flows ask for them by purpose.

Also the Urdu and Roman Urdu fixes of issue 16, which are content too.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from responses import HELPLINE_PURPOSES, HERE, LANGUAGES, ContentError, catalog, load
from responses.bidi import isolate


def raw() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = yaml.safe_load((HERE / "helplines.yaml").read_text("utf-8"))
    return data


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A copy of the shipped content to change."""
    target = tmp_path / "responses"
    shutil.copytree(HERE, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def write(directory: Path, data: dict[str, dict[str, object]]) -> None:
    (directory / "helplines.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def fails(directory: Path, message: str) -> None:
    with pytest.raises(ContentError) as error:
        load(directory)
    assert message in str(error.value)


# --- purposes ------------------------------------------------------------------------------------


def test_every_entry_has_known_purposes_and_every_purpose_is_used() -> None:
    lines = catalog().helplines
    assert all(line.purposes and set(line.purposes) <= set(HELPLINE_PURPOSES) for line in lines)
    assert {p for line in lines for p in line.purposes} == set(HELPLINE_PURPOSES)


def test_helplines_for_gives_only_verified_entries_of_that_purpose_in_file_order() -> None:
    data = raw()
    texts = catalog()
    for purpose in HELPLINE_PURPOSES:
        expected = [
            name
            for name, entry in data.items()
            if entry["status"] == "verified" and purpose in (entry.get("for") or [])  # type: ignore[operator]
        ]
        got = texts.helplines_for(purpose)
        assert [line.id for line in got] == expected, purpose
        assert all(line.status == "verified" for line in got)


def test_the_shipped_purposes() -> None:
    texts = catalog()
    assert [(x.id, x.contact) for x in texts.helplines_for("emergency")] == [
        ("police", "15"),
        ("rescue", "1122"),
    ]
    assert [x.id for x in texts.helplines_for("family")] == ["act_early_uk", "bamf_germany"]
    # No crisis line is confirmed yet: the crisis answer gives 15 and 1122 from its own text.
    assert texts.helplines_for("crisis") == ()
    hidden_crisis = [x.id for x in texts.helplines if "crisis" in x.purposes]
    assert {"mental_health", "umang", "humraaz", "punjab_15_counselling"} <= set(hidden_crisis)


def test_the_crisis_answer_always_has_the_emergency_numbers() -> None:
    texts = catalog()
    if not texts.has("crisis.now"):
        pytest.skip("crisis.yaml has no first message yet")
    for lang in LANGUAGES:
        first = texts.text("crisis.now", lang)
        assert "1122" in first and "15" in first


def test_an_unknown_purpose_asked_for_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="unknown helpline purpose 'suicide'"):
        catalog().helplines_for("suicide")


def test_a_confirmed_crisis_line_is_given_and_the_others_are_not(content: Path) -> None:
    data = raw()
    data["humraaz"].update(status="verified", confidence="V-high", verified_on="2026-03-02")
    write(content, data)
    texts = load(content)
    assert [line.id for line in texts.helplines_for("crisis")] == ["humraaz"]
    assert [line.id for line in texts.helplines_for("family")] == ["act_early_uk", "bamf_germany", "humraaz"]
    assert "humraaz" in {line.id for line in texts.shown_helplines()}
    assert "umang" not in {line.id for line in texts.helplines_for("crisis")}


def test_the_loader_refuses_an_unknown_purpose(content: Path) -> None:
    data = raw()
    data["drf"]["for"] = ["cyber", "suicide"]
    write(content, data)
    fails(content, "helplines.yaml: drf: unknown purpose suicide (known: emergency, crisis, family")


def test_the_loader_refuses_purposes_that_are_not_a_list(content: Path) -> None:
    data = raw()
    data["drf"]["for"] = "cyber"
    write(content, data)
    fails(content, "helplines.yaml: drf: for must be a list of purposes")


def test_unconfirmed_is_no_longer_a_status(content: Path) -> None:
    data = raw()
    data["mental_health"]["status"] = "unconfirmed"
    write(content, data)
    fails(content, "helplines.yaml: mental_health: status unconfirmed is gone")


def test_a_bad_confidence_mark_fails(content: Path) -> None:
    data = raw()
    data["nccia"]["confidence"] = "high"
    write(content, data)
    fails(content, "helplines.yaml: nccia: confidence must be one of V-high, V-med, V-low, U")


def test_an_unknown_field_in_a_helpline_fails(content: Path) -> None:
    data = raw()
    data["nccia"]["hours"] = "24/7"
    write(content, data)
    fails(content, "helplines.yaml: nccia: unknown field hours")


def test_without_a_verified_emergency_line_the_content_fails(content: Path) -> None:
    data = raw()
    for name in ("police", "rescue"):
        data[name]["for"] = ["report"]
    write(content, data)
    fails(content, "helplines.yaml: no verified entry for emergency")


# --- no unverified number anywhere ---------------------------------------------------------------


def rendered() -> list[str]:
    """Every text in every language as the bot shows it (cards with their sources), and the helplines list."""
    texts = catalog()
    out = [texts.text(key, lang) for key in texts.texts for lang in LANGUAGES]
    values = texts.numbers("en")
    out += [f"{line.name[lang]}: {values[line.id]}" for line in texts.shown_helplines() for lang in LANGUAGES]
    return out


def test_no_text_renders_an_unverified_number() -> None:
    texts = catalog()
    shown = {line.contact for line in texts.helplines if line.shown}
    hidden = {line.contact for line in texts.helplines if not line.shown} - shown
    assert {"1282", "0311-7786264", "1166", "1121", "1719"} <= hidden
    for text in rendered():
        for contact in hidden:
            assert not re.search(rf"(?<![\d-]){re.escape(contact)}(?![\d-])", text), (contact, text)


def test_numbers_fill_only_verified_entries() -> None:
    texts = catalog()
    for lang in LANGUAGES:
        assert set(texts.numbers(lang)) == {line.id for line in texts.helplines if line.status == "verified"}
    assert all(line.status == "verified" for line in texts.shown_helplines())


def test_every_hidden_entry_says_where_it_was_read() -> None:
    for name, entry in raw().items():
        if entry["status"] == "hidden":
            assert len(str(entry["source"])) > 20, name


# --- the Urdu and Roman Urdu fixes ---------------------------------------------------------------


def test_the_quoted_urdu_fixes_are_in_place() -> None:
    texts = catalog()
    assert "تاریخ اور وقت نظر آتے ہیں" in texts.text("report.ask_evidence", "ur")
    assert "اگر آپ 'نہیں' کہیں" in texts.text("report.ask_updates", "ur")
    voices = texts.text("learn.voices", "ur")
    assert isolate("5 لاکھ منٹ سے زیادہ دیکھے", "ur") in voices and "دیکھیں" not in voices
    assert "سباؤون" in voices and "صبون" not in voices
    assert "سباؤون" in texts.text("family.professional", "ur")


def test_the_financing_category_says_terrorism() -> None:
    texts = catalog()
    label = texts.text("categories.financing", "ur")
    assert label == "دہشت گردی کیلئے چندہ"
    assert len(label) <= 20
    assert "terror" in texts.text("categories.financing", "en").lower()
    assert "terror" in texts.text("categories.financing", "ur-Latn").lower()


def test_roman_urdu_says_cancel() -> None:
    texts = catalog()
    assert texts.text("buttons.nav_cancel", "ur-Latn") == "Cancel"
    for key in ("common.cancelled", "common.cancelled_report", "report.confirm_hint"):
        assert "Cancel" in texts.text(key, "ur-Latn")


# Spellings that lost to another one (docs/content.md, "Roman Urdu spelling"): the left one appears in no
# Roman Urdu text of any file.
LOST = {
    "mansookh": "Cancel",
    "nahin": "nahi",
    "ziada": "zyada",
    "dair": "der",
    "hoon": "hun",
    "dabayein": "dabayen",
    "pohanch": "pohnch",
    "pohanchane": "pohnchane",
    "behes": "behas",
    "dekhin": "dekhe",
    "pehchanen": "pehchanein",
}


def test_one_roman_urdu_spelling_per_word() -> None:
    texts = catalog()
    for key in texts.texts:
        for text in (texts.texts[key]["ur-Latn"], texts.sources.get(key, {}).get("ur-Latn", "")):
            words = set(re.findall(r"[a-z]+", text.lower()))
            lost = sorted(words & LOST.keys())
            assert not lost, (key, [f"{w} -> {LOST[w]}" for w in lost])
            assert "meherbani kar ke" not in text.lower(), key


@pytest.mark.parametrize("card", ["signs", "talk", "professional"])
def test_family_cards_cite_the_pakistani_sources_they_use(card: str) -> None:
    texts = catalog()
    source = texts.sources[f"family.{card}"]["en"]
    assert ("PAIMAN" in source) or ("Sabaoon" in source)
    if "Sabaoon" in source:
        assert "Sabaoon" in texts.texts[f"family.{card}"]["en"]
    if "PAIMAN" in source:
        assert (
            "faith" in texts.texts[f"family.{card}"]["en"] or "Mothers" in texts.texts[f"family.{card}"]["en"]
        )
