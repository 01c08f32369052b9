"""Messenger through its webhook: signed posts in Meta's payload shapes (tests/fixtures/messenger/), citizens
who tap what they were shown, the real pipeline and database, and a fake Graph API reached through an ASGI
transport (tests/fakes/graph_api.py). The helpers at the top are shared by the other test_messenger modules.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import logging
import re
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from bot import logs
from bot.app import make_pipeline
from bot.channels.http import signature_ok
from bot.channels.messenger import MAX_BODY, PATH, Messenger
from bot.pipeline import Pipeline
from bot.shared.config import Settings
from nlu.refcode import ALPHABET
from responses import catalog
from storage.repository import Storage
from tests.fakes.graph_api import RATE_LIMITED, SERVER_ERROR, Call, FakeGraphAPI, slow
from tests.talk import drop_language_line
from tests.test_channel_parts import broken_pipeline

FIXTURES = Path(__file__).parent / "fixtures" / "messenger"
APP_SECRET = "test_app_secret"
PAGE_TOKEN = "EAAGtestPageAccessToken0123456789"
VERIFY_TOKEN = "raabta-verify-9f2c"
PSID_A = "6543210987654321"
PSID_B = "7012345678901234"
CODE = re.compile(rf"\b([{ALPHABET}]{{4}}-[{ALPHABET}]{{4}})\b")


def fixture(name: str) -> dict[str, Any]:
    """A webhook body from tests/fixtures/messenger/<name>.json."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def raw(name: str) -> bytes:
    """A fixture's bytes as Meta sends them: compact JSON with non-ASCII escaped as \\uXXXX."""
    return json.dumps(fixture(name), separators=(",", ":")).encode()


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def messenger_settings(settings: Settings, graph_api_url: str) -> Settings:
    return settings.model_copy(
        update={
            "messenger_page_token": SecretStr(PAGE_TOKEN),
            "messenger_app_secret": SecretStr(APP_SECRET),
            "messenger_verify_token": SecretStr(VERIFY_TOKEN),
            "graph_api_url": graph_api_url,
        }
    )


def message_body(psid: str, mid: str, timestamp: int, **message: Any) -> dict[str, Any]:
    """The `text` fixture with another sender, mid and message content."""
    data = fixture("text")
    item = data["entry"][0]["messaging"][0]
    item["sender"]["id"] = psid
    item["timestamp"] = timestamp
    item["message"] = {"mid": mid, **message}
    return data


def postback_body(psid: str, mid: str, timestamp: int, payload: str, title: str) -> dict[str, Any]:
    """The Get Started fixture with another sender, mid and payload."""
    data = fixture("postback_get_started")
    item = data["entry"][0]["messaging"][0]
    item["sender"]["id"] = psid
    item["timestamp"] = timestamp
    item["postback"] = {"mid": mid, "title": title, "payload": payload}
    return data


def attachment_body(psid: str, mid: str, timestamp: int, name: str) -> dict[str, Any]:
    """The attachments of fixture `name` sent by another sender under another mid."""
    attachments = copy.deepcopy(fixture(name)["entry"][0]["messaging"][0]["message"]["attachments"])
    return message_body(psid, mid, timestamp, attachments=attachments)


class Page:
    """The webhook as Meta calls it, and the fake Graph API that records what the bot sent."""

    def __init__(self, http: httpx.AsyncClient, graph: FakeGraphAPI, channel: Messenger, pipeline: Pipeline):
        self.http = http
        self.graph = graph
        self.channel = channel
        self.pipeline = pipeline

    async def post(
        self, body: bytes | dict[str, Any], signature: str | bytes | None = "", **headers: str | bytes
    ) -> httpx.Response:
        """POST a body; signed correctly unless `signature` is given (None: no header)."""
        content = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        if signature == "":
            signature = sign(content)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.http.post(
            PATH, content=content, headers={"content-type": "application/json", **headers}
        )

    async def deliver(self, body: bytes | dict[str, Any]) -> None:
        """A correctly signed post that Meta sees acknowledged; waits until its replies are sent."""
        response = await self.post(body)
        assert response.status_code == 200, response.text
        await self.channel.dispatcher.idle()

    async def processed(self) -> int:
        return await self.pipeline.storage.count("processed_events")


