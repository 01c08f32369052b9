"""Privacy: what we keep and for how long, and "forget me" (asked anywhere, confirmed before it happens)."""

from __future__ import annotations

from bot.dialogue.flow import Command, Flow, Route, Step
from bot.dialogue.flows import home
from bot.dialogue.turn import Turn
from bot.dialogue.types import ForgetMe, Inbound

PRIVACY = "privacy"
FORGET = "forget"


def privacy(turn: Turn) -> None:
    turn.goto(PRIVACY)
    turn.say("privacy.summary")
    turn.say("privacy.family")
    turn.say(
        "privacy.retention",
        turn.button("forget:ask"),
        turn.button("nav:menu"),
        days=turn.context.retention_days,
    )


def ask_forget(turn: Turn) -> None:
    """Confirm before deleting: it cannot be undone."""
    turn.goto(FORGET)
    turn.say("privacy.forget_confirm", turn.button("forget:yes"), turn.button("forget:no"))


def forget(turn: Turn, confirmed: bool) -> None:
    if confirmed:
        turn.effects.append(ForgetMe())
        lang = turn.state.lang
        turn.state = type(turn.state)(lang=lang)
        turn.rest()
        turn.say("privacy.forgotten", *turn.menu_buttons())
    else:
        home.menu(turn, "privacy.kept")


def _on_choice(turn: Turn, choice: str) -> None:
    if choice == "forget:ask":
        ask_forget(turn)
    else:
        forget(turn, choice == "forget:yes")


def _on_forget_text(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A typed yes or no to "delete everything?"; anything else goes on to the routes."""
    answer = turn.yes_or_no(text)
    if answer is not None:
        forget(turn, answer)
    return answer is not None


def _asks_to_forget(turn: Turn, inbound: Inbound, text: str) -> bool:
    # Inside a report, "delete my data" may be what the page says; at the question itself it is an answer.
    return not turn.step.content and turn.state.step != FORGET


FLOW = Flow(
    name="privacy",
    doc="What is kept and for how long; forget-me, asked anywhere outside a report and confirmed.",
    steps={
        PRIVACY: Step(prompt=privacy, place=True),
        FORGET: Step(prompt=ask_forget, on_text=_on_forget_text),
    },
    choices=("forget:",),
    on_choice=_on_choice,
    menu="privacy",
    open=lambda turn, inbound: privacy(turn),
    commands=(
        Command(
            "privacy",
            lambda t, i, r: privacy(t),
            50,
            "buttons.menu_privacy",
            "MENU_PRIVACY",
            "messenger.menu_privacy",
        ),
    ),
    interrupts=(
        Route(
            50,
            lambda t, i, x: ask_forget(t),
            phrases=("forget",),
            when=_asks_to_forget,
            note="delete my data",
        ),
    ),
    routes=(
        Route(
            60,
            lambda t, i, x: privacy(t),
            intents=frozenset({"privacy"}),
            sure=True,
            note="privacy questions",
        ),
        Route(80, lambda t, i, x: privacy(t), intents=frozenset({"privacy"}), note="privacy, less sure"),
    ),
)
