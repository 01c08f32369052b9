"""What the engine, the registry, the content and the NLU work out once (issue 23: the CPU of a turn) gives
what working it out every time gave: the routing lists a text holds, texts and button labels, the union
of the flows' needs, the order of an intent ranking.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dialogue import REGISTRY, Context, Flow, Inbound, Needs, State, Step, words
from bot.dialogue.turn import Turn
from nlu import parse
from nlu.data import INTENTS
from nlu.parser import _ranked
from responses import LANGUAGES, catalog

TEXTS = catalog()
LISTS = sorted(TEXTS.routing)
# Words from the routing phrases (so that texts hold whole phrases, parts of phrases and prefixes of
# stems), and some that are in none.
VOCABULARY = [
    *sorted({w for name in LISTS for p in TEXTS.phrases(name) for w in p.split()}),
    *("the", "page", "https://t.me/x", "ABCD-1234", "۱۲"),
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=12), st.randoms(use_true_random=False))
def test_a_text_holds_the_lists_each_list_finds_alone(chosen: list[str], rng: random.Random) -> None:
    name = rng.choice(LISTS)
    text = " ".join([*chosen, *([rng.choice(TEXTS.phrases(name))] if rng.random() < 0.3 else [])])
    found = words.lists_in(text, TEXTS)
    assert found == {n for n in LISTS if words.any_of(text, TEXTS.phrases(n))}
    assert all(words.says(text, n, TEXTS) == (n in found) for n in LISTS)


def test_an_unknown_list_is_still_an_error() -> None:
    with pytest.raises(KeyError):
        words.says("call me back", "no_such_list", TEXTS)


def test_texts_are_those_of_their_language_and_parameters() -> None:
    for lang in LANGUAGES:
        assert TEXTS.text("common.cancelled", lang) == TEXTS.texts["common.cancelled"][lang]
    assert len({TEXTS.text("common.cancelled", lang) for lang in LANGUAGES}) == len(LANGUAGES)
    first, second = (TEXTS.text("report.done", "en", code=code) for code in ("AAAA-1111", "BBBB-2222"))
    assert "AAAA-1111" in first and "BBBB-2222" in second


def test_a_changed_copy_of_the_content_says_its_own_texts() -> None:
    TEXTS.text("common.cancelled", "en")
    TEXTS.text("buttons.nav_menu", "en")
    changed = {**TEXTS.texts, "common.cancelled": {lang: "Stopped." for lang in LANGUAGES}}
    changed["buttons.nav_menu"] = {lang: "Home" for lang in LANGUAGES}
    copy = dataclasses.replace(TEXTS, texts=changed)
    assert copy.text("common.cancelled", "en") == "Stopped."
    turn = Turn(State(lang="en"), parse(""), Context("X"), copy, REGISTRY, Inbound("t", "u", "1"))
    assert turn.button("nav:menu").label == "Home"
    assert TEXTS.text("common.cancelled", "en") != "Stopped."


def _turn(lang: str) -> Turn:
    return Turn(State(lang=lang), parse(""), Context("X"), TEXTS, REGISTRY, Inbound("t", "u", "1"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_button_is_labelled_in_the_turns_language(lang: str) -> None:
    for other in LANGUAGES:  # asked in every language first: each keeps its own label
        _turn(other).button("nav:back")
    turn = _turn(lang)
    assert turn.button("nav:back").label == TEXTS.text("buttons.nav_back", lang)
    assert turn.button("menu:report", "buttons.menu_report").label == TEXTS.text("buttons.menu_report", lang)
    assert turn.button("nav:back", "buttons.nav_menu").label == TEXTS.text("buttons.nav_menu", lang)


def _flow(name: str, needs: Needs) -> Flow:
    return Flow(name=name, steps={f"{name}.x": Step(prompt=lambda turn: None)}, needs=lambda s, p, i: needs)


def test_the_needs_of_a_turn_are_the_union_of_what_the_flows_declare() -> None:
    flows = (
        REGISTRY.with_flow(_flow("a", Needs(codes=("AAAA-1111", "AAAA-1111"), links=("https://x.com/1",))))
        .with_flow(_flow("b", Needs()))
        .with_flow(_flow("c", Needs(codes=("BBBB-2222", "AAAA-1111"), code=True)))
    )
    needs = flows.needs(State(lang="en", step="menu"), parse("hi"), Inbound("t", "u", "1", text="hi"))
    assert needs == Needs(
        codes=("AAAA-1111", "BBBB-2222"), links=("https://x.com/1",), followup=True, code=True
    )  # followup: asked on every message by the followup flow
    alone = REGISTRY.with_flow(_flow("a", Needs(codes=("AAAA-1111", "AAAA-1111"))))
    inbound = Inbound("t", "u", "1", choice="nav:menu")
    assert alone.needs(State(lang="en", step="menu"), parse(""), inbound).codes == ("AAAA-1111",)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]), min_size=len(INTENTS), max_size=len(INTENTS)))
def test_a_ranking_puts_the_surest_first_and_ties_in_the_order_of_intents(scores: list[float]) -> None:
    names = tuple(reversed(INTENTS))  # a model's classes need not be in the order of INTENTS
    ranked_names, confidences = _ranked(names, scores)
    expected = sorted(zip(names, scores, strict=True), key=lambda p: (-p[1], INTENTS.index(p[0])))
    assert list(zip(ranked_names, confidences, strict=True)) == expected
