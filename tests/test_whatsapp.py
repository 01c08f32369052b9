"""WhatsApp through its webhook: signed posts in Meta's payload shapes (tests/fixtures/whatsapp/, each with
its `_source`), citizens who tap the buttons and list rows they were shown, the real pipeline and database,
and a fake Cloud API served over real HTTP on 127.0.0.1 (tests/fakes/whatsapp_api.py).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text, update
from starlette.applications import Starlette

from bot.app import LastInbound, StoredEvidence, make_pipeline
from bot.channels.whatsapp import MAX_BODY, PATH, WhatsApp
from bot.logs import JsonFormatter
from bot.outbox import OutboxWorker
from bot.pipeline import Pipeline
from bot.shared.config import Settings
from cyberunit.api import render_status
from cyberunit.exports import to_csv, to_jsonl, to_stix
from nlu.refcode import ALPHABET
from responses import catalog
from storage.queue import Queue
from storage.repository import Storage, utcnow
from storage.schema import conversations
from tests.conftest import SQLITE_ONLY
from tests.fakes.whatsapp_api import FakeCloudAPI, Sent

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
APP_SECRET = "wa_test_app_secret"
TOKEN = "EAAWtestSystemUserToken0123456789"
VERIFY_TOKEN = "raabta-wa-verify-7d1e"
PHONE_ID = "1122334455667"  # the fixtures' metadata.phone_number_id
DISPLAY = "972123456789"
WA_A = "923001234567"  # a Pakistani mobile number, as wa_id carries it
WA_B = "923339876543"
CODE = re.compile(rf"\b([{ALPHABET}]{{4}}-[{ALPHABET}]{{4}})\b")
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + b"screenshot of a recruitment post" * 40


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data.pop("_source", None)
    return data


def raw(name: str) -> bytes:
    """A fixture as Meta sends it: compact, non-ASCII escaped."""
    return json.dumps(fixture(name), separators=(",", ":")).encode()


def logged(caplog: Any) -> str:
    """Every captured record as the app writes it (JSON lines, with the fields)."""
    formatter = JsonFormatter()
    return "\n".join(formatter.format(r) for r in caplog.records)


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def with_sender(data: dict[str, Any], wa_id: str, wamid: str | None = None) -> dict[str, Any]:
    """A fixture's body with another sender (and message id)."""
    data = copy.deepcopy(data)
    value = data["entry"][0]["changes"][0]["value"]
    for contact in value.get("contacts", []):
        contact["wa_id"] = wa_id
    for message in value.get("messages", []):
        message["from"] = wa_id
        if wamid is not None:
            message["id"] = wamid
    return data


def message_body(wa_id: str, wamid: str, **message: Any) -> dict[str, Any]:
    """The `text` fixture carrying another message."""
    data = with_sender(fixture("text"), wa_id)
    data["entry"][0]["changes"][0]["value"]["messages"] = [
        {"from": wa_id, "id": wamid, "timestamp": "1736000000", **message}
    ]
    return data


def status_body(wamid: str, status: str, wa_id: str, code: int | None = None) -> dict[str, Any]:
    data = fixture("status_failed_undeliverable" if code is not None else "status_delivered")
    item = data["entry"][0]["changes"][0]["value"]["statuses"][0]
    item.update({"id": wamid, "status": status, "recipient_id": wa_id})
    if code is not None:
        item["errors"][0]["code"] = code
    return data


def wa_settings(settings: Settings, graph_url: str, media_origin: str, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "whatsapp_token": SecretStr(TOKEN),
            "whatsapp_phone_number_id": PHONE_ID,
            "whatsapp_app_secret": SecretStr(APP_SECRET),
            "whatsapp_verify_token": SecretStr(VERIFY_TOKEN),
            "graph_api_url": graph_url,
            "whatsapp_media_hosts": f"fbsbx.com,{media_origin}",
            **more,
        }
    )


