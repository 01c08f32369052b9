"""The weekly digest goes through the whole library (issue 24): the Learn cards and the answers to recruiters'
claims, a different item each week, the same for every day of a week, every item before any comes again;
in the subscriber's language, every word from responses/. Pure: no database, no network."""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import date, timedelta

import pytest

from bot.shared import library
from bot.shared.digest import digest_message, week_item
from responses import LANGUAGES, Catalog, catalog
from responses.bidi import CONTROLS

FIRST = date(2026, 1, 5)  # the Monday of 2026-W02
YEAR = [FIRST + timedelta(weeks=i) for i in range(53)]
URL = "https://raabta.example.pk"


def weeks_after(start: date, count: int) -> list[date]:
    return [start + timedelta(weeks=i) for i in range(count)]


def test_the_library_is_every_card_and_every_claim_once_the_cards_spread_among_the_claims() -> None:
    texts = catalog()
    every = library.items(texts)
    assert texts.claims is not None
    cards = list(library.cards(texts))
    claims = [f"claims.{c}" for c in texts.claims.ids()]
    assert [k for k in cards if k.startswith("learn.")] == [f"learn.{c}" for c in texts.cards("learn")]
    for card in texts.cards("learn"):  # a card's own cards come right after it
        own = [f"{card}.{c}" for c in texts.cards(card)]
        at = cards.index(f"learn.{card}")
        assert cards[at + 1 : at + 1 + len(own)] == own
    assert sorted(every) == sorted(cards + claims) and len(set(every)) == len(every)
    assert [k for k in every if k in cards] == cards, "the cards in learn.yaml's order"
    assert [k for k in every if k in claims] == claims, "the claims in claims.yaml's order"
    at = [every.index(card) for card in cards]
    spacing = len(every) // len(cards)
    assert all(b - a >= spacing - 1 for a, b in itertools.pairwise(at)), f"cards bunched: {at}"


def test_a_year_of_weeks_shows_every_item_before_any_comes_again() -> None:
    texts = catalog()
    every = library.items(texts)
    picked = [week_item(texts, day) for day in YEAR]
    assert len(set(picked)) == min(len(every), len(YEAR)), "a year shows the whole library"
    assert all(a != b for a, b in itertools.pairwise(picked)), "a different item each week"
    for start in range(len(picked) - len(every) + 1):
        window = picked[start : start + len(every)]
        assert len(set(window)) == len(every), f"a repeat before every item came, from week {start}"
    assert picked[len(every)] == picked[0], "then the same turn again"


def test_every_day_of_a_week_has_that_weeks_item_and_each_run_agrees() -> None:
    texts = catalog()
    for monday in YEAR:
        item = week_item(texts, monday)
        assert all(week_item(texts, monday + timedelta(days=d)) == item for d in range(7)), monday
    assert [week_item(texts, d) for d in YEAR] == [week_item(catalog(), d) for d in YEAR]


def test_the_turn_goes_on_across_new_year_and_a_53_week_year() -> None:
    texts = catalog()
    every = library.items(texts)
    span = weeks_after(date(2026, 12, 14), len(every))  # 2026 has 53 ISO weeks
    assert len({week_item(texts, d) for d in span}) == len(every)


def test_without_claims_the_digest_goes_through_the_cards() -> None:
    texts = dataclasses.replace(catalog(), claims=None)
    cards = library.cards(texts)
    picked = [week_item(texts, d) for d in weeks_after(FIRST, 2 * len(cards))]
    assert set(picked) == set(cards) and picked[: len(cards)] == picked[len(cards) :]


def expected(texts: Catalog, lang: str, item: str, public_url: str = "") -> str:
    """The digest's text assembled from the catalogue's own texts."""
    parts = [texts.text("digest.header", lang)]
    if item.startswith("claims."):
        parts.append(texts.text("digest.claim", lang) + "\n" + texts.text(f"{item}.claim", lang))
    parts.append(texts.text(item, lang))
    if public_url:
        parts.append(library.share_line(texts, lang, public_url, library.link_id(item)))
    parts.append(texts.text("digest.footer", lang))
    return "\n\n".join(parts)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_year_of_digests_in_each_language(lang: str) -> None:
    texts = catalog()
    own = set(library.cards(texts)) - {f"learn.{c}" for c in texts.cards("learn")}
    kinds = set()
    for day in YEAR:
        item = week_item(texts, day)
        kinds.add("claim" if item.startswith("claims.") else "own card" if item in own else "card")
        message = digest_message(texts, lang, day)
        assert message["text"] == expected(texts, lang, item), (day, item)
        assert texts.text(item, lang) in message["text"]  # the card with its source, the answer with its
        assert [b["id"] for b in message["buttons"]] == ["digest:off", "nav:menu"]
        assert [b["label"] for b in message["buttons"]] == [
            texts.text("buttons.digest_off", lang),
            texts.text("buttons.nav_menu", lang),
        ]
        if lang == "ur":  # written in Urdu: no line of the English texts
            assert texts.text("digest.header", "en") not in message["text"]
            assert texts.text(item, "en") not in message["text"]
    assert kinds == {"card", "claim"} | ({"own card"} if own else set())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_word_of_the_digest_comes_from_the_catalogue(lang: str) -> None:
    """Each text replaced by a marker naming its key: the message is markers, line breaks and the link."""
    real = catalog()
    texts = dataclasses.replace(
        real,
        texts={key: {each: f"[{key}|{each}]" for each in LANGUAGES} for key in real.texts},
        sources={key: {each: f"[source {key}|{each}]" for each in LANGUAGES} for key in real.sources},
    )
    for day in weeks_after(FIRST, len(library.items(real))):
        message = digest_message(texts, lang, day, URL)
        item = week_item(texts, day)
        text = re.sub(f"[{CONTROLS}]", "", message["text"])
        link = library.link(URL, library.link_id(item))
        assert text.count(link) == 1
        markers = re.findall(r"\[[^\]]*\]", text)
        assert all(m.endswith(f"|{lang}]") for m in markers), markers
        assert re.sub(r"\[[^\]]*\]", "", text.replace(link, "")).strip() == "", text
        assert f"[{item}|{lang}]" in markers and "[digest.footer|" + lang + "]" in markers
        labels = [re.sub(f"[{CONTROLS}]", "", b["label"]) for b in message["buttons"]]
        assert all(re.fullmatch(rf"\[[a-z_.-]+\|{re.escape(lang)}\]", label) for label in labels), labels


@pytest.mark.parametrize("lang", LANGUAGES)
def test_with_a_public_address_the_digest_carries_the_link_that_opens_its_item(lang: str) -> None:
    texts = catalog()
    for day in weeks_after(FIRST, 3):
        item = week_item(texts, day)
        message = digest_message(texts, lang, day, URL + "/")
        assert message["text"] == expected(texts, lang, item, URL)
        assert f"{URL}/chat?card={library.link_id(item)}" in message["text"]
        assert "chat?card=" not in digest_message(texts, lang, day)["text"], "no address, no link"
