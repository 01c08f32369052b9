"""The cases aggregate: which case a report joins, what a report does to a case, a case's counts and
priority, the "needs care" flag, and telling reporters when their report's status changed.

Every function works inside the caller's transaction; storage.lifecycle holds the rules they apply.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, exists, func, null, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from storage import audit, lifecycle, priority
from storage import outbox as outbox_
from storage.casekeys import CaseKey
from storage.locking import lock_row, upsert_for
from storage.records import NewReport, ReportTold, message
from storage.schema import case_reports, cases, contacts, reporters, reports

BURST_WINDOW = timedelta(hours=1)
BURST_WEIGHT = 5.0  # weighted reports within the window that mark a case "needs care"
# How much one reporter in a burst weighs (docs/cases.md, "Needs care"): anonymous reports and reporters
# who first came to Raabta within the burst window count fully; reporters who were here before count
# half; reporters with an earlier report that the unit referred or escalated count nothing.
WEIGHT_NEW = 1.0
WEIGHT_KNOWN = 0.5
WEIGHT_TRUSTED = 0.0

STATUS_KIND = "status"  # outbox kind of a report's status notification
# What a reporter is told of their report -> the notification's text in the report's language
Renderer = Callable[[ReportTold], str]


async def lock(conn: AsyncConnection, case_id: int) -> Any:
    """The case row, locked to change it (it exists: reports and decisions never delete cases)."""
    row = await lock_row(conn, cases, case_id)
    assert row is not None, case_id
    return row


async def join(conn: AsyncConnection, key: CaseKey, report: NewReport, now: datetime) -> tuple[int, Any]:
    """The case a report on `key` lands on, created if new, locked: (case id, its row as locked, or None
    when this report created it).

    A case merged into another hands its reports on to the case it was merged into (followed to the end).
    A case created here is stored as `receive` would count it after this report (`_first_counts`): a new
    case needs no recount, and no read of the row just written (issue 23: a statement costs more CPU than
    SQLite takes to run it).
    """
    new_case = {
        key.column: key.key,
        "platform": key.platform,
        "title": key.title,
        "status": "new",
        "urgent": report.urgent,
        "scope_check": report.scope_check,
        **_first_counts(report, now),
    }
    created = await conn.scalar(_create_case(conn.dialect.name, key.column), new_case)
    if created is not None:
        return int(created), None
    # The existing case by its key, locked in the same statement (it exists: cases are never deleted).
    postgres = conn.dialect.name == "postgresql"
    row = (await conn.execute(_case_by(key.column, postgres), {"key": key.key})).first()
    assert row is not None, key.key
    seen = {int(row.id)}
    while row.status == "merged" and row.merged_into is not None and row.merged_into not in seen:
        seen.add(row.merged_into)
        row = await lock(conn, row.merged_into)
    return int(row.id), row


def _first_counts(report: NewReport, now: datetime) -> dict[str, Any]:
    """A case's counts and priority with `report` its only report: what `count_one_more` counts for a
    case's first report (tests/test_submit_statements.py checks them against `refresh`)."""
    categories = [report.category]
    shown = priority.parts(categories, report.urgent, 1, now, now)
    return {
        "priority": priority.total(shown),
        "priority_parts": shown,
        "categories": categories,
        "report_count": 1,
        "reporter_count": 1,
        "first_seen": now,
        "last_seen": now,
        "updated_at": now,
    }


@functools.cache
def _create_case(dialect: str, column: str) -> Any:
    """INSERT of a new case keyed by `column`, nothing on a conflict; the values are the parameters.
    Built once, as the statements below: building a statement costs more CPU than SQLite takes to run it
    (issue 23), and a report turn runs a dozen of them."""
    insert = upsert_for(dialect, cases).on_conflict_do_nothing(index_elements=[cases.c[column]])
    return insert.returning(cases.c.id)


@functools.cache
def _case_by(column: str, for_update: bool) -> Select[Any]:
    """The case with a key, FOR UPDATE on PostgreSQL (as `lock`)."""
    query = select(cases).where(cases.c[column] == bindparam("key"))
    return query.with_for_update() if for_update else query


