"""The dialogue engine, as transcripts: pure, channel-agnostic, every step can go back or cancel."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogue import REGISTRY, Attachment, Context, Inbound, KeepContact, State, SubmitReport, handle
from bot.dialogue.flows import report as report_flow
from bot.dialogue.flows.report import ReportDraft
from bot.dialogue.types import CATEGORIES, MAX_EVIDENCE, MAX_TEXT, UNSUPPORTED_KINDS, Link, ReportStatus
from bot.shared.status import status_text
from nlu import parse
from responses import catalog
from responses.bidi import isolate
from tests.talk import Talk, status

# The steps `full_report` walks after the link: the fast path to the summary, then "Add details".
STEPS_AFTER_LINK = [
    "report.category",
    "report.confirm",
    "report.description",
    "report.evidence",
    "report.confirm",
]


def report_draft(talk: Talk) -> ReportDraft:
    assert isinstance(talk.state.draft, ReportDraft), talk.state.draft
    return talk.state.draft


def full_report(talk: Talk, link: str = "https://m.facebook.com/Bad.Page?ref=bookmarks") -> None:
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    assert talk.step == "report.link"
    talk.send(link)
    assert talk.step == "report.category"
    talk.press("cat:recruitment")
    assert talk.step == "report.confirm"
    talk.press("confirm:details")
    assert talk.step == "report.description"
    talk.send("They invite young men to a training camp.")
    assert talk.step == "report.evidence"
    talk.press("evidence:done")
    assert talk.step == "report.confirm"


def test_first_contact_welcomes_with_language_choice() -> None:
    talk = Talk()
    talk.send("/start")
    assert talk.step == "language"
    assert talk.state.offered == ["lang:en", "lang:ur", "lang:ur-Latn"]
    labels = [b.label for b in talk.last.replies[-1].buttons]
    assert labels == ["English", "اردو", "Roman Urdu"]


def test_a_whole_report_ends_with_the_reference_code() -> None:
    talk = Talk()
    full_report(talk)
    assert "https://facebook.com/bad.page" in talk.said
    talk.press("confirm:submit")
    assert talk.step == "updates"
    assert "TEST-" in talk.said
    [report] = talk.submitted
    assert report.category == "recruitment"
    assert report.links[0].canonical == "https://facebook.com/bad.page"
    assert report.links[0].platform == "facebook"
    assert report.description == "They invite young men to a training camp."
    assert not report.urgent
    assert report.code in talk.said


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
def test_the_fast_path_is_link_kind_of_content_and_send(lang: str) -> None:
    """Three taps from the menu to the reference code: no other question comes in between."""
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    talk.press("menu:report")
    talk.send("https://t.me/some_channel/12")
    assert talk.step == "report.category"
    talk.press("cat:recruitment")
    assert talk.step == "report.confirm"
    assert talk.state.offered == ["confirm:submit", "confirm:details", "nav:back", "nav:cancel"]
    assert catalog().text("report.summary_title", lang) in talk.said
    talk.press("confirm:submit")
    assert talk.step == "updates"
    [report] = talk.submitted
    assert report.category == "recruitment" and report.language == lang and not report.urgent
    assert [link.canonical for link in report.links] == ["https://t.me/some_channel/12"]
    assert report.description == ""
    assert talk.last.replies[0].text == catalog().text("report.done", lang, code=report.code)


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
def test_every_language_has_the_whole_flow(lang: str) -> None:
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    talk.press("menu:report")
    assert talk.said == catalog().text("report.ask_link", lang)
    talk.send("t.me/s/Some_Channel")
    talk.press("cat:violent_threat")
    assert talk.said == catalog().text("report.ask_danger", lang)
    talk.press("danger:no")
    talk.press("confirm:details")
    assert talk.said == catalog().text("report.ask_description", lang)
    talk.press("desc:skip")
    assert talk.said == catalog().text("report.ask_evidence", lang)
    talk.press("evidence:done")
    assert catalog().text("report.summary_title", lang) in talk.said
    talk.press("confirm:submit")
    assert talk.submitted[0].language == lang
    assert talk.last.replies[0].text == catalog().text("report.done", lang, code=talk.submitted[0].code)
    assert talk.last.replies[1].text == catalog().text("report.ask_updates", lang)


def test_a_first_message_with_a_link_skips_what_it_answered() -> None:
    talk = Talk()
    talk.send("bhai ye facebook page report karna hai facebook.com/Some.Page")
    assert talk.step == "report.category"
    assert talk.state.lang == "ur-Latn"
    assert report_draft(talk).links[0].canonical == "https://facebook.com/some.page"


def test_a_first_message_wanting_to_report_without_a_link_asks_for_it() -> None:
    talk = Talk()
    talk.send("I want to report a page")
    assert talk.step == "report.link"


@pytest.mark.parametrize("depth", range(len(STEPS_AFTER_LINK)))
def test_back_returns_to_the_previous_step(depth: int) -> None:
    talk = Talk()
    full_report(talk)
    # Walk back from the confirmation to the step at `depth`.
    for _ in range(len(STEPS_AFTER_LINK) - 1 - depth):
        talk.press("nav:back")
    assert talk.step == STEPS_AFTER_LINK[depth]
    talk.press("nav:back")
    expected = "report.link" if depth == 0 else STEPS_AFTER_LINK[depth - 1]
    assert talk.step == expected


# Other ways through the report: (what is sent, the step it leads to), from the link question on.
PATHS = {
    "threat": [
        ("https://t.me/threat_channel", "report.category"),
        ("cat:violent_threat", "report.danger"),
        ("danger:no", "report.confirm"),
    ],
    "no link": [
        ("link:none", "report.where"),
        ("where:skip", "report.category"),
        ("cat:financing", "report.description"),
        ("They ask for money to buy weapons", "report.evidence"),
        ("evidence:done", "report.confirm"),
    ],
    "where it was seen": [
        ("link:none", "report.where"),
        ("the group Sada-e-Haq on whatsapp", "report.category"),
        ("cat:recruitment", "report.confirm"),
    ],
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_back_retraces_the_path_actually_walked(path: str) -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    walked = ["report.link"]
    for sent, step in PATHS[path]:
        talk.press(sent) if sent in talk.state.offered else talk.send(sent)
        assert talk.step == step, sent
        walked.append(step)
    for step in reversed(walked[:-1]):
        talk.press("nav:back")
        assert talk.step == step
    talk.press("nav:back")
    assert talk.step == "menu"


@pytest.mark.parametrize("depth", range(len(STEPS_AFTER_LINK)))
def test_cancel_at_any_step_discards_the_draft(depth: int) -> None:
    talk = Talk()
    full_report(talk)
    for _ in range(len(STEPS_AFTER_LINK) - 1 - depth):
        talk.press("nav:back")
    assert talk.step == STEPS_AFTER_LINK[depth]
    talk.press("nav:cancel")
    assert talk.step == "discard", "a report with a link is deleted only after a yes"
    assert talk.said == catalog().text("common.discard_ask", "en")
    talk.press("discard:yes")
    assert talk.step == "menu"
    assert talk.state.draft is None and talk.state.paused == []
    assert talk.submitted == []
    assert talk.said.startswith(catalog().text("common.cancelled_report", "en"))


@pytest.mark.parametrize("word", ["cancel", "band karo", "رہنے دو"])
def test_typed_cancel_works_in_each_language(word: str) -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.send(word)
    assert talk.step == "menu"


def test_typed_back_at_the_first_step_returns_to_the_menu() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.send("back")
    assert talk.step == "menu"


def test_language_can_be_switched_mid_report_without_losing_it() -> None:
    talk = Talk()
    full_report(talk)
    talk.send(choice="lang:ur")
    assert talk.state.lang == "ur"
    assert talk.step == "report.confirm"
    assert catalog().text("common.language_set", "ur") in talk.said
    talk.press("confirm:submit")
    assert talk.submitted[0].language == "ur"


def test_a_stale_button_is_answered_and_the_step_asked_again() -> None:
    talk = Talk()
    full_report(talk)
    talk.send(choice="cat:recruitment")  # from an earlier message
    assert talk.step == "report.confirm"
    assert catalog().text("common.stale_button", "en") in talk.said
    talk.send(choice="no-such-button")
    assert talk.step == "report.confirm"
    assert talk.submitted == []


def test_danger_yes_gives_emergency_directions_first_and_marks_urgent() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.send("https://t.me/threat_channel")
    talk.press("cat:violent_threat")
    assert talk.step == "report.danger"  # asked right after a threat is chosen
    talk.press("danger:yes")
    assert talk.last.replies[0].text == catalog().text("emergency.now", "en")
    assert "15" in talk.last.replies[0].text
    assert talk.step == "report.confirm"
    assert catalog().text("report.summary_urgent", "en") in talk.said
    talk.press("confirm:submit")
    assert talk.submitted[0].urgent


@pytest.mark.parametrize("category", [c for c in CATEGORIES if c != "violent_threat"])
def test_the_danger_question_is_only_for_threats(category: str) -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.send("https://t.me/some_channel")
    talk.press(f"cat:{category}")
    assert talk.step == "report.confirm"
    assert catalog().text("report.ask_danger", "en") not in talk.said
    talk.press("nav:back")
    talk.press("cat:violent_threat")
    assert talk.step == "report.danger"
    talk.press("danger:no")
    assert talk.step == "report.confirm" and not report_draft(talk).urgent


def test_a_report_already_urgent_is_not_asked_about_danger() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.send("https://facebook.com/x.page")
    talk.press("cat:propaganda")
    talk.press("confirm:details")
    talk.send("they say they will attack the school tomorrow with a bomb")
    assert report_draft(talk).urgent
    talk.press("evidence:done")
    talk.press("nav:back")  # the evidence step
    while talk.step != "report.category":
        talk.press("nav:back")
    talk.press("cat:violent_threat")
    assert talk.step == "report.confirm"
    assert catalog().text("report.ask_danger", "en") not in talk.said


def test_an_emergency_typed_mid_report_is_answered_and_kept_as_the_description() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.send("https://facebook.com/x.page")
    talk.press("cat:propaganda")
    talk.press("confirm:details")
    talk.send("they say they will attack the school tomorrow with a bomb")
    assert catalog().text("emergency.now", "en") in talk.said
    assert report_draft(talk).urgent is True
    assert report_draft(talk).description.startswith("they say")
    assert talk.step == "report.evidence"  # the description was taken as well
    talk.press("evidence:done")
    assert talk.step == "report.confirm"
    assert catalog().text("report.summary_urgent", "en") in talk.said
    talk.press("confirm:submit")
    assert talk.submitted[0].urgent and talk.submitted[0].description.startswith("they say")


def test_a_description_that_only_sounds_like_an_emergency_leaves_the_danger_question_to_the_citizen() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    unsure = parse("the man in this photo").intent
    assert unsure.name == "emergency" and unsure.confidence < report_flow.FLOW.emergency_floor
    talk.send("the man in this photo")  # what was seen, typed where the link was asked: kept
    assert catalog().text("emergency.now", "en") not in talk.said
    assert not report_draft(talk).urgent
    assert report_draft(talk).description == "the man in this photo"
    talk.send("https://facebook.com/x.page")
    talk.press("cat:violent_threat")
    assert not report_draft(talk).urgent
    assert talk.step == "report.danger"


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ur-Latn", "kal masjid pe hamla hoga https://t.me/some_channel/7"),
        ("ur-Latn", "khatra hai, hamla hone wala hai"),
        ("en", "they are going to attack the school tomorrow, see facebook.com/bad.page"),
        ("ur", "کل مسجد پر حملہ ہونے والا ہے"),
    ],
)
def test_a_threat_typed_anywhere_gets_directions_then_is_kept_as_an_urgent_draft(
    lang: str, text: str
) -> None:
    """The number first; then what was typed (and its links) is an urgent report the citizen only sends."""
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    talk.send(text)
    assert talk.said.startswith(catalog().text("emergency.now", lang))
    assert catalog().text("emergency.kept", lang) in talk.said
    assert talk.step == "report.confirm"
    draft = report_draft(talk)
    assert draft.urgent and draft.category == "violent_threat" and draft.description == text
    assert [link.canonical for link in draft.links] == [
        c
        for c in ("https://t.me/some_channel/7", "https://facebook.com/bad.page")
        if c.split("//")[1] in text
    ]
    talk.press("confirm:submit")
    (report,) = talk.submitted
    assert report.urgent and report.description == text
    talk.press("nav:back") if "nav:back" in talk.state.offered else None


def test_back_from_a_kept_threat_goes_to_the_category_and_cancel_drops_it() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.send("there is a bomb blast planned at the bazaar")
    talk.press("nav:back")
    assert talk.step == "report.category"
    talk.press("nav:cancel")
    assert talk.state.draft is None and not talk.submitted


def test_no_link_path_requires_a_description_and_takes_handles() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.press("link:none")
    assert talk.step == "report.where"
    talk.press("where:skip")
    talk.press("cat:financing")
    assert talk.step == "report.description"
    assert "desc:skip" not in talk.state.offered
    assert talk.said == catalog().text("report.ask_description_required", "en")
    talk.send("A tiktok account @donate_for_fighters asks for money")
    assert talk.step == "report.evidence"
    talk.press("evidence:done")
    talk.press("confirm:submit")
    [report] = talk.submitted
    assert report.links == ()
    assert report.handles == ("@donate_for_fighters (tiktok)",)  # the app it was said to be on, kept
    assert report.description == "A tiktok account @donate_for_fighters asks for money"


@pytest.mark.parametrize(
    ("typed", "handles", "note"),
    [
        ("the whatsapp group Sada-e-Haq", (), "the whatsapp group Sada-e-Haq"),
        ("@jihadi_voice on tiktok", ("@jihadi_voice (tiktok)",), ""),  # the @name with its app says it all
        ("@jihadi_voice, the admin posts bomb videos", ("@jihadi_voice",), "the admin posts bomb videos"),
        ("admin ka number 0300 1234567", (), "admin ka number 0300 1234567"),
    ],
)
def test_where_it_was_seen_is_kept_and_counts_as_something_to_look_at(
    typed: str, handles: tuple[str, ...], note: str
) -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.press("link:none")
    talk.send(typed)
    assert talk.step == "report.category"
    talk.press("cat:recruitment")
    assert talk.step == "report.confirm"  # something to look at: no description needed
    talk.press("confirm:submit")
    [report] = talk.submitted
    assert report.links == () and report.handles == handles
    assert note in report.description


def test_evidence_step_takes_photos_links_and_notes() -> None:
    talk = Talk()
    full_report(talk)
    talk.press("nav:back")  # back to evidence
    assert talk.step == "report.evidence"
    talk.send(attachments=(Attachment("photo", "file-1", "uniq-1"),))
    talk.send("also youtu.be/AbC_12?t=4")
    talk.send("they post every night")
    talk.press("evidence:done")
    talk.press("confirm:submit")
    [report] = talk.submitted
    assert [a.fingerprint for a in report.evidence] == ["uniq-1"]
    assert [link.canonical for link in report.links] == [
        "https://facebook.com/bad.page",
        "https://youtube.com/watch?v=AbC_12",
    ]
    assert report.description.endswith("they post every night")


def test_status_check_with_known_unknown_and_malformed_codes() -> None:
    talk = Talk(reports={"ABCD-1234": "received", "WXYZ-5678": "action_taken"})
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:status")
    talk.send("hello")
    assert talk.said == catalog().text("status.invalid", "en")
    talk.send("abcd-12e4")
    assert talk.said == catalog().text("status.not_found", "en", code="ABCD-12E4")
    talk.send("abcd1234")
    assert talk.said == status_text(catalog(), "en", "ABCD-1234", status("received"))
    assert "received on 1 Dec 2026" in talk.said
    talk.send("status wxyz 5678")
    assert talk.said == status_text(catalog(), "en", "WXYZ-5678", status("action_taken"))


def test_status_from_a_new_conversation() -> None:
    talk = Talk(reports={"ABCD-1234": "under_review"})
    talk.send("status ABCD-1234")
    # The answer first; a first message also says which language the bot will answer in (issue 17).
    answer = talk.said.split("\n\n")[0]
    assert answer == status_text(catalog(), "en", "ABCD-1234", status("under_review"))
    assert answer == "Report ABCD-1234: received on 1 Dec 2026. Under review since 2 Dec 2026."
    assert talk.said.endswith(catalog().text("welcome.language_guessed", "en"))


@pytest.mark.parametrize(
    ("lang", "received", "decided"),
    [
        ("en", "1 Dec 2026", "3 Dec 2026"),
        ("ur", "1 دسمبر 2026", "3 دسمبر 2026"),
        ("ur-Latn", "1 Dec 2026", "3 Dec 2026"),
    ],
)
def test_a_closed_report_says_when_why_and_what_next(lang: str, received: str, decided: str) -> None:
    talk = Talk(reports={"ABCD-1234": status("reviewed", "already_removed")})
    talk.send("/start")
    talk.press(f"lang:{lang}")
    talk.send("ABCD-1234")
    said = talk.said
    assert isolate(received, lang) in said and isolate(decided, lang) in said  # Urdu digits isolated
    assert catalog().text("reasons.already_removed", lang) in said
    assert "15" in said.split("\n\n")[-1]  # what to do next ends with the police number
    assert said == status_text(catalog(), lang, "ABCD-1234", status("reviewed", "already_removed"))
    assert said != catalog().text("status.reviewed", lang)  # every placeholder filled


def test_a_decision_without_a_reason_still_says_why_and_dates_are_pakistan_days() -> None:
    late = datetime(2026, 12, 2, 20, 30, tzinfo=UTC)  # 01:30 on 3 Dec in Pakistan
    told = ReportStatus("action_taken", late, late, late, None)
    text = status_text(catalog(), "en", "ABCD-1234", told)
    assert "received on 3 Dec 2026" in text and "Action was taken on 3 Dec 2026" in text
    assert catalog().text("status.why_action_taken", "en") in text
    monitored = status_text(catalog(), "ur-Latn", "ABCD-1234", ReportStatus("reviewed", late, None, late))
    assert catalog().text("status.why_reviewed", "ur-Latn") in monitored
    assert "{" not in text + monitored


def test_empty_and_oversized_messages_get_a_clear_reply_and_change_nothing() -> None:
    talk = Talk()
    full_report(talk)
    before = copy.deepcopy(talk.state.draft)
    talk.send("   ")
    assert catalog().text("common.empty", "en") in talk.said
    talk.send("x" * 100_000)
    assert catalog().text("common.too_long", "en", limit=MAX_TEXT) in talk.said
    assert talk.state.draft == before
    assert talk.step == "report.confirm"


def test_the_engine_does_not_modify_the_state_it_is_given() -> None:
    state = State(lang="en", step="menu", offered=["menu:report"])
    frozen = copy.deepcopy(state)
    handle(Inbound("t", "u", "1", choice="menu:report"), parse(""), state, Context("C0DE-0001"))
    assert state == frozen


def test_unclear_text_offers_the_menu() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.send("qwertyuiop zxcv")
    assert talk.step == "menu"
    assert talk.said == catalog().text("menu.not_understood", "en")


def test_learn_family_privacy_and_help_answer_from_content() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:ur")
    talk.press("menu:learn")
    talk.press("learn:paigham")
    assert talk.said == catalog().text("learn.paigham", "ur")
    talk.press("nav:menu")
    talk.press("menu:family")
    talk.press("family:signs")
    assert talk.said == catalog().text("family.signs", "ur")
    talk.press("nav:menu")
    talk.press("menu:privacy")
    assert talk.last.replies[0].text == catalog().text("privacy.summary", "ur")


def test_state_survives_a_round_trip_through_json() -> None:
    import json

    talk = Talk()
    full_report(talk)
    restored = State.from_dict(json.loads(json.dumps(talk.state.to_dict())))
    assert restored == talk.state


EVENTS = st.one_of(
    st.builds(lambda t: ("text", t), st.text(max_size=300)),
    st.builds(
        lambda c: ("choice", c),
        st.sampled_from(
            [
                "lang:en",
                "lang:ur",
                "lang:ur-Latn",
                "nav:back",
                "nav:cancel",
                "nav:menu",
                "menu:report",
                "menu:status",
                "menu:learn",
                "menu:family",
                "link:none",
                "where:skip",
                "confirm:details",
                "desc:skip",
                "danger:yes",
                "danger:no",
                "evidence:done",
                "confirm:submit",
                "learn:paigham",
                "family:talk",
                "bogus",
                *[f"cat:{c}" for c in CATEGORIES],
            ]
        ),
    ),
    st.builds(lambda c: ("offered", c), st.integers(0, 20)),
    st.just(("text", "https://facebook.com/page1")),
    st.builds(lambda n, t: ("photo", (n, t)), st.integers(0, 12), st.text(max_size=30) | st.none()),
    st.builds(lambda k: ("unsupported", k), st.sampled_from([*UNSUPPORTED_KINDS, "x"])),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EVENTS, max_size=25))
def test_any_sequence_of_events_keeps_a_valid_state(events: list[tuple[str, object]]) -> None:
    talk = Talk()
    valid_steps = REGISTRY.steps()
    for kind, value in events:
        if kind == "text":
            talk.send(str(value))
        elif kind == "choice":
            talk.send(choice=str(value))
        elif kind == "photo":
            n, caption = value  # type: ignore[misc]
            talk.send(caption, attachments=photo(n))
        elif kind == "unsupported":
            talk.send(unsupported=str(value))
        elif talk.state.offered:
            offered = talk.state.offered
            talk.send(choice=offered[int(str(value)) % len(offered)])
        else:
            continue
        assert talk.step in valid_steps
        assert talk.last.replies, "every event gets an answer"
        assert all(r.text for r in talk.last.replies)
        if talk.step in report_flow.STEPS:
            assert isinstance(talk.state.draft, ReportDraft)
        if talk.step in ("report.description", "report.danger", "report.evidence", "report.confirm"):
            assert report_draft(talk).category in CATEGORIES
    for report in talk.submitted:
        assert isinstance(report, SubmitReport) and report.category in CATEGORIES
        assert len(report.evidence) <= MAX_EVIDENCE


@pytest.mark.parametrize(("answer", "kept"), [("updates:yes", True), ("updates:no", False)])
def test_updates_are_kept_only_with_consent(answer: str, kept: bool) -> None:
    talk = Talk()
    full_report(talk)
    talk.press("confirm:submit")
    assert talk.state.offered == ["updates:yes", "updates:no"]
    outcome = talk.press(answer)
    code = talk.submitted[-1].code  # consent is for this report, by its code
    assert (KeepContact(reports=(code,)) in outcome.effects) is kept
    assert not any(isinstance(e, KeepContact) for e in outcome.effects) or kept
    assert talk.step == "menu"


@pytest.mark.parametrize(("typed", "kept"), [("haan", True), ("نہیں", False), ("yes", True)])
def test_updates_consent_can_be_typed(typed: str, kept: bool) -> None:
    talk = Talk()
    full_report(talk)
    talk.press("confirm:submit")
    outcome = talk.send(typed)
    assert (KeepContact(reports=(talk.submitted[-1].code,)) in outcome.effects) is kept


def test_a_question_instead_of_an_answer_keeps_no_contact() -> None:
    talk = Talk()
    full_report(talk)
    talk.press("confirm:submit")
    outcome = talk.send("what is paigham e pakistan")
    assert not any(isinstance(e, KeepContact) for e in outcome.effects)


@pytest.mark.parametrize(
    ("command", "step"),
    [
        ("/report", "report.confirm"),  # the report being written goes on
        ("/status", "status.code"),
        ("/language", "language"),
        ("/help", "menu"),
        ("/privacy", "privacy"),
        ("/cancel", "discard"),  # "Delete this report?"
        ("/start@RaabtaBot", "resume"),  # "You have an unfinished report: continue, or start a new one?"
    ],
)
def test_slash_commands_work_from_any_step(command: str, step: str) -> None:
    talk = Talk()
    full_report(talk)
    talk.send(command)
    assert talk.step == step


def test_an_unknown_command_is_just_text() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.send("/frobnicate")
    assert talk.said == catalog().text("menu.not_understood", "en")


def test_links_supplied_by_the_channel_start_and_feed_a_report() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.count += 1
    outcome = handle(
        Inbound("test", "user-1", "x", links=("https://t.me/Some_Channel/42",)),
        parse(""),
        talk.state,
        Context("C0DE-0002"),
    )
    assert outcome.state.step == "report.category"
    assert isinstance(outcome.state.draft, ReportDraft)
    assert outcome.state.draft.links == [
        Link("https://t.me/Some_Channel/42", "https://t.me/some_channel/42", "telegram")
    ]


# --- evidence at every step; messages we cannot use ---------------------------------------------------


def photo(n: int) -> tuple[Attachment, ...]:
    return (Attachment("photo", f"file-{n}", f"uniq-{n}"),)


def at_step(step: str) -> Talk:
    """A report at `step`: the link and where-was-it questions from the menu, the danger question after
    a threat is chosen, any other step walked back to from `full_report`'s confirmation."""
    if step in ("report.link", "report.where"):
        talk = at_link()
        if step == "report.where":
            talk.press("link:none")
        return talk
    if step == "report.danger":
        talk = at_link()
        talk.send("https://facebook.com/x.page")
        talk.press("cat:violent_threat")
        assert talk.step == step
        return talk
    talk = Talk()
    full_report(talk)
    while talk.step != step:
        talk.press("nav:back")
    return talk


