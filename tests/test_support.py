"""Counsellors acting on families' callback requests, over HTTP on both backends: take a request, reveal
the sealed phone number on purpose (audited, never the number in the audit), reply in the family's chat,
close; through the API and through the console. Only counsellors may (supervisors' overrides and the
limits on reveals: tests/test_support_reveal.py). A reply that cannot reach the family (no chat address
kept on Telegram, an unreachable chat, deleted data) is refused with 409, never accepted and lost.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from bot.app import make_pipeline
from bot.channels.telegram import TelegramChannel
from bot.outbox import OutboxWorker
from bot.pipeline import Pipeline
from bot.shared.config import Settings
from responses import catalog
from storage.repository import Storage, utcnow
from storage.safety import Safety
from storage.schema import audit_events, contacts, support_requests
from storage.support import MAX_REPLY
from tests import test_console as security
from tests.fakes.telegram_api import Citizen, Deliver, FakeBotAPI, serving
from tests.test_console import Signed, browser
from tests.test_telegram import CODE as TELEGRAM_CODE
from tests.test_telegram import fast, telegram_settings
from tests.test_webchat import CODE, WebChat

app, signed, tokens = security.app, security.signed, security.tokens  # fixtures shared with the console tests

API = "/api/v1/support-requests"
OTHERS = ("analyst", "supervisor", "admin")


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ask_for_a_callback(http: httpx.AsyncClient, phone: str | None) -> tuple[WebChat, str]:
    """A family asks for a counsellor in the web chat, with a typed number or a reply in the chat."""
    family = WebChat(http)
    await family.send("mera beta militant molviyon ki taraf ja raha hai, kya karun?")
    await family.send(choice="family:callback")
    await family.send("haan")
    await family.send(choice="time:evening")
    if phone is None:
        await family.send(choice="support:chat")
    else:
        await family.send(phone)
    match = CODE.search(family.said)
    assert match, family.said
    return family, match.group(1)


async def request_id(storage: Storage, code: str) -> int:
    async with storage.reader.connect() as conn:
        found = await conn.scalar(select(support_requests.c.id).where(support_requests.c.code == code))
    assert found is not None
    return int(found)


async def events(storage: Storage, action: str) -> list[Any]:
    async with storage.reader.connect() as conn:
        return list(await conn.execute(select(audit_events).where(audit_events.c.action == action)))


async def all_audit_text(storage: Storage) -> str:
    async with storage.reader.connect() as conn:
        rows = await conn.execute(select(audit_events))
        return json.dumps([[r.actor, r.action, r.subject, r.detail] for r in rows], ensure_ascii=False)


# --- the API -----------------------------------------------------------------------------------------


async def test_a_counsellor_reveals_the_number_the_family_typed_and_the_reveal_is_audited(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    _family, code = await ask_for_a_callback(http, "0333 987-6543")
    number = await request_id(storage, code)
    for role in OTHERS:
        refused = await http.post(f"{API}/{number}/phone", headers=auth(tokens[role]))
        assert refused.status_code == 403, (role, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "9876543" not in refused.text
    assert await events(storage, "support.phone_revealed") == [], "a refused reveal reveals nothing"

    untaken = await http.post(f"{API}/{number}/phone", headers=auth(tokens["counsellor"]))
    assert untaken.status_code == 409 and "take the request first" in untaken.json()["detail"]
    taken = await http.post(f"{API}/{number}/take", headers=auth(tokens["counsellor"]))
    assert taken.status_code == 200 and taken.json()["handled_by"] == "counsellor", taken.text
    shown = await http.post(f"{API}/{number}/phone", headers=auth(tokens["counsellor"]))
    assert shown.status_code == 200, shown.text
    assert shown.json()["phone"] == "03339876543"
    assert shown.headers["cache-control"] == "no-store"
    request = shown.json()["request"]
    assert request["code"] == code and request["status"] == "in_progress"
    assert request["handled_by"] == "counsellor", "others see who is calling"
    [event] = await events(storage, "support.phone_revealed")
    assert (event.actor, event.subject, event.detail) == ("counsellor", f"support:{number}", {})
    assert "9876543" not in await all_audit_text(storage)

    again = await http.post(f"{API}/{number}/phone", headers=auth(tokens["counsellor"]))
    assert again.json()["phone"] == "03339876543"
    assert len(await events(storage, "support.phone_revealed")) == 2, "every reveal is its own event"
    listed = await http.get(API, headers=auth(tokens["counsellor"]))
    [item] = listed.json()["items"]
    assert item["has_phone"] is True and item["status"] == "in_progress" and "9876543" not in listed.text

    for bad, status in (
        ("999999", 404),
        ("0", 404),
        ("-3", 404),
        ("abc", 400),
        ("1e3", 400),
        ("9" * 30, 400),
    ):
        response = await http.post(f"{API}/{bad}/phone", headers=auth(tokens["counsellor"]))
        assert response.status_code == status, (bad, response.text)
        assert response.json()["status"] == status


async def test_after_delete_my_data_the_number_and_the_chat_are_gone_and_the_api_says_so(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    family, code = await ask_for_a_callback(http, "0301 7654321")
    number = await request_id(storage, code)
    await family.send("delete my data")
    await family.send(choice="forget:yes")
    counsellor = auth(tokens["counsellor"])
    gone = await http.post(f"{API}/{number}/phone", headers=counsellor)
    assert gone.status_code == 409, gone.text
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert "asked us to delete their data" in gone.json()["detail"]
    replied = await http.post(f"{API}/{number}/reply", headers=counsellor, json={"text": "Salam"})
    assert replied.status_code == 409 and "delete their data" in replied.json()["detail"]
    assert await events(storage, "support.phone_revealed") == []
    assert await events(storage, "support.replied") == []
    closed = await http.post(f"{API}/{number}/close", headers=counsellor, json={})
    assert closed.status_code == 200 and closed.json()["status"] == "done", "it can still be closed"


async def test_a_request_answered_in_the_chat_has_no_number_to_reveal(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    _family, code = await ask_for_a_callback(http, None)
    number = await request_id(storage, code)
    response = await http.post(f"{API}/{number}/phone", headers=auth(tokens["counsellor"]))
    assert response.status_code == 409
    assert response.json()["detail"] == "the family gave no phone number: reply in their chat instead"
    assert await events(storage, "support.phone_revealed") == []


async def test_a_counsellor_replies_in_the_family_web_chat_and_closes_the_request(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    family, code = await ask_for_a_callback(http, None)
    number = await request_id(storage, code)
    counsellor = auth(tokens["counsellor"])
    for role in OTHERS:
        for action, body in (("reply", {"text": "hi"}), ("close", {})):
            refused = await http.post(f"{API}/{number}/{action}", headers=auth(tokens[role]), json=body)
            assert refused.status_code == 403, (role, action)
    for bad in (
        {},
        {"text": ""},
        {"text": " \n\t "},
        {"text": 12},
        {"text": None},
        {"text": "x" * (MAX_REPLY + 1)},
    ):
        response = await http.post(f"{API}/{number}/reply", headers=counsellor, json=bad)
        assert response.status_code == 400, (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    missing = await http.post(f"{API}/424242/reply", headers=counsellor, json={"text": "hi"})
    assert missing.status_code == 404
    pulled = await http.get("/webchat/api/messages", params={"session": family.session})
    assert pulled.json()["messages"] == [], "nothing reached the family from the refused replies"

    text = "Assalam o alaikum, main counsellor hoon. Aaj shaam 7 baje baat karein?"
    sent = await http.post(f"{API}/{number}/reply", headers=counsellor, json={"text": f"  {text}\n"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "in_progress" and sent.json()["handled_by"] == "counsellor"
    pulled = await http.get("/webchat/api/messages", params={"session": family.session})
    assert [m["text"] for m in pulled.json()["messages"]] == [text]
    longest = await http.post(f"{API}/{number}/reply", headers=counsellor, json={"text": "ب" * MAX_REPLY})
    assert longest.status_code == 200
    [replied, _longest] = await events(storage, "support.replied")
    assert replied.actor == "counsellor" and text not in await all_audit_text(storage)

    for bad in ({"note": 5}, {"note": "x" * 2001}):
        assert (await http.post(f"{API}/{number}/close", headers=counsellor, json=bad)).status_code == 400
    closed = await http.post(
        f"{API}/{number}/close", headers=counsellor, json={"note": " Called back; fine. "}
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "done" and closed.json()["note"].endswith(
        "closed by counsellor: Called back; fine."
    )
    [event] = await events(storage, "support.closed")
    assert (event.actor, event.subject, event.detail) == (
        "counsellor",
        f"support:{number}",
        {"note_length": len("Called back; fine.")},
    )
    twice = await http.post(f"{API}/{number}/close", headers=counsellor)
    assert twice.status_code == 409 and "closed already" in twice.json()["detail"]
    done = await http.get(API, params={"status": "done"}, headers=counsellor)
    assert [i["code"] for i in done.json()["items"]] == [code]
    assert (await http.post(f"{API}/424242/close", headers=counsellor)).status_code == 404


async def test_the_new_routes_are_in_the_openapi_document(http: httpx.AsyncClient) -> None:
    document = (await http.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    for action in ("take", "phone", "reply", "close"):
        operation = paths[f"/api/v1/support-requests/{{request_id}}/{action}"]["post"]
        assert "counsellors" in operation["summary"] and "404" in operation["responses"]
    reply = paths["/api/v1/support-requests/{request_id}/reply"]["post"]
    schema = reply["requestBody"]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    assert document["components"]["schemas"][name]["required"] == ["text"]


# --- the console -------------------------------------------------------------------------------------

NUMBER = re.compile(r'<code id="phone-number" class="secret" dir="ltr">([^<]*)</code>')


async def test_a_counsellor_reveals_replies_and_closes_in_the_console(
    http: httpx.AsyncClient, storage: Storage, signed: dict[str, Signed]
) -> None:
    family, code = await ask_for_a_callback(http, "+92 300-123 4567")
    number = await request_id(storage, code)
    counsellor = signed["counsellor"]
    listing = (await counsellor.get("/console/support")).text
    assert f'<a href="/console/support/{number}"><code>{code}</code></a>' in listing
    assert f'action="/console/support/{number}/take"' in listing
    assert f'action="/console/support/{number}/phone"' not in listing, "a number is for who took it"
    assert "1234567" not in listing and NUMBER.search(listing) is None
    taken = await counsellor.post(f"/console/support/{number}/take")
    assert taken.status_code == 303 and taken.headers["location"] == f"/console/support/{number}?taken=1"
    listing = (await counsellor.get("/console/support")).text
    assert f'action="/console/support/{number}/phone"' in listing and "Show number" in listing

    page = await counsellor.get(f"/console/support/{number}")
    assert page.status_code == 200 and "1234567" not in page.text and 'id="reveal-form"' in page.text
    forged = await counsellor.http.post(f"/console/support/{number}/phone", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and "1234567" not in forged.text
    assert await events(storage, "support.phone_revealed") == []

    shown = await counsellor.post(f"/console/support/{number}/phone")
    assert shown.status_code == 200, shown.text
    assert NUMBER.findall(shown.text) == ["+923001234567"]
    assert 'href="tel:+923001234567"' in shown.text
    assert "This reveal is recorded in the audit log under your name." in shown.text
    assert shown.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in shown.headers["content-security-policy"]
    assert "<script>" not in shown.text and " onclick" not in shown.text
    [event] = await events(storage, "support.phone_revealed")
    assert event.actor == "counsellor" and "1234567" not in await all_audit_text(storage)
    assert "1234567" not in (await counsellor.get(f"/console/support/{number}")).text, "shown once"

    empty = await counsellor.post(f"/console/support/{number}/reply", {"text": "   "})
    assert empty.status_code == 400 and "a reply has 1 to 2000 characters" in empty.text
    sent = await counsellor.post(
        f"/console/support/{number}/reply", {"text": "Salam, <b>main</b> counsellor hoon"}
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/console/support/{number}?replied=1"
    after = (await counsellor.get(sent.headers["location"])).text
    assert "on its way to the family" in after
    pulled = await http.get("/webchat/api/messages", params={"session": family.session})
    assert [m["text"] for m in pulled.json()["messages"]] == ["Salam, <b>main</b> counsellor hoon"]

    closed = await counsellor.post(
        f"/console/support/{number}/close", {"note": "Called; the mother is calmer."}
    )
    assert closed.status_code == 303 and closed.headers["location"] == f"/console/support?closed={number}"
    listing = (await counsellor.get(closed.headers["location"])).text
    assert f"Request <code>{code}</code> closed." in listing and "closed by counsellor: Called" in listing
    again = await counsellor.post(f"/console/support/{number}/close", {})
    assert again.status_code == 409 and "closed already" in again.text
    assert (await counsellor.get("/console/support/999999")).status_code == 404
    assert (await counsellor.post("/console/support/abc/phone")).status_code == 404

    for role in OTHERS:
        for path in (f"/console/support/{number}/phone", f"/console/support/{number}/reply"):
            refused = await signed[role].post(path, {"text": "x"})
            assert refused.status_code in (403, 409) and "1234567" not in refused.text
            if role == "analyst" or path.endswith("/reply"):
                assert f"The {role} role may not use this page." in refused.text
            else:  # supervisors and admins see a number only with an override: closing deleted it anyway
                assert "deleted when the request was closed" in refused.text
    assert (await signed["analyst"].get(f"/console/support/{number}")).status_code == 403
    assert len(await events(storage, "support.phone_revealed")) == 1


async def test_the_console_says_when_a_forgotten_family_has_no_number_left(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    async with storage.writer.begin() as conn:
        await conn.execute(
            support_requests.insert().values(
                code="GONE-0001", language="ur", topic="family", note="n", status="new", created_at=utcnow()
            )
        )
    number = await request_id(storage, "GONE-0001")
    counsellor = signed["counsellor"]
    page = (await counsellor.get(f"/console/support/{number}")).text
    assert "No phone number is kept for this request" in page and 'id="reveal-form"' not in page
    assert "chat link is gone" in page and 'id="reply-form"' not in page
    refused = await counsellor.post(f"/console/support/{number}/phone")
    assert refused.status_code == 409 and "asked us to delete their data" in refused.text
    unsealable = "SEAL-0001"
    async with storage.writer.begin() as conn:
        await conn.execute(
            support_requests.insert().values(
                code=unsealable,
                language="en",
                topic="family",
                note="n",
                phone=b"not-a-fernet-token",
                status="new",
                created_at=utcnow(),
            )
        )
    sealed_with_another_key = await request_id(storage, unsealable)
    assert (await counsellor.post(f"/console/support/{sealed_with_another_key}/take")).status_code == 303
    broken = await counsellor.post(f"/console/support/{sealed_with_another_key}/phone")
    assert broken.status_code == 409 and "cannot be unsealed" in broken.text
    assert await events(storage, "support.phone_revealed") == []


# --- Telegram: a reply is pushed to the family's chat, or refused with the reason ---------------------


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@contextlib.asynccontextmanager
async def on_telegram(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> AsyncIterator[tuple[Deliver, OutboxWorker, Pipeline]]:
    """The Telegram channel against the fake Bot API, and the outbox worker that pushes to it."""
    pipeline = make_pipeline(settings, storage)
    channel = TelegramChannel(telegram_settings(settings, api, "webhook"), pipeline, pacer=fast())
    async with serving(channel, api) as deliver:
        sender = channel.channel_setup().sender
        assert sender is not None
        yield deliver, OutboxWorker(storage, pipeline.box, {"telegram": sender}), pipeline


async def telegram_callback(citizen: Citizen, phone: str | None) -> str:
    """A family on Telegram asks for a counsellor: a reply in this chat, or a call on a typed number."""
    await citizen.say("/start")
    await citizen.press("lang:en")
    await citizen.press("menu:family")
    await citizen.press("family:callback")
    await citizen.press("support:yes")
    await citizen.press("time:evening")
    if phone is None:
        await citizen.press("support:chat")
    else:
        await citizen.say(phone)
    match = TELEGRAM_CODE.search(citizen.said)
    assert match, citizen.said
    return match.group(1)


async def test_a_counsellor_reply_reaches_the_family_telegram_chat(
    http: httpx.AsyncClient,
    storage: Storage,
    settings: Settings,
    tokens: dict[str, str],
    telegram_api: FakeBotAPI,
) -> None:
    async with on_telegram(settings, storage, telegram_api) as (deliver, worker, pipeline):
        family = Citizen(telegram_api, deliver, chat_id=515151)
        code = await telegram_callback(family, None)
        assert family.said == catalog().text("family.callback_done_chat", "en", code=code)
        # "Reply here" kept this chat's address, sealed, in the transaction that stored the request.
        conversation = pipeline.pseudonyms.of("telegram", "515151")
        sealed = await storage.outbox.contact_of(conversation, "telegram")
        assert sealed is not None and b"515151" not in sealed
        assert pipeline.box.open(sealed) == "515151"

        number = await request_id(storage, code)
        counsellor = auth(tokens["counsellor"])
        [listed] = (await http.get(API, headers=counsellor)).json()["items"]
        assert listed["can_reply"] is True and listed["reply_refusal"] is None
        text = "Assalam o alaikum, I am a counsellor. Shall we talk at 7 this evening?"
        sent = await http.post(f"{API}/{number}/reply", headers=counsellor, json={"text": text})
        assert sent.status_code == 200, sent.text
        before = len(telegram_api.sent(515151))
        assert await worker.run_once() == 1
        [delivered] = telegram_api.sent(515151)[before:]
        assert delivered.params["text"] == text and delivered.params["chat_id"] in (515151, "515151")

        # Closing lets the address go (the family was told: until the request is closed), and a closed
        # Telegram request takes no more replies.
        closed = await http.post(f"{API}/{number}/close", headers=counsellor, json={})
        assert closed.status_code == 200 and closed.json()["can_reply"] is False
        assert await storage.outbox.contact_of(conversation, "telegram") is None
        again = await http.post(f"{API}/{number}/reply", headers=counsellor, json={"text": "one more"})
        assert again.status_code == 409 and "the request is closed" in again.json()["detail"]
        assert await worker.run_once() == 0
        assert len(telegram_api.sent(515151)) == before + 1


async def test_after_delete_my_data_a_telegram_reply_is_refused_not_lost(
    http: httpx.AsyncClient,
    storage: Storage,
    settings: Settings,
    tokens: dict[str, str],
    telegram_api: FakeBotAPI,
) -> None:
    async with on_telegram(settings, storage, telegram_api) as (deliver, worker, pipeline):
        family = Citizen(telegram_api, deliver, chat_id=626262)
        code = await telegram_callback(family, None)
        await family.say("delete my data")
        await family.press("forget:yes")
        assert (
            await storage.outbox.contact_of(pipeline.pseudonyms.of("telegram", "626262"), "telegram") is None
        )
        number = await request_id(storage, code)
        counsellor = auth(tokens["counsellor"])
        refused = await http.post(f"{API}/{number}/reply", headers=counsellor, json={"text": "Salam"})
        assert refused.status_code == 409, refused.text
        assert "they asked us to delete their data" in refused.json()["detail"]
        assert await events(storage, "support.replied") == []
        assert await worker.run_once() == 0, "nothing was queued"
        [item] = (await http.get(API, headers=counsellor)).json()["items"]
        assert item["can_reply"] is False and "delete their data" in item["reply_refusal"]


async def test_a_telegram_reply_is_refused_when_the_address_is_gone_or_unreachable(
    http: httpx.AsyncClient,
    storage: Storage,
    settings: Settings,
    tokens: dict[str, str],
    telegram_api: FakeBotAPI,
) -> None:
    counsellor = auth(tokens["counsellor"])
    async with on_telegram(settings, storage, telegram_api) as (deliver, worker, pipeline):
        blocked = Citizen(telegram_api, deliver, chat_id=737373)
        first = await request_id(storage, await telegram_callback(blocked, None))
        purged = Citizen(telegram_api, deliver, chat_id=747474)
        second = await request_id(storage, await telegram_callback(purged, None))

        # The family blocked the bot: the first message fails and marks the chat unreachable; the next
        # reply is refused instead of being queued for nobody.
        telegram_api.block(737373)
        sent = await http.post(f"{API}/{first}/reply", headers=counsellor, json={"text": "Salam"})
        assert sent.status_code == 200
        await worker.run_once()
        refused = await http.post(f"{API}/{first}/reply", headers=counsellor, json={"text": "Salam?"})
        assert refused.status_code == 409 and "cannot be reached" in refused.json()["detail"]

        # The retention period ended: the purge deleted the address; the request stays, the reply is refused.
        async with storage.writer.begin() as conn:
            await conn.execute(
                update(contacts)
                .where(contacts.c.reporter_id == pipeline.pseudonyms.of("telegram", "747474"))
                .values(created_at=utcnow() - timedelta(days=181))
            )
        assert (await Safety(storage).purge(180)).contacts == 1
        refused = await http.post(f"{API}/{second}/reply", headers=counsellor, json={"text": "Salam"})
        assert refused.status_code == 409 and "retention period ended" in refused.json()["detail"]
        assert len(await events(storage, "support.replied")) == 1


async def test_a_telegram_phone_request_keeps_no_chat_address_and_the_console_says_so(
    storage: Storage,
    settings: Settings,
    signed: dict[str, Signed],
    telegram_api: FakeBotAPI,
) -> None:
    async with on_telegram(settings, storage, telegram_api) as (deliver, worker, _pipeline):
        family = Citizen(telegram_api, deliver, chat_id=858585)
        code = await telegram_callback(family, "0300 1234567")
        assert family.said == catalog().text("family.callback_done_phone", "en", code=code)
        async with storage.reader.connect() as conn:
            assert (await conn.execute(select(contacts))).all() == [], "a phone callback keeps no address"
        number = await request_id(storage, code)
        counsellor = signed["counsellor"]
        page = (await counsellor.get(f"/console/support/{number}")).text
        assert 'id="reply-form"' not in page and 'id="take-form"' in page and 'id="reveal-form"' not in page
        assert "The family asked for a phone call, so no way to write to them in their chat is kept" in page
        refused = await counsellor.post(f"/console/support/{number}/reply", {"text": "Salam"})
        assert refused.status_code == 409
        assert "asked for a phone call" in refused.text and "on its way" not in refused.text
        assert await worker.run_once() == 0 and await events(storage, "support.replied") == []


async def test_a_web_chat_request_needs_no_kept_address(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    """The web chat fetches its messages: a reply reaches a phone request there too, with no address."""
    family, code = await ask_for_a_callback(http, "0300 7654321")
    async with storage.reader.connect() as conn:
        assert (await conn.execute(select(contacts))).all() == []
    number = await request_id(storage, code)
    counsellor = auth(tokens["counsellor"])
    [item] = (await http.get(API, headers=counsellor)).json()["items"]
    assert item["can_reply"] is True and item["reply_refusal"] is None
    sent = await http.post(f"{API}/{number}/reply", headers=counsellor, json={"text": "Salam"})
    assert sent.status_code == 200, sent.text
    pulled = await http.get("/webchat/api/messages", params={"session": family.session})
    assert [m["text"] for m in pulled.json()["messages"]] == ["Salam"]
