"""Someone speaks of harming or killing themselves: answered as a person, at any step, before anything else.

The first line is the number to call; then a few warm words, the crisis lines the operator verified
(responses/helplines.yaml, purpose `crisis`), and a confidential counsellor callback for themselves. No menu,
no report questions: a report in progress is kept (Back returns to it) but not asked about. Written from
safe-messaging guidance (docs/content.md): help first, short, hopeful, no method, no lecture.
"""

from __future__ import annotations

from bot.dialogue import words
from bot.dialogue.flow import Flow, Route, Step
from bot.dialogue.flows import family, home
from bot.dialogue.turn import Turn
from bot.dialogue.types import Inbound
from nlu.types import Parse
from responses import Catalog

CRISIS = "crisis"
TOPIC = "self_harm"  # support_requests.topic: a callback for the person themselves, in crisis
# The classifier alone must be this sure: everyday words score high too ("main jana chahta hun" 0.67, a
# cat not eating 0.61), and the first-person phrases of routing.yaml catch the plain cases at any score.
FLOOR = 0.75
CONTENT_FLOOR = 0.85  # inside a report's own words, an even surer classification (or a phrase)


def in_crisis(parse: Parse, text: str, texts: Catalog) -> bool:
    """Whether a message speaks of self-harm: the classifier's `self_harm`, or a first-person phrase."""
    sure = parse.intent.name == "self_harm" and parse.intent.confidence >= FLOOR
    return sure or words.says(text, "crisis", texts)


def _lines(turn: Turn) -> str:
    lines = turn.catalog.helplines_for("crisis")
    return "\n".join(
        turn.t("help.helpline_line", name=line.name.get(turn.lang, line.name["en"]), contact=line.contact)
        for line in lines
    )


def _offer(turn: Turn) -> None:
    turn.say(
        "crisis.offer",
        turn.button("crisis:callback", "crisis.button_callback"),
        turn.button("crisis:later", "crisis.button_later"),
    )


def answer(turn: Turn, again: bool = False) -> None:
    """The crisis answer: the number first, then warm words, verified crisis lines, the callback offer."""
    turn.goto(CRISIS)
    if again:
        turn.say("crisis.again")
    else:
        turn.say_calling("crisis.now")
        turn.say("crisis.heard")
        lines = _lines(turn)
        if lines:
            turn.say("crisis.lines", lines=lines)
    _offer(turn)


def _stay(turn: Turn) -> None:
    turn.say("crisis.stay")


def _on_choice(turn: Turn, choice: str) -> None:
    if choice == "crisis:callback":
        family.start_callback(turn, TOPIC)
    else:
        _stay(turn)


def _on_text(turn: Turn, inbound: Inbound, text: str) -> bool:
    """At the crisis answer everything typed is answered as a person: yes to a counsellor, no, the menu
    when asked for by name, and otherwise a few warm words and the offer again (never the menu)."""
    intent = turn.parse.intent.name
    short = len(text.split()) <= 4
    if turn.says(text, "main_menu") and short:
        home.menu(turn)
    elif intent == "affirm" and short:
        family.start_callback(turn, TOPIC)
    elif intent in ("deny", "thanks", "goodbye") and short:
        _stay(turn)
    else:
        answer(turn, again=True)
    return True


def _crisis(turn: Turn, inbound: Inbound, text: str) -> bool:
    intent = turn.parse.intent
    if turn.step.content and not turn.says(text, "crisis"):  # a report's words: only a sure classification
        return intent.name == "self_harm" and intent.confidence >= CONTENT_FLOOR
    return in_crisis(turn.parse, text, turn.catalog)


def _respond(turn: Turn, inbound: Inbound, text: str) -> None:
    answer(turn, again=turn.state.step == CRISIS)


FLOW = Flow(
    name="crisis",
    doc="Someone speaks of harming themselves: the number first, warm words, crisis lines, a callback.",
    steps={CRISIS: Step(prompt=lambda turn: answer(turn, again=True), on_text=_on_text, place=True)},
    choices=("crisis:",),
    on_choice=_on_choice,
    interrupts=(Route(1, _respond, when=_crisis, note="self-harm, at any step, before anything else"),),
    unrefused=in_crisis,
)
