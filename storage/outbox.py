"""The outbox aggregate's one way in: a message to send later, retried until delivered or expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.records import OutboxPayload
from storage.schema import outbox


async def enqueue(
    conn: AsyncConnection,
    conversation_id: str,
    channel: str,
    kind: str,
    payload: OutboxPayload,
    now: datetime,
    not_before: datetime | None = None,
    subject: str | None = None,
) -> int:
    """Queue one message inside the caller's transaction; its id. `subject` names what a status message
    is about, so that it can be withdrawn (`withdraw`) while undelivered."""
    new_id = await conn.scalar(
        outbox.insert()
        .values(
            conversation_id=conversation_id,
            channel=channel,
            kind=kind,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=not_before or now,
            created_at=now,
            subject=subject,
        )
        .returning(outbox.c.id)
    )
    return int(new_id or 0)


async def withdraw(conn: AsyncConnection, kind: str, subjects: list[str]) -> list[str]:
    """Delete the undelivered messages of `kind` about these subjects; the subjects that had one."""
    if not subjects:
        return []
    rows = await conn.execute(
        delete(outbox)
        .where(outbox.c.status == "pending", outbox.c.kind == kind, outbox.c.subject.in_(subjects))
        .returning(outbox.c.subject)
    )
    return [r.subject for r in rows]
