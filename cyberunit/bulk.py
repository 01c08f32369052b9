"""Bulk actions on a selection of cases, shared by the console (cyberunit.console.bulk) and the API
(`POST /api/v1/cases/bulk`): decide, merge into a case, add a note, assign.

An analyst triaging 200 cases a day closes a network's twenty posts at once, but a bulk action must not be
a way around the rules of the single one. So it is first planned (`plan`: which cases will change and which
cannot, and why: held by someone else, already decided, needs a supervisor), shown, and only then done
(`apply`), case by case through the queue's own methods: each case changes in its own transaction with its
own audit event, a refusal of one leaves the others, and the answer says what happened to each. Deciding
needs the case held, as a single decision does: a case nobody holds is claimed for the analyst first (its
own `case.claimed` event), one held by someone else is left alone.

A preview carries each case's report count to the confirmation (`seen`): a report that arrives in between
holds its case back ("new reports arrived"), as a single decision does. Nothing here reads who reported.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cyberunit import params as P
from storage import audit
from storage.lifecycle import DECISIONS, OPEN, SHARED, reason_refusal
from storage.queue import MAX_NOTE, Queue, Renderer, held
from storage.records import without_overrides
from storage.refusal import Conflict, Invalid, NotAllowed, NotFound, Refused
from storage.repository import Storage, utcnow
from storage.schema import cases
from storage.tokens import Tokens

ACTIONS = ("decide", "merge", "note", "assign")
ACTION_LABELS = {
    "decide": "Decide",
    "merge": "Merge into a case",
    "note": "Add a note",
    "assign": "Assign (supervisors)",
}
CASE_ROLES = ("analyst", "supervisor")
# A selection holds at most this many cases: what one queue page's checkboxes make, and what a console
# form carries (cyberunit.console.web reads at most 50 fields of a form).
MAX_BULK = 40
INT32 = 2**31
FIELDS = frozenset(
    {
        "ids",
        "action",
        "status",
        "note",
        "reason",
        "agency",
        "merge_into",
        "assignee",
        "dry_run",
        "seen_reports",
    }
)


@dataclass(frozen=True)
class Action:
    """What to do to every case of a selection."""

    kind: str
    note: str = ""
    status: str | None = None  # decide
    reason: str | None = None  # decide
    agency: str | None = None  # decide: a referral or an escalation
    merge_into: int | None = None  # merge
    assignee: str | None = None  # assign

    @property
    def done(self) -> str:
        """What happens to each case, in words: "marked monitoring", "merged into #12"."""
        if self.kind == "decide":
            outcome = str(self.status).replace("_", " ")
            return f"marked {outcome}" + (f" ({self.agency})" if self.agency else "")
        if self.kind == "merge":
            return f"merged into #{self.merge_into}"
        if self.kind == "note":
            return "given the note"
        return f"assigned to {self.assignee}"


@dataclass
class Line:
    """One case of a selection: whether the action can be (or was) done to it, and what happens."""

    case_id: int
    ok: bool
    says: str
    claimed: bool = False  # claimed for the analyst first (a plan: will be)
    report_count: int | None = None
    case: dict[str, Any] = field(default_factory=dict)  # what the console shows of it (no reporter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "ok": self.ok,
            "says": self.says,
            "claimed": self.claimed,
            "report_count": self.report_count,
        }


def result(action: Action, lines: Sequence[Line], dry_run: bool) -> dict[str, Any]:
    """The API's answer: the action, and each case with what happens (or happened) to it."""
    return {
        "action": action.kind,
        "dry_run": dry_run,
        "ok": sum(line.ok for line in lines),
        "refused": sum(not line.ok for line in lines),
        "items": [line.as_dict() for line in lines],
    }


# --- reading and checking what was asked ----------------------------------------------------------------


def _text(value: str | None) -> str:
    return without_overrides((value or "").strip())


