"""Fuzzing: generated input through the dialogue engine and every HTTP endpoint of the one app.

Text in every script (Urdu, Arabic and Hebrew RTL, Devanagari, CJK, emoji, combining marks, bidi and
zero-width controls, C0 controls, NUL, lone surrogates) and very long; random button ids; random JSON
bodies; random Telegram update shapes; random Messenger webhook bodies signed with the app secret; random
requests to the analysts' API with valid tokens. What must hold for every one of them:

- no exception escapes the app (`httpx.ASGITransport` re-raises anything the app does not handle) and no
  handler error is logged behind a webhook (Telegram's error handler, Messenger's dispatcher);
- never a 5xx: an answer is a success or a 4xx (503 only where storage refusal is the documented answer);
- every stored conversation state is valid: a known step, language and history, offered buttons that fit
  Telegram's 64 bytes, a report draft with what its step needs, and JSON that round-trips.

The app runs in-process with its lifespan (Telegram in webhook mode against the fake Bot API, Messenger
against the fake Graph API) on each backend of `db_url`. Examples are shared per test (one app per test
function), so state accumulates across examples as it would in production. max_examples stay modest:
the file is meant to run in well under a minute on SQLite.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import re
import string
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis import checks as schemathesis_checks
from schemathesis.specs.openapi import checks as openapi_checks
from sqlalchemy import select
from starlette.applications import Starlette

from bot.app import create_app
from bot.channels.messenger import PATH as MESSENGER_PATH
from bot.channels.messenger import Dispatcher
from bot.channels.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from bot.dialogue import REGISTRY, Attachment, Context, Draft, Inbound, State, handle
from bot.dialogue.flows import report as report_flow
from bot.dialogue.flows.report import ReportDraft
from bot.dialogue.types import CATEGORIES, MAX_DESCRIPTION, MAX_EVIDENCE, MAX_LINKS
from bot.limits import FloodGuard, Limits
from bot.pipeline import clean_text
from bot.shared.config import Settings
from bot.shared.sealing import AddressBox
from nlu import parse
from nlu.refcode import new_code
from responses import LANGUAGES, catalog
from storage.records import EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage
from storage.schema import conversations, support_requests
from storage.tokens import Tokens
from tests.fakes.graph_api import FakeGraphAPI
from tests.fakes.telegram_api import FIXTURES as TELEGRAM_FIXTURES
from tests.fakes.telegram_api import FakeBotAPI
from tests.talk import status

MESSENGER_FIXTURES = Path(__file__).parent / "fixtures" / "messenger"
APP_SECRET = "fuzz_app_secret"
PAGE_TOKEN = "EAAGfuzzPageAccessToken0123456789"
VERIFY_TOKEN = "raabta-fuzz-verify"
WEBHOOK_SECRET = "fuzz-webhook-secret"
WEBCHAT = "/webchat/api/messages"
MAX_BUTTON_BYTES = 64  # Telegram's callback_data limit

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

# --- strategies --------------------------------------------------------------------------------------

# Characters from the scripts and the awkward corners of Unicode a citizen (or an attacker) can send.
SCRIPTS = (
    "abcXYZ 0123456789.,?!:/@#-_",
    "اردو میں رپورٹ کریں یہ پیج نوجوانوں کو بھرتی کرتا ہے ۱۲۳ ٹھیک ہے",  # Urdu (Arabic script)
    "مرحبا بكم في الصفحة",  # Arabic
    "שלום עולם",  # Hebrew
    "नमस्ते दुनिया",  # Devanagari
    "你好世界こんにちは안녕하세요",  # CJK
    "Привет мир",  # Cyrillic
    "😡🔥💣👍🏽👨‍👩‍👧‍👦🇵🇰",  # emoji, skin tone, ZWJ sequence, flag
    "\u0301\u0308\u0651\u064b",  # combining marks
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff",  # bidi, ZW
    "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\x85\u2028\u2029\t\r\n",  # controls and separators
    "١٢٣۴۵۶²³¹½⅓①Ⅻ",  # digits that are not ASCII, and numbers that are not digits
)
ALPHABET = "".join(SCRIPTS)
URLS = st.sampled_from(
    [
        "https://m.facebook.com/Bad.Page?ref=share",
        "https://t.me/s/some_channel/123",
        "http://xn--mgbh0fb.example/ہیلو",
        "https://youtu.be/dQw4w9WgXcQ?t=1",
        "javascript:alert(1)",
        "https://www.tiktok.com/@user/video/1234567890123456789",
        "https://x.com/someone/status/1?" + "a=" * 300,
        "https://ﬁ.example/%00%ff/..%2f",
        "facebook.com/" + "x" * 100,
        "@recruiter_handle",
    ]
)
TEXT = st.one_of(
    st.text(alphabet=ALPHABET, max_size=60),
    st.text(max_size=40),  # any code point hypothesis likes
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    st.builds(
        lambda a, u, b: f"{a} {u} {b}", st.text(alphabet=ALPHABET, max_size=20), URLS, st.text(max_size=10)
    ),
    st.sampled_from(
        [
            "/start",
            "/report",
            "/status ABCD-1234",
            "/language",
            "/cancel",
            "/menu@raabta_bot",
            "/",
            "/unknown",
        ]
    ),
    st.sampled_from(["yes", "no", "haan", "nahi", "ہاں", "نہیں", "hello", "salam", "delete my data", "help"]),
    st.text(alphabet="0123456789١٢٣۴۵۶²³¹½①", min_size=1, max_size=3),  # a numbered choice, typed
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["a", "ب", "😡", " ", "\n", "https://x.com/a "]),
        st.integers(3990, 4100),
    ),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "ی", "\u200f"]), st.integers(10_000, 120_000)),
)
EXPLORING_TEXTS = ("https://m.facebook.com/Bad.Page", "They invite young men to a camp", "yes", "03001234567")


def explore(depth: int = 9, breadth: int = 300) -> tuple[list[str], frozenset[str]]:
    """The button ids and steps reachable from a first message, by pressing what is offered (and a few
    typed answers), so that the fuzzing follows the flows as they are written today."""
    texts = catalog()
    parsed = {text: parse(text) for text in ("", *EXPLORING_TEXTS, "/start")}
    number = 0

    def step(state: State, text: str | None = None, choice: str | None = None) -> State:
        nonlocal number
        number += 1
        inbound = Inbound("fuzz", "explorer", str(number), text=text, choice=choice)
        return handle(inbound, parsed[text or ""], state, Context(f"EXPL-{number:04d}"), texts).state

    first = step(State(), text="/start")
    buttons: set[str] = set()
    steps = {"start", first.step}
    frontier, seen = [first], {(first.step, tuple(first.offered))}
    for _ in range(depth):
        following = []
        for state in frontier:
            moves = [step(state, choice=b) for b in state.offered]
            moves += [step(state, text=t) for t in EXPLORING_TEXTS]
            buttons.update(state.offered)
            for after in moves:
                steps.add(after.step)
                key = (after.step, tuple(after.offered))
                if key not in seen:
                    seen.add(key)
                    following.append(after)
        frontier = following[:breadth]
    return sorted(buttons), frozenset(steps)


BUTTONS, REACHED_STEPS = explore()
CHOICE = st.one_of(
    st.sampled_from(BUTTONS),
    st.sampled_from(BUTTONS).map(lambda b: b.upper()),
    st.text(max_size=70),
    st.text(alphabet=string.ascii_lowercase + ":-_", max_size=20),
)
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)


JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
ATTACHMENT = st.builds(
    Attachment,
    st.sampled_from(["photo", "document", "forward"]),
    st.text(alphabet=ALPHABET, min_size=1, max_size=40),
    st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)

# --- what a valid state is ---------------------------------------------------------------------------

# The steps the flows declare: exploring the flows must reach no other.
VALID_STEPS = REGISTRY.steps()
assert REACHED_STEPS <= VALID_STEPS, REACHED_STEPS - VALID_STEPS
# ... and every step a report may pass through (the fast path and "Add details", no link, a threat).
assert set(report_flow.STEPS) <= REACHED_STEPS, set(report_flow.STEPS) - REACHED_STEPS
NEEDS_CATEGORY = frozenset({"report.description", "report.danger", "report.evidence", "report.confirm"})


def assert_valid_state(data: dict[str, Any] | None) -> None:
    """The stored form of a conversation state is one the engine can always continue from."""
    if not data:  # no conversation yet, or forgotten
        return
    assert json.loads(json.dumps(data)) == data, "the state must round-trip through JSON"
    state = State.from_dict(data)
    assert state.to_dict() == data
    assert state.step in VALID_STEPS, state.step
    assert state.lang is None or state.lang in LANGUAGES, state.lang
    assert all(step in VALID_STEPS for step in state.history), state.history
    assert all(isinstance(b, str) and 0 < len(b.encode()) <= MAX_BUTTON_BYTES for b in state.offered)
    assert state.draft is None or isinstance(state.draft, Draft)
    if state.step in report_flow.STEPS:
        draft = state.draft
        assert isinstance(draft, ReportDraft), draft
        assert len(draft.links) <= MAX_LINKS and all(link.canonical for link in draft.links)
        assert len(draft.evidence) <= MAX_EVIDENCE
        assert len(draft.description) <= MAX_DESCRIPTION
        if state.step in NEEDS_CATEGORY:
            assert draft.category in CATEGORIES, draft


def assert_answer(body: Any) -> None:
    """The web chat's answer shape: messages with text and buttons that a channel can show."""
    assert isinstance(body, dict) and isinstance(body.get("messages"), list)
    for message in body["messages"]:
        assert isinstance(message["text"], str) and message["text"].strip()
        for button in message["buttons"]:
            assert isinstance(button["id"], str) and 0 < len(button["id"].encode()) <= MAX_BUTTON_BYTES
            assert isinstance(button["label"], str) and button["label"].strip()