@pytest.mark.parametrize("step", ["report.category", "report.danger", "report.confirm"])
def test_a_screenshot_at_a_button_step_is_kept_and_the_question_asked_again(step: str) -> None:
    talk = at_step(step)
    offered = list(talk.state.offered)
    question = talk.last.replies[-1].text
    talk.send(attachments=photo(1))
    assert talk.step == step
    assert talk.last.replies[0].text == catalog().text("report.evidence_kept", "en", count=1)
    assert talk.state.offered == offered
    if step == "report.confirm":  # the summary again, with the new count
        assert catalog().text("report.summary_evidence", "en", count=1) in talk.last.replies[-1].text
    else:
        assert talk.last.replies[-1].text == question
    talk.send(attachments=photo(1))  # the same file again: still one
    assert report_draft(talk).evidence == [Attachment("photo", "file-1", "uniq-1")]
    while talk.step != "report.confirm":
        talk.press(next(c for c in talk.state.offered if not c.startswith("nav:")))
    talk.press("confirm:submit")
    assert [a.fingerprint for a in talk.submitted[0].evidence] == ["uniq-1"]


def test_an_album_sent_as_the_link_keeps_every_photo() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:ur-Latn")
    talk.press("menu:report")
    talk.send(attachments=photo(1))  # the album's first photo answers "link or screenshot?"
    assert talk.step == "report.category"
    assert talk.last.replies[0].text == catalog().text("report.evidence_kept", "ur-Latn", count=1)
    talk.send(attachments=photo(2))
    talk.send(attachments=photo(3))
    assert talk.step == "report.category"
    assert talk.said == "\n".join(
        [
            catalog().text("report.evidence_kept", "ur-Latn", count=3),
            catalog().text("report.ask_category", "ur-Latn"),
        ]
    )
    assert len(report_draft(talk).evidence) == 3