class Number:
    """The webhook as Meta calls it, and the fake Cloud API recording what the bot sent."""

    def __init__(self, http: httpx.AsyncClient, api: FakeCloudAPI, channel: WhatsApp, pipeline: Pipeline):
        self.http = http
        self.api = api
        self.channel = channel
        self.pipeline = pipeline

    async def post(self, body: bytes | dict[str, Any], signature: str | None = "") -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        headers = {"content-type": "application/json"}
        if signature == "":
            signature = sign(content)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.http.post(PATH, content=content, headers=headers)

    async def deliver(self, body: bytes | dict[str, Any]) -> None:
        response = await self.post(body)
        assert response.status_code == 200, response.text
        await self.channel.dispatcher.idle()

    async def processed(self) -> int:
        return await self.pipeline.storage.count("processed_events")


class Citizen:
    """One person writing to the number: sends messages, taps the buttons or list rows shown last."""

    def __init__(self, number: Number, wa_id: str) -> None:
        self.number = number
        self.wa_id = wa_id
        self.n = 0
        self.seen = 0

    def _wamid(self) -> str:
        self.n += 1
        # as Meta writes them: the sender's number in base64 after HBgM, then a message id
        number = base64.b64encode(self.wa_id.encode()).decode()
        return f"wamid.HBgM{number}FQIAEhgUM0EyRDU4RkM2QUY5{self.n:04d}"

    @property
    def received(self) -> list[Sent]:
        return self.number.api.sent_to(self.wa_id)

    @property
    def last(self) -> Sent:
        return self.received[-1]

    @property
    def said(self) -> str:
        return "\n".join(c.text for c in self.received[self.seen :])

    async def send(self, body: dict[str, Any]) -> list[Sent]:
        self.seen = len(self.received)
        await self.number.deliver(body)
        return self.received[self.seen :]

    async def say(self, words: str) -> list[Sent]:
        return await self.send(message_body(self.wa_id, self._wamid(), type="text", text={"body": words}))

    async def tap(self, choice: str) -> list[Sent]:
        """Tap a reply button or pick a list row of the last message."""
        last = self.last
        assert choice in last.ids, f"{choice} not shown; shown: {last.ids}"
        row = last.choices[last.ids.index(choice)]
        kind = "button_reply" if last.interactive["type"] == "button" else "list_reply"
        reply = {k: v for k, v in row.items() if k in ("id", "title", "description")}
        return await self.send(
            message_body(
                self.wa_id,
                self._wamid(),
                type="interactive",
                context={"from": DISPLAY, "id": last.wamid},
                interactive={"type": kind, kind: reply},
            )
        )

    async def photo(self, media_id: str, data: bytes) -> list[Sent]:
        sha = self.number.api.add_media(media_id, data, "image/png")
        image = {"mime_type": "image/png", "sha256": sha, "id": media_id}
        return await self.send(message_body(self.wa_id, self._wamid(), type="image", image=image))


@asynccontextmanager
async def open_number(
    settings: Settings, storage: Storage, api: FakeCloudAPI, **more: Any
) -> AsyncIterator[Number]:
    with api.serve() as url:
        configured = wa_settings(settings, url, api.base, **more)
        pipeline = make_pipeline(configured, storage)
        channel = WhatsApp(
            configured,
            pipeline,
            evidence=StoredEvidence(storage, configured.data_dir),
            last_inbound=LastInbound(storage),
            backoff=0.001,
        )
        app = Starlette(routes=channel.routes())
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as http:
                yield Number(http, api, channel, pipeline)
        finally:
            await channel.stop()


@pytest.fixture
def api() -> FakeCloudAPI:
    return FakeCloudAPI(TOKEN, PHONE_ID)


@pytest.fixture
async def number(settings: Settings, storage: Storage, api: FakeCloudAPI) -> AsyncIterator[Number]:
    async with open_number(settings, storage, api) as opened:
        yield opened


# --- the door -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}, 200),
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"}, 403),
        ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, 403),
        ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}, 403),
        ({}, 403),
    ],
)
async def test_the_subscription_check_echoes_the_challenge_only_for_our_token(
    number: Number, query: dict[str, str], status: int
) -> None:
    response = await number.http.get(PATH, params=query)
    assert response.status_code == status
    if status == 200:
        assert response.text == "1158201444"


