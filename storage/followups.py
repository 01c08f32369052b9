"""Follow-up questions: an analyst asks the reporters of a case one question; answers come back as evidence.

Only reporters who asked for updates on their report (reports.updates) and whose chat can still be
reached are asked, each once, through the outbox like a status update, in their report's language (the
caller's `render` writes the message). Analysts see how many were asked, answered and skipped, and the
answers on the reports, as they see every report: never who was asked or who answered.

A question waits for the reporter's next message (`followup_pending`, by report, never by pseudonym) once
its message was delivered: the pipeline looks it up (`waiting_for`), the dialogue decides whether the
message answers it, skips it or passes it by, and the turn's transaction applies that (`reply_in`). One
message either way: a citizen who went on to something else is never held by an old question. Forget-me
deletes what still waits (`forget_in`); a question not delivered and answered within LIVE goes too.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit
from storage import outbox as outbox_
from storage.database import utcnow
from storage.evidence_rows import add_evidence
from storage.locking import lock_row
from storage.records import FollowupReply, OutboxPayload, without_overrides
from storage.refusal import Conflict, Invalid, NotFound
from storage.schema import (
    case_reports,
    cases,
    contacts,
    evidence,
    followup_pending,
    followups,
    outbox,
    reports,
)

if TYPE_CHECKING:
    from storage.repository import Storage

KIND = "followup"  # the outbox kind of a question
MAX_QUESTION = 500  # characters: one question a citizen reads on a phone, not a questionnaire
# How long a question may wait: as long as the outbox tries to deliver it (bot.outbox.MAX_AGE). An answer
# a week late would be read as an answer to whatever the citizen is doing then.
LIVE = timedelta(days=7)
# A case whose reporters may be asked. Not one closed with no action (its reporters were told it was
# reviewed; a question now would contradict that) nor one merged (ask on the case it was merged into).
# A referred or escalated case may still need a fact (is the page back under another name?), and a
# monitored one is kept precisely to learn more.
ASKABLE = ("new", "in_review", "referred", "escalated", "monitoring")

# (reference code, the report's language, the question) -> the message the reporter gets
Render = Callable[[str, str, str], OutboxPayload]


@dataclass(frozen=True, slots=True)
class Waiting:
    """A delivered question waiting for this citizen's next message: which, and about which report."""

    pending: int  # followup_pending.id
    followup: int
    code: str


@dataclass(frozen=True, slots=True)
class Reach:
    """Who a new question on a case would reach, as numbers: reporters it would be queued to now, and
    those who agreed to updates but still have an earlier question of this case waiting."""

    can_ask: int
    waiting: int
    refusal: str | None  # why the case's reporters cannot be asked at all now (its status), if so


@dataclass(frozen=True, slots=True)
class _Target:
    report_id: int
    code: str
    language: str
    channel: str
    reporter_id: str


def clean_question(value: object) -> str:
    """The question as it will be stored and sent: trimmed, without bidi overrides, 1 to MAX_QUESTION."""
    if not isinstance(value, str):
        raise Invalid("question is a required string")
    text = without_overrides(value.strip())
    if not text:
        raise Invalid("a question needs words")
    if len(text) > MAX_QUESTION:
        raise Invalid(f"a question has at most {MAX_QUESTION} characters; ask one thing at a time")
    if "\x00" in text:
        raise Invalid("the question holds a NUL character")
    return text


def _status_refusal(row: Any, by: str, now: datetime) -> str | None:
    """Why nobody may be asked on this case now (its status or holder), or None."""
    if row.status == "merged":
        return f"case {row.id} was merged into case {row.merged_into}; ask its reporters there"
    if row.status not in ASKABLE:
        return (
            f"case {row.id} was closed with no action and its reporters were told it was reviewed; "
            "a question now would contradict that"
        )
    lease = audit.as_utc(row.lease_until) if row.lease_until is not None else None
    if row.status == "in_review" and row.assignee not in (None, by) and lease is not None and lease > now:
        return f"case {row.id} is held by {row.assignee}; the analyst holding a case asks its reporters"
    return None


