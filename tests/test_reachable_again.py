"""Unreachable is not forever: any message from a citizen, on any channel, clears the mark that a failed
delivery (blocked, user gone) put on their contact, in the same transaction that stores the turn."""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from bot.app import make_pipeline
from bot.dialogue import Inbound
from bot.shared.config import Settings
from storage.records import TurnRecord
from storage.repository import Storage, utcnow
from storage.schema import contacts
from tests.test_privacy import report_with_updates


async def marks(storage: Storage) -> list[object]:
    async with storage.reader.connect() as conn:
        return list((await conn.execute(select(contacts.c.unreachable_at))).scalars())


async def test_a_web_chat_message_clears_the_unreachable_mark(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat, _ = await report_with_updates(client, "https://t.me/reachable_case")
    async with storage.db.transaction() as conn:
        await conn.execute(update(contacts).values(unreachable_at=utcnow()))
    [marked] = await marks(storage)
    assert marked is not None
    await chat.send("hello again")
    assert await marks(storage) == [None]


async def test_any_channels_message_clears_only_its_own_contact(settings: Settings, storage: Storage) -> None:
    pipeline = make_pipeline(settings, storage)
    for channel in ("telegram", "messenger"):
        reporter = pipeline.pseudonyms.of(channel, "42")
        record = TurnRecord(channel, f"{channel}-0", reporter, 0, {}, [], contact=pipeline.box.seal("42"))
        await storage.commit_turn(record)  # the citizen said yes to updates
        await storage.outbox.mark_unreachable(reporter, channel)
        assert await storage.outbox.contact_of(reporter, channel) is None
    await pipeline.handle(Inbound("messenger", "42", "messenger-2", text="hi"))
    assert await storage.outbox.contact_of(pipeline.pseudonyms.of("messenger", "42"), "messenger") is not None
    assert await storage.outbox.contact_of(pipeline.pseudonyms.of("telegram", "42"), "telegram") is None
    assert await pipeline.reachable("telegram", "42", True)  # the platform says: unblocked
    assert await storage.outbox.contact_of(pipeline.pseudonyms.of("telegram", "42"), "telegram") is not None