class Citizen:
    """One person writing to the page: sends messages, taps the buttons the bot showed last."""

    def __init__(self, page: Page, psid: str) -> None:
        self.page = page
        self.psid = psid
        self.n = 0
        self.seen = 0

    def _next(self) -> tuple[str, int]:
        self.n += 1
        return f"m_{self.psid}_{self.n:04d}_" + "x" * 40, 1736000000000 + self.n * 1000

    @property
    def received(self) -> list[Call]:
        return self.page.graph.sent_to(self.psid)

    @property
    def last(self) -> Call:
        return self.received[-1]

    @property
    def said(self) -> str:
        """What the bot sent since this citizen's previous message."""
        return "\n".join(c.text for c in self.received[self.seen :])

    async def _send(self, body: dict[str, Any]) -> list[Call]:
        self.seen = len(self.received)
        await self.page.deliver(body)
        return self.received[self.seen :]

    async def say(self, text: str) -> list[Call]:
        mid, ts = self._next()
        return await self._send(message_body(self.psid, mid, ts, text=text))

    async def attach(self, fixture_name: str) -> list[Call]:
        mid, ts = self._next()
        return await self._send(attachment_body(self.psid, mid, ts, fixture_name))

    async def send_attachments(self, attachments: list[dict[str, Any]]) -> list[Call]:
        mid, ts = self._next()
        return await self._send(message_body(self.psid, mid, ts, attachments=attachments))

    async def postback(self, payload: str, title: str = "Get Started") -> list[Call]:
        mid, ts = self._next()
        return await self._send(postback_body(self.psid, mid, ts, payload, title))

    async def tap(self, button_id: str) -> list[Call]:
        """Tap a button of the last message: a quick reply, or a postback for a template button."""
        last = self.last
        assert button_id in last.payloads, f"{button_id} not shown; shown: {last.payloads}"
        title = last.titles[last.payloads.index(button_id)]
        if last.template is not None:
            return await self.postback(button_id, title)
        mid, ts = self._next()
        return await self._send(
            message_body(self.psid, mid, ts, text=title, quick_reply={"payload": button_id})
        )


@asynccontextmanager
async def open_page(
    settings: Settings,
    storage: Storage,
    graph: FakeGraphAPI,
    pipeline: Pipeline | None = None,
    **options: float,
) -> AsyncIterator[Page]:
    """The Messenger channel on the test database, talking to `graph` without sockets (`options`: the
    channel's other keyword arguments, e.g. body_timeout)."""
    configured = messenger_settings(settings, graph.base_url)
    pipeline = pipeline or make_pipeline(configured, storage)
    channel = Messenger(configured, pipeline, transport=graph.transport, backoff=0.001, **options)
    app = Starlette(routes=channel.routes())
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Page(http, graph, channel, pipeline)
    finally:
        await channel.stop()


# --- tests ---------------------------------------------------------------------------------------------


@pytest.fixture
def graph() -> FakeGraphAPI:
    return FakeGraphAPI(PAGE_TOKEN, APP_SECRET)


@pytest.fixture
async def page(settings: Settings, storage: Storage, graph: FakeGraphAPI) -> AsyncIterator[Page]:
    async with open_page(settings, storage, graph) as opened:
        yield opened


