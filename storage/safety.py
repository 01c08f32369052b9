"""Abuse limits and retention: blocks after floods, report counts per reporter, and the purge job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from storage import audit, support
from storage.evidence_files import KeptFiles
from storage.repository import Storage, utcnow
from storage.schema import blocks, contacts, conversations, outbox, processed_events, reports


@dataclass(frozen=True, slots=True)
class Purged:
    contacts: int
    conversations: int
    processed_events: int
    outbox: int
    evidence_files: int = 0  # downloaded copies deleted from disk (their sha256 stays)


class Safety:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def block(self, reporter_id: str, reason: str) -> None:
        now = utcnow()
        async with self.storage.db.transaction() as conn:
            await conn.execute(
                blocks.insert().values(reporter_id=reporter_id, reason=reason[:200], blocked_at=now)
            )
            await audit.append(
                conn,
                now,
                "system",
                "reporter.blocked",
                f"reporter:{reporter_id[:12]}",
                {"reason": reason[:200]},
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
                    .returning(blocks.c.reporter_id)
                )
            ).first()
            if row is not None:
                await audit.append(
                    conn, now, actor, "reporter.unblocked", f"reporter:{row.reporter_id[:12]}", {}
                )
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
        async with self.storage.db.read() as conn:
            return int(
                await conn.scalar(
                    select(func.count()).where(
                        reports.c.reporter_id == reporter_id,
                        reports.c.created_at >= utcnow() - timedelta(hours=hours),
                    )
                )
                or 0
            )

    async def purge(self, retention_days: int, data_dir: Path | None = None) -> Purged:
        """Delete contacts, conversation state, event records and notifications older than retention,
        and, with `data_dir`, the copies of evidence files downloaded under it before then."""
        cutoff = utcnow() - timedelta(days=retention_days)
        files = await KeptFiles(self.storage).purge(data_dir, cutoff) if data_dir is not None else 0
        async with self.storage.db.transaction() as conn:
            gone_contacts = await conn.execute(delete(contacts).where(contacts.c.created_at < cutoff))
            # A family's "Reply here" address goes once their request is closed and its last message left.
            released = await support.release_contacts_in(conn)
            gone_conversations = await conn.execute(
                delete(conversations).where(conversations.c.updated_at < cutoff)
            )
            gone_events = await conn.execute(
                delete(processed_events).where(processed_events.c.created_at < cutoff)
            )
            gone_outbox = await conn.execute(delete(outbox).where(outbox.c.created_at < cutoff))
            result = Purged(
                gone_contacts.rowcount + released,
                gone_conversations.rowcount,
                gone_events.rowcount,
                gone_outbox.rowcount,
                files,
            )
            if any((result.contacts, result.conversations, result.processed_events, result.outbox, files)):
                await audit.append(
                    conn,
                    utcnow(),
                    "system",
                    "retention.purged",
                    "retention",
                    {
                        "days": retention_days,
                        "contacts": result.contacts,
                        "conversations": result.conversations,
                        "processed_events": result.processed_events,
                        "outbox": result.outbox,
                        "evidence_files": result.evidence_files,
                    },
                )
        return result
