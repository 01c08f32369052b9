"""After "forget me", nothing in the whole database ties the citizen's pseudonym to anything, nor their
reference codes to anything but the anonymous reports and requests themselves.

A realistic life runs through the real app (web chat, analysts' API, counsellors' API) and the outbox as
its worker drives it: two reports with updates asked for, a status check, a digest subscription, a
"Reply here" callback request answered by a counsellor, an analyst's question answered in the chat and
another still waiting, notifications delivered (sent), one that expired and one still waiting, a block
after floods that an admin lifted. Then every table the database has
(reflected, not taken from our schema) and every column of every row is read as text and searched.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, select, update

from bot.app import create_app
from bot.shared.config import Settings
from bot.shared.digest import digest_message
from responses import catalog
from storage.records import message
from storage.repository import Storage
from storage.safety import Safety
from storage.schema import outbox
from storage.support import iso_week, queue_digest
from storage.tokens import Tokens
from tests.test_webchat import CODE, WebChat

Rows = dict[str, list[dict[str, Any]]]
WEEK = date(2026, 3, 2)
# Rows that keep a code after forget-me: the report itself (without its reporter), the callback request
# (without its chat), and audit rows about a case or a request (they never name a reporter).
KEEP_CODES = {"reports", "support_requests"}
KEPT_AUDIT = re.compile(r"^(case|support):")


@pytest.fixture
async def app_client(settings: Settings, storage: Storage) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(settings, storage)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http, app


async def every_row(storage: Storage) -> Rows:
    """Every row of every table in the database, each value as text (bytes as latin-1, JSON as JSON)."""
    found: Rows = {}
    async with storage.reader.connect() as conn:
        meta = MetaData()
        await conn.run_sync(meta.reflect)
        for table in meta.sorted_tables:
            rows = (await conn.execute(select(table))).mappings().all()
            found[table.name] = [{k: as_text(v) for k, v in row.items()} for row in rows]
    return found


def as_text(value: object) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value if value is None else str(value)


def naming(rows: Rows, needle: str) -> list[str]:
    """Where `needle` occurs: table.column of each value that holds it."""
    return [
        f"{table}.{column}"
        for table, found in rows.items()
        for row in found
        for column, value in row.items()
        if value is not None and needle in value
    ]


def naming_codes(rows: Rows, codes: list[str]) -> list[str]:
    """Where any of `codes` occurs outside the rows allowed to keep a code (KEEP_CODES, KEPT_AUDIT)."""
    kept = {
        table: [r for r in found if not (table == "audit_events" and KEPT_AUDIT.match(r["subject"]))]
        for table, found in rows.items()
        if table not in KEEP_CODES
    }
    return [f"{where} ({code})" for code in codes for where in naming(kept, code)]


async def report(chat: WebChat, link: str, category: str) -> str:
    await chat.send(choice="menu:report")
    await chat.send(link)
    await chat.send(choice=category)
    await chat.send(choice="confirm:submit")
    found = CODE.search(chat.said)
    assert found, chat.said
    await chat.send(choice="updates:yes")
    return found.group(1)


async def decide_next(http: httpx.AsyncClient, analyst: dict[str, str]) -> None:
    [case] = (await http.post("/api/v1/queue/claim", headers=analyst, json={})).json()["items"]
    decided = await http.post(
        f"/api/v1/cases/{case['id']}/decision",
        headers=analyst,
        json={"status": "referred", "agency": "platform", "note": "sent to the platform"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["notified"] == 1


async def ask_followup(http: httpx.AsyncClient, analyst: dict[str, str], code: str, question: str) -> int:
    """An analyst's question on the case of `code`, reaching its one reporter who asked for updates."""
    case = (await http.get("/api/v1/search", params={"q": code}, headers=analyst)).json()["items"][0]
    asked = await http.post(
        f"/api/v1/cases/{case['case_id']}/followups", headers=analyst, json={"question": question}
    )
    assert asked.status_code == 200 and asked.json()["recipients"] == 1, asked.text
    return int(asked.json()["id"])


