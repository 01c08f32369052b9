"""The analysts' queue: listing, claiming under a lease, deciding, merging, notes, notifications.

Errors a caller can fix come back as QueueError with an HTTP-like status and a plain message; the
transaction is rolled back and nothing changes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, delete, exists, func, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit
from storage import cases as cases_
from storage.claimgroup import ClaimGroups
from storage.lifecycle import DECISIONS as DECISIONS
from storage.lifecycle import OPEN as OPEN
from storage.lifecycle import SHARED, reason_refusal
from storage.locking import lock_row
from storage.records import without_overrides
from storage.refusal import Conflict, Invalid, NotAllowed, NotFound, Refused
from storage.repository import FILE_KINDS, Storage, utcnow
from storage.schema import (
    audit_events,
    case_notes,
    case_reports,
    cases,
    evidence,
    evidence_files,
    reports,
)

AGENCIES = ("platform", "PTA", "NCCIA", "CTD")
SORTS = {
    "priority": cases.c.priority,
    "last_seen": cases.c.last_seen,
    "first_seen": cases.c.first_seen,
    "report_count": cases.c.report_count,
}
MAX_NOTE = 2_000
MAX_SENT_AS = 10  # distinct spellings of a case's link kept in an export row
MAX_LIMIT = 200
DEFAULT_LEASE = 15 * 60
MAX_LEASE = 4 * 3600
INT32 = 2**31  # ids and counts in a cursor must fit the database's integer columns


# The claim order; storage.schema's ix_cases_claim serves it after `status = 'new'`.
CLAIM_ORDER = (cases.c.urgent.desc(), cases.c.priority.desc(), cases.c.first_seen.asc(), cases.c.id.asc())


def claimable(locking: bool, within: Sequence[Any] = ()) -> Select[tuple[int]]:
    """The ids of the next `:limit` cases to claim at `:now`, without sorting every open case.

    Two arms, each walking an index in order and stopping after `limit` rows: expired leases, longest
    expired first (ix_cases_lease; usually none, since the reaper returns them to `new` every 30 s), and
    new cases in claim order (ix_cases_claim); then the two merged in claim order and cut to `limit`. With
    `locking` (PostgreSQL) each arm takes its rows FOR UPDATE SKIP LOCKED, so concurrent claimers pass each
    other's rows by; the losing arm's rows (at most `limit`) stay locked, unused, until the COMMIT. Without
    it (SQLite, whose writes queue behind one lock; and PostgreSQL's groups without filters, whose
    function re-checks and locks the cases it was handed: storage.claimgroup) it takes no lock.
    `within` holds the conditions of the filters an analyst has on screen (platform, category, ...).
    The moment and the limit are parameters (`now`, `limit`), so one statement object serves every claim
    of the same filters (storage.claimgroup keeps it): building it anew cost more CPU than running it.
    """
    now, limit = bindparam("now", type_=cases.c.lease_until.type), bindparam("limit", type_=Integer)
    cols = (cases.c.id, cases.c.urgent, cases.c.priority, cases.c.first_seen)
    expired = (
        select(*cols)
        .where(cases.c.status == "in_review", cases.c.lease_until < now, *within)
        .order_by(cases.c.lease_until, *CLAIM_ORDER)
        .limit(limit)
    )
    fresh = select(*cols).where(cases.c.status == "new", *within).order_by(*CLAIM_ORDER).limit(limit)
    arms = []
    for name, arm in (("expired", expired), ("fresh", fresh)):
        if locking:
            arm = arm.with_for_update(skip_locked=True, of=cases)
        arms.append(select(arm.cte(name)))
    both = union_all(*arms).subquery("claimable")
    order = (both.c.urgent.desc(), both.c.priority.desc(), both.c.first_seen.asc(), both.c.id.asc())
    return select(both.c.id).order_by(*order).limit(limit)


def kept_copy(stored_at: datetime | None, purged_at: datetime | None) -> dict[str, Any] | None:
    """The server's copy of an evidence file: when stored, and when the retention purge removed it."""
    if stored_at is None:
        return None  # never downloaded (downloads off, or not a file)
    stored = audit.as_utc(stored_at)
    removed = audit.as_utc(purged_at) if purged_at is not None else None
    return {
        "stored_at": stored.isoformat(),
        "removed_at": removed.isoformat() if removed is not None else None,
        "days_kept": (removed - stored).days if removed is not None else None,
    }


