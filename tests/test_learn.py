"""Learn: every card in every language from the menu and from typed questions, each with its source and
next steps; this month's numbers; helplines; the weekly digest's subscribe and unsubscribe."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.dialogue import REGISTRY, Attachment, Context, Inbound, Outcome, handle
from bot.dialogue.types import KeepContact, MonthNumbers, SubmitReport, Subscribe, Unsubscribe
from bot.shared import digest, library
from nlu import parse
from responses import LANGUAGES, catalog
from responses.bidi import isolate
from tests.talk import Talk

CARDS = ("paigham", "recruiters", "propaganda", "law", "voices")
# A typed question per card and language; none of them names the card's button label. A question about one
# claim ("what do the scholars say about suicide attacks?") gets the claim's answer (tests/test_claims.py).
QUESTIONS = {
    "paigham": {
        "en": "Tell me about the Paigham-e-Pakistan declaration",
        "ur": "پیغام پاکستان کے بارے میں بتائیں",
        "ur-Latn": "paigham e pakistan ke baare mein batao",
    },
    "recruiters": {
        "en": "How do recruiters work online?",
        "ur": "یہ لوگ نوجوانوں کو کیسے پھنساتے ہیں؟",
        "ur-Latn": "ye log naujawanon ko kaise phansate hain",
    },
    "propaganda": {
        "en": "How can I spot propaganda?",
        "ur": "پروپیگنڈا کیسے پہچانیں؟",
        "ur-Latn": "propaganda kaise pehchanein?",
    },
    "law": {
        "en": "Is it illegal to share these videos? What is the punishment?",
        "ur": "اس بارے میں قانون کیا کہتا ہے؟",
        "ur-Latn": "is ke baare mein qanoon kya kehta hai?",
    },
    "voices": {
        "en": "Are there stories of people who left militancy?",
        "ur": "جو لوگ شدت پسندی چھوڑ کر واپس آئے ان کے بارے میں بتائیں",
        "ur-Latn": "jo log wapas aaye un ke baare mein batao",
    },
}


class Reader(Talk):
    """A Talk whose context carries this month's numbers, as the pipeline looks them up."""

    def __init__(self, numbers: MonthNumbers | None = None) -> None:
        super().__init__()
        self.numbers = numbers

    def send(
        self, text: str | None = None, choice: str | None = None, attachments: tuple[Attachment, ...] = ()
    ) -> Outcome:
        self.count += 1
        inbound = Inbound(
            "test", "user-1", str(self.count), text=text, choice=choice, attachments=attachments
        )
        numbers = self.numbers if REGISTRY.needs(self.state, parse(text or ""), inbound).numbers else None
        outcome = handle(
            inbound, parse(text or ""), self.state, Context(f"TEST-{self.count:04d}", numbers=numbers)
        )
        self.state = outcome.state
        self.outcomes.append(outcome)
        self.effects.extend(outcome.effects)
        return outcome


def started(lang: str, numbers: MonthNumbers | None = None) -> Reader:
    talk = Reader(numbers)
    talk.send("/start")
    talk.press(f"lang:{lang}")
    return talk


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("card", CARDS)
def test_every_card_from_the_menu_with_its_source_and_next_steps(lang: str, card: str) -> None:
    talk = started(lang)
    talk.press("menu:learn")
    assert [f"learn:{c}" for c in CARDS] == talk.state.offered[: len(CARDS)]
    talk.press(f"learn:{card}")
    assert talk.said == catalog().text(f"learn.{card}", lang)
    assert talk.said.endswith(isolate(catalog().sources[f"learn.{card}"][lang], lang))
    offered = talk.state.offered
    assert {f"learn:{c}" for c in CARDS if c != card} <= set(offered)
    assert offered[-3:] == ["menu:family", "digest:ask", "nav:menu"], "a next step after every card"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("card", CARDS)
def test_every_card_from_a_typed_question(lang: str, card: str) -> None:
    talk = started(lang)
    talk.send(QUESTIONS[card][lang])
    assert talk.said == catalog().text(f"learn.{card}", lang)
    assert "nav:menu" in talk.state.offered and "menu:family" in talk.state.offered


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_first_message_that_asks_a_question_gets_the_card_in_its_language(lang: str) -> None:
    talk = Reader()
    talk.send(QUESTIONS["paigham"][lang])
    assert talk.answer == catalog().text("learn.paigham", lang)


def test_a_request_to_report_is_not_taken_for_a_question() -> None:
    talk = started("en")
    talk.send("I want to report a propaganda page")
    assert talk.step == "report.link"


