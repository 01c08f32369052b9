"""The queue (urgent lane, your cases, the filtered list, claim next) and the case page with its actions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.shared.config import agency_names
from cyberunit import bulk as B
from cyberunit import params as P
from cyberunit.api import render_status
from cyberunit.console import filters as F
from cyberunit.console import takedowns as T
from cyberunit.console.web import Console, Ctx
from cyberunit.console.web import number as row_id
from cyberunit.labels import REASON_LABELS
from cyberunit.priority import explain
from cyberunit.problems import http_status
from responses import catalog
from storage import duplicates as D
from storage.lifecycle import NEEDS_REASON, REASONS
from storage.queue import (
    DECISIONS,
    DEFAULT_LEASE,
    MAX_NOTE,
    OPEN,
    CaseFilter,
    QueueError,
)
from storage.refusal import Invalid, NotFound
from storage.tokens import Tokens

CASE_ROLES = ("analyst", "supervisor")
DECISION_LABELS = {
    "referred": "Refer to the platform or an agency",
    "escalated": "Escalate to investigators",
    "monitoring": "Keep monitoring",
    "no_action": "Close: no action",
    "merged": "Merge into another case",
}


def reason_choices() -> list[dict[str, Any]]:
    """The decision form's reasons: value, label, the decisions each fits, what reporters are told (en)."""
    texts = catalog()
    return [
        {
            "value": reason,
            "label": REASON_LABELS.get(reason, reason),
            "fits": fits,
            "told": texts.text(f"reasons.{reason}", "en"),
        }
        for reason, fits in REASONS.items()
    ]


def open_link(url: object) -> str | None:
    """The link an analyst may open deliberately: only plain http(s), never javascript: or data:."""
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")) and len(url) <= 2048:
        return url
    return None


def sent_as(case: dict[str, Any], limit: int = 5) -> list[str]:
    """How citizens wrote the case's link, where that differs from its canonical form.

    Shown as text beside the canonical link, never as a link: only the canonical form has an Open
    action. At most `limit` distinct spellings, first sent first.
    """
    canonical = case.get("canonical_url")
    if not canonical:
        return []
    found: list[str] = []
    for report in case.get("reports") or []:
        for item in report.get("evidence") or []:
            raw = item.get("raw")
            if item.get("value") == canonical and isinstance(raw, str) and raw and raw != canonical:
                if raw not in found:
                    found.append(raw)
                if len(found) >= limit:
                    return found
    return found


def held_by(case: dict[str, Any], name: str) -> bool:
    lease = case.get("lease_until")
    return (
        case.get("status") == "in_review"
        and case.get("assignee") == name
        and isinstance(lease, str)
        and datetime.fromisoformat(lease) > datetime.now(UTC)
    )