# Every refusal of a queue action (storage.refusal's kinds: Invalid, NotFound, Conflict, NotAllowed).
QueueError = Refused


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: tuple[str, ...] = ()
    category: str | None = None
    platform: str | None = None
    language: str | None = None
    min_priority: float | None = None
    since: datetime | None = None
    until: datetime | None = None
    needs_care: bool | None = None
    scope_check: bool | None = None
    urgent: bool | None = None
    # The list under the console's urgent lane leaves out what the lane shows (open urgent cases), so
    # walking the rows with j/k never meets a case twice.
    hide_open_urgent: bool = False
    sort: str = "priority"
    descending: bool = True


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next: str | None


Renderer = cases_.Renderer


@dataclass
class DecisionResult:
    case: dict[str, Any]
    notified: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def case_item(row: Any) -> dict[str, Any]:
    """The analyst-facing view of a case row: no reporter anywhere."""
    return case_view(dict(row._mapping))


def case_view(data: dict[str, Any]) -> dict[str, Any]:
    """`case_item` of a case row already read into a dict of its columns (storage.claimgroup's)."""
    for key in (
        "first_seen",
        "last_seen",
        "lease_until",
        "decided_at",
        "updated_at",
        "shared_at",
        "claimed_at",
    ):
        if data.get(key) is not None:
            data[key] = audit.as_utc(data[key]).isoformat()
    return data


