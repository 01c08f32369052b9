"""A plain turn on SQLite in fixed SQL: the event id, the conversation's new state, the contact reachable.

Why: nine messages in ten change nothing but the conversation (a button pressed, a step answered): no
report, contact, question, subscription or forget-me. Their statements through SQLAlchemy Core cost
more CPU than SQLite itself (issue 23's profile); here they are fixed strings on the stdlib connection,
prepared once by sqlite3's statement cache, with values bound by the columns' own SQLAlchemy bind
processors, so the rows are byte for byte what `Storage._commit_turn` writes (tests/test_plain_turn.py
compares the two). Every other turn, and PostgreSQL, go through `Storage._commit_turn`, which on SQLite
begins with the same statements (`head`, `reachable`; tests/test_fixed_reads_turns.py compares them).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from sqlalchemy.engine.interfaces import Dialect

from storage import transcripts
from storage.engine import binder, json_text, json_value
from storage.records import CommitResult, CommitStatus, TurnRecord
from storage.schema import conversations, processed_events

EVENT = (
    "INSERT INTO processed_events (channel, event_id, response, created_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
STORED = "SELECT response FROM processed_events WHERE channel = ? AND event_id = ?"
FIRST = (
    "INSERT INTO conversations (id, channel, state, version, updated_at) "
    "VALUES (?, ?, ?, 1, ?) ON CONFLICT DO NOTHING RETURNING id"
)
NEXT = (
    "UPDATE conversations SET state = ?, version = ?, updated_at = ? "
    "WHERE id = ? AND version = ? RETURNING id"
)
REACHABLE = (
    "UPDATE contacts SET unreachable_at = NULL "
    "WHERE reporter_id = ? AND channel = ? AND unreachable_at IS NOT NULL"
)


class Rejected(Exception):
    """The turn stores nothing: roll its savepoint back and answer `result` (a duplicate, a conflict)."""

    def __init__(self, result: CommitResult) -> None:
        self.result = result


def is_plain(turn: TurnRecord) -> bool:
    """A turn that changes nothing but its conversation (and marks the citizen's contact reachable)."""
    return not (
        turn.reports
        or turn.contact is not None
        or turn.updates_for
        or turn.forget
        or turn.support
        or turn.subscribe
        or turn.unsubscribe
        or turn.followup is not None
        or turn.claims_asked
    )


class PlainTurns:
    def __init__(self, dialect: Dialect) -> None:
        self.event_at = binder(processed_events.c.created_at, dialect)
        self.state_at = binder(conversations.c.updated_at, dialect)

    def commit(
        self, db: sqlite3.Connection, turn: TurnRecord, now: datetime, state: str | None = None
    ) -> CommitResult:
        """Inside the caller's savepoint. Raises Rejected for a duplicate event or a stale version.
        `state`: the turn's state as `json_text` makes it, when the caller made it already."""
        self.head(db, turn, now, state)
        self.reachable(db, turn)
        return CommitResult(CommitStatus.OK)

    def head(self, db: sqlite3.Connection, turn: TurnRecord, now: datetime, state: str | None = None) -> None:
        """What every turn stores first: its event id and its conversation's new state. Raises Rejected
        for a duplicate event or a stale version."""
        said = turn.response_text if turn.response_text is not None else json_text(turn.response)
        fresh = db.execute(EVENT, (turn.channel, turn.event_id, said, self.event_at(now))).fetchone()
        if fresh is None:
            stored = db.execute(STORED, (turn.channel, turn.event_id)).fetchone()
            response = json_value(stored[0]) if stored and stored[0] is not None else []
            raise Rejected(CommitResult(CommitStatus.DUPLICATE, list(response or [])))
        state, at = state if state is not None else json_text(turn.state), self.state_at(now)
        if turn.expected_version == 0:
            first = (turn.conversation_id, turn.channel, state, at)
            saved = db.execute(FIRST, first).fetchone()
        else:
            version = turn.expected_version
            then = (state, version + 1, at, turn.conversation_id, version)
            saved = db.execute(NEXT, then).fetchone()
        if saved is None:
            raise Rejected(CommitResult(CommitStatus.CONFLICT))
        if turn.transcript:
            transcripts.add_sqlite(db, turn.conversation_id, turn.expected_version + 1, turn.transcript)

    def reachable(self, db: sqlite3.Connection, turn: TurnRecord) -> None:
        """The citizen wrote: a contact marked unreachable (blocked, user gone) is reachable again."""
        db.execute(REACHABLE, (turn.conversation_id, turn.channel))