def test_the_signature_matches_the_reference_test_vector() -> None:
    body = (
        b'{"object":"page","entry":[{"id":"PAGE_ID","time":1736000000000,"messaging":[{"sender":{"id":"PSID_1"},'
        b'"recipient":{"id":"PAGE_ID"},"timestamp":1736000000000,"message":{"mid":"m_abc","text":"hi"}}]}]}'
    )
    header = "sha256=a2c46d031b017ebbf9d509ad238ee7281cf804f843f406b8e9eed0bd7571333f"
    assert signature_ok(b"test_app_secret", body, header)
    assert not signature_ok(b"test_app_secret", body + b" ", header)
    assert not signature_ok(b"other_secret", body, header)
    assert not signature_ok(b"test_app_secret", body, None)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}, 200),
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"}, 403),
        ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}, 403),
        ({"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}, 403),
        ({"hub.mode": "subscribe", "hub.challenge": "1158201444"}, 403),
        ({"hub.mode": "subscribe", "hub.verify_token": "تصدیق", "hub.challenge": "1"}, 403),
        ({}, 403),
    ],
)
async def test_the_subscription_check_echoes_the_challenge_only_for_our_token(
    page: Page, query: dict[str, str], status: int
) -> None:
    response = await page.http.get(PATH, params=query)
    assert response.status_code == status
    if status == 200:
        assert response.text == "1158201444"
        assert response.headers["content-type"].startswith("text/plain")


async def test_a_signed_text_message_is_stored_and_answered(page: Page) -> None:
    await page.deliver(raw("text"))  # "hi" before any language was chosen: answered in the one it is in
    [sent] = page.graph.sent_to(PSID_A)
    assert sent.body["messaging_type"] == "RESPONSE"
    assert sent.text == catalog().text("menu.greet", "en") + "\n\n" + catalog().text(
        "welcome.language_guessed", "en"
    )
    assert drop_language_line(sent.text) == catalog().text("menu.greet", "en")
    assert sent.payloads[0] == "menu:report"
    assert await page.processed() == 1


async def test_get_started_offers_the_languages_as_buttons_that_never_go_stale(page: Page) -> None:
    await page.deliver(raw("postback_get_started"))
    sent = page.graph.sent_to(PSID_A)
    assert [c.body["messaging_type"] for c in sent] == ["RESPONSE", "RESPONSE"]
    assert sent[0].text == catalog().text("welcome.hello", "en")
    assert sent[1].template is not None  # the language choice: buttons that never go stale
    assert sent[1].payloads == ["lang:en", "lang:ur", "lang:ur-Latn"]
    assert await page.processed() == 1


async def test_a_body_signed_over_its_raw_utf8_bytes_is_accepted(page: Page) -> None:
    body = message_body(PSID_A, "m_utf8_" + "u" * 40, 1736000000000, text="السلام علیکم")
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")  # not the escaped form: still its bytes
    response = await page.post(content)
    assert response.status_code == 200
    await page.channel.dispatcher.idle()
    assert await page.processed() == 1


@pytest.mark.parametrize(
    "forgery",
    ["missing", "wrong_secret", "sha1_only", "reserialised", "uppercase_hex", "not_ascii", "bare_hex"],
)
async def test_forged_posts_are_refused_and_change_nothing(page: Page, forgery: str) -> None:
    body = raw("text")
    headers: dict[str, str] = {}
    signature: str | bytes | None
    if forgery == "missing":
        signature = None
    elif forgery == "wrong_secret":
        signature = sign(body, "not_the_app_secret")
    elif forgery == "sha1_only":
        signature = None
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
    elif forgery == "reserialised":
        signature = sign(json.dumps(fixture("text"), indent=1).encode())
    elif forgery == "uppercase_hex":
        signature = "sha256=" + sign(body)[7:].upper()
    elif forgery == "not_ascii":
        signature = ("sha256=ÿ" + sign(body)[8:]).encode("latin-1")
    else:
        signature = sign(body)[7:]
    response = await page.post(body, signature, **headers)
    assert response.status_code == 403
    await page.channel.dispatcher.idle()
    assert page.graph.calls == []
    assert await page.processed() == 0


async def test_a_batch_of_three_events_from_two_users_is_handled_in_full_and_in_order(page: Page) -> None:
    await page.deliver(raw("batch_two_users"))
    first = page.graph.sent_to(PSID_A)
    assert [c.text for c in first] == [
        catalog().text("welcome.hello", "en"),
        catalog().text("welcome.choose_language", "en"),
        catalog().text("menu.first", "en"),
    ]
    assert first[-1].payloads[0] == "menu:report"
    second = page.graph.sent_to(PSID_B)
    assert [c.text for c in second] == [
        catalog().text("welcome.hello", "en"),
        catalog().text("welcome.choose_language", "en"),
    ]
    assert await page.processed() == 3


