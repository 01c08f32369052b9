"""The one storage interface, in domain terms. No SQL lives outside this package."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit, migrate, support
from storage import cases as cases_
from storage import outbox as outbox_
from storage.casekeys import FILE_KINDS, case_key, case_keys
from storage.database import Database, StorageUnavailable, utcnow
from storage.keys import derive_key
from storage.locking import upsert
from storage.outbox import Outbox
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
from storage.reports import Reports
from storage.schema import (
    audit_events,
    case_reports,
    cases,
    contacts,
    conversations,
    evidence,
    evidence_files,
    outbox,
    processed_events,
    reporters,
    reports,
)

__all__ = ["FILE_KINDS", "Storage", "StorageUnavailable", "case_key", "utcnow"]


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

    async def close(self) -> None:
        await self.db.close()

    async def upgrade(self) -> None:
        """Apply every migration not applied yet."""
        await migrate.upgrade(self.writer, audit_key=self.audit_key)

    async def is_current(self) -> bool:
        return await migrate.current_revision(self.reader) == migrate.head_revision()

    async def ping(self) -> bool:
        return await self.db.ping()

    # --- conversations and turns ---------------------------------------------------------------

    async def load_conversation(self, conversation_id: str) -> Conversation:
        async with self.db.read(single_statement=True) as conn:
            row = (
                await conn.execute(
                    select(conversations.c.state, conversations.c.version).where(
                        conversations.c.id == conversation_id
                    )
                )
            ).first()
        return Conversation(row.state, row.version) if row else Conversation(None, 0)

    async def commit_turn(self, turn: TurnRecord) -> CommitResult:
        """Store the event id, the new state and the turn's reports in one transaction."""
        try:
            async with self.db.transaction() as conn:
                return await self._commit_turn(conn, turn)
        except _Abort as abort:
            return abort.result
        except IntegrityError as exc:
            if "code" in str(exc.orig):
                return CommitResult(CommitStatus.CODE_TAKEN)
            raise

    async def _commit_turn(self, conn: AsyncConnection, turn: TurnRecord) -> CommitResult:
        now = utcnow()
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
                    id=turn.conversation_id, channel=turn.channel, state=turn.state, version=1, updated_at=now
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
                .values(state=turn.state, version=turn.expected_version + 1, updated_at=now)
                .returning(conversations.c.id)
            )
        if saved.first() is None:
            raise _Abort(CommitResult(CommitStatus.CONFLICT))
        if turn.forget:
            await self._forget(conn, turn.conversation_id)
        else:  # the citizen wrote: a contact marked unreachable (blocked, user gone) is reachable again
            await outbox_.clear_unreachable(conn, turn.conversation_id, turn.channel)
        if turn.contact is not None:
            await self._save_contact(conn, turn.conversation_id, turn.channel, turn.contact, now)
        if turn.updates_for:
            await conn.execute(
                update(reports)
                .where(reports.c.code.in_(turn.updates_for), reports.c.reporter_id == turn.conversation_id)
                .values(updates=True)
            )
        case_ids, joined = [], []
        for report in turn.reports:
            taken = await conn.scalar(select(reports.c.id).where(reports.c.code == report.code))
            if taken is not None:
                raise _Abort(CommitResult(CommitStatus.CODE_TAKEN))
            case_id, existed = await self._add_report(conn, report, now)
            case_ids.append(case_id)
            joined.append(existed)
        await self._commit_family_and_digest(conn, turn, now)
        return CommitResult(CommitStatus.OK, case_ids=tuple(case_ids), joined=tuple(joined))

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
        """Everything that ties a citizen to their reports goes; the reports stay, anonymous."""
        await conn.execute(
            update(reports).where(reports.c.reporter_id == reporter_id).values(reporter_id=None)
        )
        await conn.execute(delete(contacts).where(contacts.c.reporter_id == reporter_id))
        await conn.execute(
            delete(outbox).where(outbox.c.conversation_id == reporter_id, outbox.c.status == "pending")
        )
        await conn.execute(delete(reporters).where(reporters.c.id == reporter_id))
        await conn.execute(delete(conversations).where(conversations.c.id == reporter_id))
        await support.forget_in(conn, reporter_id)

    async def _save_contact(
        self, conn: AsyncConnection, reporter_id: str, channel: str, sealed: bytes, now: datetime
    ) -> None:
        await conn.execute(
            upsert(conn, reporters).values(id=reporter_id, created_at=now).on_conflict_do_nothing()
        )
        stmt = upsert(conn, contacts).values(
            reporter_id=reporter_id, channel=channel, address=sealed, created_at=now
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[contacts.c.reporter_id, contacts.c.channel],
                # A new consent starts a new retention period (and may reach a chat marked gone again).
                set_={"address": sealed, "unreachable_at": None, "created_at": now},
            )
        )

    async def _add_report(self, conn: AsyncConnection, report: NewReport, now: datetime) -> tuple[int, bool]:
        """Store a report on every case it joins (one per link); (its first case, whether that existed)."""
        if report.reporter_id:
            await conn.execute(
                upsert(conn, reporters).values(id=report.reporter_id, created_at=now).on_conflict_do_nothing()
            )
        keys = case_keys(report)
        joined: dict[str, tuple[int, bool]] = {}
        # Cases are locked in key order, so two reports naming the same links never deadlock.
        for key in sorted(keys, key=lambda k: (k.column, k.key)):
            joined[key.key] = await cases_.join(conn, key, report, now)
        case_ids = list(dict.fromkeys(joined[k.key][0] for k in keys))  # merged links may meet on one case
        case_id, existed = joined[keys[0].key]
        report_id = await conn.scalar(
            reports.insert()
            .values(
                code=report.code,
                case_id=case_id,
                reporter_id=report.reporter_id,
                channel=report.channel,
                language=report.language,
                category=report.category,
                description=report.description,
                urgent=report.urgent,
                scope_check=report.scope_check,
                created_at=now,
            )
            .returning(reports.c.id)
        )
        await conn.execute(case_reports.insert(), [{"case_id": c, "report_id": report_id} for c in case_ids])
        if report.evidence:
            hashes = await self._kept_hashes(conn, report)
            await conn.execute(
                evidence.insert(),
                [
                    {
                        "report_id": report_id,
                        "kind": e.kind,
                        "value": e.value,
                        "raw": e.raw,
                        "platform": e.platform,
                        "fingerprint": e.fingerprint,
                        "created_at": now,
                        "sha256": hashes.get(e.fingerprint or "") if e.kind in FILE_KINDS else None,
                    }
                    for e in report.evidence
                ],
            )
        for each in case_ids:
            await cases_.receive(conn, each, report, now)
            if report.urgent and self.alerts:
                await self._queue_alert(conn, each, now)
        return case_id, existed

    async def _kept_hashes(self, conn: AsyncConnection, report: NewReport) -> dict[str, str]:
        """The sha256 of each of the report's files that was downloaded already (by file name)."""
        names = {e.fingerprint for e in report.evidence if e.kind in FILE_KINDS and e.fingerprint}
        if not names:
            return {}
        rows = await conn.execute(
            select(evidence_files.c.name, evidence_files.c.sha256).where(
                evidence_files.c.channel == report.channel, evidence_files.c.name.in_(names)
            )
        )
        return {r.name: r.sha256 for r in rows}

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
