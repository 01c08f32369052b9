"""Words that came with a file we cannot use (a caption under a video or a voice note): the engine says
what it cannot take, then reads the words only when they are a clear request or describe a report being
written; otherwise it asks the current question again instead of opening an unrelated flow."""

from __future__ import annotations

import pytest

from bot.dialogue.flows.report import ReportDraft
from responses import catalog
from tests.talk import Talk


def at_menu() -> Talk:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    assert talk.step == "menu"
    return talk


def cannot_use(kind: str) -> str:
    texts = catalog()
    return texts.text(f"common.unsupported_{kind}", "en") + " " + texts.text("common.we_take", "en")


@pytest.mark.parametrize(
    ("caption", "kind"),
    [
        ("my son watches this", "video"),  # the quoted case: it went to the family flow
        ("mera beta ye dekhta hai", "video"),
        ("look at this", "audio"),
        ("my brother is joining them", "gif"),
    ],
)
def test_a_caption_that_only_describes_the_file_asks_the_current_question_again(
    caption: str, kind: str
) -> None:
    talk = at_menu()
    before = talk.state
    menu_buttons = talk.last.replies[-1].buttons
    talk.send(caption, unsupported=kind)
    assert talk.last.replies[0].text == cannot_use(kind)
    assert talk.step == "menu"
    assert talk.last.replies[-1].buttons == menu_buttons
    assert talk.state.draft == before.draft
    assert not talk.last.effects


@pytest.mark.parametrize(
    ("caption", "step"),
    [
        ("I want to report this", "report.link"),  # words about reporting
        ("this channel t.me/some_channel", "report.category"),  # a link is evidence
        ("/report", "report.link"),  # a command
    ],
)
def test_a_caption_that_is_a_clear_request_is_taken_at_its_word(caption: str, step: str) -> None:
    talk = at_menu()
    talk.send(caption, unsupported="video")
    assert talk.last.replies[0].text == cannot_use("video")
    assert talk.step == step


def test_a_caption_that_speaks_of_self_harm_still_gets_the_crisis_answer() -> None:
    talk = at_menu()
    talk.send("I want to kill myself", unsupported="audio")
    assert talk.last.replies[0].text == cannot_use("audio")
    assert any(r.kind_or_derived == "crisis" for r in talk.last.replies[1:]), talk.said


def test_a_caption_naming_an_emergency_still_gets_the_directions() -> None:
    talk = at_menu()
    talk.send("they will bomb the school tomorrow", unsupported="video")
    assert talk.last.replies[0].text == cannot_use("video")
    assert any(r.kind_or_derived == "emergency" for r in talk.last.replies[1:]), talk.said


def test_inside_a_report_the_caption_is_kept_with_the_report() -> None:
    talk = at_menu()
    talk.press("menu:report")
    talk.send("facebook.com/bad.page")
    assert talk.step == "report.category"
    talk.send("my son watches this", unsupported="video")
    assert talk.last.replies[0].text == cannot_use("video")
    assert talk.step == "report.category"
    assert isinstance(talk.state.draft, ReportDraft)
    assert talk.state.draft.description == "my son watches this"
