"""Language identification: script first; Urdu vs its neighbours; English vs Roman Urdu by our classifier."""

from __future__ import annotations

import pytest

from nlu.data import load_held_out
from nlu.language import detect, identify
from nlu.normalize import clean
from nlu.parser import prepare


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I want to report a page", "en"),
        ("hi", "en"),
        ("hello", "en"),
        ("salam", "ur-Latn"),
        ("aoa", "ur-Latn"),
        ("assalam o alaikum bhai", "ur-Latn"),
        ("bhai ye facebook page report karna hai", "ur-Latn"),  # code-mixed is Roman Urdu
        ("status check karo", "ur-Latn"),
        ("mujhe apne bete ki fikar hai", "ur-Latn"),
        ("یہ پیج بند کرو", "ur"),
        ("سلام", "ur"),
        ("شکریہ", "ur"),
        ("يه پيج دهشت گردي كي حمايت كرتا ہے", "ur"),  # Urdu typed on an Arabic keyboard
        ("این صفحه را گزارش کنید", "fa"),
        ("هذه الصفحة تنشر دعاية إرهابية", "ar"),
        ("دا پاڼه ترهګرۍ ته هڅوي", "ps"),
        ("منهنجو پٽ هڪ انتها پسند گروپ سان رابطي ۾ آهي", "sd"),
        ("ایہہ پیج دہشت گرداں دی حمایت کردا اے", "pa-Arab"),
    ],
)
def test_languages(text: str, language: str) -> None:
    assert identify(clean(text)) == language


@pytest.mark.parametrize("text", ["", "   ", "12345", "😀😀", "!!! ???", "Привет мир", "नमस्ते दुनिया"])
def test_no_letters_or_another_script_gives_no_language(text: str) -> None:
    assert identify(clean(text)) is None
    assert detect(text) is None


def test_languages_we_do_not_serve_are_not_served() -> None:
    assert detect("این صفحه را گزارش کنید") is None
    assert detect("یہ پیج بند کرو") == "ur"


def test_identification_is_deterministic() -> None:
    texts = ["kya haal hai bhai", "ok thanks", "سلام", "این صفحه را گزارش کنید"]
    first = [identify(clean(t)) for t in texts]
    for _ in range(5):
        assert [identify(clean(t)) for t in texts] == first


def test_language_accuracy_on_the_test_split_of_two_words_or_more() -> None:
    examples = [e for e in load_held_out() if len(e.text.split()) >= 2]
    right = sum(prepare(e.text).language == e.language for e in examples)
    assert len(examples) > 400
    assert right / len(examples) >= 0.98