def action_of(values: Mapping[str, Any], agencies: Sequence[str]) -> Action:
    """The action asked for (form or JSON values), its fields in their one spelling; refused (Invalid)
    when it is not one a single action would take: the same rules, said the same way."""
    kind = values.get("action")
    if not isinstance(kind, str) or kind.strip() not in ACTIONS:
        raise Invalid(f"action must be one of {', '.join(ACTIONS)}")
    kind = kind.strip()
    texts = {}
    for name in ("note", "status", "reason", "agency", "assignee"):
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            raise Invalid(f"{name} must be a string")
        texts[name] = _text(value)
    note = texts["note"]
    if len(note) > MAX_NOTE:
        raise Invalid(f"a note has at most {MAX_NOTE} characters")
    if kind == "note":
        if not note:
            raise Invalid(f"a note has 1 to {MAX_NOTE} characters")
        return Action(kind, note)
    if kind == "assign":
        if not texts["assignee"] or len(texts["assignee"]) > 64:
            raise Invalid("assignee is a required token name")
        return Action(kind, note, assignee=texts["assignee"])
    if kind == "merge":
        target = _case_number(values.get("merge_into"), "merge_into")
        if target is None:
            raise Invalid("merging needs merge_into: the number of the open case to merge into")
        if not note:
            raise Invalid("a merge needs a note")
        return Action(kind, note, merge_into=target)
    status = texts["status"]
    if status == "merged":
        raise Invalid("to merge cases into one, choose the merge action and the case to merge into")
    if status not in DECISIONS:
        raise Invalid(f"status must be one of {', '.join(d for d in DECISIONS if d != 'merged')}")
    if not note:
        raise Invalid("a decision needs a note")
    agency = P.agency(texts["agency"] or None, agencies)
    if status == "referred" and not agency:
        raise Invalid(f"a referral needs an agency ({', '.join(agencies)})")
    if agency is not None and status not in SHARED:
        raise Invalid("an agency belongs only to a referral or an escalation")
    reason = texts["reason"] or None
    refusal = reason_refusal(status, reason)
    if refusal is not None:
        raise Invalid(refusal)
    return Action(kind, note, status=status, reason=reason, agency=agency)


