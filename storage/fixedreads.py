"""The reads a web chat turn makes, on SQLite in fixed SQL: its conversation, its report counts, whether a
link has a case, what a code's holder is told, the question waiting for it, this month's numbers.

Why: plain turns commit in fixed SQL (storage.plainturn), and what SQLAlchemy still cost a message was
mostly these reads (issue 23's profile): building, compiling from the cache, executing and wrapping the
rows of a Core statement costs several times what SQLite takes to answer an indexed look-up. Here each is
a fixed string on the stdlib connection the loop's thread keeps (storage.inline.InlineReader.run_raw),
prepared once by sqlite3's statement cache, with values bound by the columns' own SQLAlchemy bind
processors and read back by their result processors, so the answers are those of the Core queries they
stand for (tests/test_fixed_reads.py compares the two on the same rows). PostgreSQL, and SQLite when
`Database.fixed` is None, run the Core queries.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.engine.interfaces import Dialect

from storage.engine import binder, reader
from storage.records import Conversation
from storage.schema import cases, conversations, followup_pending, reports, support_requests

CONVERSATION = "SELECT state, version FROM conversations WHERE id = ?"
REPORTS_SINCE = "SELECT count(*) FROM reports WHERE reporter_id = ? AND created_at >= ?"
CASE_EXISTS = "SELECT id FROM cases WHERE canonical_url = ? LIMIT 1"
TOLD = (
    "SELECT reports.id, reports.code, reports.language, reports.created_at, cases.status, "
    "cases.claimed_at, cases.decided_at, cases.reason FROM reports "
    "JOIN case_reports ON case_reports.report_id = reports.id "
    "JOIN cases ON cases.id = case_reports.case_id WHERE reports.code IN ({codes})"
)
REQUESTS_TOLD = (
    "SELECT code, language, status, created_at, handled_at FROM support_requests WHERE code IN ({codes})"
)
ASKED = (
    "SELECT DISTINCT reports.reporter_id FROM reports "
    "JOIN followup_pending ON followup_pending.report_id = reports.id "
    "WHERE followup_pending.asked_at >= ? AND reports.reporter_id IS NOT NULL"
)
WAITING = (
    "SELECT followup_pending.id, followup_pending.followup_id, reports.code FROM followup_pending "
    "JOIN reports ON reports.id = followup_pending.report_id "
    "JOIN outbox ON outbox.id = followup_pending.outbox_id "
    "WHERE reports.reporter_id = ? AND outbox.status = 'sent' AND followup_pending.asked_at >= ? "
    "ORDER BY followup_pending.id DESC LIMIT 1"
)
MONTH_NUMBERS = (
    "SELECT (SELECT count(*) FROM reports WHERE created_at >= ?), "
    "(SELECT count(*) FROM cases WHERE status IN ({referred}) AND decided_at >= ?), "
    "(SELECT count(*) FROM cases WHERE status = 'monitoring')"
)


class ToldRow(NamedTuple):
    """A row of storage.cases.told_query, as storage.cases.tell reads it."""

    id: int
    code: str
    language: str
    created_at: datetime
    status: str
    claimed_at: datetime | None
    decided_at: datetime | None
    reason: str | None


class RequestRow(NamedTuple):
    """A row of `Reports.requests_told`'s query."""

    code: str
    language: str
    status: str
    created_at: datetime
    handled_at: datetime | None


class WaitingRow(NamedTuple):
    """A row of `followups.waiting_for`'s query."""

    id: int
    followup_id: int
    code: str


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class FixedReads:
    """The fixed reads, with the bind and result processors of the columns they read for `dialect`.
    Each method takes the sqlite3 connection first (`Database.fetch_sqlite` hands it) and runs in the
    calling thread."""

    def __init__(self, dialect: Dialect) -> None:
        self.report_at = binder(reports.c.created_at, dialect)
        self.decided_at = binder(cases.c.decided_at, dialect)
        self.asked_at = binder(followup_pending.c.asked_at, dialect)
        self.state = reader(conversations.c.state, dialect)
        self.received = reader(reports.c.created_at, dialect)
        self.claimed = reader(cases.c.claimed_at, dialect)
        self.decided = reader(cases.c.decided_at, dialect)
        self.requested = reader(support_requests.c.created_at, dialect)
        self.handled = reader(support_requests.c.handled_at, dialect)

    def conversation(self, db: sqlite3.Connection, conversation_id: str) -> Conversation:
        row = db.execute(CONVERSATION, (conversation_id,)).fetchone()
        return Conversation(self.state(row[0]), row[1]) if row else Conversation(None, 0)

    def reports_since(self, db: sqlite3.Connection, reporter_id: str, since: datetime) -> int:
        row = db.execute(REPORTS_SINCE, (reporter_id, self.report_at(since))).fetchone()
        return int(row[0] or 0)

    def case_exists(self, db: sqlite3.Connection, canonical_url: str) -> bool:
        return db.execute(CASE_EXISTS, (canonical_url,)).fetchone() is not None

    def told(self, db: sqlite3.Connection, codes: Sequence[str]) -> list[ToldRow]:
        rows = db.execute(TOLD.format(codes=_marks(len(codes))), tuple(codes)).fetchall()
        return [
            ToldRow(
                report_id,
                code,
                language,
                self.received(created),
                status,
                self.claimed(claimed),
                self.decided(decided),
                reason,
            )
            for report_id, code, language, created, status, claimed, decided, reason in rows
        ]

    def requests_told(self, db: sqlite3.Connection, codes: Sequence[str]) -> list[RequestRow]:
        rows = db.execute(REQUESTS_TOLD.format(codes=_marks(len(codes))), tuple(codes)).fetchall()
        return [
            RequestRow(code, language, status, self.requested(created), self.handled(handled))
            for code, language, status, created, handled in rows
        ]

    def asked(self, db: sqlite3.Connection, since: datetime) -> frozenset[str]:
        return frozenset(row[0] for row in db.execute(ASKED, (self.asked_at(since),)).fetchall())

    def waiting(self, db: sqlite3.Connection, reporter_id: str, since: datetime) -> WaitingRow | None:
        row = db.execute(WAITING, (reporter_id, self.asked_at(since))).fetchone()
        return WaitingRow(*row) if row is not None else None

    def month_numbers(
        self, db: sqlite3.Connection, start: datetime, referred: Sequence[str]
    ) -> tuple[int, int, int]:
        """One statement, so the three counts see one snapshot as the Core path's read does."""
        query = MONTH_NUMBERS.format(referred=_marks(len(referred)))
        row = db.execute(query, (self.report_at(start), *referred, self.decided_at(start))).fetchone()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)