# --- 1. the engine alone ---------------------------------------------------------------------------

EVENT = st.one_of(
    st.tuples(st.just("text"), TEXT, st.lists(ATTACHMENT, max_size=2), st.lists(URLS, max_size=2)),
    st.tuples(st.just("choice"), CHOICE, st.just([]), st.just([])),
    st.tuples(st.just("offered"), st.integers(0, 20), st.just([]), st.just([])),
)


@FUZZ
@given(events=st.lists(EVENT, min_size=1, max_size=20), known=st.booleans(), may_report=st.booleans())
def test_the_engine_keeps_a_valid_state_whatever_it_is_sent(
    events: list[tuple[str, Any, list[Attachment], list[str]]], known: bool, may_report: bool
) -> None:
    state = State()
    texts = catalog()
    for number, (kind, value, attachments, links) in enumerate(events):
        if kind == "offered":
            if not state.offered:
                continue
            kind, value = "choice", state.offered[value % len(state.offered)]
        # Every channel's text reaches the engine through the pipeline's cleaning (no controls, no lone
        # surrogates, which JSON would silently pair up into other characters).
        text = clean_text(value) if kind == "text" else None
        inbound = Inbound(
            "fuzz",
            "citizen",
            str(number),
            text=text,
            choice=value if kind == "choice" else None,
            attachments=tuple(attachments),
            links=tuple(links),
        )
        context = Context(
            f"FUZZ-{number:04d}",
            {"ABCD-1234": status("received")},
            frozenset({"https://facebook.com/bad.page"}) if known else frozenset(),
            180,
            may_report,
        )
        outcome = handle(inbound, parse(text or ""), state, context, texts)
        assert outcome.replies, "every event gets an answer"
        assert_answer({"messages": [r.to_dict() for r in outcome.replies]})
        assert_valid_state(outcome.state.to_dict())
        state = outcome.state


