"""Recording that an event's replies were sent (`processed_events.replied_at`), many events a write.

Why: a Telegram update's replies are recorded as sent once they went (bot/channels/telegram.py: a
redelivery reaching another instance waits for the record rather than answering twice). One write per
update was one transaction per update on PostgreSQL and, on SQLite, an SQLAlchemy statement and a
savepoint of its own in the turn writer's group (issue 23: the Telegram channel's CPU a handled update).
Here the marks made while one batch is being written wait and go together in the next: one UPDATE (on
SQLite fixed SQL on the turn writer's connection, riding its group commit; on PostgreSQL one transaction)
for all of them. Under load the batches grow by themselves; idle a mark is a batch of one, written at
once. Each caller returns once its mark is committed, or gets StorageUnavailable as before.

The first record stands (`replied_at IS NULL` in the condition): a batch never moves an earlier one.
"""

from __future__ import annotations

import sqlite3
import weakref

from sqlalchemy import bindparam, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.batching import Batcher
from storage.database import Database, utcnow
from storage.engine import binder
from storage.schema import processed_events

MOST = 500  # marks in one UPDATE (SQLite binds at most 32,766 parameters; PostgreSQL 65,535)
# On SQLite, the stdlib connection of the turn writer (storage.groupcommit): one statement a mark.
MARK_SQLITE = (
    "UPDATE processed_events SET replied_at = ? WHERE channel = ? AND event_id = ? AND replied_at IS NULL"
)
Mark = tuple[str, str]  # (channel, event id)


class RepliedMarks:
    """The marks of one database, written in batches."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.batcher: Batcher[Mark, None] = Batcher(self._batch, most=MOST)
        self._stamp = binder(processed_events.c.replied_at, db.writer.dialect)

    @property
    def batches(self) -> int:
        """Batches written (or failed) so far: the tests read how the marks went together."""
        return self.batcher.batches

    async def mark(self, channel: str, event_id: str) -> None:
        """Record that the event's replies were sent; returns once it is committed."""
        await self.batcher.submit((channel, event_id))

    async def _batch(self, marks: list[Mark]) -> list[None]:
        await self._write(list(dict.fromkeys(marks)))
        return [None] * len(marks)

    async def _write(self, marks: list[Mark]) -> None:
        now = utcnow()
        if self.db.group is not None:
            stamp = self._stamp(now)
            rows = [(stamp, channel, event_id) for channel, event_id in marks]

            def mark_sqlite(conn: sqlite3.Connection) -> None:
                conn.executemany(MARK_SQLITE, rows)

            await self.db.write_sqlite(mark_sqlite)
            return

        async def mark(conn: AsyncConnection) -> None:
            await conn.execute(
                update(processed_events)
                .where(
                    tuple_(processed_events.c.channel, processed_events.c.event_id).in_(
                        bindparam("marks", expanding=True)
                    ),
                    processed_events.c.replied_at.is_(None),
                )
                .values(replied_at=now),
                {"marks": marks},
            )

        await self.db.write(mark)


_MARKS: weakref.WeakKeyDictionary[Database, RepliedMarks] = weakref.WeakKeyDictionary()


def marks_of(db: Database) -> RepliedMarks:
    """The database's one `RepliedMarks` (made on first use)."""
    marks = _MARKS.get(db)
    if marks is None:
        marks = _MARKS[db] = RepliedMarks(db)
    return marks