@pytest.mark.parametrize(
    ("step", "caption", "moved_to"),
    [
        ("report.category", catalog().text("categories.propaganda", "en"), "report.confirm"),
        ("report.category", catalog().text("categories.propaganda", "ur"), "report.confirm"),
        ("report.category", "  RECRUITING ", "report.confirm"),
        ("report.category", "propaganda", "report.category"),  # a code name, not a label
        ("report.category", "recruiting posts", "report.category"),
        ("report.category", "3", "report.category"),  # typed alone, a number picks; as a caption, not
        ("report.category", "cancel", "report.category"),
        ("report.category", "back", "report.category"),
        ("report.danger", "No", "report.confirm"),
        ("report.danger", "nahi", "report.confirm"),
        ("report.danger", "their latest post", "report.danger"),
        ("report.confirm", "one more of their posts", "report.confirm"),
    ],
)
def test_a_caption_answers_only_when_it_is_a_button(step: str, caption: str, moved_to: str) -> None:
    talk = at_step(step)
    talk.send(caption, attachments=photo(7))
    assert talk.step == moved_to
    assert report_draft(talk).evidence[-1].ref == "file-7"
    assert not talk.submitted
    notes = report_draft(talk).notes
    assert notes == ([] if moved_to != step else [" ".join(caption.split())])