async def test_after_forget_me_no_row_names_the_citizen_or_their_codes(
    app_client: tuple[httpx.AsyncClient, Any], storage: Storage
) -> None:
    http, app = app_client
    bystander = WebChat(http)
    await bystander.send("/start")
    await bystander.send(choice="lang:en")
    other_code = await report(bystander, "https://t.me/someone_elses_case", "cat:propaganda")

    chat = WebChat(http)
    pseudonym = app.state.pipeline.pseudonyms.of("webchat", chat.session)
    await chat.send("/start")
    await chat.send(choice="lang:en")
    first = await report(chat, "https://t.me/forget_scan_one", "cat:recruitment")
    second = await report(chat, "https://facebook.com/forget.scan.two", "cat:propaganda")
    await chat.send(f"status {first}")
    assert first in chat.said
    await chat.send(choice="menu:learn")
    await chat.send(choice="digest:ask")
    await chat.send(choice="digest:on")
    assert chat.said == catalog().text("digest.subscribed", "en")
    await chat.send("my son is being drawn to militant preachers")
    for step in ("family:callback", "support:yes", "time:any", "support:chat"):
        await chat.send(choice=step)
    request = CODE.search(chat.said)
    assert request, chat.said
    codes = [first, second, request.group(1)]

    tokens = Tokens(storage)
    counsellor = {"Authorization": f"Bearer {await tokens.create('counsellor', 'counsellor')}"}
    analyst = {"Authorization": f"Bearer {await tokens.create('analyst', 'analyst')}"}
    [item] = (await http.get("/api/v1/support-requests", headers=counsellor)).json()["items"]
    replied = await http.post(
        f"/api/v1/support-requests/{item['id']}/reply",
        headers=counsellor,
        json={"text": "Salam, we can talk"},
    )
    assert replied.status_code == 200, replied.text
    [reply] = await storage.outbox.claim(["webchat"])  # delivered as the outbox worker does
    await storage.outbox.finish(reply.id, "sent")
    # An analyst's question on the first page, answered in the chat: evidence on the report.
    asked = await ask_followup(http, analyst, first, "Who runs this channel?")
    polled = await http.get("/webchat/api/messages", params={"session": chat.session})
    [question] = polled.json()["messages"]
    assert first in question["text"]
    await chat.send("A man who calls himself Abu Talha")
    assert chat.said == catalog().text("followup.thanks", "en", code=first)
    await decide_next(http, analyst)
    pulled = (await http.get("/webchat/api/messages", params={"session": chat.session})).json()
    assert len(pulled["messages"]) == 1  # the status notification, marked sent as it is handed over
    await decide_next(http, analyst)
    [late] = await storage.outbox.claim(["webchat"])
    await storage.outbox.finish(late.id, "expired", "too_old")
    await ask_followup(http, analyst, second, "Is the page still online?")  # still waiting at forget-me
    assert (
        await queue_digest(storage, iso_week(WEEK), lambda lang: digest_message(catalog(), lang, WEEK)) == 1
    )

    safety = Safety(storage)
    await safety.block(pseudonym, "repeated message floods")
    [block] = await safety.active_blocks()
    assert await safety.lift(block["id"], "admin")

    before = await every_row(storage)
    assert len(before["followup_pending"]) == 1 and str(asked) in {r["id"] for r in before["followups"]}
    statuses = {r["status"] for r in before["outbox"]}
    assert statuses == {"sent", "expired", "pending"}, statuses
    assert {w.split(".")[0] for w in naming(before, pseudonym)} >= {
        "conversations",
        "transcript_turns",
        "reporters",
        "reports",
        "contacts",
        "outbox",
        "subscriptions",
        "support_requests",
        "blocks",
    }, "the scan must see the pseudonym where it is before forget-me"
    assert {w.split(".")[0] for w in naming_codes(before, codes)} >= {
        "transcript_turns",  # the web chat's history: the replies that gave the codes
        "processed_events",
        "outbox",
    }, "the scan must see the codes where they are before forget-me"

    await chat.send(choice="menu:privacy")
    await chat.send(choice="forget:ask")
    await chat.send(choice="forget:yes")
    assert chat.said.startswith(catalog().text("privacy.forgotten", "en"))

    after = await every_row(storage)
    assert naming(after, pseudonym) == []
    assert naming(after, pseudonym[:12]) == []  # not even the short form an admin sees
    assert naming_codes(after, codes) == []
    assert {r["code"] for r in after["reports"]} == {first, second, other_code}  # the reports stay
    assert {r["conversation_id"] for r in after["support_requests"]} == {None}
    assert after["followup_pending"] == []  # nothing waits for a forgotten citizen
    assert [r["value"] for r in after["evidence"] if r["kind"] == "answer"] == [
        "A man who calls himself Abu Talha"  # the answer stays with the report, as anonymous as it
    ]

    # Only this citizen's rows went: the bystander's conversation and answered events are untouched.
    assert naming_codes(after, [other_code])
    await bystander.send(f"status {other_code}")
    assert other_code in bystander.said
    again = await http.post(
        "/webchat/api/messages", json={"session": chat.session, "text": "hello", "id": "after-forget-1"}
    )
    assert again.status_code == 200


async def test_a_notification_loses_its_text_once_delivered_or_given_up(storage: Storage) -> None:
    """Without forget-me too: a delivered "Report K7QM-2XD9: reviewed" next to the pseudonym it went to
    is kept for metrics (kind, subject, what it said, status, times), never with its text."""
    outbox_ = storage.outbox
    ids = {
        outcome: await outbox_.enqueue_now(f"citizen-{outcome}", "webchat", "status", message(outcome))
        for outcome in ("taken", "sent", "failed", "expired", "retry")
    }
    [taken] = await storage.outbox.take("webchat", "citizen-taken")
    assert taken.payload["text"] == "taken"  # handed over with its text, then the text goes
    claimed = {item.id for item in await storage.outbox.claim(["webchat"])}
    assert claimed == set(ids.values()) - {ids["taken"]}
    for outcome in ("sent", "failed", "expired"):
        await storage.outbox.finish(ids[outcome], outcome, None if outcome == "sent" else "gone")
    await storage.outbox.finish(ids["retry"], "pending", "try later")
    rows = {r["conversation_id"].removeprefix("citizen-"): r for r in (await every_row(storage))["outbox"]}
    assert {k: json.loads(r["payload"]) for k, r in rows.items()} == {
        "taken": {},
        "sent": {},
        "failed": {},
        "expired": {},
        "retry": {"text": "retry", "buttons": []},  # still to be delivered
    }
    assert {k: r["status"] for k, r in rows.items()} == {
        "taken": "sent",
        "sent": "sent",
        "failed": "failed",
        "expired": "expired",
        "retry": "pending",
    }
    assert rows["sent"]["sent_at"] is not None and rows["sent"]["kind"] == "status"

    # A row delivered before texts were dropped at once loses it at the next purge.
    async with storage.writer.begin() as conn:
        await conn.execute(update(outbox).where(outbox.c.id == ids["sent"]).values(payload={"text": "old"}))
    await Safety(storage).purge(180)
    spent = (await every_row(storage))["outbox"]
    assert sorted(json.loads(r["payload"]).get("text", "") for r in spent) == ["", "", "", "", "retry"]