async def _targets(conn: AsyncConnection, case_id: int) -> tuple[list[_Target], int]:
    """(the reporters a question on this case reaches now, one report each: their latest on the case;
    how many others agreed but still have a question of this case waiting)."""
    rows = await conn.execute(
        select(reports.c.id, reports.c.code, reports.c.language, reports.c.channel, reports.c.reporter_id)
        .join(case_reports, case_reports.c.report_id == reports.c.id)
        .join(
            contacts,
            and_(contacts.c.reporter_id == reports.c.reporter_id, contacts.c.channel == reports.c.channel),
        )
        .where(
            case_reports.c.case_id == case_id,
            reports.c.updates.is_(True),
            reports.c.reporter_id.is_not(None),
            contacts.c.unreachable_at.is_(None),
        )
        .order_by(reports.c.created_at.desc(), reports.c.id.desc())
    )
    latest: dict[str, _Target] = {}
    for r in rows:
        latest.setdefault(r.reporter_id, _Target(r.id, r.code, r.language, r.channel, r.reporter_id))
    waiting = set(
        (
            await conn.scalars(
                select(reports.c.reporter_id)
                .join(followup_pending, followup_pending.c.report_id == reports.c.id)
                .join(followups, followups.c.id == followup_pending.c.followup_id)
                .where(followups.c.case_id == case_id, followup_pending.c.asked_at >= utcnow() - LIVE)
            )
        ).all()
    )
    targets = [t for who, t in latest.items() if who not in waiting]
    return targets, len(latest) - len(targets)


async def reach(storage: Storage, case_id: int, by: str) -> Reach:
    """How many reporters a question on this case would reach now (the console shows it by the form)."""
    async with storage.db.read() as conn:
        row = (await conn.execute(select(cases).where(cases.c.id == case_id))).first()
        if row is None:
            raise NotFound(f"no case {case_id}")
        targets, waiting = await _targets(conn, case_id)
    return Reach(len(targets), waiting, _status_refusal(row, by, utcnow()))


async def ask(storage: Storage, case_id: int, question: object, by: str, render: Render) -> dict[str, Any]:
    """Queue `question` to every reporter of the case who agreed to updates and can be reached, once each
    (their latest report on the case names the code), audited as `case.followup_asked` with how many;
    the question as stored, with its counts. Refused (Conflict) when the case's status does not allow
    it, or when nobody can be asked: no reporter agreed, or all who did still have a question waiting."""
    text = clean_question(question)
    now = utcnow()
    async with storage.db.transaction() as conn:
        row = await lock_row(conn, cases, case_id)
        if row is None:
            raise NotFound(f"no case {case_id}")
        refusal = _status_refusal(row, by, now)
        if refusal is not None:
            raise Conflict(refusal)
        # Questions nobody answered in time go first: a reporter they were waiting on may be asked again.
        await conn.execute(delete(followup_pending).where(followup_pending.c.asked_at < now - LIVE))
        targets, waiting = await _targets(conn, case_id)
        if not targets and waiting:
            raise Conflict(
                f"every reporter of case {case_id} who can be asked still has an earlier question "
                f"waiting ({waiting}); wait for their answers, or until {LIVE.days} days after it was asked"
            )
        if not targets:
            raise Conflict(
                f"nobody can be asked on case {case_id}: none of its reporters asked for updates, or their "
                "chats can no longer be reached"
            )
        followup_id = int(
            await conn.scalar(
                followups.insert()
                .values(case_id=case_id, question=text, asked_by=by, asked_at=now, recipients=len(targets))
                .returning(followups.c.id)
            )
            or 0
        )
        for target in targets:
            sent = await outbox_.enqueue(
                conn,
                target.reporter_id,
                target.channel,
                KIND,
                render(target.code, target.language, text),
                now,
                subject=f"followup:{followup_id}",
            )
            await conn.execute(
                followup_pending.insert().values(
                    followup_id=followup_id, report_id=target.report_id, outbox_id=sent, asked_at=now
                )
            )
        await audit.append(
            conn,
            now,
            by,
            "case.followup_asked",
            f"case:{case_id}",
            {"followup": followup_id, "recipients": len(targets)},
        )
    storage.followups_generation += 1  # this process's turns look for it at once (`waiting_for`)
    return {
        "id": followup_id,
        "case_id": case_id,
        "question": text,
        "asked_by": by,
        "asked_at": now.isoformat(),
        "recipients": len(targets),
        "answered": 0,
        "skipped": 0,
        "waiting": len(targets),
    }


