"""Ask the reporter (issue 22): an analyst asks the reporters of a case who agreed to updates one question;
each gets it once, in their language, through the outbox; their next message comes back as evidence on
their report. The analyst sees how many, never who.

End to end through the real app (web chat, analysts' API, console) and the real Telegram adapter against
the fake Bot API with the outbox worker, on SQLite and PostgreSQL; the dialogue's rules on the pure engine.
"""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from bot.app import create_app, make_pipeline
from bot.channels.telegram import TelegramChannel
from bot.dialogue import REGISTRY, AnswerFollowup, Context, Inbound, Outcome, SkipFollowup, State, handle
from bot.dialogue.types import FollowupAsked
from bot.outbox import OutboxWorker
from bot.shared.config import Settings
from cyberunit.api import FOLLOWUP_SKIP, render_followup
from nlu import parse
from responses import catalog
from responses.bidi import FSI, PDI
from storage import followups
from storage.repository import Storage
from storage.schema import evidence, followup_pending, outbox
from tests.fakes.telegram_api import Citizen, FakeBotAPI, serving
from tests.test_api import API, auth, tokens  # noqa: F401 - tokens is a fixture
from tests.test_console import sign_in
from tests.test_openapi import conforms, fetch
from tests.test_telegram import CODE, fast, telegram_settings
from tests.test_webchat import API as CHAT_API
from tests.test_webchat import WebChat, report_page

LINK = "https://t.me/recruiters_channel"
QUESTION = "Is the channel still posting? If it moved, where to?"
ANSWER = "Yes, and it now also posts at https://t.me/recruiters_backup since Friday"


async def case_id_of(client: httpx.AsyncClient, analyst: dict[str, str], canonical: str = LINK) -> int:
    items = (await client.get(API + "/cases", headers=analyst)).json()["items"]
    [case] = [c for c in items if c["canonical_url"] == canonical]
    return int(case["id"])


async def ask(client: httpx.AsyncClient, analyst: dict[str, str], case: int, question: str) -> httpx.Response:
    return await client.post(f"{API}/cases/{case}/followups", headers=analyst, json={"question": question})


async def pulled(client: httpx.AsyncClient, chat: WebChat) -> list[dict[str, object]]:
    """What the web chat page's poll hands over now (marked delivered as it is)."""
    messages: list[dict[str, object]] = (await client.get(CHAT_API, params={"session": chat.session})).json()[
        "messages"
    ]
    return messages


async def reported(client: httpx.AsyncClient, lang: str, updates: bool) -> tuple[WebChat, str]:
    chat = WebChat(client)
    code = await report_page(chat, lang, LINK)
    await chat.press("updates:yes" if updates else "updates:no")
    return chat, code


async def waiting_rows(storage: Storage) -> int:
    async with storage.reader.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(followup_pending)) or 0)


