"""A plain turn on PostgreSQL in one round trip: one call of the function of migration 0019 (0021 added
the transcript; since 0022 its last argument is the turn's own messages, added as a row: storage.transcripts).

Why: nine messages in ten are plain turns (storage.plainturn.is_plain). Through SQLAlchemy in a
transaction they cost five round trips (BEGIN, the event id, the state, the contact, COMMIT) and the CPU
of compiling and running three statements (issue 23). `raabta_plain_turn` runs the same statements on the
server in one statement, which PostgreSQL commits by itself: here it is called in autocommit on the
driver's own connection (asyncpg caches the prepared call), with values bound by the columns' own
SQLAlchemy bind processors (the state as the caller serialised it once, for the row and the state cache,
with `json_bytes`: what the JSON column's processor makes of it), so its rows are byte for byte what
`Storage._commit_turn` writes
(tests/test_pg_plain_turn.py compares the two). A stale version raises RB409 inside the function, so the
event id it had inserted is rolled back with it: nothing is stored, as when `_commit_turn` aborts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine.interfaces import Dialect

from storage.engine import binder
from storage.records import CommitResult, CommitStatus, TurnRecord
from storage.schema import processed_events

CALL = "SELECT duplicate, stored FROM raabta_plain_turn($1, $2, $3, $4, $5, $6, $7, $8)"
# The SQLSTATE the function raises for a stale version (migration 0019): a class no PostgreSQL error uses.
CONFLICT = "RB409"


class PgPlainTurns:
    def __init__(self, dialect: Dialect) -> None:
        self.response = binder(processed_events.c.response, dialect)
        # One timestamp for the event and the state, as `_commit_turn` stores: both columns are
        # DateTime(timezone=True), bound alike.
        self.at = binder(processed_events.c.created_at, dialect)

    async def commit(self, driver: Any, turn: TurnRecord, now: datetime, state: str) -> CommitResult:
        """The turn on `driver` (an asyncpg connection outside any transaction), `state` its state as JSON
        text: OK, DUPLICATE with the stored response, or CONFLICT. Other errors pass through for
        `Database.autocommit` to read."""
        try:
            row = await driver.fetchrow(
                CALL,
                turn.channel,
                turn.event_id,
                turn.response_text if turn.response_text is not None else self.response(turn.response),
                state,
                turn.conversation_id,
                turn.expected_version,
                self.at(now),
                turn.transcript,
            )
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == CONFLICT:
                return CommitResult(CommitStatus.CONFLICT)
            raise
        if row["duplicate"]:
            return CommitResult(CommitStatus.DUPLICATE, list(row["stored"] or []))
        return CommitResult(CommitStatus.OK)