def test_a_general_question_opens_the_learn_menu() -> None:
    talk = started("en")
    talk.send("I want to learn about extremism")
    if talk.step == "learn":
        assert talk.said == catalog().text("learn.intro", "en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_this_months_numbers_from_the_learn_menu_and_from_help(lang: str) -> None:
    talk = started(lang, MonthNumbers(received=42, referred=7, monitored=3))
    talk.press("menu:learn")
    talk.press("info:numbers")
    expected = catalog().text("learn.numbers", lang, received=42, referred=7, monitored=3)
    assert talk.said == expected
    talk.press("nav:menu")
    talk.press("menu:help")
    talk.press("info:numbers")
    assert talk.said == expected


def test_typed_questions_about_the_numbers_get_them() -> None:
    talk = started("ur-Latn", MonthNumbers(5, 1, 2))
    talk.send("is mahine kitni reports aayi?")
    assert talk.said == catalog().text("learn.numbers", "ur-Latn", received=5, referred=1, monitored=2)


def test_numbers_that_could_not_be_read_are_not_made_up() -> None:
    talk = started("en")
    talk.press("menu:learn")
    talk.press("info:numbers")
    assert talk.said == catalog().text("learn.numbers_unavailable", "en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_helplines_list_what_is_verified_and_mark_what_is_not(lang: str) -> None:
    talk = started(lang)
    talk.press("menu:help")
    talk.press("info:helplines")
    texts = catalog()
    for line in texts.helplines:
        shown = isolate(f"{line.name[lang]}: ", lang) in talk.said
        assert shown == (line.status != "hidden"), line.id
        if line.status == "unconfirmed":
            assert texts.text("common.unconfirmed", lang, contact=line.contact) in talk.said
    assert "1717" not in talk.said and "0311" not in talk.said
    assert talk.said.index("15") < talk.said.index("1799")


def test_typed_helplines_question() -> None:
    talk = started("en")
    talk.send("which helpline numbers can I call?")
    assert talk.said.startswith("Helplines and contacts:")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_subscribing_takes_two_taps_and_keeps_the_address_to_send_it(lang: str) -> None:
    talk = started(lang)
    talk.press("menu:learn")
    talk.press("digest:ask")
    assert talk.said == catalog().text("digest.offer", lang)
    assert talk.effects == []
    outcome = talk.press("digest:on")
    assert Subscribe(lang) in outcome.effects and KeepContact() in outcome.effects
    assert "digest:off" in talk.state.offered


@pytest.mark.parametrize(
    "typed", ["unsubscribe", "band karo digest", "digest band karo", "ڈائجسٹ بند کرو", "Stop the weekly card"]
)
def test_unsubscribing_by_typing_at_any_time(typed: str) -> None:
    talk = started("ur-Latn")
    talk.press("menu:learn")
    talk.press("digest:ask")
    talk.press("digest:on")
    talk.press("nav:menu")
    outcome = talk.send(typed)
    assert Unsubscribe() in outcome.effects
    assert talk.step == "menu"


def test_the_stop_button_of_an_old_digest_message_works_whatever_was_offered_since() -> None:
    talk = started("en")
    talk.press("menu:report")
    talk.send("https://t.me/some_channel")
    outcome = talk.send(choice="digest:off")
    assert Unsubscribe() in outcome.effects
    assert talk.step == "report.category", "the report in progress goes on"
    assert talk.last.replies[0].text == catalog().text("digest.unsubscribed", "en")


def test_typing_subscribe_offers_the_digest_without_subscribing() -> None:
    talk = started("en")
    outcome = talk.send("subscribe me to the weekly digest")
    assert talk.said == catalog().text("digest.offer", "en")
    assert not outcome.effects


def test_learn_never_submits_a_report() -> None:
    talk = started("en")
    talk.press("menu:learn")
    for card in CARDS:
        talk.press(f"learn:{card}")
    assert not any(isinstance(e, SubmitReport) for e in talk.effects)


def test_one_item_of_the_library_a_week_in_turn() -> None:
    """The cards and the claims' answers in turn (tests/test_digest_rotation.py: a year of weeks)."""
    texts = catalog()
    every = library.items(texts)
    weeks = [date(2026, 1, 5) + timedelta(weeks=i) for i in range(2 * len(every))]
    picked = [digest.week_item(texts, day) for day in weeks]
    assert set(picked) == set(every) and {f"learn.{c}" for c in CARDS} <= set(every)
    assert picked[: len(every)] == picked[len(every) :]
    assert digest.week_item(texts, date(2026, 1, 5)) == digest.week_item(texts, date(2026, 1, 11))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_digest_message_is_a_card_with_its_source_and_a_way_out(lang: str) -> None:
    texts = catalog()
    weeks = (date(2026, 2, 2) + timedelta(weeks=i) for i in range(60))
    day = next(d for d in weeks if digest.week_item(texts, d).startswith("learn."))  # a card's week
    message = digest.digest_message(texts, lang, day)
    card = digest.week_item(texts, day)
    assert card.startswith("learn.")
    assert texts.text(card, lang) in message["text"]
    assert isolate(texts.sources[card][lang], lang) in message["text"]
    assert message["text"].endswith(texts.text("digest.footer", lang))
    assert [b["id"] for b in message["buttons"]] == ["digest:off", "nav:menu"]