# --- through the web chat and the analysts' API --------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ur"])
async def test_a_reporter_who_agreed_is_asked_in_their_language_and_the_answer_reaches_the_case(
    client: httpx.AsyncClient,
    storage: Storage,
    settings: Settings,
    tokens: dict[str, str],  # noqa: F811 - the fixture
    lang: str,
) -> None:
    chat, code = await reported(client, lang, updates=True)
    silent, _ = await reported(client, "ur-Latn", updates=False)  # same page, no updates asked for
    analyst = auth(tokens["analyst"])
    case = await case_id_of(client, analyst)
    spec = await fetch(client)

    before = (await client.get(f"{API}/cases/{case}/followups", headers=analyst)).json()
    conforms(spec, "FollowupList", before)
    assert before == {"can_ask": 1, "waiting": 0, "refusal": None, "items": []}
    asked = await ask(client, analyst, case, QUESTION)
    assert asked.status_code == 200, asked.text
    conforms(spec, "Followup", asked.json())
    assert asked.json()["recipients"] == 1 and asked.json()["question"] == QUESTION
    pseudonym = make_pipeline(settings, storage).pseudonyms.of("webchat", chat.session)
    assert pseudonym not in asked.text and chat.session not in asked.text and code not in asked.text

    # the question arrives in the reporter's language, the analyst's words quoted as written, with Skip
    [note] = await pulled(client, chat)
    expected = render_followup(code, lang, QUESTION)
    assert note["text"] == expected["text"] and note["kind"] == "notification"
    assert f"{FSI}{QUESTION}{PDI}" in str(note["text"])
    assert [b["id"] for b in note["buttons"]] == [FOLLOWUP_SKIP]  # type: ignore[attr-defined]
    assert await pulled(client, silent) == []  # no consent, no question

    await chat.send(ANSWER)
    assert chat.said == catalog().text("followup.thanks", lang, code=code)
    assert "menu:report" in chat.buttons

    detail = (await client.get(f"{API}/cases/{case}", headers=analyst)).json()
    [mine] = [r for r in detail["reports"] if r["code"] == code]
    answers = [(e["kind"], e["value"]) for e in mine["evidence"] if e["kind"] in ("answer", "link")]
    assert ("answer", ANSWER) in answers
    assert ("link", "https://t.me/recruiters_backup") in answers
    answered = [h for h in detail["history"] if h["action"] == "case.followup_answered"]
    assert [h["actor"] for h in answered] == ["citizen"] and answered[0]["detail"]["items"] == 2
    assert [h["detail"] for h in detail["history"] if h["action"] == "case.followup_asked"] == [
        {"followup": asked.json()["id"], "recipients": 1}
    ]
    assert pseudonym not in json.dumps(detail)

    listed = (await client.get(f"{API}/cases/{case}/followups", headers=analyst)).json()
    conforms(spec, "FollowupList", listed)
    [q] = listed["items"]
    assert (q["recipients"], q["answered"], q["skipped"], q["waiting"]) == (1, 1, 0, 0)
    assert {(a["kind"], a["value"]) for a in q["answers"]} == {
        ("answer", ANSWER),
        ("link", "https://t.me/recruiters_backup"),
    }
    assert listed["can_ask"] == 1  # answered: they may be asked again
    assert pseudonym not in json.dumps(listed)

    # one message: what comes after the answer is a conversation like any other
    await chat.send("https://t.me/another_channel_entirely")
    assert "cat:propaganda" in chat.buttons  # the report flow asks what kind of page it is
    assert (await client.get(f"{API}/cases/{case}/followups", headers=analyst)).json()["items"][0][
        "answered"
    ] == 1


