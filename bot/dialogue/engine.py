"""Dispatch of one inbound event: global choices and interrupts first, then the current step."""

from __future__ import annotations

import copy

from bot.dialogue.flows import family, info, learn, report, status
from bot.dialogue.turn import GLOBAL_CHOICES, MENU, Turn
from bot.dialogue.types import MAX_TEXT, UNSUPPORTED_KINDS, Context, Inbound, Outcome, State
from nlu.normalize import normalize
from nlu.types import Parse
from responses import LANGUAGES, Catalog, catalog

FREE_TEXT_STEPS = frozenset({*report.STEPS, "status.code", *family.STEPS})
COMMAND_INTENTS = frozenset({"cancel", "back", "change_language"})
COMMAND_MAX_WORDS = 4
CONFIDENT = 0.45
REPORT_EMERGENCY_FLOOR = 0.6


def handle(
    inbound: Inbound, parse: Parse, state: State, context: Context, texts: Catalog | None = None
) -> Outcome:
    """The replies, next state and effects for one inbound event. Pure: `state` is not modified."""
    turn = Turn(copy.deepcopy(state), parse, context, texts or catalog())
    if inbound.choice is not None:
        _on_choice(turn, inbound.choice)
    else:
        _on_message(turn, inbound)
    return Outcome(tuple(turn.replies), turn.state, tuple(turn.effects))


def prompt_current(turn: Turn) -> None:
    """Show again what the current step asks."""
    step = turn.state.step
    if step in report.STEPS:
        report.prompt(turn)
    elif step == "status.code":
        status.ask_code(turn)
    elif step in family.STEPS:
        family.prompt(turn)
    elif step in ("start", "language"):
        info.ask_language(turn)
    elif step == "learn":
        learn.open_menu(turn)
    elif step == "family":
        family.open_(turn)
    elif step == "privacy":
        info.privacy(turn)
    elif step == "forget":
        info.ask_forget(turn)
    elif step == "updates":
        report.ask_updates(turn)
    else:
        info.menu(turn)


def _cancel(turn: Turn) -> None:
    key = "common.cancelled_report" if turn.state.step in report.STEPS else "common.cancelled"
    info.menu(turn, key)


def _back(turn: Turn) -> None:
    if turn.state.history:
        turn.state.step = turn.state.history.pop()
        prompt_current(turn)
    else:
        info.menu(turn)


def _set_language(turn: Turn, lang: str) -> None:
    first_time = turn.state.step in ("start", "language")
    turn.state.lang = lang
    if first_time:
        turn.state.step = "menu"
        info.menu(turn, "menu.first")
    else:
        turn.say("common.language_set")
        prompt_current(turn)


def _on_choice(turn: Turn, choice: str) -> None:
    if choice.startswith("lang:") and choice in GLOBAL_CHOICES:
        _set_language(turn, choice[5:])
        return
    if choice == "nav:cancel":
        _cancel(turn)
        return
    if choice == "nav:menu":
        info.menu(turn)
        return
    if choice == "digest:off":  # on every digest message, long after it was offered
        _unsubscribe(turn)
        return
    if choice not in turn.state.offered:
        turn.say("common.stale_button")
        prompt_current(turn)
        return
    if choice == "nav:back":
        _back(turn)
    elif choice.startswith("menu:") and choice[5:] in MENU:
        _open(turn, choice[5:])
    elif learn.handles(choice):
        learn.on_choice(turn, choice)
    elif family.handles(choice):
        family.on_choice(turn, choice)
    elif choice == "forget:ask":
        info.ask_forget(turn)
    elif choice in ("forget:yes", "forget:no"):
        info.forget(turn, choice == "forget:yes")
    elif choice in ("updates:yes", "updates:no"):
        report.on_updates(turn, choice == "updates:yes")
    elif turn.state.step in report.STEPS:
        report.on_choice(turn, choice)
    else:
        turn.say("common.stale_button")
        prompt_current(turn)


def _open(turn: Turn, item: str, inbound: Inbound | None = None) -> None:
    if item == "report":
        report.start(turn, inbound)
    elif item == "learn":
        learn.open_menu(turn)
    elif item == "family":
        family.open_(turn)
    elif item == "status":
        status.ask_code(turn)
    elif item == "privacy":
        info.privacy(turn)
    else:
        info.help_(turn)


