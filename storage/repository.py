"""The one storage interface, in domain terms. No SQL lives outside this package."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import sqlite3
import typing
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, delete, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit, claim_asks, migrate, search, support, transcripts
from storage import cases as cases_
from storage import followups as followups_
from storage import outbox as outbox_
from storage.casekeys import FILE_KINDS, case_key, case_keys
from storage.database import Database, StorageUnavailable, utcnow
from storage.engine import json_bytes
from storage.evidence_rows import add_evidence
from storage.inline import InlineConnection
from storage.keys import derive_key
from storage.locking import insert_new, upsert, upsert_for
from storage.outbox import Outbox
from storage.pgturn import PgPlainTurns
from storage.plainturn import PlainTurns, Rejected, is_plain
from storage.records import (
    CommitResult,
    CommitStatus,
    Conversation,
    NewReport,
    Notification,
    OutboxPayload,
    TurnRecord,
    message,
)
from storage.replied import marks_of
from storage.reports import Reports
from storage.schema import (
    audit_events,
    blocks,
    case_reports,
    cases,
    contacts,
    conversations,
    evidence,
    outbox,
    processed_events,
    reporters,
    reports,
    support_requests,
)
from storage.states import StateCache

__all__ = ["FILE_KINDS", "Storage", "StorageUnavailable", "case_key", "utcnow"]


def _file_size(database: str | None) -> int:
    """Bytes of an SQLite database file with its -wal and -shm companions (0 in memory)."""
    if not database or database == ":memory:":
        return 0
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.stat(database + suffix).st_size
    return total


# A report turn's statements, built once: building a statement costs more CPU than SQLite takes to run
# it (issue 23). The values are the parameters.
_NEW_REPORT = reports.insert().returning(reports.c.id)
_ON_CASE = case_reports.insert()
# A citizen's reports that will hear of their progress, one code a row: built once, and with no IN list,
# so that on SQLite it runs without SQLAlchemy's per-execution machinery (storage.prepared).
_UPDATES_WANTED = (
    update(reports)
    .where(reports.c.code == bindparam("wanted_code"), reports.c.reporter_id == bindparam("wanted_by"))
    .values(updates=True)
)


@functools.cache
def _keep_contact(dialect: str) -> Any:
    """A contact kept for updates, built once per dialect (the values are the parameters)."""
    stmt = upsert_for(dialect, contacts)
    return stmt.on_conflict_do_update(
        index_elements=[contacts.c.reporter_id, contacts.c.channel],
        # A new consent starts a new retention period (and may reach a chat marked gone again).
        set_={
            "address": stmt.excluded.address,
            "unreachable_at": None,
            "created_at": stmt.excluded.created_at,
        },
    )


class _Abort(Exception):
    """Roll the transaction back and answer with `result`."""

    def __init__(self, result: CommitResult) -> None:
        self.result = result


class Storage:
    """Conversations and turns (a turn is a unit of work across aggregates) and the audit chain, on SQLite
    or PostgreSQL; the outbox (`self.outbox`) and the citizen-side report reads (`self.reports`) are
    repositories of their own."""

    def __init__(self, url: str, secret: bytes | None = None) -> None:
        """`secret` is RAABTA_SECRET_KEY: the audit chain is keyed from it. Without one (tests, tools that
        never write the audit) the chain is keyed from an empty secret, which `audit verify` reports."""
        self.url = url
        self.secret = secret
        self.audit_key = derive_key(secret or b"", "audit-chain")
        self.db = Database(url, self.audit_key)
        self.writer, self.reader, self.dialect = self.db.writer, self.db.reader, self.db.dialect
        self.outbox = Outbox(self.db)
        self.reports = Reports(self.db)
        self.alerts = False  # True when an alert webhook is configured: urgent reports queue an alert
        self.blocks_generation = 0  # bumped by every block and lift, so in-memory block lists reload
        self.followups_generation = 0  # bumped by every question asked (storage.followups.waiting_for)
        self.states = StateCache()
        self.plain = PlainTurns(self.writer.dialect)  # SQLite's plain turns, every turn's first statements
        self.pg_plain = PgPlainTurns(self.writer.dialect)  # PostgreSQL's plain turns, one call each

    async def close(self) -> None:
        await self.db.close()

    async def upgrade(self) -> None:
        """Apply every migration not applied yet."""
        await migrate.upgrade(self.writer, audit_key=self.audit_key)

    async def is_current(self) -> bool:
        return await migrate.current_revision(self.reader) == migrate.head_revision()

    async def mark_replied(self, channel: str, event_id: str) -> None:
        """Record that this event's replies were sent (the first record stands); the marks made while one
        is being written go together in the next write (storage.replied)."""
        await marks_of(self.db).mark(channel, event_id)

    async def replied(self, channel: str, event_id: str) -> tuple[bool, float]:
        """Whether this event's replies were recorded as sent, and seconds since it was stored (a
        forgotten or unknown event counts as answered: nothing is left to send)."""

        async def find(conn: AsyncConnection) -> Any:
            return (
                await conn.execute(
                    select(processed_events.c.replied_at, processed_events.c.created_at).where(
                        processed_events.c.channel == channel, processed_events.c.event_id == event_id
                    )
                )
            ).first()

        row = await self.db.fetch(find)
        if row is None:
            return True, 0.0
        return row.replied_at is not None, (utcnow() - audit.as_utc(row.created_at)).total_seconds()

    async def ping(self) -> bool:
        return await self.db.ping()

    # --- conversations and turns ---------------------------------------------------------------

    async def load_conversation(self, conversation_id: str, cached: bool = False) -> Conversation:
        """The conversation's state and version. `cached` (a turn about to commit with a version check):
        from this process's cache of the states its turns wrote when it has it. A cached state another
        instance (or a purge) has since changed makes the turn's commit a CONFLICT, which drops it, and
        the pipeline's next attempt reads the stored one. Other readers (a page restored, the language
        of a refusal) read the database, which a purge or forget-me elsewhere has already changed."""
        found = self.states.get(conversation_id) if cached else None
        if found is not None:
            return found
        if self.db.fixed is not None:  # SQLite: fixed SQL (storage.fixedreads)
            read = functools.partial(self.db.fixed.conversation, conversation_id=conversation_id)
            return await self.db.fetch_sqlite(read)

        async def load(conn: AsyncConnection) -> Conversation:
            c = conversations.c
            query = select(c.state, c.version).where(c.id == conversation_id)
            row = (await conn.execute(query)).first()
            return Conversation(row.state, row.version) if row else Conversation(None, 0)

        return await self.db.fetch(load)

    async def transcript(self, conversation_id: str) -> list[str]:
        """The web chat conversation's kept turns, oldest first, each turn's messages as JSON lines
        (storage.transcripts; bot.shared.transcript reads them). Only a reloaded page asks."""
        return await self.db.fetch(functools.partial(transcripts.recent_in, conversation_id=conversation_id))

    async def commit_turn(self, turn: TurnRecord) -> CommitResult:
        """Store the event id, the new state and the turn's reports in one transaction (on SQLite, a
        savepoint in the transaction of the turns committed with it: storage.groupcommit; on PostgreSQL, a
        plain turn is one call of a function that is its own transaction: storage.pgturn)."""
        # A plain turn (nine messages in ten) serialises its state once, for the row and the state cache.
        encoded = json_bytes(turn.state) if is_plain(turn) else None
        try:
            if encoded is not None and self.db.group is not None:  # SQLite: in fixed SQL
                work = functools.partial(self.plain.commit, turn=turn, now=utcnow(), state=encoded.decode())
                result = await self.db.write_sqlite(work)
            elif encoded is not None and self.dialect == "postgresql":  # in one round trip
                state = encoded.decode()
                call = functools.partial(self.pg_plain.commit, turn=turn, now=utcnow(), state=state)
                result = await self.db.autocommit(call)
            else:
                fixed = self.db.fixed is not None  # on SQLite: its first statements in fixed SQL
                result = await self.db.write(functools.partial(self._commit_turn, turn=turn, fixed=fixed))
        except Rejected as rejected:
            result = rejected.result
        except _Abort as abort:
            result = abort.result
        except IntegrityError as exc:
            if "code" not in str(exc.orig):
                raise
            result = CommitResult(CommitStatus.CODE_TAKEN)
        if result.status is CommitStatus.OK and not turn.forget:
            stored = Conversation(turn.state, turn.expected_version + 1)
            self.states.put(turn.conversation_id, stored, encoded)
        elif result.status is not CommitStatus.DUPLICATE:
            self.states.drop(turn.conversation_id)
        return result

    async def _commit_turn(
        self, conn: AsyncConnection, turn: TurnRecord, fixed: bool = False
    ) -> CommitResult:
        """The turn through Core; with `fixed`, on SQLite's turn writer, the statements it shares with a
        plain turn (storage.plainturn) in fixed SQL."""
        now = utcnow()
        raw = self._sqlite(conn) if fixed else None
        if raw is not None:  # SQLite's turn writer: the statements a plain turn makes, in fixed SQL
            self.plain.head(raw, turn, now)
        else:
            await self._commit_head(conn, turn, now)
        if turn.forget:
            await self._forget(conn, turn.conversation_id)
        elif raw is not None:
            self.plain.reachable(raw, turn)
        else:  # the citizen wrote: a contact marked unreachable (blocked, user gone) is reachable again
            await outbox_.clear_unreachable(conn, turn.conversation_id, turn.channel)
        if turn.contact is not None:
            await self._save_contact(conn, turn.conversation_id, turn.channel, turn.contact, now)
        if turn.updates_for:
            wanted = [{"wanted_code": code, "wanted_by": turn.conversation_id} for code in turn.updates_for]
            await conn.execute(_UPDATES_WANTED, wanted)
        case_ids, joined = [], []
        for report in turn.reports:  # a code taken already fails the insert: the unique index says so
            case_id, existed = await self._add_report(conn, report, now)
            case_ids.append(case_id)
            joined.append(existed)
        if turn.followup is not None and not turn.forget:  # forget-me took the waiting question away
            await followups_.reply_in(conn, turn.conversation_id, turn.channel, turn.followup, now)
        await claim_asks.count_in(conn, turn.claims_asked, now)
        await self._commit_family_and_digest(conn, turn, now)
        return CommitResult(CommitStatus.OK, case_ids=tuple(case_ids), joined=tuple(joined))

    async def _commit_head(self, conn: AsyncConnection, turn: TurnRecord, now: datetime) -> None:
        """The event id and the conversation's new state, through Core (storage.plainturn.PlainTurns.head
        is the same in fixed SQL). Aborts with a duplicate event or a stale version."""
        fresh = await conn.execute(
            upsert(conn, processed_events)
            .values(channel=turn.channel, event_id=turn.event_id, response=turn.response, created_at=now)
            .on_conflict_do_nothing()
            .returning(processed_events.c.event_id)
        )
        if fresh.first() is None:
            stored = await conn.scalar(
                select(processed_events.c.response).where(
                    processed_events.c.channel == turn.channel, processed_events.c.event_id == turn.event_id
                )
            )
            raise _Abort(CommitResult(CommitStatus.DUPLICATE, list(stored or [])))
        if turn.expected_version == 0:
            saved = await conn.execute(
                upsert(conn, conversations)
                .values(
                    id=turn.conversation_id,
                    channel=turn.channel,
                    state=turn.state,
                    version=1,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
                .returning(conversations.c.id)
            )
        else:
            saved = await conn.execute(
                update(conversations)
                .where(
                    conversations.c.id == turn.conversation_id,
                    conversations.c.version == turn.expected_version,
                )
                .values(
                    state=turn.state,
                    version=turn.expected_version + 1,
                    updated_at=now,
                )
                .returning(conversations.c.id)
            )
        if saved.first() is None:
            raise _Abort(CommitResult(CommitStatus.CONFLICT))
        if turn.transcript:
            await transcripts.add_in(conn, turn.conversation_id, turn.expected_version + 1, turn.transcript)

    @staticmethod
    def _sqlite(conn: AsyncConnection) -> sqlite3.Connection | None:
        """The stdlib connection under the turn writer's (storage.groupcommit), for fixed SQL; None on
        PostgreSQL."""
        if not isinstance(conn, InlineConnection):
            return None
        return typing.cast(sqlite3.Connection, conn.sync_connection.connection.driver_connection)

    async def _commit_family_and_digest(self, conn: AsyncConnection, turn: TurnRecord, now: datetime) -> None:
        """Callback requests and digest subscriptions of the turn (storage/support.py)."""
        for request in turn.support:
            if not await support.add_request_in(conn, request, now):
                raise _Abort(CommitResult(CommitStatus.CODE_TAKEN))
        if turn.unsubscribe:
            await support.unsubscribe_in(conn, turn.conversation_id, turn.channel)
        if turn.subscribe:
            await support.subscribe_in(conn, turn.conversation_id, turn.channel, turn.subscribe, now)

    async def _forget(self, conn: AsyncConnection, reporter_id: str) -> None:
        """Everything that ties a citizen to their reports goes; the reports stay, anonymous.

        Every row naming the pseudonym is deleted or loses it: the conversation, reporter and contacts,
        every outbox row of theirs (a sent "Report K7QM-2XD9: reviewed" names both), subscriptions and
        callback requests' chat links (`support.forget_in`), analysts' questions still waiting for them
        (`followups.forget_in`), and lifted blocks (a block in force stays: a
        blocked citizen's messages are refused before they reach a turn, so only a race gets here). The
        handled-event records carry no pseudonym, but the bot's replies in them name the citizen's codes
        next to the platform's message id: the replies of those that name one are emptied (the key
        stays, so a redelivery is still answered once, with nothing); the rest go with the redelivery
        window (`Safety.purge`)."""
        codes = list(
            (await conn.scalars(select(reports.c.code).where(reports.c.reporter_id == reporter_id))).all()
        )
        codes += (
            await conn.scalars(
                select(support_requests.c.code).where(support_requests.c.conversation_id == reporter_id)
            )
        ).all()
        await followups_.forget_in(conn, reporter_id)  # found by their reports: before those lose them
        await conn.execute(
            update(reports).where(reports.c.reporter_id == reporter_id).values(reporter_id=None)
        )
        await conn.execute(delete(contacts).where(contacts.c.reporter_id == reporter_id))
        await conn.execute(delete(outbox).where(outbox.c.conversation_id == reporter_id))
        await conn.execute(delete(reporters).where(reporters.c.id == reporter_id))
        await conn.execute(delete(conversations).where(conversations.c.id == reporter_id))
        await conn.execute(
            delete(blocks).where(blocks.c.reporter_id == reporter_id, blocks.c.lifted_at.is_not(None))
        )
        await support.forget_in(conn, reporter_id)
        if codes:
            said = cast(processed_events.c.response, Text)
            await conn.execute(
                update(processed_events)
                .where(or_(*(said.contains(code, autoescape=True) for code in codes)))
                .values(response=[])
            )

    async def _save_contact(
        self, conn: AsyncConnection, reporter_id: str, channel: str, sealed: bytes, now: datetime
    ) -> None:
        await conn.execute(insert_new(conn.dialect.name, reporters), {"id": reporter_id, "created_at": now})
        contact = {"reporter_id": reporter_id, "channel": channel, "address": sealed, "created_at": now}
        await conn.execute(_keep_contact(conn.dialect.name), contact)

    async def _add_report(self, conn: AsyncConnection, report: NewReport, now: datetime) -> tuple[int, bool]:
        """Store a report on every case it joins (one per link); (its first case, whether that existed)."""
        if report.reporter_id:
            new_reporter = {"id": report.reporter_id, "created_at": now}
            await conn.execute(insert_new(conn.dialect.name, reporters), new_reporter)
        keys = case_keys(report)
        joined: dict[str, tuple[int, bool]] = {}
        rows: dict[int, Any] = {}  # each case as `join` locked it (None: created for this report)
        # Cases are locked in key order, so two reports naming the same links never deadlock.
        for key in sorted(keys, key=lambda k: (k.column, k.key)):
            case_id, row = await cases_.join(conn, key, report, now)
            joined[key.key] = (case_id, row is not None)
            rows[case_id] = row
        case_ids = list(dict.fromkeys(joined[k.key][0] for k in keys))  # merged links may meet on one case
        case_id, existed = joined[keys[0].key]
        new_report = {
            "code": report.code,
            "case_id": case_id,
            "reporter_id": report.reporter_id,
            "channel": report.channel,
            "language": report.language,
            "category": report.category,
            "description": report.description,
            "urgent": report.urgent,
            "scope_check": report.scope_check,
            "created_at": now,
        }
        marks = cases_.designated_marks(report)
        if marks is not None:  # absent otherwise: the column stays SQL NULL (None would store JSON null)
            new_report["designated"] = marks
        report_id = await conn.scalar(_NEW_REPORT, new_report)
        await conn.execute(_ON_CASE, [{"case_id": c, "report_id": report_id} for c in case_ids])
        await search.index_report(conn, report_id, report, keys, joined)
        await add_evidence(conn, report_id, report.channel, report.evidence, now)
        for each in case_ids:
            await cases_.receive(conn, each, report, now, rows[each])
            if report.urgent and self.alerts:
                await self._queue_alert(conn, each, now)
        return case_id, existed

    async def _queue_alert(self, conn: AsyncConnection, case_id: int, now: datetime) -> None:
        row = (await conn.execute(select(cases).where(cases.c.id == case_id))).one()
        alert = {
            "case_id": case_id,
            "canonical_url": row.canonical_url,
            "platform": row.platform,
            "categories": row.categories,
            "priority": row.priority,
            "at": now.isoformat(),
        }
        await outbox_.enqueue(
            conn, "alert", "alert", "urgent_case", message(json.dumps(alert, ensure_ascii=False)), now
        )

    # --- audit -----------------------------------------------------------------------------------

    async def verify_audit_chain(self) -> bool:
        """True when every audit row's hash matches its content and the row before it."""
        return await self.first_broken_audit() is None

    async def first_broken_audit(self) -> int | None:
        async with self.db.read() as conn:
            return await audit.first_broken(conn)

    # --- reads across aggregates ---------------------------------------------------------------

    async def gauges(self) -> tuple[dict[str, int], int]:
        """(cases by status, pending notifications) for the metrics endpoint."""
        async with self.db.read() as conn:
            by_status = {
                row[0]: int(row[1])
                for row in await conn.execute(select(cases.c.status, func.count()).group_by(cases.c.status))
            }
            pending = await conn.scalar(select(func.count()).where(outbox.c.status == "pending"))
        return by_status, int(pending or 0)

    async def footprint(self) -> tuple[int, dict[str, int]]:
        """(the database's size in bytes, rows in each table that grows with traffic) for the metrics
        endpoint, counted when it is scraped: the size is PostgreSQL's `pg_database_size`, or on SQLite
        the file with its write-ahead log and shared-memory index."""
        grows = (conversations, processed_events, outbox, reports, cases, contacts)
        counts = [select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in grows]
        postgres = self.dialect == "postgresql"
        async with self.db.read() as conn:
            found = (await conn.execute(select(*counts))).one()
            size = (
                await conn.scalar(select(func.pg_database_size(func.current_database()))) if postgres else 0
            )
        if not postgres:
            size = await asyncio.to_thread(_file_size, make_url(self.url).database)
        return int(size or 0), {t.name: int(found._mapping[t.name]) for t in grows}

    async def count(self, table_name: str) -> int:
        """Rows in one table (for health checks, metrics and tests)."""
        table = {
            t.name: t
            for t in (
                reports,
                cases,
                evidence,
                conversations,
                processed_events,
                outbox,
                audit_events,
                reporters,
            )
        }[table_name]
        async with self.db.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

    # --- the contract suite's names (tests/test_storage.py); everyone else uses the repositories ---

    async def report_statuses(self, codes: Iterable[str]) -> dict[str, str]:
        """The contract suite's name for `reports.statuses`."""
        return await self.reports.statuses(codes)

    async def case_of(self, code: str) -> dict[str, Any] | None:
        """The contract suite's name for `reports.case_of`."""
        return await self.reports.case_of(code)

    async def evidence_of(self, code: str) -> list[dict[str, Any]]:
        """The contract suite's name for `reports.evidence_of`."""
        return await self.reports.evidence_of(code)

    async def enqueue_notification(
        self, conversation_id: str, channel: str, kind: str, payload: OutboxPayload
    ) -> int:
        """The contract suite's name for `outbox.enqueue_now`."""
        return await self.outbox.enqueue_now(conversation_id, channel, kind, payload)

    async def take_notifications(
        self, channel: str, conversation_id: str, limit: int = 20
    ) -> list[Notification]:
        """The contract suite's name for `outbox.take`."""
        return await self.outbox.take(channel, conversation_id, limit)
