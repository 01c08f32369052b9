"""A report being written is never lost by going elsewhere: a crisis and its callback, a change of
language, help or status, a new tab's /start. It is set aside and offered back ("Continue my report"),
Back takes it up again, and only a yes to "Delete this report?" deletes it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogue import Attachment, State
from bot.dialogue.flows.report import ReportDraft
from responses import catalog
from tests.talk import Talk

LINK = "https://www.facebook.com/Some.Recruiting.Page"
CANONICAL = "https://facebook.com/some.recruiting.page"


def writing(lang: str = "en", describe: bool = True) -> Talk:
    """A report with a link, at the kind of content; or (describe) with a category and a description,
    at the screenshots question."""
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    talk.press("menu:report")
    talk.send(LINK)
    if describe:
        talk.press("cat:recruitment")
        talk.press("confirm:details")
        talk.send("They invite boys to a camp")
        assert talk.step == "report.evidence"
    return talk


def links_of(state: State) -> set[str]:
    drafts = [state.draft, *(p.draft for p in state.paused)]
    return {link.canonical for d in drafts if isinstance(d, ReportDraft) for link in d.links}


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "I want to kill myself"),
        ("ur-Latn", "main khudkushi karna chahta hun"),
        ("ur", "میں خودکشی کرنا چاہتا ہوں"),
    ],
)
def test_a_crisis_callback_mid_report_keeps_the_report_for_later(lang: str, text: str) -> None:
    talk = writing(lang, describe=False)
    step, draft = talk.step, talk.state.draft
    talk.send(text)
    talk.press("crisis:callback")
    talk.press("time:evening")
    talk.press("support:chat")
    assert [e.topic for e in talk.effects if type(e).__name__ == "RequestSupport"] == ["self_harm"]
    assert "resume:continue" not in talk.state.offered, "someone in crisis is shown no menu"
    assert talk.state.paused[-1].draft == draft
    talk.send("menu")
    assert talk.state.offered[0] == "resume:continue"
    talk.press("resume:continue")
    assert talk.step == step and talk.state.draft == draft and talk.state.paused == []
    assert talk.last.replies[0].text == catalog().text("resume.back", lang)


@pytest.mark.parametrize("word", ["language", "zaban", "/language"])
def test_a_change_of_language_mid_report_comes_back_to_the_same_question(word: str) -> None:
    talk = writing()
    step, draft = talk.step, talk.state.draft
    talk.send(word)
    assert talk.step == "language"
    talk.press("lang:ur")
    assert talk.step == step and talk.state.draft == draft
    assert talk.said.startswith(catalog().text("common.language_set", "ur"))
    assert catalog().text("report.ask_evidence", "ur") in talk.said


def test_a_language_named_mid_report_keeps_the_draft() -> None:
    talk = writing()
    step, draft = talk.step, talk.state.draft
    talk.send("urdu")
    assert talk.step == step and talk.state.draft == draft


def test_a_new_tab_offers_the_unfinished_report_back() -> None:
    talk = writing()
    step, draft = talk.step, talk.state.draft
    talk.send("/start")  # the web chat's second tab, Telegram's Start
    assert talk.step == "resume"
    assert talk.said == catalog().text("resume.ask", "en")
    assert talk.state.offered[:2] == ["resume:continue", "resume:new"]
    talk.press("resume:continue")
    assert talk.step == step and talk.state.draft == draft


def test_starting_a_new_report_deletes_only_after_it_is_chosen() -> None:
    talk = writing()
    talk.send("/start")
    talk.press("resume:new")
    assert talk.step == "report.link" and talk.state.paused == []
    assert isinstance(talk.state.draft, ReportDraft) and not talk.state.draft.links


def test_report_from_the_menu_with_a_report_set_aside_asks_first() -> None:
    talk = writing()
    talk.send("/help")
    assert talk.state.offered[0] == "resume:continue"
    talk.press("menu:report")
    assert talk.step == "resume"
    talk.send("yes")
    assert talk.state.draft is not None and links_of(talk.state) == {CANONICAL}


@pytest.mark.parametrize("command", ["/help", "/status", "/privacy", "/menu"])
def test_help_status_and_privacy_mid_report_offer_the_report_back(command: str) -> None:
    talk = writing()
    step, draft = talk.step, talk.state.draft
    talk.send(command)
    assert links_of(talk.state) == {CANONICAL}
    if "nav:back" in talk.state.offered:  # the status question: Back returns to the report
        talk.press("nav:back")
    else:
        if "resume:continue" not in talk.state.offered:  # the privacy page: its Menu button
            talk.press("nav:menu")
        talk.press("resume:continue")
    assert talk.step == step and talk.state.draft == draft


def test_cancel_without_a_link_deletes_at_once_and_with_one_asks() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.press("link:none")
    talk.press("where:skip")
    talk.press("cat:hate_speech")
    assert talk.step == "report.description"
    talk.press("nav:cancel")
    assert talk.step == "menu" and talk.state.paused == [] and talk.state.draft is None

    talk = writing()
    talk.send("cancel")
    assert talk.step == "discard"
    talk.send("no")
    assert talk.step == "report.evidence" and links_of(talk.state) == {CANONICAL}
    talk.press("nav:cancel")
    talk.send("back")  # Back at "Delete this report?" keeps writing
    assert talk.step == "report.evidence" and links_of(talk.state) == {CANONICAL}


def test_an_urgent_report_is_not_deleted_by_one_cancel() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.send("kal masjid pe hamla hoga")
    assert talk.step == "report.confirm" and talk.state.draft is not None and talk.state.draft.urgent
    talk.press("nav:cancel")
    assert talk.step == "discard"
    talk.press("discard:no")
    assert talk.step == "report.confirm" and talk.state.draft.urgent


def test_back_takes_away_exactly_what_the_step_added() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.send(LINK)
    talk.send(choice=None, attachments=(Attachment("photo", "file-1", "f1"),))  # a screenshot at the category
    talk.press("nav:back")  # the link question again: the link goes, the screenshot stays
    assert talk.step == "report.link"
    draft = talk.state.draft
    assert isinstance(draft, ReportDraft) and draft.links == [] and len(draft.evidence) == 1
    talk.send("https://t.me/other_channel")
    talk.press("cat:propaganda")
    talk.press("confirm:details")
    talk.send("first description")
    talk.press("nav:back")  # the description question again, without the description
    assert talk.step == "report.description" and talk.state.draft.description == ""
    talk.press("desc:skip")  # Skip after Back keeps no old description
    talk.press("evidence:done")
    talk.press("confirm:submit")
    (report,) = talk.submitted
    assert report.description == "" and [x.canonical for x in report.links] == ["https://t.me/other_channel"]
    assert len(report.evidence) == 1


def test_the_set_aside_draft_survives_storage() -> None:
    talk = writing()
    talk.send("/help")
    stored = State.from_dict(talk.state.to_dict())
    assert stored == talk.state


# Everything a citizen may do that is not "delete it": nothing among these loses the link.
DETOURS = st.sampled_from(
    [
        ("text", "/start"),
        ("text", "/help"),
        ("text", "/status"),
        ("text", "/privacy"),
        ("text", "/language"),
        ("text", "language"),
        ("text", "menu"),
        ("text", "I want to kill myself"),
        ("text", "my son is being brainwashed by a group"),
        ("text", "kal masjid pe hamla hoga"),
        ("text", "hello"),
        ("text", "back"),
        ("press", "nav:back"),
        ("press", "nav:menu"),
        ("press", "lang:ur"),
        ("press", "lang:en"),
        ("press", "resume:continue"),
        ("press", "crisis:callback"),
        ("press", "crisis:later"),
        ("press", "time:any"),
        ("press", "support:chat"),
        ("press", "discard:no"),
        ("press", "menu:learn"),
        ("press", "menu:family"),
        ("press", "menu:at_risk"),
        ("press", "at_risk:callback"),
        ("press", "support:yes"),
        ("press", "cat:propaganda"),
        ("press", "desc:skip"),
        ("press", "confirm:details"),
        ("press", "where:skip"),
        ("press", "danger:no"),
        ("press", "evidence:done"),
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(DETOURS, max_size=12))
def test_no_interleaving_of_detours_loses_a_report(actions: list[tuple[str, str]]) -> None:
    talk = writing(describe=False)
    for kind, value in actions:
        if kind == "text":
            talk.send(value)
        elif value in talk.state.offered:
            talk.press(value)
        kept = links_of(talk.state) | {x.canonical for r in talk.submitted for x in r.links}
        if talk.step == "report.link" and value in ("back", "nav:back") and CANONICAL not in kept:
            talk.send(LINK)  # Back to the link question takes its answer away: the citizen gives it again
            continue
        assert CANONICAL in kept, f"lost after {kind} {value!r}"
