"""Normalisation: one form for the many ways people type the same words; idempotent on any text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu.normalize import ROMAN_VARIANTS, clean, fold_roman, normalize, tokens, words

# Text that mixes the scripts and oddities people send: Urdu, Arabic forms, Latin, marks, invisibles, emoji.
MESSY = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
        st.characters(min_codepoint=0xFB50, max_codepoint=0xFEFF),
        st.sampled_from(list("abcdeHIJKmnoxyz  \t\n.,!?@#/:-_0123456789")),
        st.sampled_from(
            ["\u200b", "\u200c", "\u200d", "\u200e", "\u202e", "\u2066", "\ufeff", "\u00ad", "ـ"]
        ),
        st.sampled_from(
            ["\u064e", "\u0650", "\u064f", "\u0651", "\u0670", "\u0301", "ﷺ", "😀", "🇵", "ß", "ǰ", "İ"]
        ),
        st.characters(),
    ),
    max_size=80,
)


@settings(max_examples=200)
@given(MESSY)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=200)
@given(MESSY)
def test_clean_and_roman_folding_are_idempotent(text: str) -> None:
    assert clean(clean(text)) == clean(text)
    folded = fold_roman(normalize(text))
    assert fold_roman(folded) == folded


def test_no_variant_folds_into_another_variant() -> None:
    assert not set(ROMAN_VARIANTS.values()) & set(ROMAN_VARIANTS)


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("يه پيج", "یہ پیج"),  # Arabic yeh and heh -> Urdu
        ("كيا", "کیا"),  # Arabic kaf -> Urdu keheh
        ("مصطفى", "مصطفی"),  # alef maqsura -> Urdu yeh
        ("مَیں نے", "میں نے"),  # diacritics dropped
        ("ســـلام", "سلام"),  # tatweel dropped
        ("رپو\u200cرٹ\u200f", "رپورٹ"),  # zero-width non-joiner, right-to-left mark
        ("a\u202eb\u2066c", "abc"),  # bidi overrides and isolates
        ("Pleaseee HELPPP", "please help"),  # elongation and case
        ("بھائییییی", "بھائی"),
        ("ﻻ ﷺ", "لا صلی اللہ علیہ وسلم"),  # presentation forms (NFKC)
        ("۱۲۳٤", "1234"),  # Urdu and Arabic digits
        ("  many   spaces\n\tand lines ", "many spaces and lines"),
        ("\x00\x1b[31mred", "[31mred"),
    ],
)
def test_normalize_examples(typed: str, normal: str) -> None:
    assert normalize(typed) == normal


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("mujhe report karna nahi hai", "mujhe report karna nahi hai"),
        ("mujhay report krna nahin he", "mujhe report karna nahi hai"),
        ("mjhe report karni nai hy", "mujhe report karna nahi hai"),
        ("kia ye sahi he", "kya ye sahi hai"),
        ("yeh page band kro plz", "ye page band karo please"),
    ],
)
def test_roman_urdu_spellings_meet(typed: str, folded: str) -> None:
    assert fold_roman(normalize(typed)) == folded


def test_words_split_on_punctuation_and_emoji() -> None:
    assert words("hello,world!😀کیا؟ok") == ["hello", "world", "کیا", "ok"]
    assert tokens("kia he") == ["kya", "hai"]


def test_kiya_the_verb_is_not_folded_into_kya_the_question() -> None:
    assert fold_roman("mujhe bharti kiya ja raha hai kiya karun") == "mujhe bharti kiya ja raha hai kya karun"
    assert fold_roman("page report kiya gaya tha") == "page report kiya gaya tha"
    assert fold_roman("kiya hal hai") == "kya hal hai"
    assert fold_roman(fold_roman("kiya ja")) == "kiya ja"