# --- the app with every channel --------------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Collects ERROR records (a handler error behind a webhook is logged, not raised)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    # Logged at error on purpose, for the operator, not a handler failing: Meta says it blocked the page
    # (a fuzzed policy-enforcement event), or an alert could not be queued for it.
    DELIBERATE = frozenset({"messenger_policy_enforcement", "messenger_policy_alert_not_sent"})

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() not in self.DELIBERATE:
            self.records.append(record)

    def take(self) -> list[str]:
        seen = [
            f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
            for r in self.records
        ]
        self.records.clear()
        return seen


@dataclass
class Stack:
    app: Starlette
    http: httpx.AsyncClient
    storage: Storage
    telegram: TelegramChannel
    dispatcher: Dispatcher
    errors: ErrorLog
    tokens: dict[str, str] = field(default_factory=dict)
    case_ids: list[int] = field(default_factory=list)

    async def states_are_valid(self) -> None:
        async with self.storage.reader.connect() as conn:
            rows = (await conn.execute(select(conversations.c.state))).all()
        for (data,) in rows:
            assert_valid_state(data if isinstance(data, dict) or data is None else json.loads(data))

    def no_errors(self) -> None:
        assert self.errors.take() == []


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def seed_cases(storage: Storage, count: int = 3) -> list[int]:
    ids = []
    for number in range(count):
        url = f"https://facebook.com/fuzz.seed.{number}"
        report = NewReport(
            new_code(),
            f"seed-reporter-{number}",
            "webchat",
            "en",
            CATEGORIES[number % len(CATEGORIES)],
            "seeded for the fuzz tests",
            number == 0,
            (EvidenceRecord("link", url, url, "facebook"),),
        )
        result = await storage.commit_turn(
            TurnRecord("fuzz", f"seed-{number}", f"seed-{number}", 0, {}, [], (report,))
        )
        assert result.status.value == "ok", result
        ids.extend(result.case_ids)
    return ids


async def seed_support(storage: Storage, box: AddressBox) -> None:
    """Callback requests for the counsellors' routes: with a sealed number, with a chat link, with neither."""
    async with storage.writer.begin() as conn:
        for number, (phone, chat) in enumerate(((True, True), (False, True), (False, False))):
            await conn.execute(
                support_requests.insert().values(
                    code=new_code(),
                    language="en",
                    topic="family",
                    note="seeded for the fuzz tests",
                    phone=box.seal("03001234567") if phone else None,
                    status="new",
                    created_at=datetime.now(UTC),
                    conversation_id=f"seed-family-{number}" if chat else None,
                    channel="webchat" if chat else None,
                )
            )