async def test_a_redelivered_batch_changes_nothing_and_sends_nothing(page: Page) -> None:
    await page.deliver(raw("batch_two_users"))
    calls = len(page.graph.calls)
    pseudonym = page.pipeline.pseudonyms.of("messenger", PSID_A)
    version = (await page.pipeline.storage.load_conversation(pseudonym)).version
    await page.deliver(raw("batch_two_users"))
    await page.deliver(raw("batch_two_users"))
    assert len(page.graph.calls) == calls
    assert (await page.pipeline.storage.load_conversation(pseudonym)).version == version
    assert await page.processed() == 3


async def report_with_link_and_photo(citizen: Citizen, lang: str) -> str:
    """Get Started to a reference code: language, menu, a shared link, category, words, photo, send."""
    await citizen.postback("GET_STARTED")
    await citizen.tap(f"lang:{lang}")
    await citizen.tap("menu:report")
    assert citizen.said == catalog().text("report.ask_link", lang)
    await citizen.attach("share_fallback")
    assert catalog().text("report.ask_category", lang) in citizen.said
    await citizen.tap("cat:propaganda")
    assert citizen.last.payloads == ["confirm:submit", "confirm:details", "nav:back", "nav:cancel"]
    await citizen.tap("confirm:details")  # the summary's "Add details"
    await citizen.say("This page posts recruitment videos every day.")
    assert citizen.said == catalog().text("report.ask_evidence", lang)
    await citizen.attach("image")
    await citizen.tap("evidence:done")
    await citizen.tap("confirm:submit")
    match = CODE.search(citizen.said)
    assert match, citizen.said
    assert citizen.received[citizen.seen].text == catalog().text("report.done", lang, code=match.group(1))
    assert citizen.last.payloads == ["updates:yes", "updates:no"]
    assert citizen.last.template is None  # a quick-reply message: the code can be copied
    return match.group(1)


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_a_quick_reply_flow_ends_in_a_reference_code_with_the_link_and_the_photo(
    page: Page, lang: str
) -> None:
    citizen = Citizen(page, PSID_A)
    code = await report_with_link_and_photo(citizen, lang)
    assert await page.pipeline.storage.reports.codes() == [code]
    evidence = await page.pipeline.storage.reports.evidence_of(code)
    kinds = {e["kind"]: e for e in evidence}
    assert kinds["link"]["value"] == "https://facebook.com/some.page"
    photo = kinds["photo"]
    assert photo["value"].startswith("https://scontent.xx.fbcdn.net/")
    assert photo["fingerprint"] and len(photo["fingerprint"]) == 64
    case = await page.pipeline.storage.reports.case_of(code)
    assert case is not None and case["canonical_url"] == "https://facebook.com/some.page"
    for call in citizen.received:
        assert all(0 < len(t) <= 20 for t in call.titles), call.titles
        assert len(call.buttons) <= (3 if call.template else 13)


async def test_urdu_quick_reply_titles_fit_in_20_characters_without_broken_marks(page: Page) -> None:
    citizen = Citizen(page, PSID_A)
    await report_with_link_and_photo(citizen, "ur")
    titles = [t for call in citizen.received for t in call.titles]
    assert any("\u0600" <= ch <= "\u06ff" for t in titles for ch in t)  # Urdu titles were sent
    for t in titles:
        assert len(t) <= 20
        assert not unicodedata.category(t[0]).startswith("M")
        assert t == unicodedata.normalize("NFC", t) or t.endswith("…")


