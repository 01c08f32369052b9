"""Checking a report's status by its reference code."""

from __future__ import annotations

from bot.dialogue.turn import Turn
from nlu.refcode import parse_code
from nlu.types import Parse


def ask_code(turn: Turn) -> None:
    turn.goto("status.code")
    turn.say("status.ask_code", *turn.nav())


def codes_in(message: Parse, text: str) -> list[str]:
    """The reference codes a message holds: the entities, or the whole message typed loosely."""
    codes = message.values("reference")
    whole = parse_code(text)
    if whole and whole not in codes:
        codes.append(whole)
    return codes


def answer(turn: Turn, code: str) -> bool:
    """Tell the status of `code`; False when no report has that code."""
    public = turn.context.reports.get(code)
    if public is None:
        return False
    turn.state.step = "menu"
    turn.state.history = []
    turn.say(f"status.{public}", *turn.menu_buttons(), code=code)
    return True


def on_text(turn: Turn, text: str) -> None:
    codes = codes_in(turn.parse, text)
    if not codes:
        turn.say("status.invalid", *turn.nav())
        return
    for code in codes:
        if answer(turn, code):
            return
    turn.say("status.not_found", *turn.nav(), code=codes[0])
