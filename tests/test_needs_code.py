"""A reference code is drawn only for the turns that can submit (issue 23): the flows declare `Needs.code`
at the steps that submit (the report's confirmation, the callback's phone question), and the engine
refuses a report or a callback request without a code, so a flow that forgets to declare it fails.

`Drawing` talks to the engine as the pipeline does: a turn gets a new code only when the flows declared
one for it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bot.dialogue import (
    REGISTRY,
    CodeNotDeclared,
    Context,
    Flow,
    Inbound,
    Needs,
    RequestSupport,
    State,
    Step,
    SubmitReport,
    handle,
)
from bot.dialogue.flows.family import PHONE
from bot.dialogue.flows.report import CONFIRM
from bot.dialogue.turn import Turn
from nlu import Parse, parse
from tests.talk import Talk

V1_STATES = json.loads((Path(__file__).parent / "fixtures" / "states_v1.json").read_text(encoding="utf-8"))
SUBMITTING = {CONFIRM, PHONE}
# What may be sent at any step: a typed yes, a number, the buttons that submit, a code, a link, nothing.
EVENTS = [
    Inbound("test", "u", "1", text="yes"),
    Inbound("test", "u", "1", text="0300 1234567"),
    Inbound("test", "u", "1", text="/status ABCD-1234"),
    Inbound("test", "u", "1", text="https://t.me/some_channel/12"),
    Inbound("test", "u", "1", choice="confirm:submit"),
    Inbound("test", "u", "1", choice="support:chat"),
    Inbound("test", "u", "1", text=""),
]


class Drawing(Talk):
    """A conversation whose turns get a reference code only when the flows declared one (the pipeline's
    `_context`); `drawn` counts the codes drawn."""

    drawn = 0

    def context(self, inbound: Inbound, understood: Parse) -> Context:
        needs = self.flows.needs(self.state, understood, inbound)
        self.drawn += needs.code
        code = f"CODE-{self.count:04d}" if needs.code else ""
        return Context(code, self.reports)


def _needs(state: State, inbound: Inbound) -> Needs:
    return REGISTRY.needs(state, parse(inbound.text or ""), inbound)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.choice or e.text or "empty")
def test_the_confirmation_declares_a_code_with_the_quota(event: Inbound) -> None:
    state = State.from_dict(V1_STATES["report_at_confirm"])
    assert state.step == CONFIRM
    needs = _needs(state, event)
    assert needs.code and needs.quota and needs.links == ("https://t.me/some_channel/12",)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.choice or e.text or "empty")
def test_the_phone_question_declares_a_code(event: Inbound) -> None:
    needs = _needs(State(lang="en", step=PHONE), event)
    assert needs.code and not needs.quota


@pytest.mark.parametrize("step", sorted(REGISTRY.steps() - SUBMITTING))
def test_a_turn_at_any_other_step_declares_no_code(step: str) -> None:
    for event in EVENTS:
        assert not _needs(State(lang="en", step=step), event).code, (step, event)
    drafted = {**V1_STATES["report_at_confirm"], "step": step}  # a report's draft, at another step
    assert not any(_needs(State.from_dict(drafted), event).code for event in EVENTS)


def test_a_report_gets_the_code_drawn_for_its_turn_and_only_that_one() -> None:
    talk = Drawing()
    talk.send(choice="lang:en")
    talk.press("menu:report")
    talk.send("https://t.me/some_channel/12")
    talk.press(next(b for b in talk.state.offered if b.startswith("cat:")))
    while "confirm:submit" not in talk.state.offered:
        talk.press(next(b for b in talk.state.offered if b.endswith(("skip", ":no", ":done"))))
    assert talk.drawn == 0, "no code for the turns before the confirmation"
    talk.press("confirm:submit")
    (report,) = talk.submitted
    assert report.code == f"CODE-{talk.count:04d}" and talk.drawn == 1
    assert report.code in talk.said


@pytest.mark.parametrize("opening", ["family", "crisis", "at_risk"])
def test_every_callback_gets_the_code_drawn_for_its_turn(opening: str) -> None:
    talk = Drawing()
    talk.send(choice="lang:en")
    if opening == "family":
        talk.press("menu:family")
        talk.press("family:callback")
        talk.press("support:yes")
    elif opening == "crisis":
        talk.send("I want to kill myself")
        talk.press("crisis:callback")
    else:
        talk.press("menu:at_risk")
        talk.press("at_risk:callback")
        talk.press("support:yes")
    talk.press("time:evening")
    assert talk.step == PHONE and talk.drawn == 0
    if opening == "crisis":
        talk.press("support:chat")
    else:
        talk.send("0300 1234567")
    (request,) = [e for e in talk.effects if isinstance(e, RequestSupport)]
    assert request.code == f"CODE-{talk.count:04d}" and talk.drawn == 1
    assert request.code in talk.said


def test_a_submission_without_a_code_is_refused() -> None:
    talk = Talk()
    talk.state = State.from_dict(V1_STATES["report_at_confirm"])
    inbound = Inbound("test", "u", "1", choice="confirm:submit")
    with pytest.raises(CodeNotDeclared, match=r"SubmitReport at step 'report\.confirm'"):
        handle(inbound, parse(""), talk.state, Context(""))
    with pytest.raises(CodeNotDeclared, match="RequestSupport"):
        pressed = Inbound("test", "u", "1", choice="support:chat")
        handle(pressed, parse(""), State(lang="en", step=PHONE, offered=["support:chat"]), Context(""))


def test_a_turn_that_submits_nothing_needs_no_code() -> None:
    talk = Drawing()
    for choice in ("lang:ur", "menu:report", "nav:cancel", "menu:learn", "nav:menu", "menu:family"):
        talk.send(choice=choice)
    for text in ("salam", "mera beta shiddat pasand ho raha hai", "ABCD-1234", "helplines"):
        talk.send(text)
    assert talk.drawn == 0 and not talk.effects


# --- a flow that forgets to declare the code fails -----------------------------------------------------

GIFT = "gift.ask"


def _ask(turn: Turn) -> None:
    turn.goto(GIFT)
    turn.say("common.empty", turn.button("gift:send", "buttons.nav_menu"))


def _send(turn: Turn, choice: str) -> None:
    turn.effects.append(SubmitReport(turn.context.new_code, "other", "", False, turn.lang, (), ()))
    turn.rest()


FORGETFUL = Flow(name="gift", steps={GIFT: Step(prompt=_ask)}, choices=("gift:",), on_choice=_send)


def test_a_flow_that_submits_without_declaring_a_code_fails() -> None:
    talk = Drawing(flows=REGISTRY.with_flow(FORGETFUL))
    talk.send(choice="lang:en")
    talk.state.step = GIFT
    talk.state.offered = ["gift:send"]
    with pytest.raises(CodeNotDeclared):
        talk.press("gift:send")
    declared = dataclasses.replace(FORGETFUL, needs=lambda s, p, i: Needs(code=s.step == GIFT))
    talk = Drawing(flows=REGISTRY.with_flow(declared))
    talk.send(choice="lang:en")
    talk.state.step = GIFT
    talk.state.offered = ["gift:send"]
    talk.press("gift:send")
    assert [r.code for r in talk.submitted] == [f"CODE-{talk.count:04d}"]