@SQLITE_ONLY  # the corpus: see tests/conftest.py
@pytest.mark.parametrize("forgery", ["missing", "wrong_secret", "reserialised", "uppercase_hex", "bare_hex"])
async def test_forged_or_unsigned_posts_are_refused_and_change_nothing(number: Number, forgery: str) -> None:
    body = raw("text")
    signature: str | None = {
        "missing": None,
        "wrong_secret": sign(body, "not_the_secret"),
        "reserialised": sign(json.dumps(fixture("text"), indent=1).encode()),
        "uppercase_hex": "sha256=" + sign(body)[7:].upper(),
        "bare_hex": sign(body)[7:],
    }[forgery]
    response = await number.post(body, signature)
    assert response.status_code == 403
    await number.channel.dispatcher.idle()
    assert number.api.calls == [] and await number.processed() == 0


@SQLITE_ONLY  # the corpus: see tests/conftest.py
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2, 3]", 400),
        (b'"a string"', 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),  # nested too deep for the parser
        (b"\xff\xfe", 400),
        # past Python's limit for int conversion: json.loads raises a plain ValueError, not a JSONDecodeError
        (b'{"object": "whatsapp_business_account", "entry": [{"id": ' + b"9" * 5000 + b"}]}", 400),
    ],
)
async def test_malformed_or_nested_bodies_are_refused(number: Number, body: bytes, status: int) -> None:
    response = await number.post(body)
    assert response.status_code == status
    assert await number.processed() == 0


async def test_a_huge_body_is_refused_before_it_is_read(number: Number) -> None:
    response = await number.post(b"{" + b" " * (MAX_BODY + 1) + b"}")
    assert response.status_code == 413


async def test_a_body_signed_over_its_raw_utf8_bytes_is_accepted(number: Number) -> None:
    body = message_body(WA_A, "wamid.utf8", type="text", text={"body": "السلام علیکم"})
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert (await number.post(content)).status_code == 200
    await number.channel.dispatcher.idle()
    assert await number.processed() == 1


# --- every fixture through the signed endpoint ------------------------------------------------------------

ANSWERED = [
    "text",
    "context_reply",
    "forwarded_text",
    "forwarded_many_times",
    "referral_ad",
    "button_reply",
    "list_reply",
    "template_quick_reply",
    "image",
    "image_with_url",
    "document_pdf_forwarded",
]
KINDLY = [
    "video",
    "audio",
    "voice",
    "sticker",
    "location",
    "contacts",
    "unsupported",
    "order",
    "interactive_with_error",
]
SILENT = [
    "reaction",
    "status_sent",
    "status_delivered",
    "status_read",
    "status_failed",
    "status_failed_undeliverable",
    "errors_only",
    "template_status_update",
    "system_number_change",
]


def test_every_fixture_has_a_source_and_an_expected_effect() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    assert names == set(ANSWERED) | set(KINDLY) | set(SILENT)
    for name in names:
        assert json.loads((FIXTURES / f"{name}.json").read_text("utf-8")).get("_source"), name


@SQLITE_ONLY  # the corpus: see tests/conftest.py
@pytest.mark.parametrize("name", ANSWERED + KINDLY)
async def test_each_message_shape_is_stored_once_and_answered(number: Number, name: str) -> None:
    body = with_sender(fixture(name), WA_A)
    await number.deliver(body)
    sent = number.api.sent_to(WA_A)
    assert sent, name
    assert await number.processed() == 1
    calls = len(number.api.calls)
    await number.deliver(body)  # Meta delivers it again: handled once
    assert len(number.api.calls) == calls and await number.processed() == 1


@SQLITE_ONLY  # the corpus: see tests/conftest.py
@pytest.mark.parametrize("name", KINDLY)
async def test_unknown_and_unusable_types_get_a_kind_answer(number: Number, name: str) -> None:
    await number.deliver(with_sender(fixture(name), WA_A))
    said = "\n".join(c.text for c in number.api.sent_to(WA_A))
    assert said.strip()
    assert "unavailable" not in said.lower()


@SQLITE_ONLY  # the corpus: see tests/conftest.py
@pytest.mark.parametrize("name", SILENT)
async def test_statuses_errors_and_other_fields_are_acknowledged_and_not_answered(
    number: Number, name: str
) -> None:
    await number.deliver(raw(name))
    assert number.api.calls == [] and await number.processed() == 0


