"""The content checks: the shipped content passes them, and each kind of bad content fails them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

import responses
from responses import HERE, LANGUAGES, ContentError, catalog, load
from responses.bidi import isolate

# Numbers shared/reference/content.md marks U or V-low (or "do not use"): never shown as fact.
UNVERIFIED = (
    "0311-7786264",
    "1717",
    "1991",
    "051-9106691",
    "0800-55055",
    "9911",
    "0336-6006060",
    "1282",  # V-med but "only after a test call": hidden
)


def every_text() -> list[str]:
    texts = catalog()
    return [texts.text(key, lang) for key in texts.texts for lang in LANGUAGES]


def test_the_shipped_content_passes_its_checks() -> None:
    texts = load()
    assert texts.cards("learn") == ("paigham", "recruiters", "propaganda", "law", "voices")
    assert texts.cards("family") == ("signs", "talk", "professional", "emergency")


@pytest.mark.parametrize("topic", ["learn", "family"])
def test_every_card_has_a_source_in_every_language(topic: str) -> None:
    texts = catalog()
    for card in texts.cards(topic):
        key = f"{topic}.{card}"
        for lang in LANGUAGES:
            source = texts.sources[key][lang]
            assert source.split(":")[0] in ("Source", "ماخذ"), (key, lang)
            assert texts.text(key, lang).endswith(isolate(source, lang))  # Urdu numbers isolated
        assert texts.keywords[key], f"{key} has no keywords for typed questions"


def test_every_text_renders_in_every_language_without_a_helpline_left_unfilled() -> None:
    helplines = {line.id for line in catalog().helplines}
    for text in every_text():
        assert not any("{" + name + "}" in text for name in helplines), text


def test_numbers_marked_unverified_are_never_shown_as_fact() -> None:
    for text in every_text():
        for number in UNVERIFIED:
            assert not re.search(rf"(?<![\d-]){re.escape(number)}(?![\d-])", text), (number, text)
    shown = {line.id: line for line in catalog().shown_helplines()}
    assert {"police", "rescue", "nccia"} <= shown.keys()
    assert all(line.status == "verified" for line in shown.values())
    assert not {"umang", "nacta", "fia_old", "mental_health"} & shown.keys()


def test_family_help_names_no_unverified_line_and_points_to_the_checked_ones() -> None:
    texts = catalog()
    for lang in LANGUAGES:
        professional = texts.text("family.professional", lang)
        assert "1282" not in professional
        assert texts.text("buttons.info_helplines", lang) in professional


def test_every_helpline_has_a_verified_on_date() -> None:
    data = yaml.safe_load((HERE / "helplines.yaml").read_text(encoding="utf-8"))
    assert data and all(entry.get("verified_on") for entry in data.values())
    assert all(line.verified_on.year >= 2014 for line in catalog().helplines)


# --- bad content fails the check -----------------------------------------------------------------


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A copy of the shipped content to spoil."""
    target = tmp_path / "responses"
    shutil.copytree(HERE, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def edit(directory: Path, name: str, change: dict[str, object]) -> None:
    path = directory / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def fails(directory: Path, message: str) -> None:
    with pytest.raises(ContentError) as error:
        load(directory)
    assert message in str(error.value)


def test_the_copy_is_good_before_it_is_spoilt(content: Path) -> None:
    assert load(content).texts == catalog().texts


def test_a_missing_language_fails(content: Path) -> None:
    edit(content, "menu", {"prompt": {"en": "What now?", "ur": "اب کیا؟"}})
    fails(content, "menu.prompt: missing ur-Latn")


def test_an_empty_language_fails(content: Path) -> None:
    edit(content, "menu", {"prompt": {"en": "What now?", "ur": " ", "ur-Latn": "Ab kya?"}})
    fails(content, "menu.prompt: missing ur")


def test_an_unknown_placeholder_fails(content: Path) -> None:
    edit(content, "menu", {"prompt": {"en": "Hi {nmae}", "ur": "سلام {nmae}", "ur-Latn": "Salam {nmae}"}})
    fails(content, "menu.prompt: unknown placeholder nmae")


def test_placeholders_that_differ_between_languages_fail(content: Path) -> None:
    edit(content, "status", {"received": {"en": "Code {code}", "ur": "کوڈ", "ur-Latn": "Code {code}"}})
    fails(content, "status.received: placeholders in ur differ from en")


def test_a_button_label_over_twenty_characters_fails(content: Path) -> None:
    long = {"en": "Learn about everything", "ur": "معلومات", "ur-Latn": "Maloomat"}
    edit(content, "buttons", {"menu_learn": long})
    fails(content, "buttons.menu_learn: button label over 20 characters")


def test_a_card_without_a_source_fails(content: Path) -> None:
    data = yaml.safe_load((content / "learn.yaml").read_text(encoding="utf-8"))
    card = data["paigham"]
    del card["source"]
    edit(content, "learn", {"paigham": card})
    fails(content, "learn.paigham: a card without a source")


def test_a_source_missing_a_language_fails(content: Path) -> None:
    data = yaml.safe_load((content / "family.yaml").read_text(encoding="utf-8"))
    del data["signs"]["source"]["ur"]
    edit(content, "family", {"signs": data["signs"]})
    fails(content, "family.signs.source: missing ur")


def test_a_card_without_a_button_label_fails(content: Path) -> None:
    edit(content, "buttons", {"learn_law": None})
    fails(content, "learn.law: a card without a button label (buttons.learn_law)")


def test_a_card_listed_but_not_written_fails(content: Path) -> None:
    edit(content, "learn", {"_cards": ["paigham", "recruiters", "propaganda", "law", "voices", "history"]})
    fails(content, "learn.history: listed in _cards but not written")


@pytest.mark.parametrize("letter", ["ي", "ك", "ه", "ى"])
def test_arabic_letters_where_urdu_ones_belong_fail(content: Path, letter: str) -> None:
    edit(content, "menu", {"prompt": {"en": "What now?", "ur": f"آپ {letter} کیا", "ur-Latn": "Ab kya?"}})
    fails(content, "menu.prompt: Arabic letters")


def test_an_urdu_text_in_latin_letters_fails(content: Path) -> None:
    edit(content, "menu", {"prompt": {"en": "What now?", "ur": "Ab kya?", "ur-Latn": "Ab kya?"}})
    fails(content, "menu.prompt: the ur text has no Urdu letters")


def test_an_unknown_field_fails(content: Path) -> None:
    edit(
        content, "menu", {"prompt": {"en": "What now?", "ur": "اب کیا؟", "ur-Latn": "Ab kya?", "fr": "Quoi?"}}
    )
    fails(content, "menu.prompt: unknown field fr")


def test_broken_yaml_fails(content: Path) -> None:
    (content / "menu.yaml").write_text("prompt: [unclosed\n", encoding="utf-8")
    fails(content, "menu.yaml: not valid YAML")


def helplines(directory: Path) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = yaml.safe_load((directory / "helplines.yaml").read_text("utf-8"))
    return data


def test_a_helpline_without_verified_on_fails(content: Path) -> None:
    data = helplines(content)
    del data["nccia"]["verified_on"]
    edit(content, "helplines", data)  # type: ignore[arg-type]
    fails(content, "helplines.yaml: nccia: no verified_on date")


def test_a_helpline_with_a_bad_date_fails(content: Path) -> None:
    data = helplines(content)
    data["nccia"]["verified_on"] = "last June"
    edit(content, "helplines", data)  # type: ignore[arg-type]
    fails(content, "helplines.yaml: nccia: verified_on is not a date")


@pytest.mark.parametrize("confidence", ["V-low", "U"])
def test_a_weak_helpline_shown_as_verified_fails(content: Path, confidence: str) -> None:
    data = helplines(content)
    data["umang"]["status"] = "verified"
    data["umang"]["confidence"] = confidence
    edit(content, "helplines", data)  # type: ignore[arg-type]
    fails(content, f"helplines.yaml: umang: confidence {confidence} may not be shown as verified")


def test_a_text_using_a_hidden_helpline_fails(content: Path) -> None:
    text = {"en": "Call {nacta}.", "ur": "{nacta} پر کال کریں۔", "ur-Latn": "{nacta} par call karein."}
    edit(content, "menu", {"goodbye": text})
    fails(content, "menu.goodbye: uses hidden helpline nacta")


def test_a_helpline_missing_a_language_fails(content: Path) -> None:
    data = helplines(content)
    data["police"]["name"] = {"en": "Police", "ur": "پولیس"}
    edit(content, "helplines", data)  # type: ignore[arg-type]
    fails(content, "helplines.yaml: police: name needs en, ur and ur-Latn")


def test_a_number_changed_in_the_helplines_file_changes_every_text(content: Path) -> None:
    data = helplines(content)
    data["police"]["contact"] = "0000"
    edit(content, "helplines", data)  # type: ignore[arg-type]
    texts = load(content)
    for lang in LANGUAGES:
        assert "0000" in texts.text("emergency.now", lang)
        assert "0000" in texts.text("welcome.hello", lang)


def test_the_command_line_check_fails_on_bad_content(content: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import main

    assert main(["content", "check"]) == 0
    edit(content, "menu", {"prompt": {"en": "What now?", "ur": "اب کیا؟"}})
    monkeypatch.setattr(responses, "HERE", content)
    monkeypatch.setattr(responses.load, "__defaults__", (content,))
    assert main(["content", "check"]) == 1
