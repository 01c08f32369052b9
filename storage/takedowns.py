"""The takedown lifecycle of a referred case: the notices sent, the checks made, what is due, how long
removal took.

A referral used to end at the decision. Here an analyst records each notice sent about a referred or
escalated case (agency, template, date, the reference the platform or agency gave it) and each check of the
page afterwards (still online, removed, geo-blocked), both audited. A referred case whose latest notice (or
decision) is older than the check age, and whose latest check is neither `removed` nor younger than that
age, is due for a check: it comes back to the queue page in its own lane. Time to removal runs from a
case's first notice (its decision when no notice was recorded) to its first `removed` check.

Nothing here is about reporters: notices and checks belong to the case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit
from storage.lifecycle import SHARED
from storage.locking import lock_row
from storage.queue import MAX_LIMIT, CaseFilter, Queue, case_item
from storage.records import without_overrides
from storage.refusal import Conflict, Invalid, NotFound
from storage.repository import Storage, utcnow
from storage.schema import cases, referrals, takedown_checks

RESULTS = ("still_online", "removed", "geo_blocked")
CHECK_DAYS = 7  # RAABTA_TAKEDOWN_CHECK_DAYS: days after a notice (or the last check) before a check is due
MAX_CHECK_DAYS = 365
MAX_REFERENCE = 100
MAX_CHECK_NOTE = 500
MAX_TEMPLATE = 32
MAX_AGENCY = 32
# A notice dated a little ahead of the server's clock (the analyst's own clock, a time zone) is "now"; one
# further ahead is refused: a notice cannot have been sent in the future.
SKEW = timedelta(minutes=5)
NO_AGENCY = "none"  # the agency figure of an escalation that named none and had no notice recorded


def _iso(value: datetime | None) -> str | None:
    return audit.as_utc(value).isoformat() if value is not None else None


def _referral(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "agency": row.agency,
        "reference": row.reference,
        "template": row.template,
        "sent_at": _iso(row.sent_at),
        "by": row.by,
    }


def _check(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "case_id": row.case_id,
        "result": row.result,
        "checked_at": _iso(row.checked_at),
        "by": row.by,
        "note": row.note,
    }


def check_days(value: int) -> int:
    """A check age in days, refused (400) outside 1 to MAX_CHECK_DAYS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CHECK_DAYS:
        raise Invalid(f"the check age is 1 to {MAX_CHECK_DAYS} days")
    return value


@dataclass(frozen=True, slots=True)
class Figure:
    """Time to removal for one platform or agency: cases removed, their median hours, cases still waiting."""

    name: str
    removed: int
    median_hours: float | None
    waiting: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "removed": self.removed,
            "median_hours": self.median_hours,
            "waiting": self.waiting,
        }


def figures(rows: Iterable[tuple[str, float | None]]) -> list[Figure]:
    """(group, hours or None when not removed) rows as one Figure per group: most removals first."""
    hours: dict[str, list[float]] = {}
    waiting: dict[str, int] = {}
    for name, took in rows:
        hours.setdefault(name, [])
        waiting.setdefault(name, 0)
        if took is None:
            waiting[name] += 1
        else:
            hours[name].append(took)
    found = [
        Figure(name, len(hours[name]), median(hours[name]) if hours[name] else None, waiting[name])
        for name in hours
    ]
    return sorted(found, key=lambda f: (-f.removed, -f.waiting, f.name))