def test_a_caption_that_was_no_answer_is_kept_with_the_description() -> None:
    talk = at_step("report.category")
    talk.send("their page, see the flag at facebook.com/x", attachments=photo(1))
    talk.send("thanks", attachments=photo(2))  # small talk is not a note
    talk.press("cat:propaganda")
    talk.press("confirm:details")
    talk.send("They recruit boys")
    talk.press("evidence:done")
    talk.press("confirm:submit")
    [report] = talk.submitted
    assert report.description == "They recruit boys\ntheir page, see the flag at"


def test_a_screenshot_at_the_description_step_is_kept_and_its_caption_is_the_description() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.press("link:none")
    talk.press("where:skip")
    talk.press("cat:financing")
    assert "desc:skip" not in talk.state.offered  # no link and no evidence yet: words are needed
    talk.send(attachments=photo(1))
    assert talk.step == "report.description"
    assert "desc:skip" in talk.state.offered  # now there is evidence
    talk.send("Asking for donations to buy weapons", attachments=photo(2))
    assert talk.step == "report.evidence"
    assert report_draft(talk).description == "Asking for donations to buy weapons"
    assert len(report_draft(talk).evidence) == 2


def test_the_cap_on_evidence_is_kept_and_said() -> None:
    talk = at_step("report.evidence")
    for n in range(MAX_EVIDENCE):
        talk.send(attachments=photo(n))
    talk.send(attachments=photo(99))
    assert talk.step == "report.evidence"
    assert talk.said == catalog().text("report.evidence_full", "en", limit=MAX_EVIDENCE)
    assert "evidence:done" in talk.state.offered
    while talk.step != "report.category":
        talk.press("nav:back")
    talk.send(attachments=photo(100))
    assert talk.step == "report.category"
    assert talk.last.replies[0].text == catalog().text("report.evidence_full", "en", limit=MAX_EVIDENCE)
    assert "cat:propaganda" in talk.state.offered
    assert len(report_draft(talk).evidence) == MAX_EVIDENCE