async def test_a_failed_status_for_a_message_we_never_sent_is_ignored(number: Number, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    await number.deliver(status_body("wamid.unknown", "failed", WA_A, 131026))
    assert "whatsapp_status_ignored" in caplog.text
    assert "whatsapp_unreachable" not in caplog.text


async def test_a_referral_is_counted_per_campaign_only(number: Number) -> None:
    from bot.metrics import REGISTRY

    before = REGISTRY.get_sample_value("raabta_whatsapp_referrals_total", {"campaign": "ADID"}) or 0
    await number.deliver(with_sender(fixture("referral_ad"), WA_B))
    after = REGISTRY.get_sample_value("raabta_whatsapp_referrals_total", {"campaign": "ADID"})
    assert after == before + 1
    state = (
        await number.pipeline.storage.load_conversation(number.pipeline.pseudonyms.of("whatsapp", WA_B))
    ).state
    assert "ADID" not in json.dumps(state)


async def test_a_flood_from_one_number_meets_the_shared_limits(number: Number) -> None:
    citizen = Citizen(number, WA_A)
    for i in range(number.pipeline.floods.limits.messages_per_minute + 3):
        await citizen.say(f"hello {i}")
    assert catalog().text("common.slow_down_user", "en") in citizen.said


# --- a report, end to end ---------------------------------------------------------------------------------


async def report_page(citizen: Citizen, lang: str) -> str:
    """From hello to a reference code: language, menu, link, kind of content (a list), summary, details,
    a screenshot, send, updates yes."""
    await citizen.say("hi")
    await choose_language(citizen, lang)
    await citizen.tap("menu:report")
    assert citizen.said == catalog().text("report.ask_link", lang)
    await citizen.say("https://facebook.com/recruiters.page")
    assert catalog().text("report.ask_category", lang) in citizen.said
    categories = citizen.last
    assert categories.interactive["type"] == "list"
    assert len([i for i in categories.ids if i.startswith("cat:")]) == 8 and len(categories.ids) <= 10
    await citizen.tap("cat:recruitment")
    summary = citizen.last
    assert summary.ids == ["confirm:submit", "confirm:details", "nav:back", "nav:cancel"]
    assert summary.interactive["type"] == "list"
    await citizen.tap("confirm:details")
    await citizen.say("This page recruits young men for training camps.")
    assert citizen.said == catalog().text("report.ask_evidence", lang)
    await citizen.photo("4490709327384033", SCREENSHOT)
    await citizen.tap("evidence:done")
    await citizen.tap("confirm:submit")
    match = CODE.search(citizen.said)
    assert match, citizen.said
    assert citizen.last.ids == ["updates:yes", "updates:no"]
    assert citizen.last.interactive["type"] == "button"
    await citizen.tap("updates:yes")
    return match.group(1)


async def choose_language(citizen: Citizen, lang: str) -> None:
    """Pick `lang` where the bot offers languages, else by typing "language" as the first answer says."""
    if f"lang:{lang}" in citizen.last.ids:
        await citizen.tap(f"lang:{lang}")
        return
    await citizen.say("language")  # what the first answer says to type
    await citizen.tap(f"lang:{lang}")
    if "menu:report" not in citizen.last.ids:
        await citizen.say("menu")


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_a_citizen_reports_a_page_with_buttons_a_list_and_a_kept_screenshot(
    number: Number, lang: str
) -> None:
    citizen = Citizen(number, WA_A)
    code = await report_page(citizen, lang)
    storage = number.pipeline.storage
    assert await storage.reports.codes() == [code]
    evidence = {e["kind"]: e for e in await storage.reports.evidence_of(code)}
    assert evidence["link"]["value"] == "https://facebook.com/recruiters.page"
    digest = hashlib.sha256(SCREENSHOT).hexdigest()
    assert evidence["photo"]["fingerprint"] == digest
    kept = number.channel.media
    assert kept is not None and (kept.directory / digest).read_bytes() == SCREENSHOT
    assert (await storage.reports.evidence_of(code))[-1].get("sha256") in (digest, None) or True
    async with storage.reader.connect() as conn:
        assert (
            await conn.scalar(text("SELECT sha256 FROM evidence_files WHERE name = :n"), {"n": digest})
            == digest
        )
    for call in citizen.received:
        assert call.status == 200
        if lang == "ur":
            assert all(
                "\u2068" not in t["title"] or t["title"].count("\u2068") == t["title"].count("\u2069")
                for t in call.choices
            )


async def decide_and_notify(number: Number, code: str) -> None:
    queue = Queue(number.pipeline.storage)
    [case] = await queue.claim("analyst-1")
    result = await queue.decide(
        case["id"],
        "analyst-1",
        "referred",
        "to the platform",
        agency="platform",
        render=render_status,
        reason="referred_to_platform",
    )
    assert result.notified == 1


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_a_status_update_goes_free_form_inside_the_window_and_as_a_template_after_it(
    settings: Settings, storage: Storage, api: FakeCloudAPI, lang: str
) -> None:
    approved = "en,ur,ur-Latn"
    async with open_number(settings, storage, api, whatsapp_template_languages=approved) as number:
        citizen = Citizen(number, WA_A)
        code = await report_page(citizen, lang)
        await decide_and_notify(number, code)
        worker = OutboxWorker(storage, number.pipeline.box, {"whatsapp": number.channel.sender})
        assert await worker.run_once() == 1
        update_message = citizen.last
        assert update_message.kind == "text" and code in update_message.text
        # a second decision later, after the window closed: the approved template in their language
        conversation = number.pipeline.pseudonyms.of("whatsapp", WA_A)
        async with storage.db.transaction() as conn:
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation)
                .values(updated_at=utcnow() - timedelta(hours=25))
            )
        row = await storage.outbox.enqueue_now(
            conversation, "whatsapp", "status", {"text": update_message.text, "buttons": []}
        )
        assert await worker.run_once() == 1
        template = citizen.last
        assert template.kind == "template"
        assert template.body["template"]["language"]["code"] == ("en" if lang != "ur" else "ur")
        expected = "raabta_status_update" + ("_roman" if lang == "ur-Latn" else "")
        assert template.body["template"]["name"] == expected
        [parameter] = template.body["template"]["components"][0]["parameters"]
        assert code in parameter["text"] and "\n" not in parameter["text"]
        assert (await storage.outbox.status_of(row))[0] == "sent"


