"""Help: what the bot does, with the menu, the helplines and this month's numbers."""

from __future__ import annotations

from bot.dialogue.flow import Command, Flow, Route
from bot.dialogue.turn import Turn
from bot.dialogue.types import Inbound


def help_(turn: Turn, inbound: Inbound | None = None) -> None:
    turn.rest()
    turn.say("help.text", *turn.menu_buttons(), turn.button("info:helplines"), turn.button("info:numbers"))


FLOW = Flow(
    name="help",
    doc="What the bot does, and where to go next.",
    steps={},
    menu="help",
    open=help_,
    commands=(
        Command(
            "help", lambda t, i, r: help_(t), 30, "buttons.menu_help", "MENU_HELP", "messenger.menu_help"
        ),
    ),
    routes=(Route(91, lambda t, i, x: help_(t), intents=frozenset({"help"}), note="asks for help"),),
)