def to_updates(talk: Talk) -> None:
    full_report(talk)
    talk.press("confirm:submit")


@pytest.mark.parametrize("kind", [*UNSUPPORTED_KINDS, "hologram"])
@pytest.mark.parametrize("step", [*report_flow.STEPS, "menu", "status.code", "updates", "family"])
def test_a_message_we_cannot_use_is_answered_and_changes_nothing(kind: str, step: str) -> None:
    talk = Talk()
    if step == "updates":
        to_updates(talk)
    elif step in report_flow.STEPS:
        talk = at_step(step)
    else:
        talk.send("/start")
        talk.press("lang:ur")
        if step != "menu":
            talk.press({"status.code": "menu:status", "family": "menu:family"}[step])
    before = copy.deepcopy(talk.state)
    buttons = talk.last.replies[-1].buttons
    talk.send(unsupported=kind)
    assert talk.state == before
    named = kind if kind in UNSUPPORTED_KINDS else "other"
    lang = talk.state.lang or "en"
    assert talk.last.replies[0].text == " ".join(
        [catalog().text(f"common.unsupported_{named}", lang), catalog().text("common.we_take", lang)]
    )
    assert talk.last.replies[-1].buttons == buttons  # the current question again, with its buttons
    assert not talk.last.effects


def at_link() -> Talk:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    return talk


