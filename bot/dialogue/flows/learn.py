"""Learn: counter-narrative cards with their sources, answers to recruiters' claims, the weekly digest,
helplines and this month's numbers.

The cards are the `_cards` of responses/learn.yaml, in order; a typed question opens the card whose
keywords it names. Every card ends with next steps: the other cards, family help, the digest, the menu.
A card may have cards of its own (responses/<card>.yaml: how recruiters move people into private chats,
what to do, how propaganda videos are made, checking a clip, the voices of people who left) and a longer
text behind "Read more" (issue 24).

A question about a claim recruiters make ("jamhooriyat kufr hai?", "is killing non-Muslims jihad?") gets
that claim's own answer (responses/claims.yaml), matched by nlu/claims.py: the short answer with its
sources, then "Read more", "Another question" and "Talk to someone". When the matcher is not sure which
claim is meant, the two nearest are offered instead of a guess. A claim question the classifier took for
an emergency ("khudkush hamla shahadat hai?") still gets the emergency directions first, then the answer.
"""

from __future__ import annotations

import dataclasses

from bot.dialogue import words
from bot.dialogue.flow import COMMANDS_RANK, CONFIDENT, NOTHING, Command, Flow, Needs, Route, Step
from bot.dialogue.flows import home
from bot.dialogue.turn import Turn
from bot.dialogue.types import Button, ClaimAsked, Inbound, KeepContact, State, Subscribe, Unsubscribe
from bot.shared import library
from nlu.claims import ClaimMatch, matcher_for
from nlu.types import Parse
from responses import Catalog, catalog
from responses.languages import LANGUAGES

LEARN = "learn"
NUMBERS = "info:numbers"
HELPLINES = "info:helplines"
DIGEST_CHOICES = ("digest:ask", "digest:on", "digest:off")
CLAIM = "claim:"  # claim:<id> its short answer, claim:<id>:more the long one
CLAIM_ASK = "claim:ask"  # "Another question": type the claim you heard
CLAIM_TALK = "claim:talk"  # "Talk to someone": who to talk to, a counsellor's callback, family help
ASK = "learn.claim"  # the step that waits for a claim typed in the citizen's own words


def cards(catalog: Catalog) -> tuple[str, ...]:
    """The Learn cards, in the order of responses/learn.yaml."""
    return catalog.cards("learn")


# A Learn card may have cards of its own: the `_cards` of responses/<card>.yaml (recruiters.yaml: into private
# chats, what to do; propaganda.yaml: video tricks, checking a clip; voices.yaml: one card a voice). Such a
# card is named `<card>.<name>`, its catalogue key; its button is `learn:<card>.<name>`. Any card may have a
# longer text `<key>_more`, opened by "Read more" (`learn:<card>:more`).
OWN_SHOWN = 3  # of a card's own cards, offered under it (the rest from any of them): 10 buttons at most
MORE = ":more"


def own_cards(catalog: Catalog, card: str) -> tuple[str, ...]:
    """The cards of a Learn card's own file, as `<card>.<name>`; () for a card without one."""
    return tuple(f"{card}.{name}" for name in catalog.cards(card))


def every_card(catalog: Catalog) -> tuple[str, ...]:
    """Every card Learn can show: its own, then the cards of each of them."""
    top = cards(catalog)
    return (*top, *(own for card in top for own in own_cards(catalog, card)))


def _key(card: str) -> str:
    """The catalogue key of a card: `learn.<card>` for a Learn card, the name itself for one of its own."""
    return card if "." in card else f"learn.{card}"


def _card_button(turn: Turn, card: str) -> Button:
    parent, _, name = card.partition(".")
    return turn.button(f"learn:{card}", f"buttons.{parent}_{name}" if name else None)


def _more_button(turn: Turn, card: str) -> list[Button]:
    """The "Read more" button, for a card with a longer text."""
    if f"{_key(card)}_more" not in turn.catalog.texts:
        return []
    return [turn.button(f"learn:{card}{MORE}", "buttons.learn_more")]


def open_menu(turn: Turn) -> None:
    turn.goto(LEARN)
    turn.say(
        "learn.intro",
        *[turn.button(f"learn:{c}") for c in cards(turn.catalog)],
        turn.button(CLAIM_ASK, "claims.button_ask"),  # "Recruiters' claims": answer the one you heard
        turn.button("at_risk:open", "at_risk.button_learn"),  # "Is this me?": the at-risk path
        turn.button("digest:ask"),
        turn.button(NUMBERS),
        turn.button("nav:menu"),
    )