def _encode_cursor(value: Any, case_id: int) -> str:
    raw = json.dumps([value.isoformat() if isinstance(value, datetime) else value, case_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _sort_number(value: Any) -> bool:
    """A priority or report count a database column can hold: finite, and an integer within 32 bits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return -INT32 <= value < INT32 if isinstance(value, int) else math.isfinite(value)


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        value, case_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(case_id, bool) or not isinstance(case_id, int) or not 0 <= case_id < INT32:
            raise TypeError  # a huge integer reaches no database column: out of range, not a 500
        if sort in ("last_seen", "first_seen"):
            value = datetime.fromisoformat(value)
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        elif not _sort_number(value):
            raise TypeError
    except (
        OverflowError,  # a time before year 1 once in UTC
        ValueError,
        TypeError,
        binascii.Error,
        json.JSONDecodeError,
        UnicodeDecodeError,
        RecursionError,  # a cursor nested too deep for the decoder
    ) as exc:
        raise Invalid("cursor is not one this API gave out") from exc
    return value, case_id


def held(row: Any, now: datetime) -> bool:
    """A case row someone holds now: in review under a lease that has not run out."""
    return row.status == "in_review" and row.lease_until is not None and audit.as_utc(row.lease_until) >= now


_GROUPS: weakref.WeakKeyDictionary[Storage, ClaimGroups] = weakref.WeakKeyDictionary()


def claim_groups(storage: Storage) -> ClaimGroups:
    """The one ClaimGroups of a Storage (every Queue of it shares it, as every request makes a Queue)."""
    found = _GROUPS.get(storage)
    if found is None:
        postgres = storage.dialect == "postgresql"
        # PostgreSQL claims groups without filters in two round trips (migration 0020) from the pick
        # without locks; the others, and any group that cannot, in a transaction that locks as it picks.
        peek = claimable(False) if postgres else None
        found = _GROUPS[storage] = ClaimGroups(storage.db, lambda within: claimable(postgres, within), peek)
    return found


class Queue:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    # --- reading ---------------------------------------------------------------------------------

    async def list_cases(self, filters: CaseFilter, limit: int = 50, cursor: str | None = None) -> Page:
        if filters.sort not in SORTS:
            raise Invalid(f"sort must be one of {', '.join(SORTS)}")
        if not 1 <= limit <= MAX_LIMIT:
            raise Invalid(f"limit must be between 1 and {MAX_LIMIT}")
        column = SORTS[filters.sort]
        query: Select[Any] = select(cases).where(*self._conditions(filters))
        if cursor:
            value, after = _decode_cursor(cursor, filters.sort)
            if filters.descending:
                query = query.where(or_(column < value, and_(column == value, cases.c.id > after)))
            else:
                query = query.where(or_(column > value, and_(column == value, cases.c.id > after)))
        query = query.order_by(column.desc() if filters.descending else column.asc(), cases.c.id.asc())
        async with self.storage.db.read() as conn:
            rows = (await conn.execute(query.limit(limit + 1))).all()
            more = len(rows) > limit
            rows = rows[:limit]
            latest = await latest_words(conn, [r.id for r in rows])
        last = rows[-1] if rows else None
        next_cursor = _encode_cursor(getattr(last, filters.sort), last.id) if more and last else None
        items = [case_item(r) for r in rows]
        for item in items:
            item["latest_words"] = latest.get(item["id"], "")
        return Page(items, next_cursor)

    @staticmethod
    def _conditions(f: CaseFilter) -> list[Any]:
        conditions: list[Any] = []
        if f.status:
            conditions.append(cases.c.status.in_(f.status))
        if f.platform:
            conditions.append(cases.c.platform == f.platform)
        if f.category:
            conditions.append(
                exists().where(
                    case_reports.c.case_id == cases.c.id,
                    reports.c.id == case_reports.c.report_id,
                    reports.c.category == f.category,
                )
            )
        if f.language:
            conditions.append(
                exists().where(
                    case_reports.c.case_id == cases.c.id,
                    reports.c.id == case_reports.c.report_id,
                    reports.c.language == f.language,
                )
            )
        if f.min_priority is not None:
            conditions.append(cases.c.priority >= f.min_priority)
        if f.since is not None:
            conditions.append(cases.c.last_seen >= f.since)
        if f.until is not None:
            conditions.append(cases.c.first_seen < f.until)
        if f.needs_care is not None:
            conditions.append(cases.c.needs_care == f.needs_care)
        if f.scope_check is not None:
            conditions.append(cases.c.scope_check == f.scope_check)
        if f.urgent is not None:
            conditions.append(cases.c.urgent.is_(f.urgent))
        if f.hide_open_urgent:
            conditions.append(~and_(cases.c.urgent.is_(True), cases.c.status.in_(OPEN)))
        return conditions

    async def get_case(self, case_id: int) -> dict[str, Any]:
        """A case with its reports, evidence, notes and history; never who reported."""
        async with self.storage.db.read() as conn:
            row = (await conn.execute(select(cases).where(cases.c.id == case_id))).first()
            if row is None:
                raise NotFound(f"no case {case_id}")
            report_rows = (
                await conn.execute(
                    select(
                        reports.c.id,
                        reports.c.code,
                        reports.c.channel,
                        reports.c.language,
                        reports.c.category,
                        reports.c.description,
                        reports.c.urgent,
                        reports.c.scope_check,
                        reports.c.created_at,
                    )
                    .join(case_reports, case_reports.c.report_id == reports.c.id)
                    .where(case_reports.c.case_id == case_id)
                    .order_by(reports.c.created_at, reports.c.id)
                )
            ).all()
            evidence_rows = (
                await conn.execute(
                    select(
                        evidence.c.report_id,
                        evidence.c.kind,
                        evidence.c.value,
                        evidence.c.raw,
                        evidence.c.platform,
                        evidence.c.fingerprint,
                        evidence.c.sha256,
                        evidence_files.c.stored_at,
                        evidence_files.c.purged_at,
                    )
                    .join(reports, reports.c.id == evidence.c.report_id)
                    .join(case_reports, case_reports.c.report_id == reports.c.id)
                    .outerjoin(
                        evidence_files,
                        evidence.c.kind.in_(FILE_KINDS)
                        & (evidence_files.c.channel == reports.c.channel)
                        & (evidence_files.c.name == evidence.c.fingerprint),
                    )
                    .where(case_reports.c.case_id == case_id)
                    .order_by(evidence.c.id)
                )
            ).all()
            notes = (
                await conn.execute(
                    select(case_notes.c.author, case_notes.c.note, case_notes.c.at)
                    .where(case_notes.c.case_id == case_id)
                    .order_by(case_notes.c.id)
                )
            ).all()
            merged = await self._merged_into(conn, case_id)
            history = (
                await conn.execute(
                    select(
                        audit_events.c.at,
                        audit_events.c.actor,
                        audit_events.c.action,
                        audit_events.c.subject,
                        audit_events.c.detail,
                    )
                    .where(audit_events.c.subject.in_([f"case:{c}" for c in (case_id, *merged)]))
                    .order_by(audit_events.c.id)
                )
            ).all()
        by_report: dict[int, list[dict[str, Any]]] = {}
        for e in evidence_rows:
            by_report.setdefault(e.report_id, []).append(
                {
                    "kind": e.kind,
                    "value": e.value,
                    "raw": e.raw,
                    "platform": e.platform,
                    "fingerprint": e.fingerprint,
                    "sha256": e.sha256,
                    "kept_copy": kept_copy(e.stored_at, e.purged_at),
                }
            )
        item = case_item(row)
        item["reports"] = [
            {
                "code": r.code,
                "channel": r.channel,
                "language": r.language,
                "category": r.category,
                "description": r.description,
                "urgent": r.urgent,
                "scope_check": r.scope_check,
                "created_at": audit.as_utc(r.created_at).isoformat(),
                "evidence": by_report.get(r.id, []),
            }
            for r in report_rows
        ]
        item["notes"] = [
            {"author": n.author, "note": n.note, "at": audit.as_utc(n.at).isoformat()} for n in notes
        ]
        item["history"] = [
            {
                "at": audit.as_utc(h.at).isoformat(),
                "actor": h.actor if h.actor != "citizen" else "citizen",
                "action": h.action,
                "detail": h.detail,
                # events of a case merged into this one name it
                "case": int(h.subject.removeprefix("case:")),
            }
            for h in history
        ]
        return item

    @staticmethod
    async def _merged_into(conn: AsyncConnection, case_id: int) -> list[int]:
        """Every case merged into this one, directly or through others."""
        found: list[int] = []
        frontier = [case_id]
        while frontier:
            frontier = list(
                (await conn.scalars(select(cases.c.id).where(cases.c.merged_into.in_(frontier)))).all()
            )
            frontier = [c for c in frontier if c not in found and c != case_id]
            found += frontier
        return found

    # --- leases ----------------------------------------------------------------------------------

    async def claim(
        self,
        assignee: str,
        limit: int = 1,
        lease_seconds: int = DEFAULT_LEASE,
        within: CaseFilter | None = None,
    ) -> list[dict[str, Any]]:
        """Take the highest-priority open cases under a lease. Two claimers never get the same case.

        `within`: only cases matching these filters (their status filter aside: only new cases and
        expired leases are ever claimed), so "claim next" on a platform=instagram view never hands out a
        case from elsewhere.
        """
        if not 1 <= limit <= 50:
            raise Invalid("limit must be between 1 and 50")
        if not 60 <= lease_seconds <= MAX_LEASE:
            raise Invalid(f"lease_seconds must be between 60 and {MAX_LEASE}")
        conditions = self._conditions(replace(within, status=())) if within is not None else []
        # Served with the other claims waiting now (storage.claimgroup): one transaction for them all.
        rows = await claim_groups(self.storage).claim(
            repr(within), conditions, lease_seconds, assignee, limit
        )
        return [case_view(r) for r in rows]

    async def claim_case(
        self, case_id: int, assignee: str, lease_seconds: int = DEFAULT_LEASE
    ) -> dict[str, Any]:
        """Claim the case an analyst is looking at: a new case, or one whose lease ran out.

        Claiming a case you already hold renews the lease (a second tap changes nothing else); a case
        someone else holds is refused naming them and until when, so nobody takes it over silently.
        """
        if not 60 <= lease_seconds <= MAX_LEASE:
            raise Invalid(f"lease_seconds must be between 60 and {MAX_LEASE}")
        async with self.storage.db.transaction() as conn:
            row = await self._case(conn, case_id)
            now = utcnow()
            live = held(row, now)
            if live and row.assignee != assignee:
                until = audit.as_utc(row.lease_until).strftime("%H:%M UTC")
                raise Conflict(f"case {case_id} is held by {row.assignee} until {until}")
            if row.status not in OPEN:
                raise Conflict(f"case {case_id} is {row.status}: only open cases are claimed")
            values: dict[str, Any] = {
                "lease_until": now + timedelta(seconds=lease_seconds),
                "updated_at": now,
            }
            if not live:
                values |= {
                    "status": "in_review",
                    "assignee": assignee,
                    "claimed_reports": cases.c.report_count,
                    "claimed_at": now,
                }
            await conn.execute(update(cases).where(cases.c.id == case_id).values(**values))
            action = "case.extended" if live else "case.claimed"
            detail = {"lease_seconds": lease_seconds, "chosen": True}
            await audit.append(conn, now, assignee, action, f"case:{case_id}", detail)
            return case_item((await conn.execute(select(cases).where(cases.c.id == case_id))).one())

    async def workload(self) -> list[dict[str, Any]]:
        """Per analyst: cases held now (unexpired leases), and decisions in the last 1 and 7 days.

        For supervisors balancing the queue; counts only, from the cases table and the audit log.
        """
        now = utcnow()
        async with self.storage.db.read() as conn:
            held = (
                await conn.execute(
                    select(cases.c.assignee, func.count())
                    .where(cases.c.status == "in_review", cases.c.lease_until >= now)
                    .group_by(cases.c.assignee)
                )
            ).all()
            decided = (
                await conn.execute(
                    select(audit_events.c.actor, audit_events.c.at).where(
                        audit_events.c.action == "case.decided", audit_events.c.at >= now - timedelta(days=7)
                    )
                )
            ).all()
        people: dict[str, dict[str, Any]] = {}
        for name, count in held:
            people.setdefault(name, {"name": name, "held": 0, "day": 0, "week": 0})["held"] = int(count)
        for actor, at in decided:
            person = people.setdefault(actor, {"name": actor, "held": 0, "day": 0, "week": 0})
            person["week"] += 1
            person["day"] += int(audit.as_utc(at) >= now - timedelta(days=1))
        return sorted(people.values(), key=lambda p: (-p["held"], p["name"]))

    async def extend(self, case_id: int, assignee: str, seconds: int = DEFAULT_LEASE) -> dict[str, Any]:
        if not 60 <= seconds <= MAX_LEASE:
            raise Invalid(f"lease_seconds must be between 60 and {MAX_LEASE}")
        async with self.storage.db.transaction() as conn:
            await self._held(conn, case_id, assignee)
            now = utcnow()
            await conn.execute(
                update(cases)
                .where(cases.c.id == case_id)
                .values(lease_until=now + timedelta(seconds=seconds), updated_at=now)
            )
            await audit.append(
                conn, now, assignee, "case.extended", f"case:{case_id}", {"lease_seconds": seconds}
            )
            return case_item((await conn.execute(select(cases).where(cases.c.id == case_id))).one())

    async def release(self, case_id: int, assignee: str) -> dict[str, Any]:
        async with self.storage.db.transaction() as conn:
            await self._held(conn, case_id, assignee)
            now = utcnow()
            await conn.execute(
                update(cases)
                .where(cases.c.id == case_id)
                .values(status="new", assignee=None, lease_until=None, claimed_reports=None, updated_at=now)
            )
            await audit.append(conn, now, assignee, "case.released", f"case:{case_id}", {})
            return case_item((await conn.execute(select(cases).where(cases.c.id == case_id))).one())

    async def assign(
        self, case_id: int, assignee: str, actor: str, lease_seconds: int = DEFAULT_LEASE
    ) -> dict[str, Any]:
        """A supervisor hands an open case to an analyst, under a fresh lease."""
        async with self.storage.db.transaction() as conn:
            row = await self._case(conn, case_id)
            if row.status not in OPEN:
                raise Conflict(f"case {case_id} is {row.status}; only open cases can be assigned")
            now = utcnow()
            await conn.execute(
                update(cases)
                .where(cases.c.id == case_id)
                .values(
                    status="in_review",
                    assignee=assignee,
                    lease_until=now + timedelta(seconds=lease_seconds),
                    claimed_reports=cases.c.report_count,
                    claimed_at=now,
                    updated_at=now,
                )
            )
            await audit.append(conn, now, actor, "case.assigned", f"case:{case_id}", {"assignee": assignee})
            return case_item((await conn.execute(select(cases).where(cases.c.id == case_id))).one())

    async def rescore(self) -> int:
        """Score every open case again (recency decays with time); how many."""
        async with self.storage.db.transaction() as conn:
            return await cases_.rescore(conn, utcnow())

    async def reap_expired(self) -> int:
        """Return cases whose lease ran out to the queue; how many."""
        now = utcnow()
        async with self.storage.db.transaction() as conn:
            expired = list(
                (
                    await conn.scalars(
                        select(cases.c.id).where(cases.c.status == "in_review", cases.c.lease_until < now)
                    )
                ).all()
            )
            if expired:
                await conn.execute(
                    update(cases)
                    .where(cases.c.id.in_(expired))
                    .values(
                        status="new", assignee=None, lease_until=None, claimed_reports=None, updated_at=now
                    )
                )
                events: list[tuple[str, dict[str, Any]]] = [(f"case:{case_id}", {}) for case_id in expired]
                await audit.append_many(conn, now, "system", "case.lease_expired", events)
        return len(expired)

    # --- decisions -------------------------------------------------------------------------------

    async def decide(
        self,
        case_id: int,
        actor: str,
        status: str,
        note: str,
        agency: str | None = None,
        merge_into: int | None = None,
        render: Renderer | None = None,
        supervisor: bool = False,
        seen_reports: int | None = None,
        reason: str | None = None,
    ) -> DecisionResult:
        """Decide a case the actor holds; tell its reporters who asked for updates what changed for them.

        `reason` is what every reporter of the case is told about why (storage.lifecycle.REASONS): one that
        fits the decision, required to close with no action, none for a merge. It is kept on the case and
        audited with the decision.

        `seen_reports` is the report count the analyst saw (by default, the count when they claimed the
        case): a decision on fewer reports than the case now has is refused, so a report that arrives
        while the case is being reviewed is never decided unseen. A case that "needs care" leaves the
        unit (referred, escalated) only by a supervisor's decision.
        """
        note = without_overrides(note.strip())
        if status not in DECISIONS:
            raise Invalid(f"status must be one of {', '.join(DECISIONS)}")
        if not note:
            raise Invalid("a decision needs a note")
        if len(note) > MAX_NOTE:
            raise Invalid(f"note longer than {MAX_NOTE} characters")
        if status == "referred" and not agency:
            raise Invalid(f"a referral needs an agency ({', '.join(AGENCIES)} or a configured one)")
        if agency is not None and status not in SHARED:
            raise Invalid("an agency belongs only to a referral or an escalation")
        if agency is not None and (  # one space between words: "CTD Punjab" (RAABTA_AGENCIES)
            len(agency) > 32
            or agency != " ".join(agency.split())
            or not agency.replace("_", "").replace("-", "").replace(" ", "").isalnum()
        ):
            raise Invalid("agency must be a short name of letters, digits, spaces, - or _")
        if status == "merged" and merge_into is None:
            raise Invalid("merging needs merge_into: the id of the case to merge into")
        if status != "merged" and merge_into is not None:
            raise Invalid("merge_into belongs only to a merge")
        refusal = reason_refusal(status, reason)
        if refusal is not None:
            raise Invalid(refusal)
        async with self.storage.db.transaction() as conn:
            row = await self._held(conn, case_id, actor)
            if status in SHARED and row.needs_care and not supervisor:
                raise NotAllowed(
                    f"case {case_id} needs care ({row.care_reason}); only a supervisor may send it out"
                )
            target_row = (
                await self._merge_target(conn, case_id, int(merge_into or 0)) if status == "merged" else None
            )
            baseline = seen_reports if seen_reports is not None else row.claimed_reports
            if baseline is not None and row.report_count > baseline:
                arrived = row.report_count - baseline
                raise Conflict(
                    f"{arrived} new report(s) arrived on case {case_id} since you looked; read them, then "
                    f"decide again with seen_reports={row.report_count}",
                )
            now = utcnow()
            target = None
            if target_row is not None:
                target = await self._merge(conn, row, target_row, actor, now)
            await conn.execute(
                update(cases)
                .where(cases.c.id == case_id)
                .values(
                    status=status,
                    agency=agency,
                    reason=reason,
                    merged_into=target,
                    decided_at=now,
                    lease_until=None,
                    claimed_reports=None,
                    urgent=False,  # the decision covered every report, urgent ones included
                    shared_at=func.coalesce(cases.c.shared_at, now)
                    if status in SHARED
                    else cases.c.shared_at,
                    updated_at=now,
                )
            )
            if target is None:
                await cases_.refresh(conn, case_id, now)  # its priority without the urgency it no longer has
            await conn.execute(
                case_notes.insert().values(case_id=target or case_id, author=actor, note=note, at=now)
            )
            await audit.append(
                conn,
                now,
                actor,
                "case.decided",
                f"case:{case_id}",
                {"status": status, "agency": agency, "merge_into": target, "reason": reason},
            )
            notified = await cases_.notify(conn, target or case_id, now, render) if render else 0
            result = case_item((await conn.execute(select(cases).where(cases.c.id == case_id))).one())
        return DecisionResult(result, notified)

    async def _merge_target(self, conn: AsyncConnection, case_id: int, target_id: int) -> Any:
        """The open case to merge into, locked; refused when it is this case, closed, merged, or a loop."""
        if target_id == case_id:
            raise Invalid("a case cannot be merged into itself")
        target = await lock_row(conn, cases, target_id)
        if target is None:
            raise NotFound(f"no case {target_id} to merge into")
        if target.status == "merged":
            final, seen = target, {target_id}
            while final is not None and final.status == "merged" and final.merged_into not in seen:
                if final.merged_into == case_id:
                    raise Invalid(f"merging {case_id} into {target_id} would make a loop")
                seen.add(final.merged_into)
                final = await lock_row(conn, cases, final.merged_into)
            raise Conflict(f"case {target_id} was merged into case {target.merged_into}; merge into that one")
        if target.status not in OPEN:
            raise Conflict(f"case {target_id} is closed ({target.status}); merge only into an open case")
        return target

    async def _merge(self, conn: AsyncConnection, source: Any, target: Any, actor: str, now: datetime) -> int:
        """Move a case's reports, notes, "needs care" flag and scope check mark to an open case; the
        target's history names the case merged into it."""
        case_id, target_id = int(source.id), int(target.id)
        on_target = select(case_reports.c.report_id).where(case_reports.c.case_id == target_id)
        # A report on both cases (two of its links) stays once on the target.
        await conn.execute(
            delete(case_reports).where(
                case_reports.c.case_id == case_id, case_reports.c.report_id.in_(on_target)
            )
        )
        await conn.execute(
            update(case_reports).where(case_reports.c.case_id == case_id).values(case_id=target_id)
        )
        await conn.execute(update(reports).where(reports.c.case_id == case_id).values(case_id=target_id))
        await conn.execute(
            update(case_notes).where(case_notes.c.case_id == case_id).values(case_id=target_id)
        )
        if source.urgent and not target.urgent:  # urgent reports nobody has decided on move with them
            await conn.execute(update(cases).where(cases.c.id == target_id).values(urgent=True))
        if source.scope_check and not target.scope_check:  # the marked reports are the target's now
            await conn.execute(update(cases).where(cases.c.id == target_id).values(scope_check=True))
        if source.needs_care and not target.needs_care:
            await conn.execute(
                update(cases)
                .where(cases.c.id == target_id)
                .values(needs_care=True, care_reason=f"{source.care_reason} (from case {case_id})")
            )
        await cases_.refresh(conn, target_id, now)
        await audit.append(conn, now, actor, "case.merged_from", f"case:{target_id}", {"from": case_id})
        return target_id

    async def add_note(self, case_id: int, author: str, note: str) -> dict[str, Any]:
        note = without_overrides(note.strip())
        if not note or len(note) > MAX_NOTE:
            raise Invalid(f"a note has 1 to {MAX_NOTE} characters")
        async with self.storage.db.transaction() as conn:
            await self._case(conn, case_id)
            now = utcnow()
            await conn.execute(case_notes.insert().values(case_id=case_id, author=author, note=note, at=now))
            await audit.append(conn, now, author, "case.noted", f"case:{case_id}", {"length": len(note)})
        return {"author": author, "note": note, "at": now.isoformat()}

    # --- helpers ---------------------------------------------------------------------------------

    async def _case(self, conn: AsyncConnection, case_id: int) -> Any:
        row = await lock_row(conn, cases, case_id)
        if row is None:
            raise NotFound(f"no case {case_id}")
        return row

    async def _held(self, conn: AsyncConnection, case_id: int, assignee: str) -> Any:
        """The case row, if `assignee` holds its unexpired lease."""
        row = await self._case(conn, case_id)
        if row.status != "in_review" or row.assignee != assignee:
            raise Conflict(f"case {case_id} is not held by you; claim it first")
        if row.lease_until is None or audit.as_utc(row.lease_until) < utcnow():
            raise Conflict(f"your lease on case {case_id} has expired; claim it again")
        return row

    async def stats(self) -> dict[str, Any]:
        """Counts for the overview: by status, category, platform, language, per day; decision times."""
        async with self.storage.db.read() as conn:
            by_status: dict[str, int] = dict(
                (await conn.execute(select(cases.c.status, func.count()).group_by(cases.c.status))).all()
            )
            grouped: dict[str, dict[str, int]] = {}
            for name, column in (
                ("category", reports.c.category),
                ("language", reports.c.language),
                ("channel", reports.c.channel),
            ):
                grouped[name] = dict(
                    (await conn.execute(select(column, func.count()).group_by(column))).all()
                )
            by_platform: dict[str, int] = dict(
                (await conn.execute(select(cases.c.platform, func.count()).group_by(cases.c.platform))).all()
            )
            created = (await conn.scalars(select(reports.c.created_at))).all()
            decided = (
                await conn.execute(
                    select(cases.c.first_seen, cases.c.decided_at).where(cases.c.decided_at.is_not(None))
                )
            ).all()
        per_day: dict[str, int] = {}
        for at in created:
            day = audit.as_utc(at).date().isoformat()
            per_day[day] = per_day.get(day, 0) + 1
        hours = sorted((audit.as_utc(d) - audit.as_utc(f)).total_seconds() / 3600 for f, d in decided)
        median = hours[len(hours) // 2] if hours else None
        return {
            "cases_by_status": by_status,
            "reports_by_category": grouped["category"],
            "reports_by_language": grouped["language"],
            "reports_by_channel": grouped["channel"],
            "cases_by_platform": by_platform,
            "reports_per_day": dict(sorted(per_day.items())),
            "decisions": len(hours),
            "median_hours_to_decision": median,
        }

    async def export_rows(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        status: tuple[str, ...] = (),
        filters: CaseFilter | None = None,
    ) -> list[dict[str, Any]]:
        """Every case in a window (and of these statuses), for exports: case fields and the links exactly
        as citizens sent them (`reported_as`), nothing about reporters. `filters` narrows it as the list
        does (platform, category, ...; its sort is ignored: exports go by case id)."""
        query = select(cases).order_by(cases.c.id)
        if since is not None:
            query = query.where(cases.c.last_seen >= since)
        if until is not None:
            query = query.where(cases.c.first_seen < until)
        if status:
            query = query.where(cases.c.status.in_(status))
        narrowing = self._conditions(filters) if filters is not None else []
        query = query.where(*narrowing)
        sent_as = (
            select(case_reports.c.case_id, evidence.c.raw)
            .select_from(
                evidence.join(case_reports, case_reports.c.report_id == evidence.c.report_id).join(
                    cases, cases.c.id == case_reports.c.case_id
                )
            )
            .where(
                evidence.c.kind == "link",
                evidence.c.value == cases.c.canonical_url,
                evidence.c.raw.is_not(None),
                *narrowing,
            )
            .order_by(evidence.c.id)
        )
        async with self.storage.db.read() as conn:
            rows = [case_item(r) for r in (await conn.execute(query)).all()]
            raws: dict[int, list[str]] = {}
            for r in await conn.execute(sent_as):
                seen = raws.setdefault(r.case_id, [])
                if r.raw not in seen and len(seen) < MAX_SENT_AS:
                    seen.append(r.raw)
        for row in rows:
            row["reported_as"] = raws.get(row["id"], [])
        return rows


SNIPPET = 90  # characters of a description shown on a queue row


def first_words(text: str, limit: int = SNIPPET) -> str:
    """`text` on one line, cut at a word boundary within `limit` characters (with "…" when cut)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut.rstrip(" ,.;:-") + "…"


async def latest_words(conn: AsyncConnection, case_ids: Sequence[int]) -> dict[int, str]:
    """The first words of each case's latest non-empty description: what a queue row shows to triage.

    One query for a page of cases (a window over each case's reports, newest first).
    """
    if not case_ids:
        return {}
    newest = (
        func.row_number()
        .over(
            partition_by=case_reports.c.case_id,
            order_by=(reports.c.created_at.desc(), reports.c.id.desc()),
        )
        .label("newest")
    )
    ranked = (
        select(case_reports.c.case_id, reports.c.description, newest)
        .join(reports, reports.c.id == case_reports.c.report_id)
        .where(case_reports.c.case_id.in_(case_ids), reports.c.description != "")
        .subquery()
    )
    rows = await conn.execute(select(ranked.c.case_id, ranked.c.description).where(ranked.c.newest == 1))
    return {r.case_id: first_words(r.description) for r in rows}


def parse_statuses(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    statuses = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in statuses if s not in (*OPEN, *DECISIONS)]
    if unknown:
        raise Invalid(f"unknown status {unknown[0]!r}")
    return statuses


async def audit_page(storage: Storage, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """Audit events after an id, oldest first (supervisors and admins read these)."""
    async with storage.db.read() as conn:
        rows = (
            await conn.execute(
                select(audit_events).where(audit_events.c.id > after).order_by(audit_events.c.id).limit(limit)
            )
        ).all()
    return [
        {
            "id": r.id,
            "at": audit.as_utc(r.at).isoformat(),
            "actor": r.actor,
            "action": r.action,
            "subject": r.subject,
            "detail": r.detail,
            "hash": r.hash,
        }
        for r in rows
    ]


async def support_page(storage: Storage, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Families' callback requests, newest first (counsellors only). Phone numbers stay sealed: a counsellor
    reveals one on purpose (storage.support.reveal_phone), audited."""
    from storage.schema import support_requests
    from storage.support import request_item, with_reach

    query = with_reach(select(support_requests)).order_by(support_requests.c.id.desc()).limit(limit)
    if status:
        query = query.where(support_requests.c.status == status)
    async with storage.db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [request_item(r._mapping) for r in rows]


# --- read-only helpers for the web console ------------------------------------------------------


async def principal_by_token_hash(storage: Storage, token_hash: str) -> tuple[str, str] | None:
    """(name, role) of the unrevoked token with this SHA-256, or None: the console keeps only the hash."""
    from storage.schema import api_tokens

    async with storage.db.read() as conn:
        row = (
            await conn.execute(
                select(api_tokens.c.name, api_tokens.c.role).where(
                    api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
                )
            )
        ).first()
    return (row.name, row.role) if row else None


async def urgent_open_cases(storage: Storage, limit: int = 20) -> list[dict[str, Any]]:
    """Open cases holding an urgent report, highest priority first (the console's urgent lane)."""
    query = (
        select(cases)
        .where(cases.c.urgent.is_(True), cases.c.status.in_(OPEN))
        .order_by(cases.c.priority.desc(), cases.c.first_seen.asc(), cases.c.id.asc())
        .limit(limit)
    )
    async with storage.db.read() as conn:
        return [case_item(r) for r in (await conn.execute(query)).all()]


async def decision_times(storage: Storage, limit: int = 10_000) -> list[dict[str, Any]]:
    """The most recent decisions: outcome, when, and hours from first report to decision."""
    query = (
        select(cases.c.status, cases.c.first_seen, cases.c.decided_at)
        .where(cases.c.decided_at.is_not(None))
        .order_by(cases.c.decided_at.desc(), cases.c.id.desc())
        .limit(limit)
    )
    async with storage.db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [
        {
            "status": r.status,
            "decided_at": audit.as_utc(r.decided_at).isoformat(),
            "hours": (audit.as_utc(r.decided_at) - audit.as_utc(r.first_seen)).total_seconds() / 3600,
        }
        for r in rows
    ]