async def receive(conn: AsyncConnection, case_id: int, report: NewReport, now: datetime, row: Any) -> None:
    """Apply the lifecycle to a case that just received `report` (stored already, with its designated
    organisations), then count it again. `row`: the case as `join` locked it (nothing changed it since);
    None for a case `join` created for this report, stored counted already (`_first_counts`)."""
    received: dict[str, Any] = {"code": report.code, "category": report.category, "urgent": report.urgent}
    if report.scope_check:
        received["scope_check"] = True
    if row is None:  # new, open, and as urgent and marked as the report: only its designations to count
        if report.designated:
            await refresh(conn, case_id, now)
        await audit.append(conn, now, "citizen", "report.received", f"case:{case_id}", received)
        return  # a case's first report weighs at most WEIGHT_NEW: no burst (`flag_burst`)
    moved, reason = lifecycle.on_report(row.status, report.urgent)
    if moved is not None:
        await conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(status=moved, assignee=None, lease_until=None, claimed_reports=None, updated_at=now)
        )
        await audit.append(
            conn,
            now,
            "system",
            "case.reopened",
            f"case:{case_id}",
            {"reason": reason, "from": row.status, "code": report.code, "urgent": report.urgent},
        )
        await withdraw_stale(conn, case_id)
    if report.urgent and not row.urgent:
        # Urgent until a decision that saw it (decisions refuse unseen reports, so a timestamp race
        # between this report and a decision cannot hide it).
        await conn.execute(_COUNTS, {"counted_case": case_id, "urgent": True})
    if report.scope_check and not row.scope_check:
        # Marked for good: the mark says what a report is, which no decision changes.
        await conn.execute(_COUNTS, {"counted_case": case_id, "scope_check": True})
    await count_one_more(conn, row, report, now)
    await audit.append(conn, now, "citizen", "report.received", f"case:{case_id}", received)
    # Flagged once, the flag stays: a flagged case is not weighed again. Nor is one with too few reports
    # to weigh enough: each report weighs at most WEIGHT_NEW, and its counts hold every report it has.
    if not row.needs_care and (int(row.report_count or 0) + 1) * WEIGHT_NEW >= BURST_WEIGHT:
        await flag_burst(conn, case_id, now)


async def withdraw_stale(conn: AsyncConnection, case_id: int) -> None:
    """A reopened case's undelivered "reviewed" or "action taken" messages are no longer true: withdraw
    them; what each reporter was last told is then what the last message that did leave said."""
    notified = (
        await conn.execute(
            select(reports.c.id, reports.c.code)
            .join(case_reports, case_reports.c.report_id == reports.c.id)
            .where(case_reports.c.case_id == case_id, reports.c.notified_status.is_not(None))
        )
    ).all()
    # A report with other links may still be "action taken" through another case: that message stays.
    statuses = await case_statuses(conn, [r.id for r in notified])
    true_now = {f"report:{r.code}": lifecycle.public(statuses[r.id]) for r in notified}
    withdrawn = await outbox_.withdraw(conn, STATUS_KIND, true_now)
    for subject, last_told in withdrawn.items():
        code = subject.removeprefix("report:")
        await conn.execute(update(reports).where(reports.c.code == code).values(notified_status=last_told))


def designated_marks(report: NewReport) -> list[dict[str, Any]] | None:
    """The designated organisations a report names (storage.records.DesignatedMatch, as the list gave
    them when it came in), as stored on the report (reports.designated) when it is inserted; None when
    it names none. `refresh` sorts out which of them belong to which of its cases."""
    if not report.designated:
        return None
    return [
        {"name": m.name, "source": m.source, "date": m.date, "alias": m.alias, "in": m.place, "link": m.link}
        for m in report.designated
    ]


async def designations(conn: AsyncConnection, case_id: int, on_case: Any, where: Any) -> list[dict[str, Any]]:
    """The designated organisations a case's reports name on it: what their descriptions, handles and
    forwards name, and what a link's slug names when the report is on this case through that link: the
    case's own link, or a link whose case gave its reports to this one (a merge). Another link's slug
    belongs to that link's case."""
    own = await conn.scalar(select(cases.c.canonical_url).where(cases.c.id == case_id))
    rows = (
        await conn.execute(
            select(reports.c.id, reports.c.designated)
            .select_from(on_case)
            .where(where)
            .order_by(reports.c.id)
        )
    ).all()
    kept: list[dict[str, Any]] = []
    for row in rows:
        for m in row.designated or []:
            link = m.get("link")
            if link is None or link == own or not await _on_link(conn, row.id, link):
                kept.append(m)
    return gather(kept)


