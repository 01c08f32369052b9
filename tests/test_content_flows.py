"""Privacy, help and emergency answers in every language, from the menu and from free text."""

from __future__ import annotations

import pytest

from responses import LANGUAGES, catalog
from tests.talk import Talk

PRIVACY = {
    "en": "what data do you keep about me?",
    "ur": "آپ میرے بارے میں کون سا ڈیٹا رکھتے ہیں؟",
    "ur-Latn": "aap mera kya data rakhte ho?",
}
HELP = {"en": "what can you do?", "ur": "آپ کیا کر سکتے ہیں؟", "ur-Latn": "aap kya kar sakte ho?"}
EMERGENCY = {
    "en": "someone is in danger right now, they are going to attack",
    "ur": "کوئی خطرے میں ہے، بم دھماکا ہونے والا ہے",
    "ur-Latn": "khatra hai, hamla hone wala hai",
}


def started(lang: str) -> Talk:
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    return talk


def privacy_texts(lang: str) -> list[str]:
    texts = catalog()
    return [
        texts.text("privacy.summary", lang),
        texts.text("privacy.family", lang),
        texts.text("privacy.retention", lang, days=180),
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_privacy_from_the_menu_and_from_free_text(lang: str) -> None:
    talk = started(lang)
    talk.press("menu:privacy")
    assert [r.text for r in talk.last.replies] == privacy_texts(lang)
    assert talk.state.offered == ["forget:ask", "nav:menu"]
    talk.press("nav:menu")
    talk.send(PRIVACY[lang])
    assert [r.text for r in talk.last.replies] == privacy_texts(lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_help_from_the_menu_and_from_free_text_offers_helplines_and_numbers(lang: str) -> None:
    talk = started(lang)
    talk.press("menu:help")
    assert talk.said == catalog().text("help.text", lang)
    assert talk.state.offered[-2:] == ["info:helplines", "info:numbers"]
    talk.send(HELP[lang])
    assert talk.said == catalog().text("help.text", lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_emergency_from_free_text_first_thing(lang: str) -> None:
    talk = Talk()
    talk.send(EMERGENCY[lang])
    first = talk.last.replies[0].text
    assert first == catalog().text("emergency.now", lang)
    assert first.index("15") < first.index("1122") < first.index("1799")
    assert "15" in first.splitlines()[0] and "1122" in first.splitlines()[0], "the first line is the number"
    assert "confirm:submit" in talk.state.offered, "what was typed is kept as an urgent report to confirm"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_emergency_answer_says_what_to_do_and_what_not_to(lang: str) -> None:
    text = catalog().text("emergency.now", lang)
    do, dont = {
        "en": ("What to do now", "What not to do"),
        "ur": ("ابھی کیا کریں", "کیا نہ کریں"),
        "ur-Latn": ("Abhi kya karein", "Kya na karein"),
    }[lang]
    assert text.index(do) < text.index(dont)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_report_flow_coaches_safe_evidence(lang: str) -> None:
    texts = catalog()
    ask_link, ask_evidence = texts.text("report.ask_link", lang), texts.text("report.ask_evidence", lang)
    words = {
        "en": (("copy", "do not comment", "join the group"), ("screenshot", "do not download")),
        "ur": (("کاپی", "کمنٹ نہ کریں", "گروپ میں شامل نہ ہوں"), ("اسکرین شاٹ", "ڈاؤن لوڈ")),
        "ur-Latn": (("copy", "comment na karein", "group join na karein"), ("screenshot", "download")),
    }[lang]
    assert all(w in ask_link.lower() or w in ask_link for w in words[0])
    assert all(w in ask_evidence.lower() or w in ask_evidence for w in words[1])