def test_the_words_that_came_with_something_we_cannot_use_are_still_read() -> None:
    talk = at_link()
    talk.send("this channel t.me/some_channel", unsupported="video")  # a video with a caption
    assert talk.last.replies[0].text.startswith(catalog().text("common.unsupported_video", "en"))
    assert talk.step == "report.category"
    assert report_draft(talk).links[0].canonical == "https://t.me/some_channel"


def test_a_first_message_we_cannot_use_asks_for_the_language() -> None:
    talk = Talk()
    talk.send(unsupported="sticker")
    assert talk.last.replies[0].text.startswith(catalog().text("common.unsupported_sticker", "en"))
    assert talk.state.offered == ["lang:en", "lang:ur", "lang:ur-Latn"]


@pytest.mark.parametrize(
    ("lang", "text"),
    [("en", "call me back please"), ("ur-Latn", "mujhe call back karein"), ("ur", "مجھے کال کریں")],
)
def test_asking_to_be_called_back_is_no_back_button(lang: str, text: str) -> None:
    """ "call me back" holds "back": a flow's routing phrase outranks the bare navigation word."""
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    talk.press("menu:learn")
    talk.press("learn:recruiters")
    talk.send(text)
    assert talk.step == "family.consent"
    assert talk.said == catalog().text("family.callback_offer", lang)


