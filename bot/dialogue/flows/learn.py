"""Learn: counter-narrative cards with their sources, the weekly digest, helplines and this month's numbers.

The cards are the `_cards` of responses/learn.yaml, in order; a typed question opens the card whose
keywords it names. Every card ends with next steps: the other cards, family help, the digest, the menu.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.dialogue.flows import words
from bot.dialogue.turn import Turn
from bot.dialogue.types import Button, Inbound, KeepContact, Subscribe, Unsubscribe
from responses import Catalog

NUMBERS = "info:numbers"
HELPLINES = "info:helplines"
DIGEST_CHOICES = ("digest:ask", "digest:on", "digest:off")
# A typed question rather than a request to report: a question word or mark, and no word for reporting.
QUESTION_CUES = (
    "how",
    "what",
    "why",
    "which",
    "explain",
    "tell me",
    "kaise",
    "kya",
    "kyun",
    "kyon",
    "kaun",
    "batao",
    "bataen",
    "batayein",
    "کیسے",
    "کیا",
    "کیوں",
    "کون",
    "بتائیں",
    "بتاؤ",
)
REPORT_WORDS = ("report", "reporting", "shikayat", "complain", "complaint", "رپورٹ", "شکایت")
NUMBERS_PHRASES = (
    "how many reports",
    "how many pages",
    "numbers this month",
    "this month's numbers",
    "statistics",
    "stats",
    "transparency",
    "kitni reports",
    "kitne pages",
    "kitni shikayat",
    "adaad o shumar",
    "کتنی رپورٹس",
    "کتنی رپورٹیں",
    "کتنی شکایات",
    "اعداد و شمار",
)
HELPLINE_PHRASES = (
    "helpline",
    "helplines",
    "phone numbers",
    "contact numbers",
    "which number",
    "kis number",
    "ہیلپ لائن",
    "ہیلپ لائنز",
    "کس نمبر",
)
UNSUBSCRIBE_PHRASES = (
    "unsubscribe",
    "stop digest",
    "stop the digest",
    "stop weekly",
    "stop the weekly",
    "no more cards",
    "digest band",
    "band karo digest",
    "band digest",
    "weekly card band",
    "card band karo",
    "digest bund",
    "ڈائجسٹ بند",
    "بند کرو ڈائجسٹ",
    "ہفتہ وار کارڈ بند",
    "کارڈ بند کرو",
    "ان سبسکرائب",
)
SUBSCRIBE_PHRASES = (
    "subscribe",
    "weekly card",
    "weekly digest",
    "digest",
    "har hafte",
    "sabscribe",
    "ہفتہ وار",
    "ہر ہفتے",
    "سبسکرائب",
    "ڈائجسٹ",
)


def cards(catalog: Catalog) -> tuple[str, ...]:
    """The Learn cards, in the order of responses/learn.yaml."""
    return catalog.cards("learn")


def handles(choice: str) -> bool:
    """Whether a button id belongs to Learn."""
    return choice.startswith("learn:") or choice in (NUMBERS, HELPLINES, *DIGEST_CHOICES)


def open_menu(turn: Turn) -> None:
    turn.goto("learn")
    turn.say(
        "learn.intro",
        *[turn.button(f"learn:{c}") for c in cards(turn.catalog)],
        turn.button("digest:ask"),
        turn.button(NUMBERS),
        turn.button("nav:menu"),
    )


def show_card(turn: Turn, card: str) -> None:
    """A card, its source, and the next steps: the other cards, family help, the digest, the menu."""
    turn.goto("learn")
    every = cards(turn.catalog)
    at = every.index(card)
    others = [*every[at + 1 :], *every[:at]]
    turn.say(
        f"learn.{card}",
        *[turn.button(f"learn:{c}") for c in others],
        turn.button("menu:family"),
        turn.button("digest:ask"),
        turn.button("nav:menu"),
    )


def on_choice(turn: Turn, choice: str) -> None:
    card = choice[6:] if choice.startswith("learn:") else None
    if card is not None and card in cards(turn.catalog):
        show_card(turn, card)
    elif choice == NUMBERS:
        show_numbers(turn)
    elif choice == HELPLINES:
        show_helplines(turn)
    elif choice == "digest:ask":
        offer_digest(turn)
    elif choice == "digest:on":
        subscribe(turn)
    elif choice == "digest:off":
        unsubscribe(turn)
    else:
        turn.say("common.stale_button")
        open_menu(turn)


def card_for(turn: Turn, text: str) -> str | None:
    """The card a typed question is about, by the cards' keywords; None if it names none."""
    options = {c: turn.catalog.keywords.get(f"learn.{c}", ()) for c in cards(turn.catalog)}
    return words.best(text, options)