async def test_skip_declines_and_the_menu_passes_a_question_by(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    chat, code = await reported(client, "ur-Latn", updates=True)
    analyst = auth(tokens["analyst"])
    case = await case_id_of(client, analyst)
    assert (await ask(client, analyst, case, "Who runs it?")).status_code == 200
    again = await ask(client, analyst, case, "And since when?")
    assert again.status_code == 409 and "still has an earlier question" in again.json()["detail"]
    assert len(await pulled(client, chat)) == 1
    await chat.send(choice=FOLLOWUP_SKIP)  # under the notification: honoured though the chat never offered it
    assert chat.said == catalog().text("followup.skipped", "ur-Latn")
    assert "menu:report" in chat.buttons

    # asked again, the citizen goes to the menu instead: the question lets go of them
    assert (await ask(client, analyst, case, "And since when?")).status_code == 200
    await pulled(client, chat)
    await chat.send(choice="nav:menu")
    await chat.send("https://t.me/a_different_page")
    assert "cat:propaganda" in chat.buttons  # a new report, not an answer
    [second, first] = (await client.get(f"{API}/cases/{case}/followups", headers=analyst)).json()["items"]
    assert (first["skipped"], first["answered"], first["waiting"]) == (1, 0, 0)
    assert (second["skipped"], second["answered"], second["waiting"]) == (0, 0, 0)
    async with storage.reader.connect() as conn:
        kinds = (await conn.scalars(select(evidence.c.kind).where(evidence.c.followup_id.is_not(None)))).all()
    assert kinds == [] and code


async def test_a_crisis_message_while_a_question_waits_gets_the_crisis_answer(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    chat, _ = await reported(client, "en", updates=True)
    analyst = auth(tokens["analyst"])
    case = await case_id_of(client, analyst)
    assert (await ask(client, analyst, case, QUESTION)).status_code == 200
    await pulled(client, chat)
    await chat.send("I want to kill myself")
    assert chat.messages[0]["kind"] == "crisis"
    assert chat.messages[0]["text"] == catalog().text("crisis.now", "en")
    [q] = (await client.get(f"{API}/cases/{case}/followups", headers=analyst)).json()["items"]
    assert (q["answered"], q["waiting"]) == (0, 0) and q["answers"] == []
    await chat.send("ok")  # and what they say next is heard by the crisis answer, not filed as evidence
    assert chat.messages and chat.messages[0]["kind"] != "notification"
    assert await waiting_rows(storage) == 0


async def test_nobody_to_ask_and_other_refusals_are_clear(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    await reported(client, "en", updates=False)
    analyst = auth(tokens["analyst"])
    case = await case_id_of(client, analyst)
    nobody = await ask(client, analyst, case, QUESTION)
    assert nobody.status_code == 409, nobody.text
    assert "none of its reporters asked for updates" in nobody.json()["detail"]
    for body, words in (
        ({"question": "   "}, "needs words"),
        ({"question": "x" * (followups.MAX_QUESTION + 1)}, "at most"),
        ({"question": 7}, "required string"),
        ({}, "required string"),
    ):
        refused = await client.post(f"{API}/cases/{case}/followups", headers=analyst, json=body)
        assert refused.status_code == 400 and words in refused.json()["detail"], (body, refused.text)
    assert (await ask(client, analyst, 999_999, QUESTION)).status_code == 404
    counsellor = await ask(client, auth(tokens["counsellor"]), case, QUESTION)
    assert counsellor.status_code == 403

    # another analyst's case, then a case closed with no action
    await reported(client, "en", updates=True)
    [held] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    theirs = await ask(client, auth(tokens["analyst2"]), held["id"], QUESTION)
    assert theirs.status_code == 409 and "held by analyst" in theirs.json()["detail"]
    closed = await client.post(
        f"{API}/cases/{held['id']}/decision",
        headers=analyst,
        json={"status": "no_action", "note": "satire", "reason": "not_extremist"},
    )
    assert closed.status_code == 200, closed.text
    late = await ask(client, analyst, held["id"], QUESTION)
    assert late.status_code == 409 and "closed with no action" in late.json()["detail"]
    assert await waiting_rows(storage) == 0


async def test_forget_me_takes_a_waiting_question_away(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    chat, _ = await reported(client, "en", updates=True)
    analyst = auth(tokens["analyst"])
    case = await case_id_of(client, analyst)
    assert (await ask(client, analyst, case, QUESTION)).status_code == 200
    assert await waiting_rows(storage) == 1
    await chat.send(choice="menu:privacy")
    await chat.send(choice="forget:ask")
    await chat.send(choice="forget:yes")
    assert chat.said.startswith(catalog().text("privacy.forgotten", "en"))
    assert await waiting_rows(storage) == 0
    async with storage.reader.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(outbox)) == 0
    [q] = (await client.get(f"{API}/cases/{case}/followups", headers=analyst)).json()["items"]
    assert (q["recipients"], q["waiting"]) == (1, 0)  # the count stays; nobody is waited for
    nobody = await ask(client, analyst, case, QUESTION)
    assert nobody.status_code == 409


# --- the console ---------------------------------------------------------------------------------------


async def test_the_case_page_asks_and_shows_counts_only(
    settings: Settings,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    app: Starlette = create_app(settings, storage)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        chat, code = await reported(http, "en", updates=True)
        case = await case_id_of(http, auth(tokens["analyst"]))
        analyst = await sign_in(app, tokens["analyst"])
        page = await analyst.get(f"/console/cases/{case}")
        assert 'id="followup"' in page.text and f'hx-get="/console/cases/{case}/followups"' in page.text
        panel = await analyst.get(f"/console/cases/{case}/followups", headers={"HX-Request": "true"})
        assert panel.status_code == 200 and "<html" not in panel.text
        assert '<strong id="followup-reach">1</strong> reporter can be asked now' in panel.text
        empty = await analyst.post(f"/console/cases/{case}/followups", {"question": " "})
        assert empty.status_code == 400 and "needs words" in empty.text and "<html" in empty.text
        done = await analyst.post(f"/console/cases/{case}/followups", {"question": "Is it still up?"})
        assert done.status_code == 303 and done.headers["location"] == f"/console/cases/{case}#followup"
        await pulled(http, chat)
        await chat.send("It was taken down yesterday")
        shown = (await analyst.get(f"/console/cases/{case}/followups")).text  # the page without htmx
        assert "<html" in shown and "Is it still up?" in shown
        assert '<span class="n-asked">1</span>' in shown and '<span class="n-answered">1</span>' in shown
        assert "It was taken down yesterday" in shown and code in shown
        case_page = (await analyst.get(f"/console/cases/{case}")).text
        assert "It was taken down yesterday" in case_page  # with the report's evidence
        pseudonym = make_pipeline(settings, storage).pseudonyms.of("webchat", chat.session)
        assert pseudonym not in shown and pseudonym not in case_page
        await analyst.aclose()


# --- Telegram: the outbox worker delivers, the citizen answers with a screenshot -----------------------


async def test_telegram_delivers_the_question_with_skip_and_takes_a_screenshot_as_the_answer(
    settings: Settings, storage: Storage
) -> None:
    async with FakeBotAPI() as api:
        pipeline = make_pipeline(settings, storage)
        channel = TelegramChannel(telegram_settings(settings, api, "webhook"), pipeline, pacer=fast())
        async with serving(channel, api) as deliver:
            citizen = Citizen(api, deliver, language_code="ur")
            await citizen.say("/start")
            await citizen.press("lang:ur")
            await citizen.press("menu:report")
            await citizen.say("https://www.facebook.com/Bad.Page/")
            await citizen.press("cat:recruitment")
            await citizen.press("confirm:submit")
            found = CODE.search(citizen.said)
            assert found, citizen.said
            code = found.group(1)
            await citizen.press("updates:yes")
            case = await storage.reports.case_of(code)
            assert case is not None

            asked = await followups.ask(storage, int(case["id"]), QUESTION, "analyst", render_followup)
            assert asked["recipients"] == 1
            sender = channel.channel_setup().sender
            assert sender is not None
            worker = OutboxWorker(storage, pipeline.box, {"telegram": sender})
            assert await worker.run_once() == 1
            [sent] = api.sent(citizen.chat_id)[-1:]
            assert sent.params["text"] == render_followup(code, "ur", QUESTION)["text"]
            assert sent.buttons == [FOLLOWUP_SKIP]

            await citizen.send_fixture("photo")
            assert citizen.said == catalog().text("followup.thanks", "ur", code=code)
        files = [e for e in await storage.reports.evidence_of(code) if e["kind"] == "photo"]
        assert [(e["value"], e["fingerprint"]) for e in files] == [("AgACAgQAAxkBAAML_large", "AQADlarge")]
        [q] = await followups.of_case(storage, int(case["id"]))
        assert q["answered"] == 1  # the screenshot with its caption, as the answer's words
        assert [(a["kind"], a["value"]) for a in q["answers"]] == [
            ("answer", "screenshot of the post"),
            ("photo", "AgACAgQAAxkBAAML_large"),
        ]


async def test_each_reporter_gets_the_question_in_their_own_language(storage: Storage) -> None:
    """Three reporters of one page, in three languages; one question, three messages."""
    from storage.records import EvidenceRecord, NewReport, TurnRecord

    codes = {}
    for n, lang in enumerate(("en", "ur", "ur-Latn")):
        code = f"LNG{n}-TEST"
        codes[lang] = code
        report = NewReport(
            code, f"r{n}", "webchat", lang, "propaganda", "seen", False, (EvidenceRecord("link", LINK),)
        )
        assert (
            await storage.commit_turn(TurnRecord("webchat", f"a{n}", f"r{n}", 0, {}, [], (report,)))
        ).status.value == "ok"
        yes = TurnRecord("webchat", f"b{n}", f"r{n}", 1, {}, [], contact=b"sealed", updates_for=(code,))
        assert (await storage.commit_turn(yes)).status.value == "ok"
    case = await storage.reports.case_of(codes["en"])
    assert case is not None
    asked = await followups.ask(
        storage, int(case["id"]), "کیا یہ پیج ابھی تک چل رہا ہے؟", "analyst", render_followup
    )
    assert asked["recipients"] == 3
    for n, lang in enumerate(("en", "ur", "ur-Latn")):
        [note] = await storage.outbox.take("webchat", f"r{n}")
        assert note.kind == followups.KIND
        assert (
            note.payload["text"]
            == render_followup(codes[lang], lang, "کیا یہ پیج ابھی تک چل رہا ہے؟")["text"]
        )
        assert note.payload["buttons"][0]["label"] == catalog().text("buttons.followup_skip", lang)


# --- the dialogue's rules, on the pure engine ----------------------------------------------------------

WAITING = FollowupAsked(pending=7, code="ABCD-2345")


def turn(text: str | None = None, choice: str | None = None, state: State | None = None) -> Outcome:
    inbound = Inbound("test", "u", "1", text=text, choice=choice)
    start = state or replace(State(), lang="en", step=REGISTRY.home)
    return handle(inbound, parse(text or ""), start, Context("NEWC-0001", followup=WAITING))


def test_the_next_message_answers_and_says_thanks() -> None:
    outcome = turn("The admin is called Abu Talha")
    assert outcome.effects == (AnswerFollowup(7, "The admin is called Abu Talha"),)
    assert outcome.replies[-1].text == catalog().text("followup.thanks", "en", code="ABCD-2345")


def test_a_link_alone_is_kept_as_a_link_and_small_talk_is_no_answer() -> None:
    [effect] = turn("t.me/another_one").effects
    assert isinstance(effect, AnswerFollowup) and effect.text == ""
    assert [x.canonical for x in effect.links] == ["https://t.me/another_one"]
    assert not any(isinstance(e, AnswerFollowup) for e in turn("thanks").effects)
    assert turn("skip").effects == (SkipFollowup(7),)


def test_an_answer_in_the_middle_of_a_report_sets_the_report_aside() -> None:
    first = handle(
        Inbound("test", "u", "1", choice="menu:report"),
        parse(""),
        replace(State(), lang="en", step=REGISTRY.home, offered=["menu:report"]),
        Context("NEWC-0001"),
    )
    linked = handle(Inbound("test", "u", "2", text=LINK), parse(LINK), first.state, Context("NEWC-0002"))
    answered = turn("It moved to a new name last week", state=linked.state)
    assert isinstance(answered.effects[0], AnswerFollowup)
    assert answered.state.paused and "resume:continue" in answered.state.offered


def test_a_sure_danger_in_an_answer_gets_the_emergency_directions_first_and_is_kept() -> None:
    outcome = turn("They are planning to attack the school tomorrow morning")
    assert outcome.replies[0].kind_or_derived == "emergency"
    assert outcome.replies[-1].text == catalog().text("followup.thanks", "en", code="ABCD-2345")
    [answer] = outcome.effects
    assert isinstance(answer, AnswerFollowup) and answer.urgent


def test_cancel_the_menu_or_another_language_go_where_they_would_have() -> None:
    for text in ("cancel", "menu", "Roman Urdu mein baat karo"):
        outcome = turn(text)
        assert not any(isinstance(e, AnswerFollowup) for e in outcome.effects), text
    assert turn("Roman Urdu mein baat karo").state.lang == "ur-Latn"


async def test_a_question_asked_through_another_instance_is_answered_here(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Turns look a question up only for citizens with one pending, a list this process keeps for
    `followups.REFRESH` seconds: a question asked through another instance on the same database (here a
    second Storage; the list here was read before it was asked) reaches its answer once the list is
    read again."""
    chat, code = await reported(client, "en", updates=True)
    case = await case_id_of(client, auth(tokens["analyst"]))
    await chat.send("hello")  # a turn: this process has read the list (nobody asked yet)
    other = Storage(storage.url, storage.secret)
    try:
        await followups.ask(other, case, QUESTION, "analyst-elsewhere", render_followup)
    finally:
        await other.close()
    assert storage.followups_generation == 0  # this process asked nothing
    monkeypatch.setattr(followups, "REFRESH", 0.0)  # the list's time is up (it is 2 s)
    [note] = await pulled(client, chat)
    assert QUESTION in str(note["text"])
    await chat.send(ANSWER)
    assert chat.said == catalog().text("followup.thanks", "en", code=code)
    assert await waiting_rows(storage) == 0