def show_card(turn: Turn, card: str) -> None:
    """A card, its source, and the next steps: "Read more" when it has more to say, its own cards, the other
    cards, family help, the digest, the menu. One of a card's own cards: its siblings, its card, Learn."""
    turn.goto(LEARN)
    if "." in card:
        _show_own(turn, card)
        return
    every = cards(turn.catalog)
    at = every.index(card)
    others = [*every[at + 1 :], *every[:at]]
    turn.say(
        f"learn.{card}",
        *_more_button(turn, card),
        *[_card_button(turn, c) for c in own_cards(turn.catalog, card)[:OWN_SHOWN]],
        *[turn.button(f"learn:{c}") for c in others],
        turn.button("menu:family"),
        turn.button("digest:ask"),
        turn.button("nav:menu"),
    )
    _share(turn, card)


def _show_own(turn: Turn, card: str) -> None:
    parent = card.partition(".")[0]
    siblings = [c for c in own_cards(turn.catalog, parent) if c != card]
    turn.say(
        card,
        *_more_button(turn, card),
        *[_card_button(turn, c) for c in siblings],
        turn.button(f"learn:{parent}"),
        turn.button("menu:learn"),
        turn.button("nav:menu"),
    )


def show_card_more(turn: Turn, card: str) -> None:
    """A card's longer text with its source; then the card's own cards or siblings, Learn, the menu."""
    turn.goto(LEARN)
    parent, _, _ = card.partition(".")
    near = [c for c in own_cards(turn.catalog, parent) if c != card]
    turn.say(
        f"{_key(card)}_more",
        *[_card_button(turn, c) for c in near],
        *([turn.button(f"learn:{parent}")] if "." in card else []),
        turn.button("menu:learn"),
        turn.button("nav:menu"),
    )


def _share(turn: Turn, item: str) -> None:
    """Under the card or answer just said, the link that passes it on (when RAABTA_PUBLIC_URL is set)."""
    _add_line(turn, library.share_line(turn.catalog, turn.lang, turn.context.public_url, item))


def _add_line(turn: Turn, line: str) -> None:
    """`line` at the end of the last reply, which keeps its buttons."""
    if line and turn.replies:
        last = turn.replies[-1]
        turn.replies[-1] = dataclasses.replace(last, text=f"{last.text}\n\n{line}")


def open_shared(turn: Turn, inbound: Inbound, rest: str) -> None:
    """/card <id> [language], which the web chat sends for a link to a card (`/chat?card=<id>`, made by
    bot/shared/library.py): that Learn card, or that claim's answer (not counted as asked), in the
    conversation's language. A new conversation takes the browser's (English for one we do not speak),
    is greeted first and told how to change it. An id that names nothing gets what /start gets."""
    said = rest.split()
    key = library.find(turn.catalog, said[0].lower()) if said else None
    if key is None:
        start = turn.flows.command("start")
        if start is not None:
            start.run(turn, inbound, "")
        return
    new = turn.state.lang is None
    if new:
        turn.state.lang = said[1] if len(said) > 1 and said[1] in LANGUAGES else "en"
        turn.say("welcome.hello")
    kind, _, name = key.partition(".")
    if kind == library.LEARN:
        show_card(turn, name)
    else:
        show_claim(turn, name, asked=False)
    if new:
        _add_line(turn, turn.t("welcome.language_guessed"))


def on_choice(turn: Turn, choice: str) -> None:
    card = choice[6:] if choice.startswith("learn:") else None
    if card is not None and card in every_card(turn.catalog):
        show_card(turn, card)
    elif card is not None and card.endswith(MORE) and _more_button(turn, card[: -len(MORE)]):
        show_card_more(turn, card[: -len(MORE)])
    elif choice.startswith(CLAIM):
        on_claim_choice(turn, choice)
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
    """The card a typed question is about, by the cards' keywords (Learn's own first, on a tie); None if it
    names none."""
    return words.choices(turn.catalog, "learn.cards", _card_keywords).best(text)


