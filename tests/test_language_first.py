"""The language a citizen writes in is the language of the answer: no language question first, one line
offering the switch, and a request to switch ("Roman Urdu mein baat karo") obeyed at once."""

from __future__ import annotations

import pytest

from responses import catalog
from tests.talk import Talk


def welcomed() -> Talk:
    talk = Talk()
    talk.send("/start")  # Telegram's Start, Messenger's Get Started, the web chat's first load
    assert talk.step == "language"
    return talk


@pytest.mark.parametrize(
    ("text", "lang", "key"),
    [
        ("mujhe report karni hai", "ur-Latn", "report.ask_link"),
        ("مجھے رپورٹ کرنی ہے", "ur", "report.ask_link"),
        ("i need to report a page", "en", "report.ask_link"),
        ("کل مسجد پر حملہ ہوگا", "ur", "emergency.now"),
        ("kal masjid pe hamla hoga", "ur-Latn", "emergency.now"),
    ],
)
def test_the_first_words_decide_the_language_without_a_question(text: str, lang: str, key: str) -> None:
    talk = welcomed()
    talk.send(text)
    assert talk.state.lang == lang
    said = [r.text for r in talk.last.replies]
    assert said[-1].endswith("\n\n" + catalog().text("welcome.language_guessed", lang)), (
        "a line offering the switch"
    )
    assert said[0].startswith(catalog().text(key, lang)), "the answer comes first"


def test_a_first_message_without_start_is_answered_in_its_language() -> None:
    talk = Talk()
    talk.send("salam, mujhe ek page ki shikayat karni hai")
    assert talk.state.lang == "ur-Latn"
    assert talk.step == "report.link"


def test_a_link_alone_does_not_decide_the_language() -> None:
    talk = welcomed()
    talk.send("https://www.facebook.com/Some.Page")
    assert talk.state.lang is None
    assert talk.step == "report.category"
    talk.send("ye bharti wala page hai")
    assert talk.state.lang == "ur-Latn"


@pytest.mark.parametrize(
    ("start", "text", "lang"),
    [
        ("en", "Roman Urdu mein baat karo", "ur-Latn"),
        ("en", "اردو میں بات کریں", "ur"),
        ("ur", "english please", "en"),
        ("ur-Latn", "please talk in english", "en"),
        ("en", "urdu mein likho", "ur"),
    ],
)
def test_asking_for_a_language_switches_at_once(start: str, text: str, lang: str) -> None:
    talk = welcomed()
    talk.press(f"lang:{start}")
    talk.send(text)
    assert talk.state.lang == lang
    assert talk.step == "menu"
    assert talk.said.startswith(catalog().text("common.language_set", lang))


def test_a_chosen_language_is_not_changed_by_what_is_typed() -> None:
    talk = welcomed()
    talk.press("lang:ur")
    talk.send("i need to report a page")
    assert talk.state.lang == "ur"
