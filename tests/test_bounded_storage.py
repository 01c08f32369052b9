"""Storage stays bounded when a script invents web chat sessions: new sessions an hour from one address
are capped (429, nothing stored), sessions that never reported are purged after RAABTA_IDLE_SESSION_DAYS,
and handled-event records after RAABTA_REDELIVERY_HOURS.

The bound, stated: a message the web chat accepts that files no report adds at most 3 rows (its
handled-event record, its messages' row of the transcript, and the conversation when its session is new);
a report adds its own rows, capped by the per-citizen report quotas. So one address holds at most
`webchat_new_sessions_per_hour` x 24 x `idle_session_days` conversations of sessions that never reported
(30 x 24 x 7 = 5,040 by default), each with the transcript rows of at most its last 30 turns
(storage.transcripts, deleted with it), and at most `webchat_ip_limit` x 60 x `redelivery_hours` event
records (120 x 60 x 48 = 345,600), where the issue measured every message kept for 180 days.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import MetaData, func, select

from bot.app import create_app
from bot.limits import NewSessions
from bot.shared.config import Settings
from responses import catalog
from storage.repository import Storage, utcnow
from storage.safety import Safety
from storage.schema import conversations
from tests.test_privacy import report_with_updates
from tests.test_webchat import API, WebChat

CAP = 5
ROWS_PER_MESSAGE = 3  # the stated bound for a message that files no report (module docstring)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def capped(settings: Settings, per_hour: int = CAP) -> Settings:
    return settings.model_copy(update={"webchat_new_sessions_per_hour": per_hour})


@pytest.fixture
async def http(settings: Settings, storage: Storage) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(capped(settings), storage)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def total_rows(storage: Storage) -> dict[str, int]:
    """Rows in every table of the database (reflected: tables our schema module does not name count too)."""
    async with storage.reader.connect() as conn:
        meta = MetaData()
        await conn.run_sync(meta.reflect)
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in meta.sorted_tables
        }


async def new_session(http: httpx.AsyncClient, text: str = "/start", session: str = "") -> httpx.Response:
    return await http.post(API, json={"session": session or uuid.uuid4().hex, "text": text})


def test_new_sessions_are_counted_per_address_over_a_sliding_hour() -> None:
    clock = Clock()
    sessions = NewSessions(2, clock)
    assert sessions.admit("a", "s1") and sessions.admit("a", "s2")
    assert not sessions.admit("a", "s3")
    assert sessions.known("s1") and not sessions.known("s3")  # a refused session is not let in later
    assert sessions.admit("b", "s4")  # other addresses are not affected
    assert sessions.retry_after("a") == 3600
    clock.now += 1800
    assert sessions.admit("b", "s5") and not sessions.admit("b", "s6")
    assert sessions.retry_after("a") == 1800
    clock.now += 1800
    assert sessions.admit("a", "s3")  # the first of "a" left the hour
    assert not sessions.known("s1")  # let through an hour ago: asked about again
    assert NewSessions(0, clock).known("anything")  # 0: off


async def test_flooding_new_sessions_is_refused_and_stores_nothing(
    http: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    sessions = [uuid.uuid4().hex for _ in range(CAP)]
    accepted = [await new_session(http, session=s) for s in sessions]
    assert [r.status_code for r in accepted] == [200] * CAP
    before = await total_rows(storage)
    assert before["conversations"] == CAP
    refused = [await new_session(http, "hello") for _ in range(20)]
    assert {r.status_code for r in refused} == {429}
    assert all(0 < int(r.headers["Retry-After"]) <= 3600 for r in refused)
    [said] = refused[0].json()["messages"]
    assert said["text"] == catalog().text("common.new_chats", "en") and said["kind"] == "notice"
    assert await total_rows(storage) == before, "a refused session stores nothing"

    # Someone in crisis on a new session still gets the numbers to call, and nothing is kept.
    crisis = await new_session(http, "I want to kill myself")
    assert crisis.status_code == 200
    assert crisis.json()["messages"][0]["kind"] == "crisis"
    assert await total_rows(storage) == before

    # Sessions already stored are never new: after a restart (a fresh limiter) they go on, uncounted.
    app = create_app(capped(settings, 1), storage)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as restarted:
        for session in sessions:
            assert (await new_session(restarted, "hi", session)).status_code == 200
        assert (await new_session(restarted)).status_code == 200
        assert (await new_session(restarted)).status_code == 429
        other = httpx.ASGITransport(app=app, client=("198.51.100.9", 4242))
        async with httpx.AsyncClient(transport=other, base_url="http://testserver") as elsewhere:
            assert (await new_session(elsewhere)).status_code == 200  # another address has its own count


async def test_row_growth_per_accepted_message_stays_within_the_stated_bound(
    http: httpx.AsyncClient, storage: Storage
) -> None:
    before = sum((await total_rows(storage)).values())
    accepted = 0
    for _ in range(CAP + 3):  # new sessions, past the cap
        session = uuid.uuid4().hex
        for text in ("/start", "hello", "what is this?"):
            response = await http.post(API, json={"session": session, "text": text})
            accepted += response.status_code == 200
    assert accepted == CAP * 3
    grown = sum((await total_rows(storage)).values()) - before
    assert grown <= ROWS_PER_MESSAGE * accepted, f"{grown} rows for {accepted} messages"


async def test_the_purge_drops_idle_sessions_that_never_reported_and_events_past_redelivery(
    settings: Settings, storage: Storage
) -> None:
    app = create_app(settings, storage)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for _ in range(6):  # sessions that never reported
            await WebChat(client).send("/start")
        reporter, code = await report_with_updates(client, "https://t.me/bounded_storage_case")
        drafting = WebChat(client)  # a draft set aside counts for nothing: it goes with the session
        await drafting.send("/start")
        await drafting.send(choice="lang:en")
        await drafting.send(choice="menu:report")
        await drafting.send("https://t.me/unfinished_draft")
        subscriber = WebChat(client)  # a subscription keeps its conversation
        await subscriber.send("/start")
        for step in ("lang:en", "menu:learn", "digest:ask", "digest:on"):
            await subscriber.send(choice=step)
        keeps = {
            app.state.pipeline.pseudonyms.of("webchat", s) for s in (reporter.session, subscriber.session)
        }
    events = await storage.count("processed_events")
    safety = Safety(storage)

    soon = await safety.purge(180, now=utcnow() + timedelta(hours=47))
    assert (soon.processed_events, soon.idle_sessions) == (0, 0), "within the redelivery window"
    later = await safety.purge(180, now=utcnow() + timedelta(hours=49))
    assert later.processed_events == events and later.idle_sessions == 0
    assert await storage.count("conversations") == 9

    week = await safety.purge(180, now=utcnow() + timedelta(days=7, minutes=1))
    assert week.idle_sessions == 7 and week.conversations == 0
    async with storage.reader.connect() as conn:
        left = set((await conn.scalars(select(conversations.c.id))).all())
    assert left == keeps
    assert await storage.count("reports") == 1 and (await storage.reports.statuses([code]))[code]
    assert await storage.verify_audit_chain()

    shorter = await Safety(storage).purge(180, idle_session_days=1, now=utcnow() + timedelta(days=2))
    assert shorter.idle_sessions == 0  # what is left is kept for retention