def _card_keywords(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    return {c: catalog.keywords.get(_key(c), ()) for c in every_card(catalog)}


def asks_to_learn(turn: Turn, text: str) -> bool:
    """A question about a card's topic ("how do recruiters work?"), not a page to report."""
    if card_for(turn, text) is None or turn.says(text, "report_words"):
        return False
    return "?" in text or "؟" in text or turn.says(text, "question")


def on_text(turn: Turn, text: str) -> None:
    """A typed question: the claim it is surely about, else the two claims it may be about, else the card
    it names, else the Learn menu. Claims come before cards: a card's keywords are broad ("jihad",
    "ulama"), and a question about one claim should not get the same general card whatever it asked."""
    match = claim_match(turn, text)
    if match is not None and match.sure and match.best is not None:
        show_claim(turn, match.best)
    elif match is not None and match.near:
        offer_two(turn, match)
    elif (card := card_for(turn, text)) is not None:
        show_card(turn, card)
    else:
        open_menu(turn)


# --- the recruiters' claims (responses/claims.yaml) ---------------------------------------------------


def claim_match(turn: Turn, text: str) -> ClaimMatch | None:
    """The claims nearest the text (nlu/claims.py), or None when the content has no claims."""
    library = turn.catalog.claims
    if library is None or not library.claims:
        return None
    return matcher_for(library).match(text)


def _claims(turn: Turn) -> tuple[str, ...]:
    library = turn.catalog.claims
    return library.ids() if library is not None else ()


def show_claim(turn: Turn, claim: str, asked: bool = True) -> None:
    """A claim's short answer with its sources; then read more, another question, talk to someone.
    `asked`: the citizen asked about it (not a link opened), counted for the console, never who asked."""
    turn.goto(LEARN)
    if asked:
        turn.effects.append(ClaimAsked(claim, turn.lang))
    turn.say(
        f"claims.{claim}",
        turn.button(f"{CLAIM}{claim}:more", "claims.button_more"),
        turn.button(CLAIM_ASK, "claims.button_another"),
        turn.button(CLAIM_TALK, "claims.button_talk"),
        turn.button("nav:menu"),
    )
    _share(turn, claim)


def show_more(turn: Turn, claim: str) -> None:
    """The longer answer, its sources, and a word on talking it through with a person."""
    turn.goto(LEARN)
    turn.say_text(
        turn.t(f"claims.{claim}.more") + "\n\n" + turn.t("claims.more_footer"),
        turn.button(CLAIM_ASK, "claims.button_another"),
        turn.button(CLAIM_TALK, "claims.button_talk"),
        turn.button("menu:learn"),
        turn.button("nav:menu"),
    )


def offer_two(turn: Turn, match: ClaimMatch) -> None:
    """Not sure which claim is meant: the two nearest, in the recruiters' words, to choose from."""
    turn.goto(LEARN)
    two = match.two()
    lines = [turn.t("claims.not_sure"), *(f"• {turn.t(f'claims.{c}.claim')}" for c in two)]
    turn.say_text(
        "\n".join(lines),
        *[turn.button(f"{CLAIM}{c}", f"claims.{c}.button") for c in two],
        turn.button(CLAIM_ASK, "claims.button_another"),
        turn.button("nav:menu"),
    )


def ask_claim(turn: Turn) -> None:
    """Another question: type the claim you heard, in your own words."""
    turn.goto(ASK)
    turn.say("claims.ask", turn.button("menu:learn"), turn.button("nav:menu"))


def talk(turn: Turn) -> None:
    """People to talk it through with, and a confidential counsellor's callback (for themselves: the at-risk
    topic) or family help for someone else."""
    turn.goto(LEARN)
    turn.say(
        "claims.talk",
        turn.button("at_risk:callback", "claims.button_counsellor"),
        turn.button("menu:family"),
        turn.button(CLAIM_ASK, "claims.button_another"),
        turn.button("nav:menu"),
    )


def on_claim_choice(turn: Turn, choice: str) -> None:
    name, _, part = choice[len(CLAIM) :].partition(":")
    if choice == CLAIM_ASK:
        ask_claim(turn)
    elif choice == CLAIM_TALK:
        talk(turn)
    elif name in _claims(turn) and part == "more":
        show_more(turn, name)
    elif name in _claims(turn) and not part:
        show_claim(turn, name)
    else:
        turn.say("common.stale_button")
        open_menu(turn)


# Intents of other paths that a sure classifier may give a claim stated without a question ("shia kafir
# hain" as report_content): then that path answers, not the claim.
OTHER_PATHS = frozenset({"report_content", "family_help", "check_status", "help"})


def _asks(turn: Turn, text: str) -> bool:
    """Asked as a question, or retold ("they say ...", "jaiz hai"): the cues of claims.yaml."""
    if "?" in text or "؟" in text or turn.says(text, "question"):
        return True
    library = turn.catalog.claims
    return library is not None and words.any_of(text, library.cues)


def asks_about_claim(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A claim the matcher is sure of, asked about: not a page to report, not a worried relative ("my son
    says democracy is kufr" is the family guidance's), and either asked as a question or retold, or not
    read by a sure classifier as another path's business."""
    if inbound.attachments or turn.parse.urls() or turn.parse.values("handle"):
        return False
    if turn.says(text, "report_words") or turn.says(text, "relative"):
        return False
    match = claim_match(turn, text)
    if match is None or not match.sure:
        return False
    if _asks(turn, text):
        return True
    intent = turn.parse.intent
    return not (intent.name in OTHER_PATHS and intent.confidence >= CONFIDENT)


def _near_claim(turn: Turn, inbound: Inbound, text: str) -> bool:
    """Asked or retold, plausibly about a claim, and nothing else took it: better the two nearest claims
    than the main menu."""
    if inbound.attachments or turn.parse.urls() or turn.says(text, "report_words"):
        return False
    match = claim_match(turn, text)
    return match is not None and match.near and _asks(turn, text)


def _offer_near(turn: Turn, inbound: Inbound, text: str) -> None:
    match = claim_match(turn, text)
    if match is not None:
        offer_two(turn, match)


def _answer_claim(turn: Turn, inbound: Inbound, text: str) -> None:
    match = claim_match(turn, text)
    if match is not None and match.best is not None:
        show_claim(turn, match.best)


def _claim_not_emergency(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A question about a claim that the classifier read as an emergency ("is a suicide attack
    martyrdom?"): no unmistakable danger phrase, asked as a question, outside a report's own words."""
    if turn.parse.intent.name != "emergency" or turn.step.content or turn.says(text, "emergency"):
        return False
    return _asks(turn, text) and asks_about_claim(turn, inbound, text)


def _claim_not_drawn_in(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A question about a claim that only the classifier took for someone being drawn in ("shia log kafir
    hote hain? ek banda keh raha tha"): no phrase of the at-risk list, no danger phrase, asked or retold.
    The answer's "Talk to someone" still offers them a counsellor of their own."""
    if turn.parse.intent.name != "at_risk_self" or turn.step.content:
        return False
    if turn.says(text, "at_risk") or turn.says(text, "emergency"):
        return False
    return _asks(turn, text) and asks_about_claim(turn, inbound, text)


def _emergency_then_claim(turn: Turn, inbound: Inbound, text: str) -> None:
    """The emergency directions first, as for anything the classifier reads as danger; then the answer."""
    home.emergency(turn, offer_buttons=False)
    _answer_claim(turn, inbound, text)


def _on_claim_text(turn: Turn, inbound: Inbound, text: str) -> bool:
    """At "type the claim you heard": the claim, or the two it may be; a question about none of them is
    told so (and asked again); anything else goes on to the routes (a link, "delete my data", ...)."""
    if inbound.attachments or turn.parse.urls() or turn.says(text, "report_words"):
        return False
    match = claim_match(turn, text)
    if match is None:
        return False
    if match.sure and match.best is not None:
        show_claim(turn, match.best)
    elif match.near:
        offer_two(turn, match)
    elif turn.parse.intent.name == "counter_narrative" or _asks(turn, text):
        turn.say("claims.unknown", turn.button("menu:learn"), turn.button("nav:menu"))
    else:
        return False
    return True


def wants_numbers(inbound: Inbound, texts: Catalog) -> bool:
    """Whether this event may show this month's numbers (the pipeline looks them up only then)."""
    if inbound.choice is not None:
        return inbound.choice == NUMBERS
    return bool(inbound.text) and words.says(inbound.text or "", "numbers", texts)


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
    return THE_NUMBERS if wants_numbers(inbound, catalog()) else NOTHING


THE_NUMBERS = Needs(numbers=True)


FLOW = Flow(
    name="learn",
    doc=(
        "Counter-narrative cards with sources, answers to recruiters' claims, the weekly digest, helplines, "
        "this month's numbers."
    ),
    steps={
        LEARN: Step(prompt=open_menu, place=True),
        ASK: Step(prompt=ask_claim, on_text=_on_claim_text, asks=True),
    },
    choices=("learn:", "info:", "digest:", CLAIM),
    on_choice=on_choice,
    always=("digest:off",),
    menu="learn",
    open=lambda turn, inbound: open_menu(turn),
    commands=(Command("card", open_shared, 5),),  # a link to a card (the web chat); in no menu
    interrupts=(
        Route(
            COMMANDS_RANK - 5,
            lambda t, i, x: stop_digest(t),
            phrases=("unsubscribe",),
            when=_may_stop,
            note="stop the digest (before cancel: 'band karo digest' is no cancel)",
        ),
        Route(
            2,  # after the crisis answer (1), before the at-risk path (3)
            _answer_claim,
            intents=frozenset({"at_risk_self"}),
            when=_claim_not_drawn_in,
            note="a claim asked about, read by the classifier alone as someone drawn in",
        ),
        Route(
            COMMANDS_RANK - 2,
            _emergency_then_claim,
            intents=frozenset({"emergency"}),
            when=_claim_not_emergency,
            note="a claim asked about, read as an emergency: the directions first, then the answer",
        ),
    ),
    routes=(
        Route(40, lambda t, i, x: show_numbers(t), phrases=("numbers",), note="this month's numbers"),
        Route(44, _answer_claim, when=asks_about_claim, note="a question about a recruiter's claim"),
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
        Route(77, _offer_near, when=_near_claim, note="near a claim, asked: the two nearest claims"),
    ),
    needs=needs,
)