@pytest.fixture
async def stack(settings: Settings, storage: Storage, errors: ErrorLog) -> AsyncIterator[Stack]:
    graph = FakeGraphAPI(PAGE_TOKEN, APP_SECRET)
    with graph.serve() as graph_url:
        async with FakeBotAPI() as bot_api:
            full = settings.model_copy(
                update={
                    "telegram_token": SecretStr(bot_api.token),
                    "telegram_api_url": bot_api.base_url,
                    "telegram_webhook_url": "https://raabta.example.org/webhooks/telegram",
                    "telegram_webhook_secret": SecretStr(WEBHOOK_SECRET),
                    "messenger_page_token": SecretStr(PAGE_TOKEN),
                    "messenger_app_secret": SecretStr(APP_SECRET),
                    "messenger_verify_token": SecretStr(VERIFY_TOKEN),
                    "graph_api_url": graph_url,
                    "messages_per_minute": 100_000,
                    "reports_per_hour": 100_000,
                    "reports_per_day": 100_000,
                }
            )
            app = create_app(full, storage)
            telegram = next(r.endpoint.__self__ for r in app.routes if getattr(r, "path", "") == WEBHOOK_PATH)
            receive = next(
                r.endpoint
                for r in app.routes
                if getattr(r, "path", "") == MESSENGER_PATH and "POST" in (getattr(r, "methods", None) or ())
            )
            # One citizen may send many updates in a row here: no pause between a chat's messages.
            telegram.pacer.interval = telegram.pacer.tolerance = 0.0
            transport = httpx.ASGITransport(app=app)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
            ):
                made = Tokens(storage)
                tokens = {
                    role: await made.create(f"fuzz-{role}", role)
                    for role in ("analyst", "supervisor", "counsellor", "admin")
                }
                await seed_support(storage, app.state.pipeline.box)
                yield Stack(
                    app,
                    http,
                    storage,
                    telegram,
                    receive.__self__.dispatcher,
                    errors,
                    tokens,
                    await seed_cases(storage),
                )
    assert errors.take() == []


# --- 2. web chat -----------------------------------------------------------------------------------

SESSIONS = st.sampled_from(["fuzz-session-1", "fuzz-session-2", "fuzz_session_3", "A" * 128])
WEBCHAT_BODY = st.one_of(
    st.fixed_dictionaries(
        {"session": SESSIONS, "text": TEXT},
        optional={"id": st.sampled_from(["e1", "e2", "same-event"]) | st.text(max_size=10)},
    ),
    st.fixed_dictionaries({"session": SESSIONS, "choice": CHOICE}),
    st.dictionaries(
        st.sampled_from(["session", "text", "choice", "id", "extra"]) | st.text(max_size=8), JSON, max_size=5
    ),
    JSON,
)


@FUZZ
@given(bodies=st.lists(WEBCHAT_BODY, min_size=1, max_size=6))
async def test_web_chat_posts_never_fail_and_keep_states_valid(stack: Stack, bodies: list[Any]) -> None:
    for body in bodies:
        response = await stack.http.post(WEBCHAT, content=json.dumps(body).encode())
        assert response.status_code in (200, 400, 413), (response.status_code, response.text)
        if response.status_code == 200:
            assert_answer(response.json())
        else:
            assert isinstance(response.json().get("error"), str)
    await stack.states_are_valid()
    stack.no_errors()


@FUZZ
@given(
    raw=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=100).map(str.encode),
        st.just(b'{"session": "fuzz-session-1", "text": "\\ud800"}'),
        st.just(b'{"session": "fuzz-session-1", "text": "' + b"x" * (300 * 1024) + b'"}'),
        st.just(b"[" * 5000),
        st.just(b'{"session": "fuzz-session-1", "text": "hi", "id": ' + b"9" * 5000 + b"}"),  # > 4,300 digits
        st.builds(
            lambda digits: b'{"session": "fuzz-session-1", "text": "hi", "id": ' + digits.encode() + b"}",
            st.integers(-(2**200), 2**200).map(str),
        ),
    ),
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
    session=st.text(max_size=140) | SESSIONS,
)
async def test_web_chat_raw_bodies_and_reads_never_fail(
    stack: Stack, raw: bytes, content_type: str, session: str
) -> None:
    response = await stack.http.post(WEBCHAT, content=raw, headers={"content-type": content_type})
    assert response.status_code in (200, 400, 413), (response.status_code, response.text)
    read = await stack.http.get(WEBCHAT, params={"session": session})
    assert read.status_code in (200, 400), read.text
    if read.status_code == 200:
        assert isinstance(read.json()["messages"], list)
    await stack.states_are_valid()
    stack.no_errors()


# --- 3. Telegram webhook ---------------------------------------------------------------------------