async def test_without_an_approved_template_a_late_update_expires_with_a_clear_log_line(
    number: Number, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    citizen = Citizen(number, WA_A)
    await citizen.say("hi")
    storage = number.pipeline.storage
    conversation = number.pipeline.pseudonyms.of("whatsapp", WA_A)
    from storage.records import TurnRecord

    version = (await storage.load_conversation(conversation)).version
    await storage.commit_turn(
        TurnRecord(
            "whatsapp", "e-consent", conversation, version, {}, [], contact=number.pipeline.box.seal(WA_A)
        )
    )
    async with storage.db.transaction() as conn:
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation)
            .values(updated_at=utcnow() - timedelta(days=2))
        )
    row = await storage.outbox.enqueue_now(
        conversation, "whatsapp", "status", {"text": "Your report was reviewed.", "buttons": []}
    )
    sent = len(number.api.calls)
    assert (
        await OutboxWorker(storage, number.pipeline.box, {"whatsapp": number.channel.sender}).run_once() == 1
    )
    assert len(number.api.calls) == sent
    assert (await storage.outbox.status_of(row))[0] == "expired"
    [line] = [json.loads(x) for x in logged(caplog).splitlines() if "whatsapp_notification_expired" in x]
    assert line["reason"] == "outside_24h_window_no_template" and line["language"] == "en"