def _language_named(text: str) -> str | None:
    folded = text.strip().casefold()
    names = {
        "english": "en",
        "angrezi": "en",
        "انگریزی": "en",
        "urdu": "ur",
        "اردو": "ur",
        "roman urdu": "ur-Latn",
        "roman": "ur-Latn",
        "رومن اردو": "ur-Latn",
    }
    return names.get(folded)


def _unsupported(turn: Turn, kind: str) -> None:
    """What we cannot use (a sticker, a voice note, ...) and what we can take, in one short reply."""
    kind = kind if kind in UNSUPPORTED_KINDS else "other"
    turn.say_text(turn.t(f"common.unsupported_{kind}") + " " + turn.t("common.we_take"))


def _on_message(turn: Turn, inbound: Inbound) -> None:
    text = (inbound.text or "").strip()
    parse = turn.parse
    step = turn.state.step
    usable = bool(text or inbound.attachments or inbound.links)
    if inbound.unsupported is not None:  # answered once here, whatever the channel
        if turn.state.lang is None and step == "start" and parse.language in LANGUAGES and text:
            turn.state.lang = parse.language
        _unsupported(turn, inbound.unsupported)
        if not usable:
            prompt_current(turn)
            return
    if not usable:
        turn.say("common.empty")
        prompt_current(turn)
        return
    if len(text) > MAX_TEXT:
        turn.say("common.too_long", limit=MAX_TEXT)
        prompt_current(turn)
        return
    if turn.state.lang is None and step == "start" and parse.language in LANGUAGES:
        turn.state.lang = parse.language
    if text.startswith("/") and _command(turn, inbound, text):
        return
    # A screenshot sent during a report is kept whatever its caption says (report.on_text).
    evidence = bool(inbound.attachments) and step in report.STEPS
    if learn.wants_unsubscribe(text) and not evidence:  # before commands: "band karo digest" is no cancel
        _unsubscribe(turn)
        return
    intent = parse.intent.name
    short = len(text.split()) <= COMMAND_MAX_WORDS
    if intent in COMMAND_INTENTS and short and parse.intent.confidence >= CONFIDENT and not evidence:
        if intent == "cancel":
            _cancel(turn)
        elif intent == "back":
            _back(turn)
        else:
            named = _language_named(text)
            if named:
                _set_language(turn, named)
            else:
                info.ask_language(turn)
        return
    if step == "language":
        named = _language_named(text)
        if named:
            _set_language(turn, named)
            return
    # Inside a report a description often names violence ("the man in this photo" scores 0.47): there only
    # a sure classification or an unmistakable phrase marks the report urgent, since the flow asks
    # "is anyone in immediate danger?" anyway.
    if info.is_emergency(turn, text, floor=REPORT_EMERGENCY_FLOOR if step in report.STEPS else 0.0):
        if step in report.STEPS:
            turn.state.draft["urgent"] = True
            info.emergency(turn, offer_buttons=False)
            report.on_text(turn, inbound, text)
        else:
            info.emergency(turn)
        return
    if step == "forget" and intent in ("affirm", "deny") and short:
        info.forget(turn, intent == "affirm")
    elif wants_forgetting(text) and step not in report.STEPS:
        info.ask_forget(turn)
    elif step == "updates" and intent in ("affirm", "deny") and short:
        report.on_updates(turn, intent == "affirm")
    elif step in report.STEPS:
        report.on_text(turn, inbound, text)
    elif step == "status.code":
        status.on_text(turn, text)
    elif step in family.STEPS and family.on_text(turn, text):
        return
    else:
        _route(turn, inbound, text)  # a question instead of an answer leaves the callback steps


def _unsubscribe(turn: Turn) -> None:
    """Stop the digest, then carry on with the step in progress (or the menu)."""
    step = turn.state.step
    learn.unsubscribe(turn)
    if step in FREE_TEXT_STEPS:
        prompt_current(turn)
    else:
        turn.state.step = "menu"
        turn.state.history = []


COMMANDS = ("start", "report", "status", "help", "language", "privacy", "cancel", "menu")


