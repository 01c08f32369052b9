"""The web chat's transcript in storage: a row a turn (`transcript_turns`), added and cut by key.

Why rows: kept as one text on the conversation's row (migration 0021), a turn rewrote the conversation's
last thirty messages, about 10 KB, to add two or three: the text was copied, cut, encoded and written
with its overflow pages every turn, 12% of a turn's instructions in issue 23's callgrind of long
conversations. Now a turn inserts only its own messages under its version (the conversation's version
after it) and deletes the row KEEP_TURNS versions back, both by the table's key; only a reloaded page
reads them (`recent`). Every web chat turn says something, so the last KEEP_TURNS turns hold at least the
thirty messages a page shows (bot.shared.transcript picks them).

The rows go with their conversation (a foreign key with ON DELETE CASCADE): forget-me and retention, which
delete the conversation's row, delete them too. A turn that rolls back (a conflict, a failed commit, a
duplicate event) adds none.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import transcript_turns

KEEP_TURNS = 30  # a conversation keeps the rows of its last this many turns

# In fixed SQL on SQLite's turn writer (storage.plainturn); the Core statements below say the same.
ADD = "INSERT INTO transcript_turns (conversation_id, version, messages) VALUES (?, ?, ?)"
CUT = "DELETE FROM transcript_turns WHERE conversation_id = ? AND version <= ?"


def add_sqlite(db: sqlite3.Connection, conversation_id: str, version: int, messages: str) -> None:
    """The turn that made `version` said `messages` (JSON lines): its row, and the oldest row out."""
    db.execute(ADD, (conversation_id, version, messages))
    if version > KEEP_TURNS:  # the first turns have nothing to cut: no statement
        db.execute(CUT, (conversation_id, version - KEEP_TURNS))


async def add_in(conn: AsyncConnection, conversation_id: str, version: int, messages: str) -> None:
    """`add_sqlite` through Core, in the caller's transaction (PostgreSQL; SQLite off the turn writer)."""
    t = transcript_turns.c
    await conn.execute(
        insert(transcript_turns).values(conversation_id=conversation_id, version=version, messages=messages)
    )
    if version > KEEP_TURNS:
        cut = delete(transcript_turns).where(
            t.conversation_id == conversation_id, t.version <= version - KEEP_TURNS
        )
        await conn.execute(cut)


async def recent_in(conn: AsyncConnection, conversation_id: str) -> list[str]:
    """The messages of the conversation's kept turns, oldest turn first, each turn's as JSON lines."""
    t = transcript_turns.c
    query = (
        select(t.messages)
        .where(t.conversation_id == conversation_id)
        .order_by(t.version.desc())
        .limit(KEEP_TURNS)
    )
    found = list((await conn.scalars(query)).all())
    found.reverse()
    return found