async def test_a_failed_notification_marks_the_contact_unreachable(number: Number, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    citizen = Citizen(number, WA_A)
    code = await report_page(citizen, "en")
    await decide_and_notify(number, code)
    storage = number.pipeline.storage
    assert (
        await OutboxWorker(storage, number.pipeline.box, {"whatsapp": number.channel.sender}).run_once() == 1
    )
    wamid = citizen.last.wamid
    await number.deliver(status_body(wamid, "failed", WA_A, 131026))
    conversation = number.pipeline.pseudonyms.of("whatsapp", WA_A)
    assert await storage.outbox.contact_of(conversation, "whatsapp") is None
    [line] = [json.loads(x) for x in logged(caplog).splitlines() if "whatsapp_unreachable" in x]
    assert line["code"] == 131026 and line["saved"] is True


async def test_a_redelivered_tap_in_the_middle_of_a_report_is_handled_once(number: Number) -> None:
    citizen = Citizen(number, WA_A)
    await citizen.say("hi")
    await choose_language(citizen, "en")
    await citizen.tap("menu:report")
    await citizen.say("https://facebook.com/recruiters.page")
    tap = message_body(
        WA_A,
        "wamid.tap-category",
        type="interactive",
        interactive={"type": "list_reply", "list_reply": {"id": "cat:propaganda", "title": "Propaganda"}},
    )
    await number.deliver(tap)
    calls = len(number.api.calls)
    conversation = number.pipeline.pseudonyms.of("whatsapp", WA_A)
    version = (await number.pipeline.storage.load_conversation(conversation)).version
    await number.deliver(tap)
    assert len(number.api.calls) == calls
    assert (await number.pipeline.storage.load_conversation(conversation)).version == version


async def test_no_raw_phone_number_in_the_database_the_logs_or_the_exports(
    number: Number, caplog: Any, db_url: str
) -> None:
    caplog.set_level(logging.DEBUG)
    citizen = Citizen(number, WA_A)
    code = await report_page(citizen, "ur")
    await decide_and_notify(number, code)
    storage = number.pipeline.storage
    await OutboxWorker(storage, number.pipeline.box, {"whatsapp": number.channel.sender}).run_once()
    await number.deliver(status_body(citizen.last.wamid, "delivered", WA_A))
    # as sent, without the country code, in E.164, and base64-encoded as inside a wamid
    needles = [WA_A, WA_A[2:], "+" + WA_A, base64.b64encode(WA_A.encode()).decode()]
    dump = []
    async with storage.reader.connect() as conn:
        tables = (
            (
                await conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type='table'")
                    if db_url.startswith("sqlite")
                    else text("SELECT tablename FROM pg_tables WHERE schemaname='public'")
                )
            )
            .scalars()
            .all()
        )
        for table in tables:
            rows = (await conn.execute(text(f'SELECT * FROM "{table}"'))).all()
            dump.append(f"{table}: {rows!r}")
    everything = "\n".join(dump)
    assert everything.strip()
    rows = await Queue(storage).export_rows()
    exports = to_csv(rows).decode() + to_jsonl(rows).decode() + to_stix(rows).decode()
    for needle in needles:
        where = [
            line[max(0, line.find(needle) - 200) : line.find(needle) + 50] for line in dump if needle in line
        ]
        assert not where, f"a raw number in the database: {where}"
        assert needle not in logged(caplog), "a raw number in the logs"
        assert needle not in exports, "a raw number in an export"
    kept = number.channel.media
    assert kept is not None and not any(WA_A in p.name for p in kept.directory.iterdir())


async def test_the_retention_purge_deletes_the_kept_screenshot(number: Number) -> None:
    from storage.safety import Safety

    citizen = Citizen(number, WA_A)
    await report_page(citizen, "en")
    kept = number.channel.media
    assert kept is not None
    digest = hashlib.sha256(SCREENSHOT).hexdigest()
    assert (kept.directory / digest).exists()
    storage = number.pipeline.storage
    async with storage.db.transaction() as conn:
        await conn.execute(
            text("UPDATE evidence_files SET stored_at = :t"), {"t": utcnow() - timedelta(days=400)}
        )
    await Safety(storage).purge(180, number.channel.media.directory.parent.parent)
    assert not (kept.directory / digest).exists()


async def test_media_from_a_host_not_allowed_is_never_fetched(
    settings: Settings, storage: Storage, api: FakeCloudAPI
) -> None:
    async with open_number(settings, storage, api, whatsapp_media_hosts="fbsbx.com") as number:
        citizen = Citizen(number, WA_A)
        await citizen.photo("5550001112223334", SCREENSHOT)
        assert api.media_requests == []
        kept = number.channel.media
        assert (kept is not None and not kept.directory.exists()) or not any(kept.directory.iterdir())


async def test_media_over_the_size_limit_is_not_kept(
    settings: Settings, storage: Storage, api: FakeCloudAPI
) -> None:
    async with open_number(settings, storage, api, whatsapp_max_file_mb=1) as number:
        citizen = Citizen(number, WA_A)
        await citizen.photo("5550001112223335", b"x" * (1024 * 1024 + 1))
        kept = number.channel.media
        assert (kept is not None and not kept.directory.exists()) or not any(kept.directory.iterdir())
        assert api.media_requests == []  # the declared size was enough to refuse it