class Takedowns:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    # --- recording -----------------------------------------------------------------------------------

    async def record_referral(
        self,
        case_id: int,
        actor: str,
        agency: str,
        template: str,
        reference: str | None = None,
        sent_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Record a notice sent about a referred or escalated case (audited `case.referral_sent`).

        `agency` and `template` come checked against the configured agencies and notices.yaml by the
        caller (storage knows neither); here only their shape. `sent_at` defaults to now; an earlier time
        records a notice sent before it was entered, never before the case's first report.
        """
        agency = " ".join((agency or "").split())
        if not agency or len(agency) > MAX_AGENCY:
            raise Invalid(f"a notice needs the agency it went to (at most {MAX_AGENCY} characters)")
        template = (template or "").strip()
        if not template or len(template) > MAX_TEMPLATE:
            raise Invalid("a notice needs the template it was written from")
        reference = without_overrides(reference.strip()) if reference else None
        if reference is not None and len(reference) > MAX_REFERENCE:
            raise Invalid(f"a reference has at most {MAX_REFERENCE} characters")
        now = utcnow()
        when = audit.as_utc(sent_at) if sent_at is not None else now
        if when > now + SKEW:
            raise Invalid("a notice cannot have been sent in the future")
        when = min(when, now)
        async with self.storage.db.transaction() as conn:
            row = await self._shared(conn, case_id, "record a notice")
            if when < audit.as_utc(row.first_seen):
                raise Invalid(f"case {case_id} was first reported after that date: check the date sent")
            new_id = await conn.scalar(
                referrals.insert()
                .values(
                    case_id=case_id,
                    agency=agency,
                    reference=reference or None,
                    template=template,
                    sent_at=when,
                    by=actor,
                )
                .returning(referrals.c.id)
            )
            detail = {
                "agency": agency,
                "template": template,
                "reference": reference or None,
                "sent_at": when.isoformat(),
            }
            await audit.append(conn, now, actor, "case.referral_sent", f"case:{case_id}", detail)
            stored = (await conn.execute(select(referrals).where(referrals.c.id == new_id))).one()
        return _referral(stored)

    async def record_check(
        self, case_id: int, actor: str, result: str, note: str | None = None
    ) -> dict[str, Any]:
        """Record what an analyst found on looking at a referred page now (audited `case.checked`)."""
        if result not in RESULTS:
            raise Invalid(f"result must be one of {', '.join(RESULTS)}")
        note = without_overrides(note.strip()) if note else None
        if note is not None and len(note) > MAX_CHECK_NOTE:
            raise Invalid(f"a check's note has at most {MAX_CHECK_NOTE} characters")
        async with self.storage.db.transaction() as conn:
            await self._shared(conn, case_id, "record a check")
            now = utcnow()
            new_id = await conn.scalar(
                takedown_checks.insert()
                .values(case_id=case_id, result=result, checked_at=now, by=actor, note=note or None)
                .returning(takedown_checks.c.id)
            )
            detail = {"result": result, "note_length": len(note or "")}
            await audit.append(conn, now, actor, "case.checked", f"case:{case_id}", detail)
            stored = (await conn.execute(select(takedown_checks).where(takedown_checks.c.id == new_id))).one()
        return _check(stored)

    @staticmethod
    async def _shared(conn: AsyncConnection, case_id: int, doing: str) -> Any:
        """The case row, locked, if it was referred or escalated (the only cases notices are about)."""
        row = await lock_row(conn, cases, case_id)
        if row is None:
            raise NotFound(f"no case {case_id}")
        if row.status not in SHARED:
            status = row.status.replace("_", " ")
            raise Conflict(f"case {case_id} is {status}: {doing} only on a referred or escalated case")
        return row

    # --- reading -------------------------------------------------------------------------------------

    async def of_case(self, case_id: int) -> dict[str, Any]:
        """A case's notices and checks, oldest first, with when its clock started and when it was removed."""
        async with self.storage.db.read() as conn:
            row = (
                await conn.execute(select(cases.c.decided_at, cases.c.status).where(cases.c.id == case_id))
            ).first()
            if row is None:
                raise NotFound(f"no case {case_id}")
            sent = (
                await conn.execute(
                    select(referrals)
                    .where(referrals.c.case_id == case_id)
                    .order_by(referrals.c.sent_at, referrals.c.id)
                )
            ).all()
            checked = (
                await conn.execute(
                    select(takedown_checks)
                    .where(takedown_checks.c.case_id == case_id)
                    .order_by(takedown_checks.c.checked_at, takedown_checks.c.id)
                )
            ).all()
        start = sent[0].sent_at if sent else row.decided_at if row.status in SHARED else None
        removed = next((c.checked_at for c in checked if c.result == "removed"), None)
        hours = None
        if start is not None and removed is not None:
            hours = max(0.0, (audit.as_utc(removed) - audit.as_utc(start)).total_seconds() / 3600)
        return {
            "referrals": [_referral(r) for r in sent],
            "checks": [_check(c) for c in checked],
            "started_at": _iso(start),
            "removed_at": _iso(removed),
            "hours_to_removal": hours,
            "latest_check": _check(checked[-1]) if checked else None,
        }

    def _due_query(self, cutoff: datetime, within: CaseFilter | None) -> Select[Any]:
        last_notice = (
            select(referrals.c.case_id, func.max(referrals.c.sent_at).label("sent_at"))
            .group_by(referrals.c.case_id)
            .subquery("last_notice")
        )
        newest = func.row_number().over(
            partition_by=takedown_checks.c.case_id,
            order_by=(takedown_checks.c.checked_at.desc(), takedown_checks.c.id.desc()),
        )
        ranked = select(
            takedown_checks.c.case_id,
            takedown_checks.c.result,
            takedown_checks.c.checked_at,
            newest.label("newest"),
        ).subquery("ranked_checks")
        last_check = (
            select(ranked.c.case_id, ranked.c.result, ranked.c.checked_at)
            .where(ranked.c.newest == 1)
            .subquery("last_check")
        )
        clock = func.coalesce(last_notice.c.sent_at, cases.c.decided_at)
        narrowing = Queue._conditions(replace(within, status=(), hide_open_urgent=False)) if within else []
        return (
            select(
                cases,
                clock.label("clock_from"),
                last_notice.c.sent_at.label("notice_at"),
                last_check.c.result.label("check_result"),
                last_check.c.checked_at.label("check_at"),
            )
            .outerjoin(last_notice, last_notice.c.case_id == cases.c.id)
            .outerjoin(last_check, last_check.c.case_id == cases.c.id)
            .where(
                or_(
                    cases.c.status == "referred",
                    and_(cases.c.status == "escalated", last_notice.c.sent_at.is_not(None)),
                ),
                clock <= cutoff,
                or_(
                    last_check.c.case_id.is_(None),
                    and_(last_check.c.result != "removed", last_check.c.checked_at <= cutoff),
                ),
                *narrowing,
            )
            .order_by(clock.asc(), cases.c.id.asc())
        )

    async def due(
        self, age_days: int = CHECK_DAYS, limit: int = 50, within: CaseFilter | None = None
    ) -> list[dict[str, Any]]:
        """Cases due for a check, longest waiting first: referred (or escalated with a notice recorded),
        the latest notice (or the decision) at least `age_days` old, and the latest check neither
        `removed` nor younger than `age_days`. `within`: the filters on screen (platform, category, ...;
        their status is ignored)."""
        check_days(age_days)
        if not 1 <= limit <= MAX_LIMIT:
            raise Invalid(f"limit must be between 1 and {MAX_LIMIT}")
        now = utcnow()
        query = self._due_query(now - timedelta(days=age_days), within).limit(limit)
        async with self.storage.db.read() as conn:
            rows = (await conn.execute(query)).all()
        items = []
        for row in rows:
            data = dict(row._mapping)
            clock, notice, check_at = data.pop("clock_from"), data.pop("notice_at"), data.pop("check_at")
            result = data.pop("check_result")
            item = case_item(_Row(data))
            item["waiting_since"] = _iso(clock)
            item["days_waiting"] = (now - audit.as_utc(clock)).days
            item["last_notice_at"] = _iso(notice)
            item["last_check"] = {"result": result, "checked_at": _iso(check_at)} if result else None
            items.append(item)
        return items

    async def removal_times(self) -> dict[str, Any]:
        """Time to removal per platform and per agency: median hours from a case's first notice (its
        decision when none was recorded) to its first `removed` check, the cases removed, and the cases
        still waiting (referred, or with a notice, and no removal yet).

        The agency of a case is its first notice's, else the decision's. A removal recorded before the
        first notice counts as 0 hours: the page was gone when the clock would have started.
        """
        first_removed = (
            select(takedown_checks.c.case_id, func.min(takedown_checks.c.checked_at).label("removed_at"))
            .where(takedown_checks.c.result == "removed")
            .group_by(takedown_checks.c.case_id)
            .subquery("first_removed")
        )
        earliest = func.row_number().over(
            partition_by=referrals.c.case_id, order_by=(referrals.c.sent_at.asc(), referrals.c.id.asc())
        )
        ranked = select(
            referrals.c.case_id, referrals.c.agency, referrals.c.sent_at, earliest.label("earliest")
        ).subquery("ranked_notices")
        first_notice = (
            select(ranked.c.case_id, ranked.c.agency, ranked.c.sent_at)
            .where(ranked.c.earliest == 1)
            .subquery("first_notice")
        )
        query = (
            select(
                cases.c.platform,
                cases.c.agency,
                cases.c.decided_at,
                first_notice.c.agency.label("notice_agency"),
                first_notice.c.sent_at.label("notice_at"),
                first_removed.c.removed_at,
            )
            .outerjoin(first_notice, first_notice.c.case_id == cases.c.id)
            .outerjoin(first_removed, first_removed.c.case_id == cases.c.id)
            .where(
                or_(
                    cases.c.status == "referred",
                    first_notice.c.case_id.is_not(None),
                    first_removed.c.case_id.is_not(None),
                )
            )
        )
        async with self.storage.db.read() as conn:
            rows = (await conn.execute(query)).all()
        platform_rows: list[tuple[str, float | None]] = []
        agency_rows: list[tuple[str, float | None]] = []
        everything: list[float] = []
        for row in rows:
            start = row.notice_at or row.decided_at
            if start is None:
                continue  # a removal recorded on a case never decided: nothing to count from
            took = None
            if row.removed_at is not None:
                seconds = (audit.as_utc(row.removed_at) - audit.as_utc(start)).total_seconds()
                took = max(0.0, seconds / 3600)
                everything.append(took)
            platform_rows.append((row.platform, took))
            agency_rows.append((row.notice_agency or row.agency or NO_AGENCY, took))
        return {
            "removed": len(everything),
            "median_hours": median(everything) if everything else None,
            "by_platform": [f.as_dict() for f in figures(platform_rows)],
            "by_agency": [f.as_dict() for f in figures(agency_rows)],
        }


class _Row:
    """A mapping dressed as a row, for `case_item` (it reads `row._mapping`)."""

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping
