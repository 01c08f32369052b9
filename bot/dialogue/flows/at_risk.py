"""For the person who is themselves being drawn in: heard without judgement, shown the trap, shown how to
step away safely, offered a confidential counsellor for themselves (the families' support queue, marked
`at_risk`). No lecture and no labels. A danger to life said with it gets emergency directions first.
"""

from __future__ import annotations

from bot.dialogue.flow import Flow, Route, Step
from bot.dialogue.flows import crisis, family, home
from bot.dialogue.turn import Turn
from bot.dialogue.types import Button, Inbound

AT_RISK = "at_risk.options"
TOPIC = "at_risk"  # support_requests.topic: a callback for the person being drawn in
PARTS = ("trap", "leave")
# An interrupt before anything else needs a sure classifier ("quiz me please" scores 0.59); the first-person
# phrases of routing.yaml catch the plain cases at any score.
FLOOR = 0.75


def _buttons(turn: Turn, shown: str | None = None) -> list[Button]:
    parts = [p for p in PARTS if p != shown]
    return [
        *[turn.button(f"at_risk:{p}", f"at_risk.button_{p}") for p in parts],
        turn.button("at_risk:callback", "at_risk.button_callback"),
        turn.button("nav:menu"),
    ]


def open_(turn: Turn, inbound: Inbound | None = None) -> None:
    turn.goto(AT_RISK)
    turn.state.draft = None
    turn.say("at_risk.intro", *_buttons(turn))


def _show(turn: Turn, part: str) -> None:
    turn.goto(AT_RISK)
    turn.say(f"at_risk.{part}", *_buttons(turn, part))


def _on_choice(turn: Turn, choice: str) -> None:
    part = choice.partition(":")[2]
    if part in PARTS:
        _show(turn, part)
    elif part == "callback":
        family.offer_callback(turn, TOPIC)
    else:
        open_(turn)


def _drawn_in(turn: Turn, inbound: Inbound, text: str) -> bool:
    """The person themselves, not a worried relative ("my son wants to join" is the family's), and not
    the words of a report being written."""
    if turn.step.content or turn.says(text, "relative"):
        return False
    if turn.state.step == crisis.CRISIS:  # the crisis answer hears them out itself
        return False
    intent = turn.parse.intent
    sure = intent.name == "at_risk_self" and intent.confidence >= FLOOR
    return sure or turn.says(text, "at_risk")


def _respond(turn: Turn, inbound: Inbound, text: str) -> None:
    if home.is_emergency(turn, text):  # about to act: emergency directions first
        home.emergency(turn, offer_buttons=False)
    open_(turn)


FLOW = Flow(
    name="at_risk",
    doc="The person being drawn in: no judgement, how the trap works, stepping away safely, a counsellor.",
    steps={AT_RISK: Step(prompt=lambda turn: open_(turn), place=True)},
    choices=("at_risk:",),
    on_choice=_on_choice,
    menu="at_risk",
    menu_label="at_risk.button_menu",
    open=open_,
    interrupts=(Route(3, _respond, when=_drawn_in, note="someone being drawn in, themselves"),),
)
