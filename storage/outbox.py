"""The outbox aggregate: a message to send later, retried until delivered or expired.

`enqueue` and `withdraw` work inside the caller's transaction (a turn, a decision); `Outbox` is the
delivery side's repository, each method its own transaction or read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit
from storage.database import Database, utcnow
from storage.records import Notification, OutboxItem, OutboxPayload, as_payload
from storage.schema import contacts, conversations, outbox

# Statuses a row never leaves. Its text is dropped then (`SPENT`); kind, subject, says, status and times
# stay, for metrics and for what a reporter was last told (`withdraw` reads `says`).
DONE = frozenset({"sent", "failed", "expired"})
# The payload of a row that left or never will: a message to a reporter names their report's code, and
# the row names their pseudonym, so the text goes at once instead of after the retention period.
SPENT: dict[str, Any] = {}


async def enqueue(
    conn: AsyncConnection,
    conversation_id: str,
    channel: str,
    kind: str,
    payload: OutboxPayload,
    now: datetime,
    not_before: datetime | None = None,
    subject: str | None = None,
    says: str | None = None,
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
            says=says,
        )
        .returning(outbox.c.id)
    )
    return int(new_id or 0)


async def clear_unreachable(conn: AsyncConnection, reporter_id: str, channel: str) -> None:
    """Any message from a citizen shows the chat works again: their contact is no longer unreachable."""
    await conn.execute(
        update(contacts)
        .where(
            contacts.c.reporter_id == reporter_id,
            contacts.c.channel == channel,
            contacts.c.unreachable_at.is_not(None),
        )
        .values(unreachable_at=None)
    )


async def withdraw(conn: AsyncConnection, kind: str, true_now: dict[str, str]) -> dict[str, str | None]:
    """Delete the undelivered messages of `kind` about these subjects that no longer say what is true
    now (`true_now`: subject -> what a message would say today). For each subject that had one: what the
    last message about it that did leave said (None when none did)."""
    withdrawn: set[str] = set()
    for subject, now_true in true_now.items():
        rows = await conn.execute(
            delete(outbox)
            .where(
                outbox.c.status == "pending",
                outbox.c.kind == kind,
                outbox.c.subject == subject,
                or_(outbox.c.says.is_(None), outbox.c.says != now_true),
            )
            .returning(outbox.c.subject)
        )
        withdrawn.update(r.subject for r in rows)
    told: dict[str, str | None] = dict.fromkeys(withdrawn)
    if withdrawn:
        sent = await conn.execute(
            select(outbox.c.subject, outbox.c.says)
            .where(outbox.c.status == "sent", outbox.c.kind == kind, outbox.c.subject.in_(withdrawn))
            .order_by(outbox.c.id)
        )
        for r in sent:
            told[r.subject] = r.says  # the newest wins
    return told


class Outbox:
    """Queue, hand over, claim and mark notifications; the contacts they are delivered to."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue_now(self, conversation_id: str, channel: str, kind: str, payload: OutboxPayload) -> int:
        """Queue one message in a transaction of its own; its id."""
        async with self.db.transaction() as conn:
            return await enqueue(conn, conversation_id, channel, kind, payload, utcnow())

    async def take(self, channel: str, conversation_id: str, limit: int = 20) -> list[Notification]:
        """Pending notifications for one conversation, marked sent as they are handed over."""
        now = utcnow()
        async with self.db.transaction() as conn:
            rows: Sequence[Any] = (
                await conn.execute(
                    select(outbox.c.id, outbox.c.kind, outbox.c.payload)
                    .where(
                        outbox.c.status == "pending",
                        outbox.c.channel == channel,
                        outbox.c.conversation_id == conversation_id,
                    )
                    .order_by(outbox.c.id)
                    .limit(limit)
                )
            ).all()
            if rows:
                # Two polls of one session at once (two instances, two tabs) read the same pending rows:
                # each hands over only the rows its UPDATE still found pending (on PostgreSQL the second
                # UPDATE waits for the first and re-checks the status), so a notification goes out once.
                taken = await conn.scalars(
                    update(outbox)
                    .where(outbox.c.id.in_([r.id for r in rows]), outbox.c.status == "pending")
                    .values(status="sent", sent_at=now, attempts=outbox.c.attempts + 1, payload=SPENT)
                    .returning(outbox.c.id)
                )
                handed = set(taken.all())
                rows = [r for r in rows if r.id in handed]
        return [Notification(r.id, r.kind, as_payload(r.payload)) for r in rows]

    async def claim(
        self, channels: Sequence[str], limit: int = 20, lease_seconds: float = 60
    ) -> list[OutboxItem]:
        """Due notifications for the given channels, leased so that no other worker takes them meanwhile."""
        if not channels:
            return []
        now = utcnow()
        due = (
            select(outbox.c.id)
            .where(
                outbox.c.status == "pending",
                outbox.c.channel.in_(list(channels)),
                outbox.c.next_attempt_at <= now,
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        if self.db.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        async with self.db.transaction() as conn:
            ids = list((await conn.scalars(due)).all())
            if not ids:
                return []
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(
                    next_attempt_at=now + timedelta(seconds=lease_seconds), attempts=outbox.c.attempts + 1
                )
            )
            rows = (
                await conn.execute(
                    select(outbox, contacts.c.address, contacts.c.unreachable_at, conversations.c.updated_at)
                    .select_from(
                        outbox.outerjoin(
                            contacts,
                            (contacts.c.reporter_id == outbox.c.conversation_id)
                            & (contacts.c.channel == outbox.c.channel),
                        ).outerjoin(conversations, conversations.c.id == outbox.c.conversation_id)
                    )
                    .where(outbox.c.id.in_(ids))
                    .order_by(outbox.c.id)
                )
            ).all()
        return [
            OutboxItem(
                id=r.id,
                conversation_id=r.conversation_id,
                channel=r.channel,
                kind=r.kind,
                payload=as_payload(r.payload),
                attempts=r.attempts,
                created_at=audit.as_utc(r.created_at),
                address=r.address,
                unreachable=r.unreachable_at is not None,
                last_inbound_at=audit.as_utc(r.updated_at) if r.updated_at else None,
            )
            for r in rows
        ]

    async def finish(
        self, item_id: int, status: str, error: str | None = None, retry_at: datetime | None = None
    ) -> None:
        """Record how a delivery went: sent, failed, expired, or pending again at `retry_at`. A row that
        is done (`DONE`) loses its text: nothing reads it again."""
        now = utcnow()
        values: dict[str, Any] = {"status": status, "error": error[:200] if error else None}
        if status in DONE:
            values["payload"] = SPENT
        if status == "sent":
            values["sent_at"] = now
        if status == "pending":
            values["next_attempt_at"] = retry_at or now
        async with self.db.transaction() as conn:
            await conn.execute(update(outbox).where(outbox.c.id == item_id).values(**values))

    async def mark_unreachable(self, reporter_id: str, channel: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                update(contacts)
                .where(contacts.c.reporter_id == reporter_id, contacts.c.channel == channel)
                .values(unreachable_at=utcnow())
            )

    async def mark_reachable(self, reporter_id: str, channel: str) -> None:
        """The citizen wrote again or unblocked the bot: notifications may go to them again."""
        async with self.db.transaction() as conn:
            await clear_unreachable(conn, reporter_id, channel)

    async def contact_of(self, reporter_id: str, channel: str) -> bytes | None:
        """The sealed address of a reachable contact, or None."""
        async with self.db.read() as conn:
            return await conn.scalar(
                select(contacts.c.address).where(
                    contacts.c.reporter_id == reporter_id,
                    contacts.c.channel == channel,
                    contacts.c.unreachable_at.is_(None),
                )
            )

    async def status_of(self, item_id: int) -> tuple[str, int, str | None]:
        """(status, attempts, error) of one outbox row."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(outbox.c.status, outbox.c.attempts, outbox.c.error).where(outbox.c.id == item_id)
                )
            ).one()
        return row.status, row.attempts, row.error
