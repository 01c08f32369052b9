"""People in crisis and people being drawn in are answered as people, never with a menu; reports about
opinion or blasphemy get the scope notice first. Issue 16's quoted messages, and their class."""

from __future__ import annotations

import pytest

from bot.dialogue import REGISTRY, RequestSupport
from bot.dialogue.flows.report import ReportDraft
from responses import catalog
from tests.talk import Talk

CRISIS = [
    ("en", "I want to kill myself"),
    ("ur-Latn", "main khudkushi karna chahta hun"),
    ("ur", "میں خودکشی کرنا چاہتا ہوں"),
    ("en", "honestly i just want to die 😞 nobody would care"),
    ("ur-Latn", "ab jeena nahi chahti, sab khatam kar dena chahti hun"),
    ("ur", "میں اب جینا نہیں چاہتا"),
]
AT_RISK = [
    ("en", "I want to join the mujahideen, how do I join"),
    ("ur", "مجھے جہاد میں شامل ہونا ہے"),
    ("ur-Latn", "group wale keh rahe hain jihad par chalo, main kya karun"),
]
SCOPE = [
    ("en", "I want to report a PTI page that criticises the army"),
    ("en", "this page insults the Prophet… punish the blasphemer"),
    ("ur-Latn", "ye page fauj ke khilaf likhta hai, report karna hai"),
    ("ur", "یہ پیج توہین رسالت کرتا ہے اس کی رپورٹ کرنی ہے"),
]
MENU = {f"menu:{item}" for item in REGISTRY.menu()}


def started(lang: str) -> Talk:
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    return talk


def assert_crisis_answer(talk: Talk, lang: str) -> None:
    first = talk.last.replies[0].text
    assert first == catalog().text("crisis.now", lang)  # the number first
    assert not MENU & set(talk.state.offered), "never a menu"
    assert set(talk.state.offered) == {"crisis:callback", "crisis:later"}
    assert all(r.text != catalog().text("report.ask_link", lang) for r in talk.last.replies)


@pytest.mark.parametrize(("lang", "text"), CRISIS)
def test_a_crisis_message_at_the_menu_gets_the_crisis_answer(lang: str, text: str) -> None:
    talk = started(lang)
    talk.send(text)
    assert_crisis_answer(talk, lang)
    assert catalog().text("crisis.heard", lang) in talk.said


@pytest.mark.parametrize("step", ["report.category", "report.description", "family.time", "status.code"])
@pytest.mark.parametrize(("lang", "text"), CRISIS[:3])
def test_a_crisis_message_at_any_step_is_answered_first_and_a_report_is_kept(
    lang: str, text: str, step: str
) -> None:
    talk = started(lang)
    if step.startswith("report."):
        talk.send("https://facebook.com/bad.page")
        if step == "report.description":
            talk.press("cat:recruitment")
            talk.press("confirm:details")
    elif step == "family.time":
        talk.press("menu:family")
        talk.press("family:callback")
        talk.press("support:yes")
    else:
        talk.press("menu:status")
    assert talk.step == step
    draft = talk.state.draft
    talk.send(text)
    assert_crisis_answer(talk, lang)
    if isinstance(draft, ReportDraft):
        assert talk.state.paused[-1].draft == draft  # set aside for later
        talk.send(choice="nav:back") if "nav:back" in talk.state.offered else talk.send("back")
        assert talk.step == step and talk.state.draft == draft


def test_what_follows_the_crisis_answer_is_answered_as_a_person() -> None:
    talk = started("en")
    talk.send("I want to kill myself")
    talk.send("nobody listens to me anyway")
    assert talk.said == catalog().text("crisis.again", "en") + "\n" + catalog().text("crisis.offer", "en")
    assert not MENU & set(talk.state.offered)
    talk.send("no")
    assert talk.said == catalog().text("crisis.stay", "en")
    talk.send("menu")
    assert set(talk.state.offered) >= MENU


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
def test_a_person_in_crisis_can_ask_a_counsellor_for_themselves(lang: str) -> None:
    talk = started(lang)
    talk.send(CRISIS[[c[0] for c in CRISIS].index(lang)][1])
    talk.press("crisis:callback")
    assert talk.step == "family.time"
    talk.press("time:any")
    talk.press("support:chat")
    (request,) = [e for e in talk.effects if isinstance(e, RequestSupport)]
    assert request.topic == "self_harm"
    code = request.code
    assert talk.said == catalog().text("crisis.callback_done", lang, code=code)
    assert not talk.state.offered  # no menu after it either


