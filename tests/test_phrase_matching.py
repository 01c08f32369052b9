"""The engine's phrase matching (bot/dialogue/words.py): the first-word index gives exactly what trying
every phrase at every position gives, for any text and phrases, and for the shipped routing phrases."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dialogue import words
from responses import catalog

VOCAB = [
    "ye", "page", "bharti", "kar", "raha", "hai", "report", "madad", "help", "call", "me", "back",
    "pehchan", "pehchanein", "data", "mita", "do", "jihad", "kufr", "پیج", "رپورٹ", "مدد", "کریں",
]  # fmt: skip
PHRASE = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3).map(" ".join)
PHRASES = st.lists(PHRASE.flatmap(lambda p: st.sampled_from([p, p + "*"])), min_size=1, max_size=8)
TEXT = st.lists(st.sampled_from(VOCAB), max_size=12).map(" ".join)


def plain(text: str, phrases: list[str] | tuple[str, ...]) -> int:
    found = words.words_of(text)
    return sum(words._found(found, phrase) for phrase in phrases)


@settings(max_examples=500, deadline=None)
@given(TEXT, PHRASES)
def test_the_index_finds_what_trying_every_phrase_finds(text: str, phrases: list[str]) -> None:
    assert words.score(text, phrases) == plain(text, phrases)
    assert words.any_of(text, phrases) == (plain(text, phrases) > 0)


def test_the_shipped_routing_phrases_match_as_before() -> None:
    texts = [
        "mujhe madad chahiye",
        "call me back please",
        "ye page bharti kar raha hai",
        "میرا ڈیٹا مٹا دو",
        "go back",
        "mera beta kisi group ke sath ja raha hai",
        "jamhooriyat kufr hai?",
    ]
    texts += [phrase.rstrip("*") for name in catalog().routing for phrase in catalog().phrases(name)][::7]
    for name in catalog().routing:
        for text in texts:
            assert words.score(text, catalog().phrases(name)) == plain(text, catalog().phrases(name))