TG_USER = st.fixed_dictionaries(
    {"id": st.integers(1, 2**40), "is_bot": st.booleans(), "first_name": TEXT},
    optional={"language_code": st.sampled_from(["en", "ur", "ar", "", "ur-PK"]) | st.text(max_size=6)},
)
TG_CHAT = st.fixed_dictionaries(
    {
        "id": st.integers(-(2**40), 2**40) | st.sampled_from([424242, 424243]),
        "type": st.sampled_from(["private", "group", "supergroup", "channel"]) | st.text(max_size=8),
    }
)
TG_ENTITY = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["bot_command", "url", "text_link", "mention", "bold"]) | st.text(max_size=8),
        "offset": st.integers(-3, 200),
        "length": st.integers(-3, 200),
    },
    optional={"url": URLS | st.text(max_size=20)},
)
TG_FILE = st.fixed_dictionaries(
    {"file_id": st.text(min_size=1, max_size=30), "file_unique_id": st.text(min_size=1, max_size=12)},
    optional={
        "file_size": st.integers(0, 2**40),
        "width": st.integers(0, 9000),
        "height": st.integers(0, 9000),
    },
)
TG_MESSAGE = st.fixed_dictionaries(
    {"message_id": st.integers(1, 2**31), "date": st.integers(0, 2**32), "chat": TG_CHAT},
    optional={
        "from": TG_USER,
        "text": TEXT,
        "caption": TEXT,
        "entities": st.lists(TG_ENTITY, max_size=3),
        "caption_entities": st.lists(TG_ENTITY, max_size=2),
        "photo": st.lists(TG_FILE, max_size=3),
        "document": TG_FILE,
        "sticker": TG_FILE,
        "voice": TG_FILE,
        "forward_origin": st.fixed_dictionaries(
            {
                "type": st.sampled_from(["user", "channel", "chat", "hidden_user"]),
                "date": st.integers(0, 2**32),
            },
            optional={"chat": TG_CHAT, "sender_user_name": TEXT, "message_id": st.integers(0, 2**31)},
        ),
        "location": st.fixed_dictionaries(
            {"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)}
        ),
        "reply_markup": JSON,
    },
)
TG_CALLBACK = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=20), "from": TG_USER, "chat_instance": st.text(max_size=20)},
    optional={"message": TG_MESSAGE, "data": CHOICE},
)
TG_UPDATE = st.fixed_dictionaries(
    {"update_id": st.integers(0, 2**31)},
    optional={
        "message": TG_MESSAGE,
        "edited_message": TG_MESSAGE,
        "channel_post": TG_MESSAGE,
        "callback_query": TG_CALLBACK,
        "my_chat_member": JSON,
        "poll": JSON,
    },
)
TELEGRAM_FIXTURE_NAMES = sorted(p.stem for p in TELEGRAM_FIXTURES.glob("*.json"))