def test_a_slash_status_with_an_unknown_code_says_so() -> None:
    talk = Talk(reports={"ABCD-EFGH": "received"})
    talk.send("/start")
    talk.press("lang:en")
    talk.send("/status ABCD-1234")
    assert catalog().text("status.not_found", "en", code="ABCD-1234") in talk.said
    assert talk.step == "status.code"
    talk.send("/status abcdefgh")
    assert talk.said == status_text(catalog(), "en", "ABCD-EFGH", status("received"))


@pytest.mark.parametrize(
    ("lang", "text"), [("ur-Latn", "shaam ko"), ("en", "evening please"), ("ur", "شام کو")]
)
def test_a_time_typed_at_the_callback_question_is_a_yes(lang: str, text: str) -> None:
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    talk.press("menu:family")
    talk.press("family:callback")
    talk.send(text)
    assert talk.step == "family.phone"
    talk.press("support:chat")
    assert any("time: evening" in getattr(e, "note", "") for e in talk.effects)


# --- typed answers count at every report step -----------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "text", "kind"),
    [
        ("en", "thanks", "thanks"),
        ("en", "thank you so much", "thanks"),
        ("en", "hi", "greet"),
        ("ur", "شکریہ", "thanks"),
        ("ur", "بہت شکریہ", "thanks"),
        ("ur", "السلام علیکم", "greet"),
        ("ur-Latn", "shukriya", "thanks"),
        ("ur-Latn", "bohat shukriya bhai", "thanks"),
        ("ur-Latn", "assalam o alaikum", "greet"),
    ],
)
def test_a_kind_word_at_the_link_question_is_answered_as_one(lang: str, text: str, kind: str) -> None:
    # Seen when the web chat was tried (issue 23, seventh sitting): "thanks" typed while the link was
    # awaited got "I could not find a link in that message" and the whole question again.
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    talk.press("menu:report")
    talk.send(text)
    assert talk.step == "report.link" and report_draft(talk).description == ""
    asked = talk.outcomes[-2].replies[-1].buttons  # the link question's: on without a link, back, cancel
    [reply] = talk.last.replies
    assert reply.text == catalog().text(f"report.link_{kind}", lang)
    assert [b.id for b in reply.buttons] == [b.id for b in asked] and asked[0].id == "link:none"
    talk.send("https://t.me/some_channel")
    assert talk.step == "report.category"