def minutes_left(case: dict[str, Any]) -> int:
    lease = case.get("lease_until")
    if not isinstance(lease, str):
        return 0
    return max(0, int((datetime.fromisoformat(lease) - datetime.now(UTC)).total_seconds() // 60))


def case_id(request: Request) -> int:
    found = row_id(request.path_params["case_id"])
    if found is None:
        raise NotFound("no such case")
    return found


def under_accounts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page of the list regrouped under the account that published each case (`group=account`): each
    account with more than one case on the page under its name, in the order of its first case, then the
    rest under one header (a header per lone case would bury the accounts). The first case of each group
    carries the header (`group_head`), so the rows stay one table and j/k walks the cases, not headers."""
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    rest: list[dict[str, Any]] = []
    for account, members in D.group_by_account(items):
        if account is not None and len(members) > 1:
            groups.append((account.label, members))
        else:
            rest += members
    if rest:
        groups.append(("One case of its account, or no account (a video id, an invite, another site)", rest))
    rows = []
    for label, members in groups:
        head = {"group_head": {"label": label, "size": len(members)}}
        rows += [item | head if i == 0 else item for i, item in enumerate(members)]
    return rows


def bulk_choices(console: Console, ctx: Ctx) -> dict[str, Any]:
    """What the queue's bulk form offers (cyberunit.bulk): assigning only to supervisors; the outcomes of a
    single decision but a merge, which is an action of its own (the case to merge into)."""
    supervisor = ctx.principal.role == "supervisor"
    return {
        "actions": {k: v for k, v in B.ACTION_LABELS.items() if k != "assign" or supervisor},
        "decisions": {k: v for k, v in DECISION_LABELS.items() if k != "merged"},
        "reasons": reason_choices(),
        "agencies": agency_names(console.settings),
        "max_note": MAX_NOTE,
        "most": B.MAX_BULK,
    }


def routes(console: Console) -> list[Route]:
    queue = console.queue
    tokens = Tokens(console.storage)

    async def lanes(view: F.QueueView, ctx: Ctx) -> dict[str, Any]:
        me = ctx.principal.name
        held = await queue.list_cases(CaseFilter(status=("in_review",)), 200)
        shown = view.case_filter()
        # The urgent lane holds the open urgent cases within the filters; the list below leaves them
        # out, so no case is listed twice.
        lane = replace(shown, status=OPEN, urgent=True, sort="priority", descending=True)
        urgent = await queue.list_cases(lane, 50)
        page = await queue.list_cases(replace(shown, hide_open_urgent=True), 50, view.cursor or None)
        return {
            "view": view,
            "urgent": urgent.items,
            "mine": [c for c in held.items if c["assignee"] == me],
            "due": await T.due_lane(console, shown),  # referred cases due for a takedown check
            "items": under_accounts(page.items) if view.group == "account" else page.items,
            "next": view.query(cursor=page.next) if page.next else None,
        }

    async def queue_page(request: Request, ctx: Ctx) -> Response:
        # An unknown filter value is said on the queue itself (400), the rest of the view still applied.
        view, filter_problems = F.read_view(request.query_params)
        decided = request.query_params.get("decided")
        outcome = request.query_params.get("as", "")
        return console.render(
            request,
            "queue.html",
            ctx,
            400 if filter_problems else 200,
            F=F,
            filter_problems=filter_problems,
            decided=row_id(decided) if outcome in DECISIONS else None,
            outcome=outcome,
            empty=request.query_params.get("empty") == "1",
            bulk=bulk_choices(console, ctx),
            **await lanes(view, ctx),
        )

    async def lanes_fragment(request: Request, ctx: Ctx) -> Response:
        view = F.parse_view(request.query_params)
        return console.render(request, "_lanes.html", ctx, **await lanes(view, ctx))

    async def claim_next(_request: Request, ctx: Ctx) -> Response:
        """The highest-priority open case within the filters the analyst had on screen."""
        view = F.parse_view(
            {name: ctx.form.get(name, "") for name in ("category", "platform", "language", "care", "scope")}
        )
        claimed = await queue.claim(ctx.principal.name, 1, DEFAULT_LEASE, within=view.case_filter())
        if not claimed:
            kept = view.query()
            return RedirectResponse(f"/console/queue?{kept + '&' if kept else ''}empty=1", status_code=303)
        return RedirectResponse(f"/console/cases/{claimed[0]['id']}", status_code=303)

    async def claim_this(request: Request, ctx: Ctx) -> Response:
        """Claim the case on screen (refused, naming who, when someone else holds it)."""
        number = case_id(request)
        try:
            await queue.claim_case(number, ctx.principal.name, DEFAULT_LEASE)
        except QueueError as error:
            return await show(request, ctx, number, http_status(error), claim_error=error.message)
        return RedirectResponse(f"/console/cases/{number}", status_code=303)

    async def workload(request: Request, ctx: Ctx) -> Response:
        """Supervisors: who holds how many cases now, and decisions in the last day and week."""
        return console.render(request, "workload.html", ctx, people=await queue.workload())

    async def assignees() -> list[str]:
        """Who a supervisor can hand a case to: active analyst and supervisor tokens."""
        listed = await tokens.list()
        return [t["name"] for t in listed if t["role"] in CASE_ROLES and not t["revoked"]]

    async def show(request: Request, ctx: Ctx, number: int, status: int = 200, **problems: Any) -> Response:
        case = explain(await queue.get_case(number))
        return console.render(
            request,
            "case.html",
            ctx,
            status,
            case=case,
            link=open_link(case.get("canonical_url")),
            sent_as=sent_as(case),
            held=held_by(case, ctx.principal.name),
            held_by_other=held_by(case, str(case.get("assignee") or ""))
            and case.get("assignee") != ctx.principal.name,
            claim_error=problems.get("claim_error"),
            lease_minutes=minutes_left(case),
            is_open=case["status"] in OPEN,
            decisions=DECISION_LABELS,
            reasons=reason_choices(),
            reason_labels=REASON_LABELS,
            needs_reason=NEEDS_REASON,
            agencies=agency_names(console.settings),
            languages=F.LANGUAGES,
            max_note=MAX_NOTE,
            decision_error=problems.get("decision_error"),
            note_error=problems.get("note_error"),
            assign_error=problems.get("assign_error"),
            values=problems.get("values", {}),
            assignees=await assignees() if ctx.principal.role == "supervisor" else [],
            duplicates=await D.find(console.storage.db, number),  # likely the same content; same account
            takedown=await T.panel(console, request, case, problems.get("takedown_error")),
        )

    async def case_page(request: Request, ctx: Ctx) -> Response:
        return await show(request, ctx, case_id(request))

    async def decide(request: Request, ctx: Ctx) -> Response:
        number, form = case_id(request), ctx.form
        status = form.get("status", "")
        try:
            merge = form.get("merge_into", "").strip()
            target = row_id(merge)
            if merge and target is None:
                raise Invalid("the merge target is a case number")
            await queue.decide(
                number,
                ctx.principal.name,
                status,
                form.get("note", ""),
                P.agency(form.get("agency"), agency_names(console.settings)),
                target,
                render=render_status,
                supervisor=ctx.principal.role == "supervisor",
                seen_reports=row_id(form.get("seen_reports", "")),
                reason=form.get("reason", "").strip() or None,
            )
        except QueueError as error:
            return await show(
                request, ctx, number, http_status(error), decision_error=error.message, values=form
            )
        return RedirectResponse(f"/console/queue?decided={number}&as={status}", status_code=303)

    async def add_note(request: Request, ctx: Ctx) -> Response:
        number = case_id(request)
        try:
            await queue.add_note(number, ctx.principal.name, ctx.form.get("note", ""))
        except QueueError as error:
            return await show(
                request, ctx, number, http_status(error), note_error=error.message, values=ctx.form
            )
        return RedirectResponse(f"/console/cases/{number}#notes", status_code=303)

    async def release(request: Request, ctx: Ctx) -> Response:
        await queue.release(case_id(request), ctx.principal.name)
        return RedirectResponse("/console/queue", status_code=303)

    async def extend(request: Request, ctx: Ctx) -> Response:
        number = case_id(request)
        await queue.extend(number, ctx.principal.name, DEFAULT_LEASE)
        return RedirectResponse(f"/console/cases/{number}", status_code=303)

    async def assign(request: Request, ctx: Ctx) -> Response:
        number = case_id(request)
        assignee = ctx.form.get("assignee", "").strip()
        try:
            if assignee not in await assignees():
                raise Invalid("name an analyst or supervisor who holds an active token")
            await queue.assign(number, assignee, ctx.principal.name)
        except QueueError as error:
            return await show(
                request, ctx, number, http_status(error), assign_error=error.message, values=ctx.form
            )
        return RedirectResponse(f"/console/cases/{number}", status_code=303)

    page = console.page
    return [
        Route("/console/queue", page(queue_page, *CASE_ROLES), methods=["GET"]),
        Route("/console/queue/lanes", page(lanes_fragment, *CASE_ROLES), methods=["GET"]),
        Route("/console/queue/claim", page(claim_next, *CASE_ROLES), methods=["POST"]),
        Route("/console/cases/{case_id}", page(case_page, *CASE_ROLES), methods=["GET"]),
        Route("/console/cases/{case_id}/decision", page(decide, *CASE_ROLES), methods=["POST"]),
        Route("/console/cases/{case_id}/notes", page(add_note, *CASE_ROLES), methods=["POST"]),
        Route("/console/cases/{case_id}/release", page(release, *CASE_ROLES), methods=["POST"]),
        Route("/console/cases/{case_id}/extend", page(extend, *CASE_ROLES), methods=["POST"]),
        Route("/console/cases/{case_id}/claim", page(claim_this, *CASE_ROLES), methods=["POST"]),
        Route("/console/workload", page(workload, "supervisor"), methods=["GET"]),
        Route("/console/cases/{case_id}/assign", page(assign, "supervisor"), methods=["POST"]),
        *T.routes(console, show),  # notices sent and checks (their refusals come back on the case page)
    ]
