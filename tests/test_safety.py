"""Abuse limits and retention: floods slowed then blocked, report quotas, admin unblock, purge."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from bot.app import create_app
from bot.limits import FloodGuard, Limits, Verdict
from bot.shared.config import Settings
from responses import catalog
from storage.blocklist import BlockList
from storage.repository import Storage, utcnow
from storage.safety import Safety
from storage.schema import contacts, conversations, processed_events
from storage.tokens import Tokens
from tests.test_privacy import report_with_updates
from tests.test_webchat import API, WebChat


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_flood_guard_slows_then_blocks() -> None:
    clock = Clock()
    guard = FloodGuard(Limits(messages_per_minute=3, floods_before_block=2), clock)
    assert [guard.check("a") for _ in range(3)] == [Verdict.OK] * 3
    assert guard.check("a") is Verdict.SLOW_DOWN  # first flood
    assert guard.check("a") is Verdict.SLOW_DOWN  # same flood, not counted twice
    assert guard.check("b") is Verdict.OK  # others are not affected
    clock.now += 61
    assert [guard.check("a") for _ in range(3)] == [Verdict.OK] * 3
    assert guard.check("a") is Verdict.BLOCK  # second flood within a day
    clock.now += 86_400 * 2
    fresh = FloodGuard(Limits(messages_per_minute=1, floods_before_block=2), clock)
    assert fresh.check("c") is Verdict.OK


def test_messages_asked_to_be_sent_again_do_not_count_as_a_flood() -> None:
    guard = FloodGuard(Limits(messages_per_minute=3), clock=lambda: 0.0)
    for _ in range(10):  # the database is down: each is answered "please send it again" and forgiven
        assert guard.check("c") is Verdict.OK
        guard.forgive("c")
    assert [guard.check("c") for _ in range(4)] == [Verdict.OK] * 3 + [Verdict.SLOW_DOWN]
    guard.forgive("nobody")  # nothing counted: nothing to take back


async def test_a_flooding_citizen_is_slowed_blocked_and_unblocked_by_an_admin(
    settings: Settings, storage: Storage
) -> None:
    strict = settings.model_copy(update={"messages_per_minute": 3, "floods_before_block": 1})
    app = create_app(strict, storage)
    admin = await Tokens(storage).create("root", "admin")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f") as http:
        chat = WebChat(http)
        for _ in range(3):
            await chat.send("hello")
        response = await http.post(API, json={"session": chat.session, "text": "hello"})
        assert response.status_code == 403  # blocked: not handled, nothing kept, no point retrying
        assert response.json()["messages"][0]["text"] == catalog().text("common.blocked", "en")
        blocks = (await http.get("/api/v1/blocks", headers={"Authorization": f"Bearer {admin}"})).json()[
            "items"
        ]
        assert len(blocks) == 1 and len(blocks[0]["reporter"]) == 12
        other = WebChat(http)
        await other.send("hello")  # someone else is unaffected
        lifted = await http.post(
            f"/api/v1/blocks/{blocks[0]['id']}/lift", headers={"Authorization": f"Bearer {admin}"}
        )
        assert lifted.status_code == 200
        again = await http.post(
            f"/api/v1/blocks/{blocks[0]['id']}/lift", headers={"Authorization": f"Bearer {admin}"}
        )
        assert again.status_code == 404
    assert await Safety(storage).active_blocks() == []


async def test_a_slowed_message_gets_a_polite_answer(settings: Settings, storage: Storage) -> None:
    app = create_app(
        settings.model_copy(update={"messages_per_minute": 2, "floods_before_block": 5}), storage
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as http:
        session = uuid.uuid4().hex
        codes = []
        for _ in range(3):
            response = await http.post(API, json={"session": session, "text": "salam"})
            codes.append(response.status_code)
        assert codes == [200, 200, 429]  # "too many", never "server down": a client must not just retry
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["messages"][0]["text"] == catalog().text("common.slow_down_user", "ur-Latn")
        assert response.json()["messages"][0]["lang"] == "ur-Latn"


async def test_reports_per_hour_are_limited_and_the_draft_is_kept(
    settings: Settings, storage: Storage
) -> None:
    app = create_app(settings.model_copy(update={"reports_per_hour": 1}), storage)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as http:
        chat, _ = await report_with_updates(http, "https://t.me/first_one")
        again = WebChat(http, chat.session)
        again.messages = chat.messages  # the menu offered after the first report
        for step in (
            {"choice": "menu:report"},
            {"text": "https://t.me/second_one"},
            {"choice": "cat:other"},
            {"choice": "confirm:submit"},
        ):
            if "choice" in step:  # a button the last answer offered
                await again.press(step["choice"])
            else:
                await again.send(**step)  # type: ignore[arg-type]
        assert again.said == catalog().text("report.quota", "en")
        assert "confirm:submit" in again.buttons
    assert await storage.count("reports") == 1


async def test_purge_deletes_what_is_past_retention(client: httpx.AsyncClient, storage: Storage) -> None:
    await report_with_updates(client, "https://t.me/old_report")
    await report_with_updates(client, "https://t.me/new_report")
    old = utcnow() - timedelta(days=200)
    async with storage.writer.begin() as conn:
        first = await conn.scalar(select(contacts.c.id).order_by(contacts.c.id))
        await conn.execute(update(contacts).where(contacts.c.id == first).values(created_at=old))
        await conn.execute(update(conversations).where(conversations.c.id != "x").values(updated_at=old))
        await conn.execute(update(processed_events).values(created_at=old))
    done = await Safety(storage).purge(180)
    assert (done.contacts, done.conversations) == (1, 2)
    assert done.processed_events > 10
    assert await storage.count("reports") == 2  # reports are never purged
    assert await storage.count("conversations") == 0
    assert await storage.verify_audit_chain()


async def test_the_block_list_sees_this_process_at_once_and_others_within_its_refresh(
    storage: Storage,
) -> None:
    now = [0.0]
    blocked = BlockList(storage, refresh=5.0, clock=lambda: now[0])
    assert not await blocked.contains("citizen-a")
    await Safety(storage).block("citizen-a", "repeated message floods")
    assert await blocked.contains("citizen-a")  # blocked through this process: seen by the next message
    [block] = await Safety(storage).active_blocks()
    elsewhere = Storage(storage.url)  # another process sharing the database, e.g. `raabta blocks lift`
    try:
        assert await Safety(elsewhere).lift(block["id"], "admin")
    finally:
        await elsewhere.close()
    now[0] = 4.9
    assert await blocked.contains("citizen-a")  # not yet reloaded
    now[0] = 5.0
    assert not await blocked.contains("citizen-a")
    assert not await blocked.contains("citizen-b")
