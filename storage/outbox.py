"""The outbox aggregate's one way in: a message to send later, retried until delivered or expired."""

from __future__ import annotations

from datetime import datetime

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
) -> int:
    """Queue one message inside the caller's transaction; its id."""
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
        )
        .returning(outbox.c.id)
    )
    return int(new_id or 0)