def _command(turn: Turn, inbound: Inbound, text: str) -> bool:
    """Slash commands (Telegram's menu, typed anywhere): global, whatever the step. False if unknown."""
    name = text[1:].split(maxsplit=1)[0].split("@")[0].casefold() if len(text) > 1 else ""
    if name not in COMMANDS:
        return False
    if name == "start":
        if turn.state.step == "start" or turn.state.lang is None:
            info.welcome(turn)
        else:
            info.menu(turn, "menu.greet")
    elif name == "report":
        report.start(turn, inbound)
    elif name == "status":
        codes = status.codes_in(turn.parse, text[len(name) + 1 :])
        if not (codes and any(status.answer(turn, code) for code in codes)):
            status.ask_code(turn)
    elif name == "cancel":
        _cancel(turn)
    elif name == "language":
        info.ask_language(turn)
    else:
        {"help": info.help_, "privacy": info.privacy, "menu": info.menu}[name](turn)
    return True


# "Delete my data" in any of our languages; matched on whole words of the normalised text.
FORGET_PHRASES = (
    "delete my data",
    "forget me",
    "erase my data",
    "remove my data",
    "delete my information",
    "mera data delete",
    "mera data mita",
    "meri maloomat mita",
    "data delete kar",
    "data mita do",
    "میرا ڈیٹا ڈیلیٹ",
    "میرا ڈیٹا مٹا",
    "میری معلومات مٹا",
    "ڈیٹا حذف",
    "میرا ڈیٹا حذف",
)


def wants_forgetting(text: str) -> bool:
    folded = " ".join(normalize(text).split())
    return any(phrase in folded for phrase in FORGET_PHRASES)


def _topic(turn: Turn, text: str, intent: str) -> bool:
    """Family guidance, a Learn card, helplines or the digest: their own words first, then the intent.

    The keyword checks keep these answers working whatever the classifier makes of the message.
    """
    sure = turn.parse.intent.confidence >= CONFIDENT
    if family.wants_callback(text):
        family.offer_callback(turn)
    elif learn.wants_subscribe(text):
        learn.offer_digest(turn)
    elif learn.wants_helplines(text):
        learn.show_helplines(turn)
    elif (turn.state.step == "family" and family.topic_for(turn, text)) or (intent == "family_help" and sure):
        family.on_free_text(turn, text)
    elif (intent in ("counter_narrative", "report_content") and sure) or learn.card_for(turn, text):
        learn.on_text(turn, text)
    elif intent == "family_help" or family.topic_for(turn, text) or family.mentions_relative(text):
        family.on_free_text(turn, text)
    elif intent == "counter_narrative":
        learn.on_text(turn, text)
    else:
        return False
    return True


def _route(turn: Turn, inbound: Inbound, text: str) -> None:
    """Outside a flow, a typed message goes where its intent points."""
    intent = turn.parse.intent
    first_contact = turn.state.step == "start"
    if intent.name == "check_status":
        codes = status.codes_in(turn.parse, text)
        if codes and not any(status.answer(turn, code) for code in codes):
            turn.say("status.not_found", *turn.nav(), code=codes[0])
            turn.goto("status.code")
        elif not codes:
            status.ask_code(turn)
        return
    if turn.parse.values("reference") and intent.name in ("out_of_scope", "greet"):
        codes = turn.parse.values("reference")
        if any(status.answer(turn, code) for code in codes):
            return
    if inbound.attachments or inbound.links:
        report.start(turn, inbound)
    elif learn.wants_numbers(inbound):
        learn.show_numbers(turn)
    elif intent.name == "report_content" and not learn.asks_to_learn(turn, text):
        report.start(turn, inbound)
    elif intent.name == "privacy" and intent.confidence >= CONFIDENT:
        info.privacy(turn)
    elif _topic(turn, text, intent.name):
        return
    elif intent.name == "privacy":
        info.privacy(turn)
    elif first_contact:
        info.welcome(turn)
    elif intent.name == "help":
        info.help_(turn)
    elif intent.name == "greet":
        info.menu(turn, "menu.greet")
    elif intent.name == "thanks":
        info.menu(turn, "menu.thanks")
    elif intent.name == "goodbye":
        info.menu(turn, "menu.goodbye")
    elif intent.name in ("affirm", "deny") or intent.confidence < CONFIDENT or intent.name == "out_of_scope":
        info.menu(turn, "menu.not_understood")
    else:
        info.menu(turn)
