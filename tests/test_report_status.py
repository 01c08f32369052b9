"""A status that explains (issue 16): a reporter is told when their report was received, reviewed and
decided, why, and what they can do next; in the chat and in the update they asked for, in their language.

Through the web chat API and the analysts' API, on both backends."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from bot.outbox import OutboxWorker
from bot.shared.sealing import AddressBox
from bot.shared.status import day, status_text
from cyberunit.api import render_status
from responses import catalog
from storage.queue import Queue
from storage.records import EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage, utcnow
from storage.schema import outbox, reports
from tests.talk import drop_language_line
from tests.test_api import API, add_report, auth, tokens  # noqa: F401 - tokens is a fixture
from tests.test_outbox import SECRET, RecordingChannel
from tests.test_webchat import API as CHAT_API
from tests.test_webchat import WebChat, report_page

LINK = "https://t.me/recruiters_channel"


async def decide(client: httpx.AsyncClient, token: str, body: dict[str, object]) -> httpx.Response:
    analyst = auth(token)
    [case] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    return await client.post(f"{API}/cases/{case['id']}/decision", headers=analyst, json=body)


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_a_report_closed_with_no_action_tells_its_reporter_when_why_and_what_next(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
    lang: str,
) -> None:
    chat = WebChat(client)
    code = await report_page(chat, lang, LINK)
    await chat.send(choice="updates:yes")
    async with storage.writer.begin() as conn:  # sent three days ago, so every date differs
        await conn.execute(update(reports).values(created_at=utcnow() - timedelta(days=3)))
    texts = catalog()

    await chat.send(code)
    received = day(texts, lang, utcnow() - timedelta(days=3))
    assert received in chat.said and "{" not in chat.said
    assert chat.said == texts.text("status.received", lang, code=code, received_on=received)

    decided = await decide(
        client,
        tokens["analyst"],
        {"status": "no_action", "note": "Satire of the group, not support.", "reason": "not_extremist"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["case"]["reason"] == "not_extremist" and decided.json()["notified"] == 1
    today = day(texts, lang, utcnow())
    assert today != received
    why = texts.text("reasons.not_extremist", lang)
    expected = texts.text(
        "status.reviewed", lang, code=code, received_on=received, decided_on=today, reason=why
    )

    # the update they asked for: the same words, from the outbox
    pulled = (await client.get(CHAT_API, params={"session": chat.session})).json()["messages"]
    assert [m["text"] for m in pulled] == [expected]
    # and typing the code
    await chat.send(code)
    assert chat.said == expected
    assert received in chat.said and today in chat.said and why in chat.said
    assert "15" in chat.said  # what to do next: the police number, if someone is in danger now
    # nothing of the case reaches the citizen: not the analyst, not the note
    assert "analyst" not in chat.said and "Satire" not in chat.said


async def test_the_api_refuses_a_closing_without_a_reason_or_with_one_that_does_not_fit(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    code = await add_report(storage, LINK)
    analyst = auth(tokens["analyst"])
    [case] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    path = f"{API}/cases/{case['id']}/decision"
    for body, words in (
        ({"status": "no_action", "note": "nothing"}, "needs a reason"),
        ({"status": "no_action", "note": "nothing", "reason": None}, "needs a reason"),
        ({"status": "no_action", "note": "nothing", "reason": "referred_to_platform"}, "does not fit"),
        ({"status": "escalated", "note": "to CTD", "reason": "not_extremist"}, "does not fit"),
        ({"status": "monitoring", "note": "watch", "reason": "shrug"}, "reason must be one of"),
        ({"status": "monitoring", "note": "watch", "reason": 7}, "reason must be a string"),
    ):
        refused = await client.post(path, headers=analyst, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert words in refused.json()["detail"], (body, refused.json())
    detail = (await client.get(f"{API}/cases/{case['id']}", headers=analyst)).json()
    assert detail["status"] == "in_review" and detail["reason"] is None
    assert (await storage.reports.told([code]))[code].word == "under_review"
    done = await client.post(
        path,
        headers=analyst,
        json={"status": "monitoring", "note": "watch", "reason": "not_enough_information"},
    )
    assert done.status_code == 200, done.text
    assert done.json()["case"]["reason"] == "not_enough_information"
    history = (await client.get(f"{API}/cases/{case['id']}", headers=analyst)).json()["history"]
    assert [h["detail"]["reason"] for h in history if h["action"] == "case.decided"] == [
        "not_enough_information"
    ]


async def test_a_report_under_review_says_since_when(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    code = await add_report(storage, LINK)
    await client.post(API + "/queue/claim", headers=auth(tokens["analyst"]), json={})
    chat = WebChat(client)
    await chat.send(f"status {code}")
    today = day(catalog(), "en", utcnow())
    said = drop_language_line(chat.said)  # a first message: the line offering a switch of language dropped
    assert said == f"Report {code}: received on {today}. Under review since {today}."


async def test_the_update_a_pushing_channel_delivers_carries_the_reason(storage: Storage) -> None:
    box = AddressBox(SECRET)
    code = "RSN1-TEST"
    await add_report(storage, LINK)  # someone else's report on the same page
    mine = NewReport(
        code, "r1", "telegram", "ur", "recruitment", "seen", False, (EvidenceRecord("link", LINK),)
    )
    assert (
        await storage.commit_turn(TurnRecord("telegram", "e1", "r1", 0, {}, [], (mine,)))
    ).status.value == "ok"
    yes = TurnRecord("telegram", "e2", "r1", 1, {}, [], contact=box.seal("555"), updates_for=(code,))
    assert (await storage.commit_turn(yes)).status.value == "ok"
    queue = Queue(storage)
    [case] = await queue.claim("a1")
    result = await queue.decide(
        case["id"],
        "a1",
        "referred",
        "to the platform",
        agency="platform",
        render=render_status,
        reason="referred_to_platform",
    )
    assert result.notified == 1
    channel = RecordingChannel()
    assert await OutboxWorker(storage, box, {"telegram": channel}).run_once() == 1
    [(address, text)] = channel.delivered
    told = (await storage.reports.told([code]))[code]
    assert address == "555" and text == status_text(catalog(), "ur", code, told)
    assert catalog().text("reasons.referred_to_platform", "ur") in text
    assert day(catalog(), "ur", utcnow()) in text  # "3 دسمبر 2026": Urdu month names
    async with storage.reader.connect() as conn:
        assert await conn.scalar(select(outbox.c.says)) == "action_taken"
