"""Dispatch of one inbound event: what is global to every conversation first, then the registry.

Global: what we cannot read (stickers, empty, too long), slash commands, the choice of language, cancel,
back, emergency directions, stale buttons. Everything else is looked up in the registry of flows: the
current step's handlers, the buttons a flow owns, its interrupts and its routes (bot.dialogue.flow).
"""

from __future__ import annotations

import dataclasses

from bot.dialogue.flow import CONFIDENT, Route
from bot.dialogue.flows import REGISTRY, home
from bot.dialogue.registry import Registry
from bot.dialogue.turn import Turn
from bot.dialogue.types import (
    MAX_TEXT,
    UNSUPPORTED_KINDS,
    Context,
    Inbound,
    Outcome,
    RequestSupport,
    State,
    SubmitReport,
)
from bot.dialogue.words import has_words
from nlu.types import Parse
from responses import Catalog, catalog
from responses.languages import LANGUAGES

COMMAND_INTENTS = frozenset({"cancel", "back", "change_language"})
COMMAND_MAX_WORDS = 4
SURE_COMMAND = 0.95  # a cancel or back this sure may run to LANGUAGE_MAX_WORDS words
LANGUAGE_CHOICES = frozenset(f"lang:{lang}" for lang in LANGUAGES)
# Buttons understood whatever was offered last (a channel may show them as quick replies anywhere).
GLOBAL_CHOICES = LANGUAGE_CHOICES | {"nav:cancel", "nav:menu"}


class CodeNotDeclared(RuntimeError):
    """A flow submitted a report or a callback request on a turn it did not declare `Needs.code` for: the
    caller draws a reference code only for such turns, so the submission would carry none."""


def handle(
    inbound: Inbound,
    parse: Parse,
    state: State,
    context: Context,
    texts: Catalog | None = None,
    flows: Registry = REGISTRY,
) -> Outcome:
    """The replies, next state and effects for one inbound event. Pure: `state` is not modified (the turn
    changes a copy of it). CodeNotDeclared: a flow submitted a report or a callback request with no
    reference code in `context` (it did not declare `Needs.code` for the step the turn began at)."""
    return handle_owned(inbound, parse, state.copied(), context, texts, flows)


def handle_owned(
    inbound: Inbound,
    parse: Parse,
    state: State,
    context: Context,
    texts: Catalog | None = None,
    flows: Registry = REGISTRY,
) -> Outcome:
    """`handle` for a caller that hands `state` over and never uses it again (the pipeline, which reads it
    from storage every turn): the turn changes it in place, and the Outcome's state may be it or share
    parts with it. Replies, next state and effects are those of `handle`; this only skips the copy, which
    buys such a caller nothing."""
    at = state.step  # where the turn began: what the flows' needs were asked about
    turn = Turn(state, parse, context, texts or catalog(), flows, inbound)
    turn.before = state.draft.copied() if state.draft is not None else None
    if inbound.choice is not None:
        _on_choice(turn, inbound.choice)
    else:
        _on_message(turn, inbound)
    for effect in turn.effects:
        if isinstance(effect, SubmitReport | RequestSupport) and not effect.code:
            raise CodeNotDeclared(f"{type(effect).__name__} at step {at!r} without a reference code")
    return Outcome(tuple(turn.replies), turn.state, tuple(turn.effects))


def _stale(turn: Turn) -> None:
    turn.say("common.stale_button")
    turn.prompt()


def _on_choice(turn: Turn, choice: str) -> None:
    flows = turn.flows
    if choice in LANGUAGE_CHOICES:
        home.set_language(turn, choice[5:])
        return
    if choice == "nav:cancel":
        home.cancel(turn)
        return
    if choice == "nav:menu":
        home.menu(turn)
        return
    anytime = flows.always(choice)
    if anytime is not None and anytime.on_choice is not None:
        anytime.on_choice(turn, choice)
        return
    if choice not in turn.state.offered:
        _stale(turn)
        return
    owner = flows.owner(choice)
    opens = flows.opener(choice[5:]) if choice.startswith("menu:") else None
    if choice == "nav:back":
        home.back(turn)
    elif opens is not None and opens.open is not None:
        opens.open(turn, None)
    elif owner is not None and owner.on_choice is not None:
        owner.on_choice(turn, choice)
    elif turn.step.on_choice is not None:
        turn.step.on_choice(turn, choice)
    else:
        _stale(turn)


def _unsupported(turn: Turn, kind: str) -> None:
    """What we cannot use (a sticker, a voice note, ...) and what we can take, in one short reply."""
    kind = kind if kind in UNSUPPORTED_KINDS else "other"
    turn.say_text(turn.t(f"common.unsupported_{kind}") + " " + turn.t("common.we_take"))


def _caption_read(turn: Turn, inbound: Inbound, text: str) -> bool:
    """Whether the words that came with something we cannot use (a video's caption) are read as a message.

    Inside a report's content steps they are (they describe what is reported), and so is a caption holding
    evidence or a clear request: a command, a link or @name, a reference code, words about reporting,
    cancel / back / language, an emergency, or what an interrupt answers (crisis, forget-me). Otherwise
    they may only describe the file ("my son watches this" under a video) and must not open another flow:
    the current question is asked again."""
    parse = turn.parse
    if turn.step.content or inbound.attachments or inbound.links or text.startswith("/"):
        return True
    if parse.urls() or parse.values("handle") or parse.values("reference"):
        return True
    navigates = parse.intent.name in COMMAND_INTENTS and parse.intent.confidence >= CONFIDENT
    if (navigates and len(text.split()) <= COMMAND_MAX_WORDS) or turn.says(text, "report_words"):
        return True
    if home.is_emergency(turn, text):
        return True
    return any(_matches(turn, route, inbound, text) for route in turn.flows.interrupts())


