"""A question from the analysts about the citizen's report, answered in the chat.

An analyst may send the reporters of a case who asked for updates one question (storage/followups.py). It
reaches them as a notification, outside the conversation, so the pipeline looks up whether one waits for
this message (`Needs.followup`) and hands it in `Context.followup`. The next message answers it: words, a
link, a screenshot; they go to the report as evidence and the citizen is thanked. "Skip", under the
question, declines whenever it is pressed (or typed).

The answer is the citizen's own words, as a report's description is: an emergency counts only when sure
(or said in so many words), and then the emergency directions come first and the answer is kept too.
What comes before it passes the question by: a slash command, the crisis answer and the interrupts of
lower rank (someone drawn in themselves, the digest stopped), and a short cancel, back, menu or change of
language; so does a greeting or a thank-you alone. The pipeline lets a question go after one message
whatever it was, so nobody is held by an old question: the message after it is answered as any other.
"""

from __future__ import annotations

from bot.dialogue.flow import Flow, Needs, Route
from bot.dialogue.flows import home
from bot.dialogue.turn import Turn
from bot.dialogue.types import (
    MAX_EVIDENCE,
    MAX_LINKS,
    AnswerFollowup,
    Inbound,
    Link,
    SkipFollowup,
    State,
)
from bot.dialogue.words import has_words
from nlu.types import Parse
from nlu.urls import canonicalize, platform_of

SKIP = "followup:skip"
# After the crisis answer (1), someone drawn in themselves (3) and the digest stopped (5); before the
# engine's cancel, back and emergency check (COMMANDS_RANK), which would misread an answer's own words,
# and before the step has its say, so an answer sent in the middle of a report is the answer, not the
# report's next words (the report is set aside, not lost).
RANK = 6
EMERGENCY_FLOOR = 0.6  # as inside a report's own words: the classifier must be this sure
NAVIGATION = ("cancel", "back", "change_language")
NAVIGATION_WORDS = 4  # "go back", "cancel it": longer messages with such words are answers
SMALL_TALK = ("greet", "goodbye", "thanks")
SKIP_WORDS = 3  # "skip", "skip it please": longer messages with the word in them are answers


WAITING = Needs(followup=True)  # made once: asked on every message


def needs(state: State, parse: Parse, inbound: Inbound) -> Needs:
    """Whether a question from the analysts waits for this citizen's next message (any message may be it)."""
    return WAITING


def _links(turn: Turn, inbound: Inbound) -> tuple[Link, ...]:
    """The links typed in the message and those the channel found (a shared post), canonical once each."""
    found = [Link(e.value, e.extra["canonical"], e.extra["platform"]) for e in turn.parse.urls()]
    for raw in inbound.links:
        canonical = canonicalize(raw)
        if canonical:
            found.append(Link(raw, canonical, platform_of(canonical)))
    unique: dict[str, Link] = {}
    for link in found:
        unique.setdefault(link.canonical, link)  # the first spelling of each
    return tuple(unique.values())[:MAX_LINKS]


def _waiting(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A question waits, and this message is not a way somewhere else (cancel, back, the menu, another
    language) nor just small talk ("salam", "thanks"): those go on as they would have."""
    if turn.context.followup is None:
        return False
    if inbound.attachments or _links(turn, inbound):
        return True
    words = len(text.split())
    # "Roman Urdu mein baat karo": a change of language may say a few more words, as the engine allows
    limit = home.LANGUAGE_MAX_WORDS if turn.sure("change_language") else NAVIGATION_WORDS
    elsewhere = (turn.sure(*NAVIGATION) or turn.says(text, "main_menu")) and words <= limit
    chat = turn.sure(*SMALL_TALK) and words <= SKIP_WORDS
    return not (elsewhere or chat)


def _answer(turn: Turn, inbound: Inbound, text: str) -> bool:
    asked = turn.context.followup
    assert asked is not None  # `_waiting` held
    if turn.says(text, "followup_skip") and len(text.split()) <= SKIP_WORDS:
        _skip(turn)
        return True
    links = _links(turn, inbound)
    words = text if has_words(turn.parse) or not links else ""  # a link alone is kept as the link
    danger = home.is_emergency(turn, text, floor=EMERGENCY_FLOOR)
    if danger:
        home.emergency(turn, offer_buttons=False)  # the number to call first; the answer is kept all the same
    answer = AnswerFollowup(asked.pending, words, links, inbound.attachments[:MAX_EVIDENCE], urgent=danger)
    turn.effects.append(answer)
    turn.rest()  # a report being written is set aside: "Continue my report" is on the menu
    turn.say("followup.thanks", *turn.menu_buttons(), code=asked.code)
    return True


def _skip(turn: Turn) -> None:
    """No answer: said kindly, then the question the citizen was at, or the menu."""
    asked = turn.context.followup
    if asked is not None:
        turn.effects.append(SkipFollowup(asked.pending))
    if turn.step.asks:
        turn.say("followup.skipped")
        turn.prompt()
    else:
        turn.rest()
        turn.say("followup.skipped", *turn.menu_buttons())


def _on_choice(turn: Turn, choice: str) -> None:
    _skip(turn)


FLOW = Flow(
    name="followup",
    doc="A question from the analysts about the citizen's report: the next message answers it, or Skip.",
    steps={},
    choices=("followup:",),
    on_choice=_on_choice,
    always=(SKIP,),
    interrupts=(
        Route(RANK, _answer, when=_waiting, note="the message after the analysts' question: its answer"),
    ),
    needs=needs,
)