async def of_case(storage: Storage, case_id: int) -> list[dict[str, Any]]:
    """The questions asked on a case, newest first, each with its counts (queued to, answered, skipped,
    still waiting) and its answers as evidence (the report's code with each, as on the case's reports)."""
    async with storage.db.read() as conn:
        asked = (
            await conn.execute(
                select(followups).where(followups.c.case_id == case_id).order_by(followups.c.id.desc())
            )
        ).all()
        ids = [q.id for q in asked]
        waiting: dict[int, int] = {}
        answers: dict[int, list[dict[str, Any]]] = {}
        if ids:
            counted = await conn.execute(
                select(followup_pending.c.followup_id, func.count())
                .where(
                    followup_pending.c.followup_id.in_(ids),
                    followup_pending.c.asked_at >= utcnow() - LIVE,
                )
                .group_by(followup_pending.c.followup_id)
            )
            waiting = {int(r[0]): int(r[1]) for r in counted}
            found = await conn.execute(
                select(
                    evidence.c.followup_id,
                    evidence.c.kind,
                    evidence.c.value,
                    evidence.c.raw,
                    evidence.c.platform,
                    evidence.c.created_at,
                    reports.c.code,
                )
                .join(reports, reports.c.id == evidence.c.report_id)
                .where(evidence.c.followup_id.in_(ids))
                .order_by(evidence.c.id)
            )
            for e in found:
                answers.setdefault(int(e.followup_id), []).append(
                    {
                        "code": e.code,
                        "kind": e.kind,
                        "value": e.value,
                        "raw": e.raw,
                        "platform": e.platform,
                        "at": audit.as_utc(e.created_at).isoformat(),
                    }
                )
    return [
        {
            "id": q.id,
            "case_id": q.case_id,
            "question": q.question,
            "asked_by": q.asked_by,
            "asked_at": audit.as_utc(q.asked_at).isoformat(),
            "recipients": q.recipients,
            "answered": q.answered,
            "skipped": q.skipped,
            "waiting": waiting.get(q.id, 0),
            "answers": answers.get(q.id, []),
        }
        for q in asked
    ]


REFRESH = 2.0  # seconds: how stale the list of citizens asked may be (a question asked by another instance)
_ASKED: weakref.WeakKeyDictionary[Storage, tuple[float, int, frozenset[str]]] = weakref.WeakKeyDictionary()


async def _asked(storage: Storage) -> frozenset[str]:
    """The citizens with a question pending (asked, delivered or not yet), kept for REFRESH seconds and
    read again at once when this process asked one: so a turn of anyone else, nearly every turn, needs no
    look-up. A question asked through another instance is seen within REFRESH seconds; it waits to be
    delivered first, and its answer comes after the citizen has read it."""
    found = _ASKED.get(storage)
    now = time.monotonic()
    if found is not None and now - found[0] < REFRESH and found[1] == storage.followups_generation:
        return found[2]
    generation = storage.followups_generation
    fixed = storage.db.fixed

    async def load(conn: AsyncConnection) -> frozenset[str]:
        query = (
            select(reports.c.reporter_id)
            .join(followup_pending, followup_pending.c.report_id == reports.c.id)
            .where(followup_pending.c.asked_at >= utcnow() - LIVE, reports.c.reporter_id.is_not(None))
            .distinct()
        )
        return frozenset((await conn.scalars(query)).all())

    if fixed is not None:  # SQLite: fixed SQL (storage.fixedreads)
        asked = await storage.db.fetch_sqlite(functools.partial(fixed.asked, since=utcnow() - LIVE))
    else:
        asked = await storage.db.fetch(load)
    _ASKED[storage] = (now, generation, asked)
    return asked