async def test_a_redelivered_tap_in_the_middle_of_a_report_does_nothing(page: Page) -> None:
    citizen = Citizen(page, PSID_A)
    await citizen.postback("GET_STARTED")
    await citizen.tap("lang:en")
    await citizen.tap("menu:report")
    await citizen.attach("share_fallback")
    mid, ts = f"m_{PSID_A}_tap_category" + "x" * 30, 1736000099000
    tap = message_body(PSID_A, mid, ts, text="Propaganda", quick_reply={"payload": "cat:propaganda"})
    await page.deliver(tap)
    sent = len(page.graph.calls)
    await page.deliver(tap)
    assert len(page.graph.calls) == sent
    pseudonym = page.pipeline.pseudonyms.of("messenger", PSID_A)
    state = (await page.pipeline.storage.load_conversation(pseudonym)).state
    assert state["step"] == "report.confirm"


async def test_a_server_error_then_success_delivers_the_reply(page: Page) -> None:
    page.graph.script.append(SERVER_ERROR)
    await page.deliver(raw("postback_get_started"))  # two messages: the greeting, the language choice
    assert [c.status for c in page.graph.calls] == [500, 200, 200]
    assert page.graph.sent_to(PSID_A)[0].text == catalog().text("welcome.hello", "en")


async def test_a_rate_limit_then_success_delivers_the_reply(page: Page) -> None:
    page.graph.script.extend([RATE_LIMITED, RATE_LIMITED])
    await page.deliver(raw("postback_get_started"))
    assert [c.status for c in page.graph.calls] == [400, 400, 200, 200]


async def test_an_unavailable_user_is_not_retried_and_the_event_is_still_kept(page: Page) -> None:
    page.graph.unavailable.add(PSID_A)
    await page.deliver(raw("postback_get_started"))
    assert [c.status for c in page.graph.calls] == [400]  # permanent: no retry, no further parts
    assert await page.processed() == 1


async def test_get_started_and_the_persistent_menu_map_to_commands(page: Page) -> None:
    await page.deliver(raw("postback_get_started"))
    assert page.graph.sent_to(PSID_A)[0].text == catalog().text("welcome.hello", "en")
    citizen = Citizen(page, PSID_A)
    citizen.seen = len(citizen.received)
    await citizen.tap("lang:ur")
    await page.deliver(raw("postback_menu"))
    assert page.graph.sent_to(PSID_A)[-1].text == catalog().text("report.ask_link", "ur")


async def test_a_postback_without_mid_is_keyed_by_sender_time_and_payload(page: Page) -> None:
    await page.deliver(raw("postback_without_mid"))
    calls = len(page.graph.calls)
    assert calls > 0
    await page.deliver(raw("postback_without_mid"))
    assert len(page.graph.calls) == calls
    assert await page.processed() == 1


async def test_a_typed_link_with_its_preview_makes_one_link(page: Page) -> None:
    citizen = Citizen(page, PSID_A)
    await citizen.postback("GET_STARTED")
    await citizen.tap("lang:en")
    await page.deliver(raw("text_with_link"))
    assert catalog().text("report.link_received", "en", count=1) in "\n".join(
        c.text for c in page.graph.sent_to(PSID_A)
    )
    await page.deliver(raw("fallback_legacy"))  # the older fallback shape: url on the attachment


@pytest.mark.parametrize(
    "name",
    [
        "echo",
        "delivery",
        "read",
        "reaction",
        "unknown_kind",
        "empty_entries",
        "entry_without_messaging",
        "not_page",
        "quick_reply_foreign_postback",
    ],
)
async def test_events_we_do_not_handle_are_acknowledged_and_ignored(page: Page, name: str) -> None:
    if name == "quick_reply_foreign_postback":
        body = postback_body(PSID_A, "m_foreign_pb_" + "y" * 40, 1736000000000, "BUY_NOW_PROMO_2025", "Buy")
        response = await page.post(body)
    else:
        response = await page.post(raw(name))
    assert response.status_code == 200
    await page.channel.dispatcher.idle()
    assert page.graph.calls == []
    assert await page.processed() == 0


