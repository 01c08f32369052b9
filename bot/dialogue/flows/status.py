"""Checking a report's status by its reference code: typed anywhere, or asked for."""

from __future__ import annotations

from bot.dialogue.flow import NOTHING, Command, Flow, Needs, Route, Step
from bot.dialogue.turn import Turn
from bot.dialogue.types import Inbound, State
from bot.shared.status import status_text
from nlu.refcode import parse_code
from nlu.types import Parse

CODE = "status.code"


def ask_code(turn: Turn) -> None:
    turn.goto(CODE)
    turn.say("status.ask_code", *turn.nav())


def codes_in(message: Parse, text: str) -> list[str]:
    """The reference codes a message holds: the entities, or the whole message typed loosely."""
    codes = message.values("reference")
    whole = parse_code(text)
    if whole and whole not in codes:
        codes.append(whole)
    return codes


def answer(turn: Turn, code: str) -> bool:
    """Tell the status of `code` (with its dates, and for a decided report why and what next); False
    when no report has that code."""
    told = turn.context.reports.get(code)
    if told is None:
        return False
    turn.rest()
    turn.say_text(status_text(turn.catalog, turn.lang, code, told), *turn.menu_buttons())
    return True


def _on_code(turn: Turn, inbound: Inbound, text: str) -> bool:
    codes = codes_in(turn.parse, text)
    if not codes:
        turn.say("status.invalid", *turn.nav())
    elif not any(answer(turn, code) for code in codes):
        turn.say("status.not_found", *turn.nav(), code=codes[0])
    return True


def _command(turn: Turn, inbound: Inbound, rest: str) -> None:
    _asks_status(turn, inbound, rest)


def _asks_status(turn: Turn, inbound: Inbound, text: str) -> None:
    """Its status for a known code; "not found" (and the question again) for a code we do not know."""
    codes = codes_in(turn.parse, text)
    if codes and not any(answer(turn, code) for code in codes):
        turn.say("status.not_found", *turn.nav(), code=codes[0])
        turn.goto(CODE)
    elif not codes:
        ask_code(turn)


def _names_a_code(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A code sent with a greeting or alone: its status, if we know it; else the other routes."""
    return any(answer(turn, code) for code in turn.parse.values("reference"))


def needs(state: State, parse: Parse, inbound: Inbound) -> Needs:
    """The statuses of the codes this message may ask about (typed loosely at the code question)."""
    if not inbound.text:
        return NOTHING
    codes = codes_in(parse, inbound.text) if state.step == CODE else parse.values("reference")
    if inbound.text.startswith("/"):  # /status ABCD-1234
        codes += [c for c in codes_in(parse, inbound.text.partition(" ")[2]) if c not in codes]
    return Needs(codes=tuple(codes)) if codes else NOTHING


FLOW = Flow(
    name="status",
    doc="A report's status by its reference code.",
    steps={CODE: Step(prompt=ask_code, on_text=_on_code, asks=True)},
    menu="status",
    open=lambda turn, inbound: ask_code(turn),
    commands=(
        Command("status", _command, 20, "buttons.menu_status", "MENU_STATUS", "messenger.menu_status"),
    ),
    routes=(
        Route(10, _asks_status, intents=frozenset({"check_status"}), note="asks what became of a report"),
        Route(
            20,
            _names_a_code,
            intents=frozenset({"out_of_scope", "greet"}),
            when=lambda t, i, x: bool(t.parse.values("reference")),
            note="a known code, alone or with a greeting",
        ),
    ),
    needs=needs,
)