async def waiting_for(storage: Storage, conversation_id: str) -> Waiting | None:
    """The newest question delivered to this citizen that waits for their next message, if any (the
    pipeline asks before every turn; one indexed lookup by the citizen's reports, for the citizens with
    a question pending only)."""
    if conversation_id not in await _asked(storage):
        return None
    fixed = storage.db.fixed
    if fixed is not None:  # SQLite: fixed SQL (storage.fixedreads)
        read = functools.partial(fixed.waiting, reporter_id=conversation_id, since=utcnow() - LIVE)
        found = await storage.db.fetch_sqlite(read)
        return Waiting(found.id, found.followup_id, found.code) if found is not None else None

    async def find(conn: AsyncConnection) -> Any:
        return (
            await conn.execute(
                select(followup_pending.c.id, followup_pending.c.followup_id, reports.c.code)
                .join(reports, reports.c.id == followup_pending.c.report_id)
                .join(outbox, outbox.c.id == followup_pending.c.outbox_id)
                .where(
                    reports.c.reporter_id == conversation_id,
                    outbox.c.status == "sent",
                    followup_pending.c.asked_at >= utcnow() - LIVE,
                )
                .order_by(followup_pending.c.id.desc())
                .limit(1)
            )
        ).first()

    row = await storage.db.fetch(find)
    return Waiting(row.id, row.followup_id, row.code) if row is not None else None


async def reply_in(
    conn: AsyncConnection, conversation_id: str, channel: str, reply: FollowupReply, now: datetime
) -> None:
    """Apply what the citizen's message did to the question waiting for it, in the turn's transaction.

    The question stops waiting, and so does every other one delivered to them (each had its message). An
    answer becomes evidence on the report the question named (its words as kind `answer`, its links and
    files as their own kinds, each marked with the question), counted and audited on the question's case
    as `case.followup_answered`; a skip is counted. A question already gone (forget-me, another instance)
    takes nothing."""
    mine = select(reports.c.id).where(reports.c.reporter_id == conversation_id)
    found = (
        await conn.execute(
            delete(followup_pending)
            .where(followup_pending.c.id == reply.pending, followup_pending.c.report_id.in_(mine))
            .returning(followup_pending.c.followup_id, followup_pending.c.report_id)
        )
    ).first()
    seen = select(outbox.c.id).where(outbox.c.conversation_id == conversation_id, outbox.c.status == "sent")
    await conn.execute(
        delete(followup_pending).where(
            followup_pending.c.report_id.in_(mine), followup_pending.c.outbox_id.in_(seen)
        )
    )
    if found is None:
        return
    question = followups.c
    if reply.outcome == "skipped":
        await conn.execute(
            update(followups).where(question.id == found.followup_id).values(skipped=question.skipped + 1)
        )
        return
    if reply.outcome != "answered" or not reply.evidence:
        return
    await add_evidence(conn, found.report_id, channel, reply.evidence, now, found.followup_id)
    case_id = await conn.scalar(
        update(followups)
        .where(question.id == found.followup_id)
        .values(answered=question.answered + 1)
        .returning(question.case_id)
    )
    code = await conn.scalar(select(reports.c.code).where(reports.c.id == found.report_id))
    detail: dict[str, Any] = {
        "followup": found.followup_id,
        "code": code,
        "items": len(reply.evidence),
        "kinds": sorted({e.kind for e in reply.evidence}),
    }
    if reply.urgent:  # the citizen spoke of a danger to life (and was given the emergency directions)
        detail["urgent"] = True
    await audit.append(conn, now, "citizen", "case.followup_answered", f"case:{case_id}", detail)


async def forget_in(conn: AsyncConnection, reporter_id: str) -> None:
    """Forget-me: no question waits for this citizen any more (run before their reports lose the
    pseudonym, which is how their waiting questions are found). Counts and given answers stay: they
    never named who."""
    mine = select(reports.c.id).where(reports.c.reporter_id == reporter_id)
    await conn.execute(delete(followup_pending).where(followup_pending.c.report_id.in_(mine)))