def unsupported_answer(kind: str, lang: str = "en") -> str:
    texts = catalog()
    return texts.text(f"common.unsupported_{kind}", lang) + " " + texts.text("common.we_take", lang)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("attachment_without_url", "other"),
        ("sticker_other", "sticker"),  # "sticker" is the like button: a thumbs-up (test_messenger_payloads)
        ("unsupported_attachment", "location"),
    ],
)
async def test_attachments_we_cannot_keep_are_answered_not_stored_as_evidence(
    page: Page, name: str, kind: str
) -> None:
    citizen = Citizen(page, PSID_A)
    await citizen.postback("GET_STARTED")
    await citizen.tap("lang:en")
    await citizen.tap("menu:report")
    mid, ts = f"m_{name}_" + "z" * 40, 1736000200000
    attachments = fixture(name)["entry"][0]["messaging"][0]["message"]["attachments"]
    citizen.seen = len(citizen.received)
    await page.deliver(message_body(PSID_A, mid, ts, attachments=attachments))
    assert citizen.received[citizen.seen].text == unsupported_answer(kind)
    pseudonym = page.pipeline.pseudonyms.of("messenger", PSID_A)
    state = (await page.pipeline.storage.load_conversation(pseudonym)).state
    assert state["step"] == "report.link" and not state["draft"]["evidence"]


CDN = "https://cdn.fbsbx.com/v/t59.2708-21/471234567_1122334455_n"


@pytest.mark.parametrize(
    ("attachment", "kind"),
    [
        ({"type": "audio", "payload": {"url": f"{CDN}.mp4/audioclip-1736000200.mp4?_nc_cat=1"}}, "audio"),
        ({"type": "video", "payload": {"url": f"{CDN}.mp4/video-1736000200.mp4?_nc_cat=1"}}, "video"),
        ({"type": "file", "payload": {"url": f"{CDN}.docx/notes.docx?_nc_cat=1"}}, "file"),
    ],
)
async def test_audio_video_and_other_files_are_answered_and_the_report_still_finishes(
    page: Page, attachment: dict[str, Any], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    citizen = Citizen(page, PSID_A)
    await citizen.postback("GET_STARTED")
    await citizen.tap("lang:en")
    await citizen.tap("menu:report")
    pseudonym = page.pipeline.pseudonyms.of("messenger", PSID_A)
    before = (await page.pipeline.storage.load_conversation(pseudonym)).state
    await citizen.send_attachments([attachment])
    assert [c.text for c in citizen.received[citizen.seen :]] == [
        unsupported_answer(kind),
        catalog().text("report.ask_link", "en"),
    ]
    assert citizen.last.payloads == ["link:none", "nav:back", "nav:cancel"]
    assert (await page.pipeline.storage.load_conversation(pseudonym)).state == before
    await citizen.say("facebook.com/Bad.Page")
    await citizen.tap("cat:propaganda")
    await citizen.tap("confirm:details")
    await citizen.tap("desc:skip")
    await citizen.attach("image")
    await citizen.tap("evidence:done")
    await citizen.tap("confirm:submit")
    match = CODE.search(citizen.said)
    assert match, citizen.said
    evidence = await page.pipeline.storage.reports.evidence_of(match.group(1))
    assert [e["kind"] for e in evidence] == ["link", "photo"]
    for record in caplog.records:  # counted by kind; the URL is never logged
        assert "fbsbx" not in record.getMessage() + json.dumps(getattr(record, "fields", {}), default=str)


async def test_a_pdf_file_is_kept_as_evidence(page: Page) -> None:
    citizen = Citizen(page, PSID_A)
    await citizen.postback("GET_STARTED")
    await citizen.tap("lang:en")
    await citizen.tap("menu:report")
    await citizen.send_attachments([{"type": "file", "payload": {"url": f"{CDN}.pdf/report.pdf?_nc_cat=1"}}])
    assert catalog().text("report.evidence_kept", "en", count=1) in citizen.said
    pseudonym = page.pipeline.pseudonyms.of("messenger", PSID_A)
    state = (await page.pipeline.storage.load_conversation(pseudonym)).state
    assert [e["kind"] for e in state["draft"]["evidence"]] == ["document"]


async def test_a_quick_reply_payload_we_never_issued_is_read_as_what_the_citizen_saw(page: Page) -> None:
    citizen = Citizen(page, PSID_A)
    await citizen.postback("GET_STARTED")
    await citizen.tap("lang:en")
    citizen.seen = len(citizen.received)
    await page.deliver(raw("quick_reply_foreign"))  # payload not ours; its text is "Report a page"
    assert citizen.said  # answered, not dropped
    assert await page.processed() == 3


async def test_a_well_shaped_but_stale_payload_gets_the_engines_polite_answer(page: Page) -> None:
    citizen = Citizen(page, PSID_A)
    await citizen.postback("GET_STARTED")
    await citizen.tap("lang:en")
    mid, ts = "m_stale_" + "s" * 40, 1736000300000
    citizen.seen = len(citizen.received)
    await page.deliver(
        message_body(PSID_A, mid, ts, text="Propaganda", quick_reply={"payload": "cat:propaganda"})
    )
    assert citizen.said.startswith(catalog().text("common.stale_button", "en"))


async def test_one_malformed_item_does_not_cost_the_rest_of_the_batch(page: Page) -> None:
    body = fixture("batch_two_users")
    body["entry"][0]["messaging"][:0] = [
        {"sender": None, "message": {"mid": "m_1", "text": "x"}},
        {"sender": {"id": ["not", "an", "id"]}, "message": {"mid": "m_2"}},
        {"sender": {"id": PSID_A}, "message": "not an object"},
        {"sender": {"id": PSID_A}, "message": {"text": "no mid"}},
        {"sender": {"id": PSID_A}, "postback": {"title": "no payload"}},
        "not an object",
    ]
    body["entry"].insert(0, "not an entry")
    await page.deliver(body)
    assert await page.processed() == 3
    assert page.graph.sent_to(PSID_B)


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe\x00garbage", 400),
        (b"[1, 2, 3]", 400),
        (b'"page"', 400),
        (b"[" * 50_000 + b"]" * 50_000, 400),
        (b"", 400),
        # past Python's limit for int conversion: json.loads raises a plain ValueError, not a JSONDecodeError
        (b'{"object": "page", "entry": [{"time": ' + b"9" * 5000 + b"}]}", 400),
    ],
)
async def test_signed_bodies_that_are_not_webhook_json_get_a_400(
    page: Page, content: bytes, status: int
) -> None:
    response = await page.post(content)
    assert response.status_code == status
    assert await page.processed() == 0