def test_words_typed_where_the_link_is_asked_are_kept_and_the_link_asked_again() -> None:
    talk = at_link()
    talk.send("the page")
    assert talk.step == "report.link" and report_draft(talk).description == ""
    assert talk.last.replies[0].text == catalog().text("report.no_link_found", "en")
    talk.send("they recruit boys for a camp")
    assert talk.step == "report.link"
    assert talk.last.replies[0].text == catalog().text("report.words_kept_link", "en")
    assert talk.last.replies[-1].text == catalog().text("report.ask_link", "en")
    assert report_draft(talk).description == "they recruit boys for a camp"
    talk.send("facebook.com/bad.page")
    talk.press("cat:recruitment")
    assert talk.step == "report.confirm"
    talk.press("confirm:submit")
    [report] = talk.submitted
    assert report.description == "they recruit boys for a camp"
    assert [link.canonical for link in report.links] == ["https://facebook.com/bad.page"]


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("Recruiting", "recruitment"),  # the button's label, in each language
        ("بھرتی کرنا", "recruitment"),
        ("bharti karna", "recruitment"),
        ("2", "recruitment"),  # its number
        ("bharti", "recruitment"),  # a synonym
        ("dhamki", "violent_threat"),
        ("propaganda", "propaganda"),
        ("chanda", "financing"),
    ],
)
def test_a_kind_of_content_typed_at_the_category_question_selects_it(typed: str, code: str) -> None:
    talk = at_link()
    talk.send("https://t.me/some_channel")
    talk.send(typed)
    assert report_draft(talk).category == code
    assert talk.step == ("report.danger" if code == "violent_threat" else "report.confirm")


def test_words_at_the_category_question_are_kept_as_the_description_once() -> None:
    talk = at_link()
    talk.send("https://t.me/some_channel")
    talk.send("they ask young men to go to a camp")
    assert talk.step == "report.category" and report_draft(talk).category is None
    assert talk.last.replies[0].text == catalog().text("report.words_kept_category", "en")
    assert report_draft(talk).description == "they ask young men to go to a camp"
    talk.send("i am not sure which one this is")  # a description is already kept: choose a button
    assert talk.step == "report.category"
    assert talk.last.replies[0].text == catalog().text("report.choose_category", "en")
    assert report_draft(talk).description == "they ask young men to go to a camp"


def test_at_the_summary_a_short_yes_sends_and_more_words_are_added() -> None:
    talk = at_link()
    talk.send("https://t.me/some_channel")
    talk.press("cat:propaganda")
    talk.send("wait")  # one word that is no yes: the hint, and nothing sent
    assert talk.step == "report.confirm" and report_draft(talk).description == ""
    assert talk.last.replies[0].text == catalog().text("report.confirm_hint", "en")
    talk.send("also on whatsapp")
    assert talk.step == "report.confirm"
    assert talk.last.replies[0].text == catalog().text("report.note_added_summary", "en")
    assert "also on whatsapp" in talk.said  # the summary again, with the words
    assert not talk.submitted
    talk.send("yes")
    [report] = talk.submitted
    assert report.description == "also on whatsapp" and talk.step == "updates"


@pytest.mark.parametrize("typed", ["help", "status ABCD-1234", "ABCD-1234"])
@pytest.mark.parametrize("step", report_flow.STEPS)
def test_help_or_a_reference_code_mid_report_is_answered_and_the_question_asked_again(
    step: str, typed: str
) -> None:
    talk = at_step(step)
    talk.reports["ABCD-1234"] = status("received")
    before = copy.deepcopy(talk.state)
    question = talk.last.replies[-1]
    talk.send(typed)
    answer = (
        catalog().text("report.step_help", "en")
        if typed == "help"
        else status_text(catalog(), "en", "ABCD-1234", status("received"))
    )
    assert talk.last.replies[0].text == answer
    assert talk.last.replies[-1] == question
    assert talk.state == before
    assert not talk.submitted