def asks_to_learn(turn: Turn, text: str) -> bool:
    """A question about a card's topic ("how do recruiters work?"), not a page to report."""
    if card_for(turn, text) is None or words.any_of(text, REPORT_WORDS):
        return False
    return "?" in text or "؟" in text or words.any_of(text, QUESTION_CUES)


def on_text(turn: Turn, text: str) -> None:
    """A typed question: the card it names, or the Learn menu."""
    card = card_for(turn, text)
    if card is None:
        open_menu(turn)
    else:
        show_card(turn, card)


def wants_numbers(inbound: Inbound) -> bool:
    """Whether this event may show this month's numbers (the pipeline looks them up only then)."""
    if inbound.choice is not None:
        return inbound.choice == NUMBERS
    return bool(inbound.text) and words.any_of(inbound.text or "", NUMBERS_PHRASES)


def wants_helplines(text: str) -> bool:
    return words.any_of(text, HELPLINE_PHRASES)


def _settle(turn: Turn) -> None:
    """An answer shown from anywhere (numbers, helplines, the digest offer) leaves a half-done step."""
    if turn.state.step not in ("menu", "learn", "family", "privacy"):
        turn.state.step = "menu"
        turn.state.history = []


def show_numbers(turn: Turn) -> None:
    """This month: reports received, pages referred, pages still monitored, from the data."""
    _settle(turn)
    numbers = turn.context.numbers
    after = (turn.button("menu:learn"), turn.button(HELPLINES), turn.button("nav:menu"))
    if numbers is None:
        turn.say("learn.numbers_unavailable", *after)
        return
    turn.say(
        "learn.numbers",
        *after,
        received=numbers.received,
        referred=numbers.referred,
        monitored=numbers.monitored,
    )


def show_helplines(turn: Turn) -> None:
    """Every helpline of responses/helplines.yaml that is not hidden; unconfirmed ones say so."""
    _settle(turn)
    values = turn.catalog.numbers(turn.lang)
    lines = [
        turn.t("help.helpline_line", name=line.name.get(turn.lang, line.name["en"]), contact=values[line.id])
        for line in turn.catalog.shown_helplines()
    ]
    turn.say("help.helplines", turn.button("menu:family"), turn.button("nav:menu"), lines="\n".join(lines))


def offer_digest(turn: Turn) -> None:
    """What the weekly card is and what we keep; subscribing is a second, explicit tap."""
    _settle(turn)
    turn.say("digest.offer", turn.button("digest:on"), turn.button("menu:learn"), turn.button("nav:menu"))


def subscribe(turn: Turn) -> None:
    turn.effects.append(Subscribe(turn.lang))
    turn.effects.append(KeepContact())
    turn.say(
        "digest.subscribed", turn.button("digest:off"), turn.button("menu:learn"), turn.button("nav:menu")
    )


def unsubscribe(turn: Turn) -> None:
    """Stop the digest (a button or typed words, at any time); then carry on where we were."""
    turn.effects.append(Unsubscribe())
    turn.say("digest.unsubscribed", *turn.menu_buttons())


def wants_unsubscribe(text: str) -> bool:
    return words.any_of(text, UNSUBSCRIBE_PHRASES)


def wants_subscribe(text: str) -> bool:
    return not wants_unsubscribe(text) and words.any_of(text, SUBSCRIBE_PHRASES)


def week_card(catalog: Catalog, week: date) -> str:
    """The card of the ISO week that contains `week`: the cards in turn, one a week."""
    every = cards(catalog)
    monday = date.fromisocalendar(*week.isocalendar()[:2], 1)
    return every[(monday.toordinal() // 7) % len(every)]


def digest_message(catalog: Catalog, lang: str, week: date) -> dict[str, Any]:
    """The outbox payload of this week's card in `lang`: header, card with source, how to stop."""
    card = week_card(catalog, week)
    text = "\n\n".join(
        (
            catalog.text("digest.header", lang),
            catalog.text(f"learn.{card}", lang),
            catalog.text("digest.footer", lang),
        )
    )
    buttons = [
        Button("digest:off", catalog.text("buttons.digest_off", lang)),
        Button("nav:menu", catalog.text("buttons.nav_menu", lang)),
    ]
    return {"text": text, "buttons": [{"id": b.id, "label": b.label} for b in buttons]}
