"""The web chat over HTTP, end to end through the real app and database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import create_app, make_pipeline
from bot.channels import webchat
from bot.channels.webchat import MAX_BODY
from bot.shared.config import Settings
from bot.shared.status import status_text
from nlu.refcode import ALPHABET
from responses import catalog
from storage.repository import Storage
from tests.talk import drop_language_line
from tests.test_channel_parts import broken_pipeline

CODE = re.compile(rf"\b([{ALPHABET}]{{4}}-[{ALPHABET}]{{4}})\b")
API = "/webchat/api/messages"


class WebChat:
    """One browser session talking to the API."""

    def __init__(self, http: httpx.AsyncClient, session: str | None = None) -> None:
        self.http = http
        self.session = session or uuid.uuid4().hex
        self.messages: list[dict[str, object]] = []

    async def send(self, text: str | None = None, choice: str | None = None, **extra: object) -> list[dict]:
        body: dict[str, object] = {"session": self.session, **extra}
        if text is not None:
            body["text"] = text
        if choice is not None:
            body["choice"] = choice
        response = await self.http.post(API, json=body)
        assert response.status_code == 200, response.text
        self.messages = response.json()["messages"]
        return self.messages

    async def press(self, choice: str) -> list[dict]:
        """Tap a button the last answer offered."""
        assert choice in self.buttons, f"{choice} not offered; offered: {self.buttons}"
        return await self.send(choice=choice)

    @property
    def said(self) -> str:
        return "\n".join(str(m["text"]) for m in self.messages)

    @property
    def buttons(self) -> list[str]:
        return [b["id"] for m in self.messages for b in m["buttons"]]  # type: ignore[attr-defined]


async def status_said(storage: Storage, code: str, lang: str = "en") -> str:
    """What `status CODE` says of a stored report in `lang` (with its dates; for a closed one, why)."""
    return status_text(catalog(), lang, code, (await storage.reports.told([code]))[code])


async def report_page(chat: WebChat, lang: str, link: str) -> str:
    await chat.send("/start")
    await chat.press(f"lang:{lang}")
    await chat.press("menu:report")
    await chat.send(link)
    await chat.press("cat:propaganda")
    await chat.press("confirm:details")  # the summary's "Add details"
    await chat.send("Praises the attack on the market and calls for more.")
    assert chat.said == catalog().text("report.ask_evidence", lang)
    await chat.press("evidence:done")
    assert "Praises the attack on the market" in chat.said
    await chat.press("confirm:submit")
    match = CODE.search(chat.said)
    assert match, chat.said
    assert chat.messages[0]["text"] == catalog().text("report.done", lang, code=match.group(1))
    assert chat.buttons == ["updates:yes", "updates:no"]
    return match.group(1)


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_a_report_in_each_language_ends_with_a_code_that_answers_status(
    client: httpx.AsyncClient, storage: Storage, lang: str
) -> None:
    code = await report_page(WebChat(client), lang, "https://www.facebook.com/Some.Page/?fbclid=abc")
    assert await storage.reports.codes() == [code]
    case = await storage.reports.case_of(code)
    assert case is not None and case["canonical_url"] == "https://facebook.com/some.page"

    stranger = WebChat(client)
    await stranger.send(f"status {code.lower().replace('-', '')}")  # a first message: in English
    assert drop_language_line(stranger.said) == await status_said(storage, code)


async def test_the_page_and_health(client: httpx.AsyncClient) -> None:
    page = await client.get("/chat")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/chat/chat.js"' in page.text
    assert (await client.get("/static/chat/chat.js")).status_code == 200
    health = await client.get("/healthz")
    assert health.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe\x00\x01binary", 400),
        (b"[1, 2]", 400),
        (b'{"text": "hi"}', 400),
        (b'{"session": "short", "text": "hi"}', 400),
        (b'{"session": "abcdefgh12345678", "text": "hi", "choice": "x"}', 400),
        (b'{"session": "abcdefgh12345678"}', 400),
        (b'{"session": "abcdefgh12345678", "text": 42}', 400),
        (b'{"session": "abcdefgh12345678", "choice": ""}', 400),
        (b'{"session": "abcdefgh12345678", "text": "hi", "id": "has spaces"}', 400),
        (b'{"session": "../../etc/passwd", "text": "hi"}', 400),
    ],
)
async def test_malformed_requests_get_a_4xx_with_a_reason(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    response = await client.post(API, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"]


async def test_an_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(API, content=b"{" + b" " * 300_000 + b"}")
    assert response.status_code == 413

    async def endless() -> AsyncIterator[bytes]:  # no content-length: refused as it streams in
        for _ in range(MAX_BODY // 65536 + 10):
            yield b" " * 65536

    streamed = await client.post(API, content=endless())
    assert streamed.status_code == 413
    assert streamed.json()["error"]


async def test_a_body_that_does_not_arrive_in_time_gets_408(settings: Settings, storage: Storage) -> None:
    body = json.dumps({"session": "abcdefgh12345678", "text": "hi"}).encode()

    async def trickle() -> AsyncIterator[bytes]:
        yield body[:10]
        await asyncio.sleep(30)  # a client holding the request open
        yield body[10:]

    app = Starlette(routes=webchat.routes(make_pipeline(settings, storage), 0, body_timeout=0.2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as http:
        response = await http.post(API, content=trickle())
        assert response.status_code == 408
        assert response.json()["error"]
        assert (await http.post(API, content=body)).status_code == 200  # sent in time: handled
    assert await storage.count("processed_events") == 1


@pytest.mark.parametrize(
    ("text", "lang"),
    [("میں ایک رپورٹ درج کرنا چاہتا ہوں", "ur"), ("mujhe report karni hai", "ur-Latn"), ("hello", "en")],
)
async def test_a_crash_while_handling_is_answered_in_the_citizens_language(
    settings: Settings, storage: Storage, text: str, lang: str
) -> None:
    app = Starlette(routes=webchat.routes(broken_pipeline(settings, storage), 0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as http:
        response = await http.post(API, json={"session": "abcdefgh12345678", "text": text})
    assert response.status_code == 503  # not kept: the page shows the answer, the citizen sends it again
    assert response.json()["messages"] == [
        {"text": catalog().text("common.unavailable", lang), "buttons": [], "kind": "notice", "lang": lang}
    ]
    assert await storage.count("processed_events") == 0


async def test_odd_messages_get_clear_replies_and_lose_nothing(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat = WebChat(client)
    await chat.send("/start")
    await chat.send(choice="lang:en")
    await chat.send(choice="menu:report")
    await chat.send("https://t.me/s/Bad_Channel")
    await chat.send("x" * 100_000)
    assert chat.said.startswith(catalog().text("common.too_long", "en", limit=4000))
    await chat.send("")
    assert chat.said.startswith(catalog().text("common.empty", "en"))
    await chat.send("\x00\x01\x02\x1b[31m")
    await chat.send(choice="no-such-button")
    assert chat.said.startswith(catalog().text("common.stale_button", "en"))
    await chat.press("cat:hate_speech")
    await chat.press("confirm:details")
    await chat.send("<script>alert('x')</script>\x00 calls to kill a sect")
    await chat.press("evidence:done")
    await chat.press("confirm:submit")
    code = CODE.search(chat.said)
    assert code
    async with storage.reader.connect() as conn:
        from sqlalchemy import text

        stored = await conn.scalar(text("SELECT description FROM reports"))
    assert stored == "<script>alert('x')</script> calls to kill a sect"


async def test_a_repeated_delivery_is_handled_once(client: httpx.AsyncClient, storage: Storage) -> None:
    chat = WebChat(client)
    await chat.send("/start")
    first = await chat.send(choice="lang:en", id="m-2")
    again = await chat.send(choice="lang:en", id="m-2")
    assert again == first
    conversation = await storage.load_conversation(
        client._transport.app.state.pipeline.pseudonyms.of("webchat", chat.session)  # type: ignore[attr-defined]
    )
    assert conversation.version == 2


async def test_reference_codes_typed_loosely_or_wrongly(client: httpx.AsyncClient, storage: Storage) -> None:
    code = await report_page(WebChat(client), "en", "instagr.am/Some_User")
    chat = WebChat(client)
    await chat.send("/start")
    await chat.send(choice="lang:en")
    await chat.send(choice="menu:status")
    await chat.send(code.lower())
    assert chat.said == await status_said(storage, code)
    await chat.send(choice="menu:status")
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    await chat.send(typo)
    assert chat.said == catalog().text("status.not_found", "en", code=typo)
    await chat.send("not a code at all")
    assert chat.said == catalog().text("status.invalid", "en")


async def test_notifications_wait_for_the_session(client: httpx.AsyncClient, storage: Storage) -> None:
    chat = WebChat(client)
    await chat.send("/start")
    pseudonym = client._transport.app.state.pipeline.pseudonyms.of("webchat", chat.session)  # type: ignore[attr-defined]
    await storage.outbox.enqueue_now(pseudonym, "webchat", "status", {"text": "Report ABCD-1234: reviewed."})
    first = await client.get(API, params={"session": chat.session})
    expected = {"text": "Report ABCD-1234: reviewed.", "buttons": [], "kind": "notification", "lang": "en"}
    assert first.json() == {"messages": [expected]}
    assert (await client.get(API, params={"session": chat.session})).json() == {"messages": []}
    assert (await client.get(API, params={"session": uuid.uuid4().hex})).json() == {"messages": []}
    assert (await client.get(API, params={"session": "x"})).status_code == 400


async def test_a_restart_loses_nothing(settings: Settings, storage: Storage) -> None:
    session = uuid.uuid4().hex
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings, storage)), base_url="http://a"
    ) as first:
        code = await report_page(WebChat(first), "ur", "https://youtu.be/AbC_12")
        half = WebChat(first, session)
        await half.send("/start")
        await half.send(choice="lang:en")
        await half.send(choice="menu:report")
        await half.send("https://x.com/Some_User/status/1")
    await storage.close()
    reopened = Storage(settings.database_url)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, reopened)), base_url="http://b"
        ) as second:
            chat = WebChat(second)
            await chat.send(f"status {code}")
            assert drop_language_line(chat.said) == await status_said(reopened, code)
            resumed = WebChat(second, session)
            await resumed.send(choice="cat:recruitment")  # the button offered before the restart
            assert "confirm:submit" in resumed.buttons
            assert "https://x.com/some_user/status/1" in resumed.said.casefold()
            await resumed.press("confirm:submit")
            assert CODE.search(resumed.said)
            assert len(await reopened.reports.codes()) == 2
    finally:
        await reopened.close()


async def test_flooding_one_address_is_slowed_down(settings: Settings, storage: Storage) -> None:
    limited = settings.model_copy(update={"webchat_ip_limit": 3})
    app = create_app(limited, storage)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as http:
        codes = [
            (await http.post(API, json={"session": "abcdefgh1234", "text": "hi"})).status_code
            for _ in range(5)
        ]
    assert codes == [200, 200, 200, 429, 429]
