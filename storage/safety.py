"""Abuse limits and retention: blocks after floods, report counts per reporter, and the purge job."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit, support
from storage.evidence_files import KeptFiles
from storage.outbox import DONE, SPENT
from storage.repository import Storage, utcnow
from storage.schema import (
    blocks,
    contacts,
    conversations,
    outbox,
    processed_events,
    reports,
    subscriptions,
    support_requests,
)

REDELIVERY_HOURS = 48
IDLE_SESSION_DAYS = 7


@dataclass(frozen=True, slots=True)
class Purged:
    contacts: int
    conversations: int
    processed_events: int
    outbox: int
    evidence_files: int = 0  # downloaded copies deleted from disk (their sha256 stays)
    idle_sessions: int = 0  # conversations of sessions that never reported, idle for idle_session_days


def idle() -> ColumnElement[bool]:
    """A conversation nothing else refers to: no report of it (forgotten reports have no reporter), no
    contact, digest subscription or callback request, and nothing waiting in the outbox for it. Such a
    conversation is all a session that never reported leaves; deleting it loses only where the chat was
    (an unfinished draft included), never a link anyone relies on."""
    me = conversations.c.id
    return (
        ~exists().where(reports.c.reporter_id == me)
        & ~exists().where(contacts.c.reporter_id == me)
        & ~exists().where(subscriptions.c.conversation_id == me)
        & ~exists().where(support_requests.c.conversation_id == me)
        & ~exists().where(outbox.c.conversation_id == me, outbox.c.status == "pending")
    )


class Safety:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def block(self, reporter_id: str, reason: str) -> None:
        """Block a citizen. The audit names the block, never the pseudonym: the audit chain cannot be
        edited, and forget-me must be able to delete every row that names the citizen (the block row
        goes once lifted)."""
        now = utcnow()
        async with self.storage.db.transaction() as conn:
            block_id = await conn.scalar(
                blocks.insert()
                .values(reporter_id=reporter_id, reason=reason[:200], blocked_at=now)
                .returning(blocks.c.id)
            )
            await audit.append(
                conn, now, "system", "reporter.blocked", f"block:{block_id}", {"reason": reason[:200]}
            )
        self.storage.blocks_generation += 1

    async def lift(self, block_id: int, actor: str) -> bool:
        now = utcnow()
        async with self.storage.db.transaction() as conn:
            row = (
                await conn.execute(
                    update(blocks)
                    .where(blocks.c.id == block_id, blocks.c.lifted_at.is_(None))
                    .values(lifted_at=now, lifted_by=actor)
                    .returning(blocks.c.id)
                )
            ).first()
            if row is not None:
                await audit.append(conn, now, actor, "reporter.unblocked", f"block:{block_id}", {})
        self.storage.blocks_generation += 1
        return row is not None

    async def active_blocks(self) -> list[dict[str, Any]]:
        """Blocks in force; reporters appear only as a short pseudonym prefix."""
        async with self.storage.db.read() as conn:
            rows = (
                await conn.execute(select(blocks).where(blocks.c.lifted_at.is_(None)).order_by(blocks.c.id))
            ).all()
        return [
            {
                "id": r.id,
                "reporter": r.reporter_id[:12],
                "reason": r.reason,
                "blocked_at": audit.as_utc(r.blocked_at).isoformat(),
            }
            for r in rows
        ]

    async def reports_since(self, reporter_id: str, hours: float) -> int:
        since = utcnow() - timedelta(hours=hours)
        fixed = self.storage.db.fixed
        if fixed is not None:  # SQLite: fixed SQL (storage.fixedreads)
            read = functools.partial(fixed.reports_since, reporter_id=reporter_id, since=since)
            return await self.storage.db.fetch_sqlite(read)

        async def count(conn: AsyncConnection) -> int:
            query = select(func.count()).where(
                reports.c.reporter_id == reporter_id, reports.c.created_at >= since
            )
            return int(await conn.scalar(query) or 0)

        return await self.storage.db.fetch(count)

    async def purge(
        self,
        retention_days: int,
        data_dir: Path | None = None,
        *,
        redelivery_hours: int = REDELIVERY_HOURS,
        idle_session_days: int = IDLE_SESSION_DAYS,
        now: datetime | None = None,
    ) -> Purged:
        """Delete what is past its time: contacts, conversation state and notifications older than
        retention; handled-event records older than the redelivery window (they exist only to answer a
        redelivered event once, and hold the bot's replies, reference codes included); conversations of
        sessions that never reported (`idle`) untouched for `idle_session_days`, so that new session ids
        cannot fill the disk for the whole retention period; and, with `data_dir`, the copies of evidence
        files downloaded under it before the retention cutoff. `now` moves the clock (tests)."""
        now = now or utcnow()
        cutoff = now - timedelta(days=retention_days)
        files = await KeptFiles(self.storage).purge(data_dir, cutoff) if data_dir is not None else 0
        async with self.storage.db.transaction() as conn:
            gone_contacts = await conn.execute(delete(contacts).where(contacts.c.created_at < cutoff))
            # A family's "Reply here" address goes once their request is closed and its last message left.
            released = await support.release_contacts_in(conn)
            released += await support.expire_phones_in(conn, cutoff)  # families' callback numbers
            gone_conversations = await conn.execute(
                delete(conversations).where(conversations.c.updated_at < cutoff)
            )
            gone_idle = await conn.execute(
                delete(conversations).where(
                    conversations.c.updated_at < now - timedelta(days=idle_session_days), idle()
                )
            )
            gone_events = await conn.execute(
                delete(processed_events).where(
                    processed_events.c.created_at < now - timedelta(hours=redelivery_hours)
                )
            )
            gone_outbox = await conn.execute(delete(outbox).where(outbox.c.created_at < cutoff))
            self.storage.states.clear()  # states of purged conversations must not outlive them here
            # Rows done before their text was dropped at once (`Outbox.finish`) lose it now.
            await conn.execute(
                update(outbox)
                .where(outbox.c.status.in_(DONE), cast(outbox.c.payload, Text) != "{}")
                .values(payload=SPENT)
            )
            result = Purged(
                gone_contacts.rowcount + released,
                gone_conversations.rowcount,
                gone_events.rowcount,
                gone_outbox.rowcount,
                files,
                gone_idle.rowcount,
            )
            counts = (
                result.contacts,
                result.conversations,
                result.processed_events,
                result.outbox,
                files,
                result.idle_sessions,
            )
            if any(counts):
                await audit.append(
                    conn,
                    utcnow(),
                    "system",
                    "retention.purged",
                    "retention",
                    {
                        "days": retention_days,
                        "redelivery_hours": redelivery_hours,
                        "idle_session_days": idle_session_days,
                        "contacts": result.contacts,
                        "conversations": result.conversations,
                        "processed_events": result.processed_events,
                        "outbox": result.outbox,
                        "evidence_files": result.evidence_files,
                        "idle_sessions": result.idle_sessions,
                    },
                )
        return result
