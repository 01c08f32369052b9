"""Learn: counter-narrative cards with their sources, the weekly digest, helplines and this month's numbers.

The cards are the `_cards` of responses/learn.yaml, in order; a typed question opens the card whose
keywords it names. Every card ends with next steps: the other cards, family help, the digest, the menu.
"""

from __future__ import annotations

from bot.dialogue import words
from bot.dialogue.flow import COMMANDS_RANK, Flow, Needs, Route, Step
from bot.dialogue.turn import Turn
from bot.dialogue.types import Inbound, KeepContact, State, Subscribe, Unsubscribe
from nlu.types import Parse
from responses import Catalog, catalog

LEARN = "learn"
NUMBERS = "info:numbers"
HELPLINES = "info:helplines"
DIGEST_CHOICES = ("digest:ask", "digest:on", "digest:off")


def cards(catalog: Catalog) -> tuple[str, ...]:
    """The Learn cards, in the order of responses/learn.yaml."""
    return catalog.cards("learn")


def open_menu(turn: Turn) -> None:
    turn.goto(LEARN)
    turn.say(
        "learn.intro",
        *[turn.button(f"learn:{c}") for c in cards(turn.catalog)],
        turn.button("at_risk:open", "at_risk.button_learn"),  # "Is this me?": the at-risk path
        turn.button("digest:ask"),
        turn.button(NUMBERS),
        turn.button("nav:menu"),
    )


def show_card(turn: Turn, card: str) -> None:
    """A card, its source, and the next steps: the other cards, family help, the digest, the menu."""
    turn.goto(LEARN)
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
        stop_digest(turn)
    else:
        turn.say("common.stale_button")
        open_menu(turn)


def card_for(turn: Turn, text: str) -> str | None:
    """The card a typed question is about, by the cards' keywords; None if it names none."""
    options = {c: turn.catalog.keywords.get(f"learn.{c}", ()) for c in cards(turn.catalog)}
    return words.best(text, options)


def asks_to_learn(turn: Turn, text: str) -> bool:
    """A question about a card's topic ("how do recruiters work?"), not a page to report."""
    if card_for(turn, text) is None or turn.says(text, "report_words"):
        return False
    return "?" in text or "؟" in text or turn.says(text, "question")


def on_text(turn: Turn, text: str) -> None:
    """A typed question: the card it names, or the Learn menu."""
    card = card_for(turn, text)
    if card is None:
        open_menu(turn)
    else:
        show_card(turn, card)


def wants_numbers(inbound: Inbound, texts: Catalog) -> bool:
    """Whether this event may show this month's numbers (the pipeline looks them up only then)."""
    if inbound.choice is not None:
        return inbound.choice == NUMBERS
    return bool(inbound.text) and words.any_of(inbound.text or "", texts.phrases("numbers"))


def _settle(turn: Turn) -> None:
    """An answer shown from anywhere (numbers, helplines, the digest offer) leaves a half-done step."""
    if not turn.step.place:
        turn.rest()


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
    """Every verified helpline of responses/helplines.yaml (hidden ones are never shown)."""
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


def stop_digest(turn: Turn) -> None:
    """Stop the digest, then carry on with the question in progress (or rest on the menu)."""
    asks = turn.step.asks
    unsubscribe(turn)
    if asks:
        turn.prompt()
    else:
        turn.rest()


def _may_stop(turn: Turn, inbound: Inbound, text: str) -> bool:
    # A screenshot captioned "stop the digest" during a report is evidence first (report.on_text).
    return not (inbound.attachments and turn.step.content)


def _wants_subscribe(turn: Turn, inbound: Inbound, text: str) -> bool:
    return turn.says(text, "subscribe") and not turn.says(text, "unsubscribe")


def _asks_to_learn(turn: Turn, inbound: Inbound, text: str) -> bool:
    return asks_to_learn(turn, text)


def _names_a_card(turn: Turn, inbound: Inbound, text: str) -> bool:
    return card_for(turn, text) is not None


def _card(turn: Turn, inbound: Inbound, text: str) -> None:
    on_text(turn, text)


def needs(state: State, parse: Parse, inbound: Inbound) -> Needs:
    return Needs(numbers=wants_numbers(inbound, catalog()))


FLOW = Flow(
    name="learn",
    doc="Counter-narrative cards with sources, the weekly digest, helplines, this month's numbers.",
    steps={LEARN: Step(prompt=open_menu, place=True)},
    choices=("learn:", "info:", "digest:"),
    on_choice=on_choice,
    always=("digest:off",),
    menu="learn",
    open=lambda turn, inbound: open_menu(turn),
    interrupts=(
        Route(
            COMMANDS_RANK - 5,
            lambda t, i, x: stop_digest(t),
            phrases=("unsubscribe",),
            when=_may_stop,
            note="stop the digest (before cancel: 'band karo digest' is no cancel)",
        ),
    ),
    routes=(
        Route(40, lambda t, i, x: show_numbers(t), phrases=("numbers",), note="this month's numbers"),
        Route(
            45,
            _card,
            intents=frozenset({"report_content"}),
            when=_asks_to_learn,
            note="a question about a card's topic, not a page to report",
        ),
        Route(71, lambda t, i, x: offer_digest(t), when=_wants_subscribe, note="the weekly digest"),
        Route(72, lambda t, i, x: show_helplines(t), phrases=("helplines",), note="helplines"),
        Route(
            74,
            _card,
            intents=frozenset({"counter_narrative", "report_content"}),
            sure=True,
            note="counter-narrative questions",
        ),
        Route(74, _card, when=_names_a_card, note="a card's keywords"),
        Route(76, _card, intents=frozenset({"counter_narrative"}), note="counter-narrative, less sure"),
    ),
    needs=needs,
)