async def test_a_huge_body_is_refused_before_it_is_read_in_full(page: Page) -> None:
    declared = await page.post(b"{" + b" " * (MAX_BODY + 10) + b"}")
    assert declared.status_code == 413

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 65536 + 10):
            yield b" " * 65536

    response = await page.http.post(PATH, content=stream(), headers={"X-Hub-Signature-256": "sha256=00"})
    assert response.status_code == 413
    assert await page.processed() == 0


async def test_a_body_that_does_not_arrive_in_time_gets_a_408_and_changes_nothing(
    settings: Settings, storage: Storage, graph: FakeGraphAPI
) -> None:
    body = raw("text")

    async def trickle() -> AsyncIterator[bytes]:
        yield body[:20]
        await asyncio.sleep(30)  # a client holding the request open
        yield body[20:]

    async with open_page(settings, storage, graph, body_timeout=0.2) as page:
        started = asyncio.get_running_loop().time()
        response = await page.http.post(PATH, content=trickle(), headers={"X-Hub-Signature-256": sign(body)})
        assert response.status_code == 408
        assert asyncio.get_running_loop().time() - started < 5
        assert (await page.post(body)).status_code == 200  # the next delivery is read as usual
        await page.channel.dispatcher.idle()
    assert await storage.count("processed_events") == 1


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("میں ایک فیس بک پیج کی رپورٹ کرنا چاہتا ہوں", "ur"),
        ("mujhe ek page ki report karni hai", "ur-Latn"),
        ("I want to report a page", "en"),
    ],
)
async def test_a_crash_while_handling_is_answered_in_the_citizens_language_and_keeps_nothing(
    settings: Settings,
    storage: Storage,
    graph: FakeGraphAPI,
    caplog: pytest.LogCaptureFixture,
    text: str,
    lang: str,
) -> None:
    pipeline = broken_pipeline(messenger_settings(settings, graph.base_url), storage)
    async with open_page(settings, storage, graph, pipeline) as page:
        citizen, other = Citizen(page, PSID_A), Citizen(page, PSID_B)
        await citizen.say(text)
        assert citizen.said == catalog().text("common.unavailable", lang)
        await other.postback("GET_STARTED")  # read as the command /start: English
        assert other.said == catalog().text("common.unavailable", "en")
        await citizen.say(text)  # the sender's queue goes on after a crash
        assert citizen.said == catalog().text("common.unavailable", lang)
    assert await storage.count("processed_events") == 0
    failures = [r for r in caplog.records if r.getMessage() == "channel_handling_failed"]
    assert len(failures) == 3 and all(r.exc_info for r in failures)


