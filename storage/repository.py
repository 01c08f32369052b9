"""The one storage interface, in domain terms. No SQL lives outside this package."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Insert, case, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cyberunit.priority import priority
from storage import audit, migrate, support
from storage.engine import SINGLE_STATEMENT, create_engines
from storage.keys import derive_key
from storage.records import (
    CommitResult,
    CommitStatus,
    Conversation,
    NewReport,
    Notification,
    OutboxItem,
    TurnRecord,
)
from storage.schema import (
    audit_events,
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

BURST_WINDOW = timedelta(hours=1)
BURST_REPORTS = 5
NEW_REPORTER_AGE = timedelta(days=1)
FILE_KINDS = ("photo", "document")  # evidence whose fingerprint names a file a channel may keep a copy of


class StorageUnavailable(RuntimeError):
    """The database could not be reached or refused the transaction; nothing was committed."""


class _Abort(Exception):
    """Roll the transaction back and answer with `result`."""

    def __init__(self, result: CommitResult) -> None:
        self.result = result


def utcnow() -> datetime:
    return datetime.now(UTC)


def case_key(report: NewReport) -> tuple[str, str, str]:
    """(column, key, platform) of the case a report joins: its first link, else an evidence fingerprint."""
    for item in report.evidence:
        if item.kind == "link":
            return "canonical_url", item.value, item.platform or "web"
    for item in report.evidence:
        if item.kind in FILE_KINDS and item.fingerprint:
            return "fingerprint", f"file:{item.fingerprint}", "unknown"
    for item in report.evidence:
        if item.kind == "handle":
            return "fingerprint", f"handle:{item.value.casefold()}", "unknown"
    words = re.sub(r"\s+", " ", report.description.casefold()).strip()
    return "fingerprint", "text:" + hashlib.sha256(words.encode()).hexdigest(), "unknown"


class Storage:
    """Conversations, reports, cases, processed events, outbox and audit, on SQLite or PostgreSQL."""

    def __init__(self, url: str, secret: bytes | None = None) -> None:
        """`secret` is RAABTA_SECRET_KEY: the audit chain is keyed from it. Without one (tests, tools that
        never write the audit) the chain is keyed from an empty secret, which `audit verify` reports."""
        self.url = url
        self.secret = secret
        self.audit_key = derive_key(secret or b"", "audit-chain")
        self.writer, self.reader = create_engines(url, self.audit_key)
        self.dialect = self.writer.dialect.name
        self.alerts = False  # True when an alert webhook is configured: urgent reports queue an alert
        self.blocks_generation = 0  # bumped by every block and lift, so in-memory block lists reload

    async def close(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()

    async def upgrade(self) -> None:
        """Apply every migration not applied yet."""
        await migrate.upgrade(self.writer)

    async def is_current(self) -> bool:
        return await migrate.current_revision(self.reader) == migrate.head_revision()

    async def ping(self) -> bool:
        try:
            async with self.reader.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (DBAPIError, OSError):
            return False
        return True

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # --- conversations and turns ---------------------------------------------------------------

    async def load_conversation(self, conversation_id: str) -> Conversation:
        try:
            async with self.reader.connect() as conn:
                await conn.execution_options(**{SINGLE_STATEMENT: True})
                row = (
                    await conn.execute(
                        select(conversations.c.state, conversations.c.version).where(
                            conversations.c.id == conversation_id
                        )
                    )
                ).first()
        except (DBAPIError, OSError) as exc:
            raise StorageUnavailable(str(type(exc).__name__)) from exc
        return Conversation(row.state, row.version) if row else Conversation(None, 0)

    async def commit_turn(self, turn: TurnRecord) -> CommitResult:
        """Store the event id, the new state and the turn's reports in one transaction."""
        try:
            async with self.writer.begin() as conn:
                return await self._commit_turn(conn, turn)
        except _Abort as abort:
            return abort.result
        except IntegrityError as exc:
            if "code" in str(exc.orig):
                return CommitResult(CommitStatus.CODE_TAKEN)
            raise
        except (DBAPIError, OSError) as exc:
            raise StorageUnavailable(str(type(exc).__name__)) from exc

    async def _commit_turn(self, conn: AsyncConnection, turn: TurnRecord) -> CommitResult:
        now = utcnow()
        fresh = await conn.execute(
            self._insert(processed_events)
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
                self._insert(conversations)
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
        if turn.contact is not None:
            await self._save_contact(conn, turn.conversation_id, turn.channel, turn.contact, now)
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
            self._insert(reporters).values(id=reporter_id, created_at=now).on_conflict_do_nothing()
        )
        stmt = self._insert(contacts).values(
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
        """Store a report in its case; (case id, whether the case existed before)."""
        if report.reporter_id:
            await conn.execute(
                self._insert(reporters).values(id=report.reporter_id, created_at=now).on_conflict_do_nothing()
            )
        case_id, existed = await self._open_case(conn, report, now)
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
                created_at=now,
            )
            .returning(reports.c.id)
        )
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
        await self.refresh_case(conn, case_id, now)
        await audit.append(
            conn,
            now,
            "citizen",
            "report.received",
            f"case:{case_id}",
            {"code": report.code, "category": report.category, "urgent": report.urgent},
        )
        await self._flag_burst(conn, case_id, now)
        if report.urgent and self.alerts:
            await self._queue_alert(conn, case_id, now)
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

    async def _flag_burst(self, conn: AsyncConnection, case_id: int, now: datetime) -> None:
        """Mark a case "needs care" when many new reporters pile onto it at once (possible brigading)."""
        recent = await conn.scalar(
            select(func.count())
            .select_from(reports.outerjoin(reporters, reporters.c.id == reports.c.reporter_id))
            .where(
                reports.c.case_id == case_id,
                reports.c.created_at >= now - BURST_WINDOW,
                (reports.c.reporter_id.is_(None)) | (reporters.c.created_at >= now - NEW_REPORTER_AGE),
            )
        )
        if int(recent or 0) < BURST_REPORTS:
            return
        flagged = await conn.scalar(select(cases.c.needs_care).where(cases.c.id == case_id))
        if flagged:
            return
        minutes = int(BURST_WINDOW.total_seconds() // 60)
        reason = f"{recent} reports from new or anonymous reporters within {minutes} minutes"
        await conn.execute(
            update(cases).where(cases.c.id == case_id).values(needs_care=True, care_reason=reason)
        )
        await audit.append(conn, now, "system", "case.needs_care", f"case:{case_id}", {"reason": reason})

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
        await conn.execute(
            outbox.insert().values(
                conversation_id="alert",
                channel="alert",
                kind="urgent_case",
                payload={"text": json.dumps(alert, ensure_ascii=False), "buttons": []},
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    async def _open_case(self, conn: AsyncConnection, report: NewReport, now: datetime) -> tuple[int, bool]:
        column, key, platform = case_key(report)
        key_column = cases.c[column]
        stmt: Insert = self._insert(cases).values(
            **{column: key},
            platform=platform,
            status="new",
            urgent=report.urgent,
            priority=0.0,
            categories=[report.category],
            report_count=0,
            reporter_count=0,
            first_seen=now,
            last_seen=now,
            updated_at=now,
        )
        created = await conn.scalar(
            stmt.on_conflict_do_nothing(index_elements=[key_column]).returning(cases.c.id)  # type: ignore[attr-defined]
        )
        if created is not None:
            return int(created), False
        query = select(cases.c.id).where(key_column == key)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        return int(await conn.scalar(query) or 0), True

    async def refresh_case(self, conn: AsyncConnection, case_id: int, now: datetime) -> None:
        where: ColumnElement[bool] = reports.c.case_id == case_id
        total, known, anonymous, urgent = (
            await conn.execute(
                select(
                    func.count(),
                    func.count(reports.c.reporter_id.distinct()),
                    func.sum(case((reports.c.reporter_id.is_(None), 1), else_=0)),
                    func.max(case((reports.c.urgent, 1), else_=0)),
                ).where(where)
            )
        ).one()
        categories = sorted(set((await conn.scalars(select(reports.c.category).where(where))).all()))
        # Anonymous reports cannot be told apart, so each counts as one more reporter.
        seen = int(known) + int(anonymous or 0)
        await conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(
                report_count=int(total),
                reporter_count=seen,
                categories=categories,
                urgent=bool(urgent),
                last_seen=now,
                updated_at=now,
                priority=priority(categories, bool(urgent), seen),
            )
        )

    # --- audit -----------------------------------------------------------------------------------

    async def verify_audit_chain(self) -> bool:
        """True when every audit row's hash matches its content and the row before it."""
        return await self.first_broken_audit() is None

    async def first_broken_audit(self) -> int | None:
        async with self.reader.connect() as conn:
            return await audit.first_broken(conn)

    # --- reads for the citizen side ------------------------------------------------------------

    async def report_statuses(self, codes: Iterable[str]) -> dict[str, str]:
        """The case status behind each known code; unknown codes are absent."""
        wanted = sorted(set(codes))[:10]
        if not wanted:
            return {}
        try:
            async with self.reader.connect() as conn:
                rows = await conn.execute(
                    select(reports.c.code, cases.c.status)
                    .join(cases, cases.c.id == reports.c.case_id)
                    .where(reports.c.code.in_(wanted))
                )
                return {row.code: row.status for row in rows}
        except (DBAPIError, OSError) as exc:
            raise StorageUnavailable(str(type(exc).__name__)) from exc

    async def gauges(self) -> tuple[dict[str, int], int]:
        """(cases by status, pending notifications) for the metrics endpoint."""
        async with self.reader.connect() as conn:
            by_status = {
                row[0]: int(row[1])
                for row in await conn.execute(select(cases.c.status, func.count()).group_by(cases.c.status))
            }
            pending = await conn.scalar(select(func.count()).where(outbox.c.status == "pending"))
        return by_status, int(pending or 0)

    async def case_exists(self, canonical_url: str) -> bool:
        try:
            async with self.reader.connect() as conn:
                found = await conn.scalar(select(cases.c.id).where(cases.c.canonical_url == canonical_url))
        except (DBAPIError, OSError) as exc:
            raise StorageUnavailable(str(type(exc).__name__)) from exc
        return found is not None

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
        async with self.reader.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

    async def report_codes(self) -> list[str]:
        async with self.reader.connect() as conn:
            return list((await conn.scalars(select(reports.c.code).order_by(reports.c.id))).all())

    async def case_of(self, code: str) -> dict[str, Any] | None:
        """The case a report belongs to, as analysts will see it (no reporter identity)."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(cases).join(reports, reports.c.case_id == cases.c.id).where(reports.c.code == code)
                )
            ).first()
        return dict(row._mapping) if row else None

    async def evidence_of(self, code: str) -> list[dict[str, Any]]:
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(
                    evidence.c.kind,
                    evidence.c.value,
                    evidence.c.platform,
                    evidence.c.fingerprint,
                    evidence.c.sha256,
                )
                .join(reports, reports.c.id == evidence.c.report_id)
                .where(reports.c.code == code)
                .order_by(evidence.c.id)
            )
            return [dict(r._mapping) for r in rows]

    # --- notifications (outbox) ----------------------------------------------------------------

    async def enqueue_notification(
        self, conversation_id: str, channel: str, kind: str, payload: dict[str, Any]
    ) -> int:
        now = utcnow()
        async with self.writer.begin() as conn:
            new_id = await conn.scalar(
                outbox.insert()
                .values(
                    conversation_id=conversation_id,
                    channel=channel,
                    kind=kind,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                .returning(outbox.c.id)
            )
        return int(new_id or 0)

    async def take_notifications(
        self, channel: str, conversation_id: str, limit: int = 20
    ) -> list[Notification]:
        """Pending notifications for one conversation, marked sent as they are handed over."""
        now = utcnow()
        try:
            async with self.writer.begin() as conn:
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
                    await conn.execute(
                        update(outbox)
                        .where(outbox.c.id.in_([r.id for r in rows]))
                        .values(status="sent", sent_at=now, attempts=outbox.c.attempts + 1)
                    )
        except (DBAPIError, OSError) as exc:
            raise StorageUnavailable(str(type(exc).__name__)) from exc
        return [Notification(r.id, r.kind, dict(r.payload)) for r in rows]

    async def claim_outbox(
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
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        try:
            async with self.writer.begin() as conn:
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
                        select(
                            outbox, contacts.c.address, contacts.c.unreachable_at, conversations.c.updated_at
                        )
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
        except (DBAPIError, OSError) as exc:
            raise StorageUnavailable(str(type(exc).__name__)) from exc
        return [
            OutboxItem(
                id=r.id,
                conversation_id=r.conversation_id,
                channel=r.channel,
                kind=r.kind,
                payload=dict(r.payload),
                attempts=r.attempts,
                created_at=audit.as_utc(r.created_at),
                address=r.address,
                unreachable=r.unreachable_at is not None,
                last_inbound_at=audit.as_utc(r.updated_at) if r.updated_at else None,
            )
            for r in rows
        ]

    async def finish_outbox(
        self, item_id: int, status: str, error: str | None = None, retry_at: datetime | None = None
    ) -> None:
        """Record how a delivery went: sent, failed, expired, or pending again at `retry_at`."""
        now = utcnow()
        values: dict[str, Any] = {"status": status, "error": error[:200] if error else None}
        if status == "sent":
            values["sent_at"] = now
        if status == "pending":
            values["next_attempt_at"] = retry_at or now
        async with self.writer.begin() as conn:
            await conn.execute(update(outbox).where(outbox.c.id == item_id).values(**values))

    async def mark_unreachable(self, reporter_id: str, channel: str) -> None:
        async with self.writer.begin() as conn:
            await conn.execute(
                update(contacts)
                .where(contacts.c.reporter_id == reporter_id, contacts.c.channel == channel)
                .values(unreachable_at=utcnow())
            )

    async def contact_of(self, reporter_id: str, channel: str) -> bytes | None:
        """The sealed address of a reachable contact, or None."""
        async with self.reader.connect() as conn:
            return await conn.scalar(
                select(contacts.c.address).where(
                    contacts.c.reporter_id == reporter_id,
                    contacts.c.channel == channel,
                    contacts.c.unreachable_at.is_(None),
                )
            )

    async def outbox_status(self, item_id: int) -> tuple[str, int, str | None]:
        """(status, attempts, error) of one outbox row."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(outbox.c.status, outbox.c.attempts, outbox.c.error).where(outbox.c.id == item_id)
                )
            ).one()
        return row.status, row.attempts, row.error