async def _on_link(conn: AsyncConnection, report_id: int, link: str) -> bool:
    """Whether the report is on the case of `link` (not merged away from it)."""
    found = await conn.scalar(
        select(case_reports.c.case_id)
        .join(cases, cases.c.id == case_reports.c.case_id)
        .where(case_reports.c.report_id == report_id, cases.c.canonical_url == link)
    )
    return found is not None


def gather(marks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The designated organisations of a case from its reports' marks (oldest report first): each once,
    with the list's source and date as the latest report saw them, the names found and where."""
    named: dict[str, dict[str, Any]] = {}
    for m in marks:
        entry = named.setdefault(m["name"], {"name": m["name"], "aliases": [], "found_in": []})
        entry["source"], entry["date"] = m["source"], m["date"]
        if m["alias"] not in entry["aliases"]:
            entry["aliases"].append(m["alias"])
        if m["in"] not in entry["found_in"]:
            entry["found_in"].append(m["in"])
    return [
        {k: e[k] for k in ("name", "source", "date", "aliases", "found_in")}
        for e in sorted(named.values(), key=lambda e: str(e["name"]))
    ]


async def refresh(conn: AsyncConnection, case_id: int, now: datetime) -> None:
    """Count a case's reports again: reporters, categories, first and last report, the designated
    organisations they name, and its priority from those and its urgency (an urgent report not yet
    covered by a decision)."""
    urgent = await conn.scalar(select(cases.c.urgent).where(cases.c.id == case_id))
    on_case = reports.join(case_reports, case_reports.c.report_id == reports.c.id)
    where = case_reports.c.case_id == case_id
    total, known, anonymous, first, last = (
        await conn.execute(
            select(
                func.count(),
                func.count(reports.c.reporter_id.distinct()),
                func.sum(case((reports.c.reporter_id.is_(None), 1), else_=0)),
                func.min(reports.c.created_at),
                func.max(reports.c.created_at),
            )
            .select_from(on_case)
            .where(where)
        )
    ).one()
    if not total:
        return
    categories = sorted(
        set((await conn.scalars(select(reports.c.category).select_from(on_case).where(where))).all())
    )
    named = await designations(conn, case_id, on_case, where)
    # Anonymous reports cannot be told apart, so each counts as one more reporter.
    seen = int(known) + int(anonymous or 0)
    last_seen = audit.as_utc(last)
    shown = priority.parts(categories, bool(urgent), seen, last_seen, now, designated=len(named))
    await _store_counts(conn, case_id, int(total), seen, categories, first, last, now, shown, named or null())


async def _store_counts(
    conn: AsyncConnection,
    case_id: int,
    total: int,
    seen: int,
    categories: list[str],
    first: datetime,
    last: datetime,
    now: datetime,
    shown: dict[str, float],
    designated: Any = None,
) -> None:
    """A case's counts and priority as `refresh` or `count_one_more` found them (`designated`, when
    given: the organisations its reports name, or SQL NULL for none)."""
    values: dict[str, Any] = {
        "report_count": total,
        "reporter_count": seen,
        "categories": categories,
        "first_seen": first,
        "last_seen": last,
        "updated_at": now,
        "priority": priority.total(shown),
        "priority_parts": shown,
    }
    if designated is not None:  # `refresh` (SQL NULL is an expression, not a parameter)
        values["designated"] = designated
        await conn.execute(update(cases).where(cases.c.id == case_id).values(**values))
    else:  # every report's `count_one_more`
        await conn.execute(_COUNTS, {"counted_case": case_id, **values})


# The columns set are the parameters' other keys.
_COUNTS = update(cases).where(cases.c.id == bindparam("counted_case"))


async def count_one_more(conn: AsyncConnection, row: Any, report: NewReport, now: datetime) -> None:
    """What `refresh` would count after `report` joined the case `row` (as locked before it), from the
    row's own counts and one indexed look-up (is the reporter new on the case?) instead of reading
    every report of the case again: a case with a thousand reports took a thousand-row recount per new
    report. Designated organisations still take the full count, as a merge's links decide which belong
    (`designations`). tests/test_submit_statements.py checks it against `refresh` over random
    histories."""
    if report.designated or row.designated:
        await refresh(conn, row.id, now)
        return
    anonymous = report.reporter_id is None
    if anonymous:  # anonymous reports cannot be told apart, so each counts as one more reporter
        new_reporter = True
    else:
        theirs = await conn.scalar(_THEIRS, {"case_id": row.id, "reporter_id": report.reporter_id})
        new_reporter = int(theirs or 0) <= 1  # the report itself is on the case already
    first = row.first_seen if row.report_count else now
    last = max(audit.as_utc(row.last_seen), now) if row.report_count else now
    categories = sorted({*(row.categories or []), report.category}) if row.report_count else [report.category]
    seen = int(row.reporter_count or 0) + int(new_reporter) if row.report_count else 1
    urgent = bool(row.urgent or report.urgent)
    shown = priority.parts(categories, urgent, seen, last, now)
    await _store_counts(
        conn, row.id, int(row.report_count or 0) + 1, seen, categories, first, last, now, shown
    )


_THEIRS = (  # a reporter's reports on a case
    select(func.count())
    .select_from(reports.join(case_reports, case_reports.c.report_id == reports.c.id))
    .where(case_reports.c.case_id == bindparam("case_id"), reports.c.reporter_id == bindparam("reporter_id"))
)


async def rescore(conn: AsyncConnection, now: datetime) -> int:
    """Score open cases again (recency decays with time); how many."""
    rows = (
        await conn.execute(
            select(
                cases.c.id,
                cases.c.categories,
                cases.c.urgent,
                cases.c.reporter_count,
                cases.c.last_seen,
                cases.c.designated,
            ).where(cases.c.status.in_(lifecycle.OPEN))
        )
    ).all()
    if not rows:
        return 0
    scored = []
    for r in rows:
        shown = priority.parts(
            r.categories or [],
            r.urgent,
            r.reporter_count,
            audit.as_utc(r.last_seen),
            now,
            designated=len(r.designated or []),
        )
        scored.append({"case": r.id, "score": priority.total(shown), "shown": shown})
    # One executemany: the ten-minute rescore holds SQLite's one writer for one round trip, not one per case.
    await conn.execute(
        update(cases)
        .where(cases.c.id == bindparam("case"))
        .values(priority=bindparam("score"), priority_parts=bindparam("shown")),
        scored,
    )
    return len(rows)


async def flag_burst(conn: AsyncConnection, case_id: int, now: datetime) -> None:
    """Mark a case "needs care" when reporters without a track record pile onto it at once (possible
    brigading): only a supervisor may then send it out of the unit. The caller weighs only a case not
    flagged yet (`receive`, from the row it locked): flagged once, the flag stays, and a viral page gets
    many reports an hour."""
    start = now - BURST_WINDOW
    rows = (await conn.execute(_BURST, {"case_id": case_id, "start": start})).all()
    weight, counted = 0.0, set()
    for r in rows:
        if r.reporter_id is None:
            weight += WEIGHT_NEW
        elif r.reporter_id not in counted:
            counted.add(r.reporter_id)
            if r.trusted:
                weight += WEIGHT_TRUSTED
            elif r.created_at is None or audit.as_utc(r.created_at) >= start:
                weight += WEIGHT_NEW
            else:
                weight += WEIGHT_KNOWN
    if weight < BURST_WEIGHT:
        return
    minutes = int(BURST_WINDOW.total_seconds() // 60)
    reason = (
        f"{len(rows)} reports within {minutes} minutes from reporters without a track record "
        f"(weight {weight:g}; {BURST_WEIGHT:g} marks a case)"
    )
    await conn.execute(update(cases).where(cases.c.id == case_id).values(needs_care=True, care_reason=reason))
    await audit.append(conn, now, "system", "case.needs_care", f"case:{case_id}", {"reason": reason})


def _burst() -> Select[Any]:
    """A case's reports within the burst window (from `start`): who sent each, when that reporter first
    came, and whether an earlier report of theirs (before the window) is on a case the unit shared."""
    earlier = aliased(reports)
    earlier_case = aliased(case_reports)
    start = bindparam("start", type_=reports.c.created_at.type)
    trusted = exists(
        select(1)
        .select_from(
            earlier.join(earlier_case, earlier_case.c.report_id == earlier.c.id).join(
                cases, cases.c.id == earlier_case.c.case_id
            )
        )
        .where(
            earlier.c.reporter_id == reports.c.reporter_id,
            earlier.c.created_at < start,
            cases.c.status.in_(lifecycle.SHARED),
        )
    )
    return (
        select(reports.c.reporter_id, reporters.c.created_at, trusted.label("trusted"))
        .select_from(
            reports.join(case_reports, case_reports.c.report_id == reports.c.id).outerjoin(
                reporters, reporters.c.id == reports.c.reporter_id
            )
        )
        .where(case_reports.c.case_id == bindparam("case_id"), reports.c.created_at >= start)
    )


_BURST = _burst()


async def case_statuses(conn: AsyncConnection, report_ids: Sequence[int]) -> dict[int, list[str]]:
    """The statuses of every case each report is on."""
    if not report_ids:
        return {}
    rows = await conn.execute(
        select(case_reports.c.report_id, cases.c.status)
        .join(cases, cases.c.id == case_reports.c.case_id)
        .where(case_reports.c.report_id.in_(list(report_ids)))
    )
    found: dict[int, list[str]] = {}
    for r in rows:
        found.setdefault(r.report_id, []).append(r.status)
    return found


def told_query(where: ColumnElement[bool]) -> Select[Any]:
    """The rows `tell` reads: each report (of `where`) with every case it is on."""
    return (
        select(
            reports.c.id,
            reports.c.code,
            reports.c.language,
            reports.c.created_at,
            cases.c.status,
            cases.c.claimed_at,
            cases.c.decided_at,
            cases.c.reason,
        )
        .join(case_reports, case_reports.c.report_id == reports.c.id)
        .join(cases, cases.c.id == case_reports.c.case_id)
        .where(where)
    )


_EPOCH = datetime.min.replace(tzinfo=UTC)


def tell(rows: Iterable[Any]) -> dict[int, ReportTold]:
    """What each report's reporter is told (rows of `told_query`): the most telling of its cases' statuses
    (storage.lifecycle.report_status), with the dates and reason of that case (the latest, when several
    share that status). A decision without a reason is told the one its status says by itself, if any."""
    by_report: dict[int, list[Any]] = {}
    for row in rows:
        by_report.setdefault(row.id, []).append(row)
    found = {}
    for report_id, on in by_report.items():
        status = lifecycle.report_status(r.status for r in on)
        chosen = max(
            (r for r in on if r.status == status),
            key=lambda r: audit.as_utc(r.decided_at or r.claimed_at or _EPOCH),
        )
        word = lifecycle.PUBLIC[status]
        final = word in lifecycle.FINAL
        found[report_id] = ReportTold(
            code=chosen.code,
            language=chosen.language,
            word=word,
            received=audit.as_utc(chosen.created_at),
            reviewed=audit.as_utc(chosen.claimed_at) if word != "received" and chosen.claimed_at else None,
            decided=audit.as_utc(chosen.decided_at) if final and chosen.decided_at else None,
            reason=(chosen.reason or lifecycle.DEFAULT_REASON.get(status)) if final else None,
        )
    return found


async def notify(conn: AsyncConnection, case_id: int, now: datetime, render: Renderer) -> int:
    """Tell each reporter of the case who asked for updates on that report, when its reporter-facing
    status became final (action taken, reviewed) and differs from what they were last told. A report
    moving back to "received" or "under review" (a reopen, a merge) sends nothing, so no two messages a
    reporter gets contradict each other; `status CODE` always answers the live status."""
    rows = (
        await conn.execute(
            select(
                reports.c.id,
                reports.c.code,
                reports.c.language,
                reports.c.channel,
                reports.c.reporter_id,
                reports.c.notified_status,
            )
            .join(case_reports, case_reports.c.report_id == reports.c.id)
            .join(
                contacts,
                and_(
                    contacts.c.reporter_id == reports.c.reporter_id, contacts.c.channel == reports.c.channel
                ),
            )
            .where(
                case_reports.c.case_id == case_id,
                reports.c.updates.is_(True),
                contacts.c.unreachable_at.is_(None),
            )
        )
    ).all()
    told = tell(await conn.execute(told_query(reports.c.id.in_([r.id for r in rows])))) if rows else {}
    sent = 0
    for r in rows:
        now_told = told[r.id]
        if now_told.word not in lifecycle.FINAL or now_told.word == r.notified_status:
            continue
        await outbox_.enqueue(
            conn,
            r.reporter_id,
            r.channel,
            STATUS_KIND,
            message(render(now_told)),
            now,
            subject=f"report:{r.code}",
            says=now_told.word,
        )
        await conn.execute(update(reports).where(reports.c.id == r.id).values(notified_status=now_told.word))
        sent += 1
    return sent