def _case_number(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < INT32:
        raise Invalid(f"{name} must be a case number")
    return value


def selection(ids: Sequence[Any]) -> list[int]:
    """The case numbers selected, each once, in order; refused when none, too many or not numbers."""
    picked = list(dict.fromkeys(_case_number(i, "each of ids") for i in ids))
    if not picked or None in picked:
        raise Invalid("Select at least one case" if not picked else "each of ids must be a case number")
    if len(picked) > MAX_BULK:
        raise Invalid(f"Select at most {MAX_BULK} cases at once")
    return [i for i in picked if i is not None]


def from_json(
    body: Mapping[str, Any], agencies: Sequence[str]
) -> tuple[Action, list[int], bool, dict[int, int]]:
    """(action, case numbers, dry run, report counts seen) of an API request; unknown fields refused."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise Invalid(f"unknown field {unknown[0]}: a bulk request takes {', '.join(sorted(FIELDS))}")
    ids = body.get("ids")
    if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise Invalid("ids must be a list of case numbers")
    dry = body.get("dry_run", False)
    if not isinstance(dry, bool):
        raise Invalid("dry_run must be true or false")
    seen_given = body.get("seen_reports") or {}
    if not isinstance(seen_given, dict):
        raise Invalid("seen_reports must map case numbers to the report counts you saw")
    seen: dict[int, int] = {}
    for key, count in seen_given.items():
        number = _case_number(key, "each key of seen_reports")
        if number is None or isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < INT32:
            raise Invalid("seen_reports must map case numbers to the report counts you saw")
        seen[number] = count
    return action_of(body, agencies), selection(ids), dry, seen


async def assignable(storage: Storage, name: str) -> bool:
    """Whether `name` is an active analyst or supervisor token: who a case can be assigned to."""
    holder = await Tokens(storage).holder(name)
    return holder is not None and holder.role in CASE_ROLES


async def allowed(storage: Storage, action: Action, supervisor: bool) -> None:
    """Refused when the actor may not do this action at all (not a supervisor assigning, an assignee who
    holds no active analyst or supervisor token)."""
    if action.kind != "assign":
        return
    if not supervisor:
        raise NotAllowed("only a supervisor may assign cases")
    if not await assignable(storage, str(action.assignee)):
        raise Invalid(
            f"assignee must be the name of an active analyst or supervisor token; {action.assignee!r} is not"
        )


# --- planning and doing --------------------------------------------------------------------------------


def _shown(row: Any) -> dict[str, Any]:
    return {
        "canonical_url": row.canonical_url,
        "title": row.title,
        "fingerprint": row.fingerprint,
        "platform": row.platform,
        "status": row.status,
        "assignee": row.assignee,
        "report_count": row.report_count,
    }


async def _rows(storage: Storage, ids: Collection[int]) -> dict[int, Any]:
    async with storage.db.read() as conn:
        return {r.id: r for r in await conn.execute(select(cases).where(cases.c.id.in_(list(ids))))}


async def _target(storage: Storage, action: Action) -> None:
    """Refused when the case to merge into is missing, merged or closed (nothing could be merged)."""
    if action.kind != "merge":
        return
    number = int(action.merge_into or 0)
    target = (await _rows(storage, [number])).get(number)
    if target is None:
        raise NotFound(f"no case {action.merge_into} to merge into")
    if target.status == "merged":
        raise Conflict(f"case {target.id} was merged into case {target.merged_into}; merge into that one")
    if target.status not in OPEN:
        status = target.status.replace("_", " ")
        raise Conflict(f"case {target.id} is closed ({status}); merge only into an open case")


def _judge(action: Action, row: Any, me: str, supervisor: bool, now: datetime) -> Line:
    """What the action would do to one case as it is now."""
    line = Line(row.id, False, "", report_count=row.report_count, case=_shown(row))
    status = row.status.replace("_", " ")
    live = held(row, now)
    if row.status == "merged":
        line.says = f"merged into #{row.merged_into}" + ("; note that case" if action.kind == "note" else "")
        return line
    if action.kind == "note":
        line.ok, line.says = True, f"will be {action.done}"
        return line
    if row.status not in OPEN:
        line.says = f"already decided ({status})"
        return line
    if action.kind == "assign":
        line.ok = True
        if live and row.assignee == action.assignee:
            line.says = f"already held by {action.assignee}: the lease is renewed"
        elif live:
            line.says = f"will be taken from {row.assignee} and {action.done}"
        else:
            line.says = f"will be {action.done}"
        return line
    if action.kind == "merge" and row.id == action.merge_into:
        line.says = "it is the merge target"
        return line
    if live and row.assignee != me:
        line.says = f"held by {row.assignee} until {audit.as_utc(row.lease_until):%H:%M} UTC"
        return line
    if action.kind == "decide" and action.status in SHARED and row.needs_care and not supervisor:
        line.says = f"needs care ({row.care_reason}): only a supervisor may send it out"
        return line
    line.ok, line.claimed = True, not (live and row.assignee == me)
    first = "claimed for you first, then " if line.claimed else ""
    line.says = f"will be {first}{action.done}"
    return line


async def plan(storage: Storage, action: Action, ids: Sequence[int], me: str, supervisor: bool) -> list[Line]:
    """What `action` would do to each selected case, changing nothing."""
    await allowed(storage, action, supervisor)
    await _target(storage, action)
    rows = await _rows(storage, ids)
    now = utcnow()
    return [
        _judge(action, rows[i], me, supervisor, now) if i in rows else Line(i, False, "no such case")
        for i in ids
    ]


async def apply(
    storage: Storage,
    action: Action,
    ids: Sequence[int],
    me: str,
    supervisor: bool,
    render: Renderer | None,
    seen: Mapping[int, int] | None = None,
) -> list[Line]:
    """Do `action` to each selected case, one transaction (and one audit event) each, through the queue's
    own methods; a case that cannot be changed is left as it is and says why."""
    await allowed(storage, action, supervisor)
    await _target(storage, action)
    queue = Queue(storage)
    rows = await _rows(storage, ids)
    seen = seen or {}
    lines = []
    for case_id in ids:
        row = rows.get(case_id)
        if row is None:
            lines.append(Line(case_id, False, "no such case"))
            continue
        line = _judge(action, row, me, supervisor, utcnow())
        if line.ok:
            await _do(queue, action, line, me, supervisor, render, seen.get(case_id))
        lines.append(line)
    return lines


async def _do(
    queue: Queue,
    action: Action,
    line: Line,
    me: str,
    supervisor: bool,
    render: Renderer | None,
    seen: int | None,
) -> None:
    """Do the action to one case the plan allows; on a refusal, the line says why (and that the case
    was claimed, if it was)."""
    claimed = False
    try:
        if action.kind == "note":
            await queue.add_note(line.case_id, me, action.note)
        elif action.kind == "assign":
            await queue.assign(line.case_id, str(action.assignee), me)
        else:
            if line.claimed:
                await queue.claim_case(line.case_id, me)
                claimed = True
            await queue.decide(
                line.case_id,
                me,
                str(action.status) if action.kind == "decide" else "merged",
                action.note,
                action.agency,
                action.merge_into,
                render=render,
                supervisor=supervisor,
                seen_reports=seen,
                reason=action.reason,
            )
    except Refused as refused:
        line.ok, line.claimed = False, claimed
        line.says = ("claimed for you, not changed: " if claimed else "not changed: ") + refused.message
        return
    line.says = ("claimed for you and " if claimed else "") + action.done
