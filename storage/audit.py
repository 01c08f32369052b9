"""The append-only, hash-chained audit log: each row's hash covers its content and the previous hash."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import audit_events

GENESIS = "0" * 64
_LOCK = 7_201_001  # PostgreSQL advisory lock id serialising appends


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def chain_hash(prev: str, at: datetime, actor: str, action: str, subject: str, detail: Any) -> str:
    body = json.dumps(
        {
            "prev": prev,
            "at": as_utc(at).isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "detail": detail,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


async def append(
    conn: AsyncConnection, at: datetime, actor: str, action: str, subject: str, detail: dict[str, Any]
) -> None:
    """Append one event inside the caller's transaction."""
    await append_many(conn, at, actor, action, [(subject, detail)])


async def append_many(
    conn: AsyncConnection, at: datetime, actor: str, action: str, events: list[tuple[str, dict[str, Any]]]
) -> None:
    """Append events (subject, detail) of one action, chained in order, in one INSERT.

    On PostgreSQL an advisory lock held to the end of the transaction serialises appends; the head is read
    in a statement after the lock's, because under READ COMMITTED a statement sees what was committed when
    it started. Call it last in a transaction, so the lock is held only for the head read, the INSERT and
    the COMMIT.
    """
    if not events:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
    prev = (
        await conn.scalar(select(audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)) or GENESIS
    )
    rows = []
    for subject, detail in events:
        digest = chain_hash(prev, at, actor, action, subject, detail)
        rows.append(
            {
                "at": at,
                "actor": actor,
                "action": action,
                "subject": subject,
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    await conn.execute(audit_events.insert(), rows)


async def first_broken(conn: AsyncConnection) -> int | None:
    """The id of the first row whose hash or link is wrong, or None when the whole chain holds."""
    prev = GENESIS
    result = await conn.stream(select(audit_events).order_by(audit_events.c.id))
    async for row in result:
        if row.prev_hash != prev or row.hash != chain_hash(
            prev, row.at, row.actor, row.action, row.subject, row.detail
        ):
            return int(row.id)
        prev = row.hash
    return None