async def test_shutdown_finishes_held_events_then_refuses_new_ones(
    settings: Settings, storage: Storage, graph: FakeGraphAPI
) -> None:
    graph.script.append(slow(0.2))
    async with open_page(settings, storage, graph) as page:
        response = await page.post(raw("postback_get_started"))  # two messages
        assert response.status_code == 200
        await page.channel.dispatcher.close()
        assert len(graph.sent_to(PSID_A)) == 2  # the slow first reply and the next were still sent
        refused = await page.post(raw("batch_two_users"))
        assert refused.status_code == 503  # Meta delivers it again later
    assert await storage.count("processed_events") == 1


async def test_events_acknowledged_before_they_are_stored_are_still_handled(
    settings: Settings, storage: Storage, graph: FakeGraphAPI
) -> None:
    configured = messenger_settings(settings, graph.base_url)
    pipeline = make_pipeline(configured, storage)
    channel = Messenger(configured, pipeline, transport=graph.transport, backoff=0.001, ack_deadline=0.0)
    transport = httpx.ASGITransport(app=Starlette(routes=channel.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        page = Page(http, graph, channel, pipeline)
        response = await page.post(raw("batch_two_users"))
        assert response.status_code == 200
        await channel.stop()  # shutdown drains what was acknowledged but not yet stored
    assert await storage.count("processed_events") == 3
    assert graph.sent_to(PSID_A) and graph.sent_to(PSID_B)


async def test_logs_never_carry_psids_urls_texts_or_the_token(
    page: Page, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page.graph.script.extend([SERVER_ERROR, RATE_LIMITED])
    citizen = Citizen(page, PSID_A)
    await report_with_link_and_photo(citizen, "en")
    await page.post(raw("text"), sign(b"forged"))
    secrets = [PSID_A, PAGE_TOKEN, APP_SECRET, "fbcdn", "facebook.com", "recruitment videos", "m_" + PSID_A]
    ours = [r for r in caplog.records if r.name.startswith(("bot.", "storage.", "nlu."))]
    for record in ours:
        logged = record.getMessage() + " " + json.dumps(getattr(record, "fields", {}), default=str)
        assert not any(s in logged for s in secrets), logged
    events = {r.getMessage() for r in ours}
    assert {"messenger_webhook", "messenger_replied", "messenger_signature_refused", "graph_answer"} <= events


def test_the_http_clients_request_lines_which_carry_the_token_are_muted_in_production() -> None:
    """httpx logs each request URL at INFO, and the Send API takes the page token in the query string."""
    root, noisy = logging.getLogger(), [logging.getLogger(n) for n in ("httpx", "httpcore")]
    saved = (root.handlers[:], root.level, [n.level for n in noisy])
    try:
        logs.setup(logging.DEBUG)
        assert all(n.getEffectiveLevel() >= logging.WARNING for n in noisy)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for logger, level in zip(noisy, saved[2], strict=True):
            logger.setLevel(level)