def test_a_joke_or_a_report_about_suicide_attacks_is_no_crisis() -> None:
    talk = started("en")
    talk.send("this movie killed me 😂")
    assert "crisis:callback" not in talk.state.offered
    talk = started("ur-Latn")
    talk.send("ye page khudkush hamlon ki tareef karta hai https://t.me/bad_channel")
    assert talk.step == "report.category"


@pytest.mark.parametrize(("lang", "text"), AT_RISK)
def test_someone_being_drawn_in_gets_the_at_risk_path_with_a_callback(lang: str, text: str) -> None:
    talk = started(lang)
    talk.send(text)
    assert talk.said == catalog().text("at_risk.intro", lang)
    assert {"at_risk:trap", "at_risk:leave", "at_risk:callback"} <= set(talk.state.offered)
    talk.press("at_risk:trap")
    assert talk.said == catalog().text("at_risk.trap", lang)
    talk.press("at_risk:leave")
    assert talk.said == catalog().text("at_risk.leave", lang)
    talk.press("at_risk:callback")
    assert talk.said == catalog().text("at_risk.callback_offer", lang)
    talk.press("support:yes")
    talk.press("time:evening")
    talk.send("0300 1234567")
    (request,) = [e for e in talk.effects if isinstance(e, RequestSupport)]
    assert request.topic == "at_risk" and request.phone == "03001234567"


def test_the_at_risk_path_opens_from_the_menu_and_from_learn() -> None:
    talk = started("ur-Latn")
    talk.press("menu:at_risk")
    assert talk.said == catalog().text("at_risk.intro", "ur-Latn")
    talk.press("nav:menu")
    talk.press("menu:learn")
    talk.press("at_risk:open")
    assert talk.said == catalog().text("at_risk.intro", "ur-Latn")


def test_a_worried_parent_is_no_person_at_risk() -> None:
    talk = started("ur-Latn")
    talk.send("mera beta keh raha hai jihad par jana hai, main kya karun")
    assert talk.said != catalog().text("at_risk.intro", "ur-Latn")


def test_about_to_act_gets_emergency_directions_first() -> None:
    talk = started("en")
    talk.send("they want me to fight, I'm going to attack them tomorrow")
    assert talk.last.replies[0].text == catalog().text("emergency.now", "en")


@pytest.mark.parametrize(("lang", "text"), SCOPE)
def test_a_report_about_opinion_or_blasphemy_gets_the_scope_notice_first(lang: str, text: str) -> None:
    talk = started(lang)
    talk.send(text)
    assert talk.step == "report.scope"
    assert talk.said.endswith(catalog().text("scope.notice", lang))
    assert catalog().text("report.ask_link", lang) not in talk.said
    talk.press("scope:continue")
    assert talk.step in ("report.link", "report.category")
    if talk.step == "report.link":
        talk.send("https://facebook.com/some.page")
    talk.press("cat:hate_speech")
    talk.press("confirm:submit")
    (report,) = talk.submitted
    assert report.scope_check


def test_the_scope_notice_can_end_the_report() -> None:
    talk = started("en")
    talk.send("I want to report a PTI page that criticises the army")
    talk.send("no")
    assert talk.step == REGISTRY.home and talk.state.draft is None and not talk.submitted


def test_a_scope_phrase_in_a_description_gets_the_notice_before_going_on() -> None:
    talk = started("en")
    talk.send("https://facebook.com/some.page")
    talk.press("cat:hate_speech")
    talk.press("confirm:details")
    talk.send("this page insults islam and says things against the government")
    assert talk.step == "report.scope"
    talk.press("scope:continue")
    assert talk.step == "report.evidence"