def mutate(value: Any, path: list[int], replacement: Any) -> Any:
    """`value` with the leaf reached by following `path` (indexes modulo the sizes) replaced."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = mutate(value[key], path[1:], replacement)
    return copy


MUTATED_UPDATE = st.builds(
    lambda name, path, replacement: mutate(
        json.loads((TELEGRAM_FIXTURES / f"{name}.json").read_text(encoding="utf-8")), path, replacement
    ),
    st.sampled_from(TELEGRAM_FIXTURE_NAMES),
    st.lists(st.integers(0, 50), min_size=1, max_size=5),
    JSON,
)
# A private chat with known button presses, so that generated conversations go deep into the flows.
PRIVATE_PRESS = st.builds(
    lambda update_id, data, text: {
        "update_id": update_id,
        "callback_query": {
            "id": str(update_id),
            "from": {"id": 424242, "is_bot": False, "first_name": "Ali"},
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": 7,
                "date": 1,
                "chat": {"id": 424242, "type": "private"},
                "text": text,
            },
        },
    },
    st.integers(0, 2**31),
    st.sampled_from(BUTTONS) | CHOICE,
    TEXT,
)
PRIVATE_TEXT = st.builds(
    lambda update_id, text: {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 2**31,
            "date": 1,
            "chat": {"id": 424242, "type": "private"},
            "from": {"id": 424242, "is_bot": False, "first_name": "Ali"},
            "text": text,
        },
    },
    st.integers(0, 2**31),
    TEXT,
)
TELEGRAM_BODY = st.one_of(PRIVATE_TEXT, PRIVATE_PRESS, TG_UPDATE, MUTATED_UPDATE, JSON)
FRESH_IDS = itertools.count(900_000_000)


@FUZZ
@given(
    bodies=st.lists(st.tuples(TELEGRAM_BODY, st.booleans()), min_size=1, max_size=5),
    secret=st.sampled_from([WEBHOOK_SECRET] * 6 + ["", "wrong"]),
)
async def test_telegram_updates_of_any_shape_never_fail(
    stack: Stack, bodies: list[tuple[Any, bool]], secret: str
) -> None:
    for body, replay in bodies:
        if not replay and isinstance(body, dict) and type(body.get("update_id")) is int:
            body["update_id"] = next(FRESH_IDS)  # a new update (else a redelivery of an earlier id)
        response = await stack.http.post(
            WEBHOOK_PATH, content=json.dumps(body).encode(), headers={SECRET_HEADER: secret} if secret else {}
        )
        expected = (200, 400, 413) if secret == WEBHOOK_SECRET else (403,)  # 413: over MAX_BODY
        assert response.status_code in expected, (response.status_code, response.text)
        await stack.telegram.drain()
    await stack.states_are_valid()
    stack.no_errors()


# --- 4. Messenger webhook --------------------------------------------------------------------------

REAL_PSIDS = st.sampled_from(["6543210987654321", "7012345678901234", "7999000011112222"])
PSID = st.one_of(REAL_PSIDS, REAL_PSIDS, REAL_PSIDS, st.text(max_size=20), st.integers())
MID = st.one_of(st.just("FRESH"), st.just("FRESH"), st.text(max_size=60))  # FRESH: a new mid per post
M_ATTACHMENT = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["image", "video", "audio", "file", "fallback", "template", "sticker"])
        | st.text(max_size=6)
    },
    optional={
        "payload": st.fixed_dictionaries(
            {}, optional={"url": URLS | st.text(max_size=20), "title": TEXT, "sticker_id": st.integers()}
        )
        | JSON
    },
)
M_MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "mid": MID,
        "text": TEXT,
        "quick_reply": st.fixed_dictionaries({"payload": CHOICE | JSON}),
        "attachments": st.lists(M_ATTACHMENT, max_size=3) | JSON,
        "is_echo": st.booleans(),
        "reply_to": JSON,
    },
)
M_EVENT = st.fixed_dictionaries(
    {"sender": st.fixed_dictionaries({"id": PSID}), "recipient": st.fixed_dictionaries({"id": PSID})},
    optional={
        "timestamp": st.integers(-1, 2**45) | JSON,
        "message": M_MESSAGE | JSON,
        "postback": st.fixed_dictionaries({}, optional={"mid": MID, "payload": CHOICE | JSON, "title": TEXT}),
        "read": JSON,
        "delivery": JSON,
        "reaction": JSON,
    },
)
M_BODY = st.fixed_dictionaries(
    {
        "object": st.sampled_from(["page"] * 4 + ["instagram"]) | st.text(max_size=6),
        "entry": st.lists(
            st.fixed_dictionaries(
                {"id": PSID, "time": st.integers(0, 2**45)},
                optional={"messaging": st.lists(M_EVENT, min_size=1, max_size=3) | JSON},
            ),
            max_size=2,
        )
        | JSON,
    }
)
# Well-formed events from a few citizens, so that generated conversations reach the pipeline and go deep.
M_GOOD_EVENT = st.fixed_dictionaries(
    {
        "sender": st.fixed_dictionaries({"id": REAL_PSIDS}),
        "recipient": st.just({"id": "1234567890"}),
        "timestamp": st.integers(1, 2**45),
    }
).flatmap(
    lambda base: st.one_of(
        st.fixed_dictionaries(
            {
                "message": st.fixed_dictionaries(
                    {"mid": st.just("FRESH")},
                    optional={
                        "text": TEXT,
                        "quick_reply": st.fixed_dictionaries({"payload": CHOICE}),
                        "attachments": st.lists(M_ATTACHMENT, max_size=2),
                    },
                )
            }
        ),
        st.fixed_dictionaries(
            {"postback": st.fixed_dictionaries({"mid": st.just("FRESH"), "payload": CHOICE, "title": TEXT})}
        ),
    ).map(lambda kind: {**base, **kind})
)
M_GOOD_BODY = st.fixed_dictionaries(
    {
        "object": st.just("page"),
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.just("1234567890"),
                    "time": st.integers(1, 2**45),
                    "messaging": st.lists(M_GOOD_EVENT, min_size=1, max_size=3),
                }
            ),
            min_size=1,
            max_size=2,
        ),
    }
)
MESSENGER_FIXTURE_NAMES = sorted(p.stem for p in MESSENGER_FIXTURES.glob("*.json"))
MUTATED_MESSENGER = st.builds(
    lambda name, path, replacement: mutate(
        json.loads((MESSENGER_FIXTURES / f"{name}.json").read_text(encoding="utf-8")), path, replacement
    ),
    st.sampled_from(MESSENGER_FIXTURE_NAMES),
    st.lists(st.integers(0, 50), min_size=1, max_size=6),
    JSON,
)


@FUZZ
@given(
    bodies=st.lists(
        st.one_of(M_GOOD_BODY, M_GOOD_BODY, M_BODY, MUTATED_MESSENGER, JSON), min_size=1, max_size=3
    ),
    signed=st.sampled_from([True, True, True, False]),
)
async def test_signed_messenger_bodies_of_any_shape_never_fail(
    stack: Stack, bodies: list[Any], signed: bool
) -> None:
    for body in bodies:
        raw = re.sub('"FRESH"', lambda _: f'"m_{next(FRESH_IDS)}"', json.dumps(body)).encode()
        headers = {"X-Hub-Signature-256": sign(raw) if signed else "sha256=" + "0" * 64}
        response = await stack.http.post(MESSENGER_PATH, content=raw, headers=headers)
        assert response.status_code in ((200, 400) if signed else (403,)), (
            response.status_code,
            response.text,
        )
        await stack.dispatcher.idle()
    await stack.states_are_valid()
    stack.no_errors()


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge"]) | st.text(max_size=8),
        st.text(max_size=300),
        max_size=4,
    )
)
async def test_the_messenger_subscription_check_never_fails(stack: Stack, query: dict[str, str]) -> None:
    response = await stack.http.get(MESSENGER_PATH, params=query)
    assert response.status_code in (200, 403)


# --- 5. the analysts' API --------------------------------------------------------------------------

API_ROUTES = [
    ("GET", "/cases"),
    ("GET", "/cases/{id}"),
    ("POST", "/queue/claim"),
    ("POST", "/cases/{id}/decision"),
    ("POST", "/cases/{id}/release"),
    ("POST", "/cases/{id}/extend"),
    ("POST", "/cases/{id}/notes"),
    ("POST", "/cases/{id}/assign"),
    ("GET", "/cases/{id}/duplicates"),
    ("POST", "/cases/{id}/followups"),
    ("POST", "/cases/{id}/referrals"),
    ("POST", "/cases/{id}/checks"),
    ("POST", "/cases/bulk"),
    ("GET", "/search"),
    ("GET", "/takedowns/due"),
    ("GET", "/takedowns/stats"),
    ("GET", "/stats"),
    ("GET", "/export"),
    ("GET", "/audit"),
    ("GET", "/support-requests"),
    ("POST", "/support-requests/{id}/take"),
    ("POST", "/support-requests/{id}/phone"),
    ("POST", "/support-requests/{id}/reply"),
    ("POST", "/support-requests/{id}/close"),
    ("GET", "/blocks"),
    ("POST", "/blocks/{id}/lift"),
]
QUERY_NAMES = [
    "status",
    "category",
    "platform",
    "language",
    "min_priority",
    "since",
    "until",
    "needs_care",
    "sort",
    "order",
    "cursor",
    "limit",
    "format",
    "after",
    "include_monitoring",
    "q",
    "urgent",
    "from",
    "to",
    "age_days",
]
DEEP = "[" * 5000  # deep enough to exhaust the JSON decoder's recursion, far below any size limit
CURSOR_PART = st.one_of(
    st.integers(-(2**80), 2**80),
    st.integers(-(2**31) - 2, 2**31 + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["2024-01-01T00:00:00", "0001-01-01T00:16+01:00", "9999-12-31T23:59+00:00", "\ud800"]),
    st.text(max_size=5),
    st.none(),
)
CURSORS = st.builds(  # cursors shaped like ours, holding numbers no column can hold
    lambda value, case: base64.urlsafe_b64encode(json.dumps([value, case]).encode()).decode().rstrip("="),
    CURSOR_PART,
    CURSOR_PART,
)
QUERY_VALUES = st.one_of(
    st.text(max_size=30),
    st.just(base64.urlsafe_b64encode(DEEP.encode()).decode()),  # a cursor that is not one we gave out
    CURSORS,
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(
        [
            "new",
            "in_review,referred",
            "csv",
            "json",
            "stix",
            "priority",
            "last_seen",
            "first_seen",
            "report_count",
            "asc",
            "desc",
            "true",
            "2024-01-01",
            "2024-13-45T99:00",
            "nan",
            "inf",
            "-1",
            "0",
            "1e309",
            "eyJ4IjoxfQ",
            "%00",
        ]
    ),
)
API_BODY = st.one_of(
    st.just(DEEP.encode()),  # sent as it is: not JSON a decoder can nest into
    st.sampled_from(  # sent as they are: a lone surrogate escaped, an integer past Python's 4,300 digits
        [b'{"note": "a\\ud800b"}', b'{"text": "\\udfff"}', b'{"limit": ' + b"9" * 5000 + b"}"]
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "status": st.sampled_from(["referred", "escalated", "monitoring", "no_action", "merged"])
            | st.text(max_size=10),
            "note": TEXT,
            "agency": TEXT | JSON,
            "merge_into": st.integers(-5, 10) | JSON,
            "limit": st.integers(-5, 10**12) | JSON,
            "lease_seconds": st.integers(-(2**40), 2**40) | JSON,
            "assignee": st.sampled_from(["fuzz-analyst", "nobody", "<nobody>", "gone"]) | TEXT,
            "text": TEXT | JSON,
        },
    ),
    JSON,
)


@FUZZ
@given(
    route=st.sampled_from(API_ROUTES),
    role=st.sampled_from(["analyst", "analyst", "supervisor", "supervisor", "counsellor", "admin"]),
    ident=st.one_of(
        st.sampled_from(["1", "2", "3", "0", "-1", "999999"]),
        st.integers(-(2**70), 2**70).map(str),
        st.text(alphabet=string.printable, min_size=1, max_size=12),
    ),
    query=st.dictionaries(st.sampled_from(QUERY_NAMES), QUERY_VALUES, max_size=4),
    body=API_BODY,
)
async def test_the_analyst_api_never_fails_on_any_request(
    stack: Stack, route: tuple[str, str], role: str, ident: str, query: dict[str, str], body: Any
) -> None:
    method, template = route
    path = "/api/v1" + template.replace("{id}", quote(ident, safe=""))
    response = await stack.http.request(
        method,
        path,
        params=query,
        content=(body if isinstance(body, bytes) else json.dumps(body).encode())
        if method == "POST"
        else None,
        headers={"Authorization": f"Bearer {stack.tokens[role]}"},
    )
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.status_code in (200, 307, 400, 403, 404, 405, 409, 413, 422, 429), (
        response.status_code,
        response.text,
    )
    stack.no_errors()


# --- 6. schemathesis over the OpenAPI description ---------------------------------------------------

_SCHEMA: dict[str, Any] = {}
# The spec documents the success answers; errors follow one documented convention instead (RFC 9457
# problem details), checked below, so `status_code_conformance` is left out.
CHECKS = [
    schemathesis_checks.not_a_server_error,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
PROBLEM_STATUSES = frozenset({400, 401, 403, 404, 409, 413})


def assert_documented_or_problem(case: Any, response: httpx.Response) -> None:
    """A documented status, or an error as problem details whose `status` is the HTTP status."""
    documented = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    if str(response.status_code) in documented:
        return
    if response.status_code == 404 and response.headers.get("content-type", "").startswith("text/plain"):
        return  # the router's own 404: the path (with a generated case id holding "/") matched no route
    assert response.status_code in PROBLEM_STATUSES, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    details = response.json()
    assert details["status"] == response.status_code and isinstance(details["detail"], str), details


def role_for(path: str) -> str:
    """A token whose role may use the route, so that cases reach the handlers rather than a 403."""
    if "/support-requests" in path:
        return "counsellor"
    if "/blocks" in path:
        return "admin"
    return "supervisor"  # cases, queue, assign, stats, export, audit


async def api_strategies(http: httpx.AsyncClient) -> tuple[Any, Any]:
    """Positive and negative case strategies for every operation of /api/v1/openapi.json, built once."""
    if not _SCHEMA:
        spec = (await http.get("/api/v1/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(spec)
        _SCHEMA["positive"] = schema.as_strategy(GenerationMode.POSITIVE)
        _SCHEMA["negative"] = schema.as_strategy(GenerationMode.NEGATIVE)
    return _SCHEMA["positive"], _SCHEMA["negative"]


@settings(FUZZ, max_examples=150)
@given(data=st.data())
async def test_schemathesis_cases_get_no_server_error_and_conform_to_the_spec(
    stack: Stack, data: st.DataObject
) -> None:
    positive, negative = await api_strategies(stack.http)
    case = data.draw(st.one_of(positive, positive, negative), label="case")
    token = stack.tokens[role_for(case.path)]
    kwargs = case.as_transport_kwargs(
        base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}
    )
    body = kwargs.pop("data", None)
    headers = {**(kwargs.pop("headers", None) or {}), "Authorization": f"Bearer {token}"}
    response = await stack.http.request(
        kwargs.pop("method"),
        kwargs.pop("url"),
        params=kwargs.pop("params", None),
        headers=headers,
        json=kwargs.pop("json", None),
        content=body.encode() if isinstance(body, str) else body,
    )
    case.validate_response(response, checks=CHECKS)
    assert_documented_or_problem(case, response)
    stack.no_errors()


# --- 7. the flood limits over long runs ------------------------------------------------------------


class NeverPruned(FloodGuard):
    """The same limits with no forgetting at all: what the verdicts must equal."""

    def _prune(self, now: float) -> None:
        return None


@settings(max_examples=150, deadline=None, database=None)
@given(
    events=st.lists(st.tuples(st.integers(0, 40), st.floats(0, 45, allow_nan=False)), max_size=150),
    per_minute=st.integers(1, 6),
)
def test_flood_limits_forget_quiet_citizens_without_changing_a_verdict(
    events: list[tuple[int, float]], per_minute: int
) -> None:
    now = [1_000.0]
    limits = Limits(per_minute, 5, 20, 3)
    guard, reference = FloodGuard(limits, clock=lambda: now[0]), NeverPruned(limits, clock=lambda: now[0])
    for citizen, later in events:
        now[0] += later
        assert guard.check(f"citizen-{citizen}") == reference.check(f"citizen-{citizen}")
    now[0] += 61
    guard.check("one more")
    assert list(guard._messages) == ["one more"]  # a quiet minute later, nobody else is remembered