def _matches(turn: Turn, route: Route, inbound: Inbound, text: str) -> bool:
    if route.intents or route.phrases:
        intent = turn.parse.intent
        by_intent = intent.name in route.intents and (not route.sure or intent.confidence >= CONFIDENT)
        # the phrases are looked for only when the intent did not already match
        if not by_intent and not any(turn.says(text, name) for name in route.phrases):
            return False
    return route.when is None or route.when(turn, inbound, text)


def _first(turn: Turn, routes: tuple[Route, ...], inbound: Inbound, text: str) -> bool:
    """Run the first route that matches and answers; False if none did."""
    for route in routes:
        if _matches(turn, route, inbound, text) and route.then(turn, inbound, text) is not False:
            return True
    return False


def _names_a_route(turn: Turn, text: str) -> bool:
    """The text holds a flow's routing phrase ("call me back", "mera data mita do"): then it is no bare
    "back" or "cancel", whatever the classifier thinks."""
    return any(turn.says(text, name) for name in turn.flows.phrase_lists)


def _command(turn: Turn, inbound: Inbound, text: str) -> bool:
    """Slash commands (Telegram's menu, Messenger's postbacks, typed anywhere). False if unknown."""
    name = text[1:].split(maxsplit=1)[0].split("@")[0].casefold() if len(text) > 1 else ""
    command = turn.flows.command(name)
    if command is None:
        return False
    command.run(turn, inbound, text[len(name) + 1 :])
    return True


def _on_message(turn: Turn, inbound: Inbound) -> None:
    text = (inbound.text or "").strip()
    parse = turn.parse
    usable = bool(text or inbound.attachments or inbound.links)
    if inbound.unsupported is not None:  # answered once here, whatever the channel
        if turn.state.lang is None and turn.at_start and parse.language in LANGUAGES and text:
            turn.state.lang = parse.language
        _unsupported(turn, inbound.unsupported)
        if not usable or not _caption_read(turn, inbound, text):
            turn.prompt()
            return
    if not usable:
        turn.say("common.empty")
        turn.prompt()
        return
    if len(text) > MAX_TEXT:
        turn.say("common.too_long", limit=MAX_TEXT)
        turn.prompt()
        return
    guessed = _guess_language(turn, text)
    _dispatch(turn, inbound, text)
    if guessed and turn.state.lang == parse.language and turn.replies:
        # One line offering the switch, at the end: the first line stays the answer (in an emergency, the
        # number to call), and the last reply keeps its buttons.
        last = turn.replies[-1]
        line = turn.t("welcome.language_guessed")
        turn.replies[-1] = dataclasses.replace(last, text=f"{last.text}\n\n{line}")


def _guess_language(turn: Turn, text: str) -> bool:
    """No language chosen yet: the first message with words in it decides (a link or a code alone does
    not), unless it names a language itself. True when this message decided."""
    parse = turn.parse
    if turn.state.lang is not None or parse.language not in LANGUAGES or text.startswith("/"):
        return False
    if home.language_named(turn, text) is not None or not has_words(parse):
        return False
    turn.state.lang = parse.language
    return True


def _dispatch(turn: Turn, inbound: Inbound, text: str) -> None:
    parse = turn.parse
    if text.startswith("/") and _command(turn, inbound, text):
        return
    flows = turn.flows
    if _first(turn, flows.early_interrupts, inbound, text):
        return
    # A screenshot sent during a report is kept whatever its caption says.
    evidence = bool(inbound.attachments) and turn.step.content
    intent = parse.intent
    # "Roman Urdu mein baat karo", "never mind, not doing this": a sure request says a few more words
    sure = intent.name == "change_language" or intent.confidence >= SURE_COMMAND
    limit = home.LANGUAGE_MAX_WORDS if sure else COMMAND_MAX_WORDS
    short = len(text.split()) <= limit
    navigates = intent.name in COMMAND_INTENTS and intent.confidence >= CONFIDENT
    if navigates and short and not evidence and not _names_a_route(turn, text):
        if intent.name == "cancel":
            home.cancel(turn)
        elif intent.name == "back":
            home.back(turn)
        elif (named := home.language_named(turn, text)) is not None:
            home.set_language(turn, named)
        else:
            home.ask_language(turn)
        return
    if _emergency(turn, inbound, text):
        return
    if _first(turn, flows.late_interrupts, inbound, text):
        return
    on_text = turn.step.on_text
    if on_text is not None and on_text(turn, inbound, text):
        return
    _first(turn, turn.flows.routes(), inbound, text)  # the last route (home's) always answers


def _emergency(turn: Turn, inbound: Inbound, text: str) -> bool:
    """Emergency directions at once. Inside a flow's content steps (a report being described) only a sure
    classification or an unmistakable phrase counts, and the flow carries on with the message."""
    flow = turn.flows.flow_of(turn.state.step)
    inside = flow.on_emergency if turn.step.content else None
    floor = flow.emergency_floor if inside is not None else 0.0
    if not home.is_emergency(turn, text, floor=floor):
        return False
    keeper = turn.flows.threat_keeper()
    if inside is not None:
        inside(turn, inbound, text)
    elif keeper is not None and keeper.on_threat is not None:
        home.emergency(turn, offer_buttons=False)  # the directions first, then what was said is kept
        keeper.on_threat(turn, inbound, text)
    else:
        home.emergency(turn)
    return True
