"""The case page's takedown panel (notices sent, the filled notice, checks) and the queue's "Checks due" lane.

Forms post to /console/cases/{id}/referrals and /checks and come back to the case page (303), or, when
refused, show the case page again with the reason and what was typed. Everything works without script:
the template picker is a GET form, the three check buttons are submit buttons of one form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.shared.config import agency_names, local_zone
from cyberunit import notices as N
from cyberunit.console.web import Console, Ctx
from cyberunit.console.web import number as row_id
from cyberunit.problems import http_status
from responses.notices import notices
from storage.audit import as_utc
from storage.lifecycle import SHARED
from storage.queue import CaseFilter, QueueError
from storage.refusal import Invalid, NotFound
from storage.takedowns import MAX_CHECK_NOTE, MAX_REFERENCE, Takedowns

CASE_ROLES = ("analyst", "supervisor")
LANE_SIZE = 20
# A notice dated an earlier day counts from midday of that day (in the console's zone): the hour is not
# known, and midday is at most half a day off either way.
MIDDAY = time(12)
Show = Callable[..., Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class DueLane:
    """The queue's "Checks due" lane: the cases, and the check age they are due by."""

    cases: list[dict[str, Any]]
    days: int


def zone_of(console: Console) -> tzinfo:
    return local_zone(console.settings.console_timezone)


def sent_when(value: str, first_seen: str, zone: tzinfo, now: datetime | None = None) -> datetime | None:
    """The time a notice dated `value` (YYYY-MM-DD, the console's zone) counts from: None (now) for today,
    midday for an earlier day but never before the case's first report; a later day is refused."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid("the date sent is a day such as 2025-03-02") from exc
    moment = now or datetime.now(zone)
    today = moment.astimezone(zone).date()
    if day > today:
        raise Invalid("a notice cannot have been sent in the future")
    if day == today:
        return None
    noon = datetime.combine(day, MIDDAY, zone)
    first = as_utc(datetime.fromisoformat(first_seen))
    if day < first.astimezone(zone).date():
        raise Invalid("the case was first reported after that day: check the date sent")
    return max(noon, first)


async def due_lane(console: Console, shown: CaseFilter) -> DueLane:
    """Cases due for a check within the queue's filters (their status aside)."""
    days = console.settings.takedown_check_days
    return DueLane(await Takedowns(console.storage).due(days, LANE_SIZE, within=shown), days)


async def panel(
    console: Console, request: Request, case: dict[str, Any], error: str | None = None
) -> dict[str, Any]:
    """What the case page's takedown section shows: nothing for a case that was never referred or
    escalated and has no notice or check; otherwise its history, and for a referred or escalated case
    the forms and the notice filled in from the template asked for (?template=) or the likeliest one."""
    history = await Takedowns(console.storage).of_case(int(case["id"]))
    shared = case.get("status") in SHARED
    if not shared and not history["referrals"] and not history["checks"] and error is None:
        return {"shown": False}
    shipped = notices()
    asked = request.query_params.get("template", "")
    chosen = shipped.get(asked) or shipped.choose(case.get("agency"), case.get("platform"))
    zone = zone_of(console)
    agencies = agency_names(console.settings)
    default_agency = case.get("agency") if case.get("agency") in agencies else ""
    if chosen is not None and case.get("agency") in (None, "platform"):
        default_agency = next((a for a in agencies if a in chosen.agencies), default_agency)
    return {
        "shown": True,
        "open": shared,
        "history": history,
        "templates": [(n.id, n.label) for n in shipped.items],
        "chosen": chosen.id if chosen else "",
        "notice": N.fill(chosen, case, history["referrals"], zone) if chosen else None,
        "agencies": agencies,
        "default_agency": default_agency,
        "today": datetime.now(zone).date().isoformat(),
        "results": N.RESULT_LABELS,
        "max_reference": MAX_REFERENCE,
        "max_note": MAX_CHECK_NOTE,
        "check_days": console.settings.takedown_check_days,
        "error": error,
    }


def case_id(request: Request) -> int:
    found = row_id(request.path_params["case_id"])
    if found is None:
        raise NotFound("no such case")
    return found


def routes(console: Console, show: Show) -> list[Route]:
    """`show(request, ctx, case_id, status, takedown_error=..., values=...)` renders the case page (the
    queue's module owns it); a refused form comes back on it."""
    takedowns = Takedowns(console.storage)

    async def record_referral(request: Request, ctx: Ctx) -> Response:
        number, form = case_id(request), ctx.form
        try:
            case = await console.queue.get_case(number)
            sent = form.get("sent_on", "").strip()
            await takedowns.record_referral(
                number,
                ctx.principal.name,
                N.agency(form.get("notice_agency"), agency_names(console.settings)),
                N.template(form.get("notice_template")),
                form.get("notice_reference"),
                sent_when(sent, case["first_seen"], zone_of(console)) if sent else None,
            )
        except QueueError as error:
            return await show(
                request, ctx, number, http_status(error), takedown_error=error.message, values=form
            )
        return RedirectResponse(f"/console/cases/{number}#takedown", status_code=303)

    async def record_check(request: Request, ctx: Ctx) -> Response:
        number, form = case_id(request), ctx.form
        try:
            result = N.result(form.get("result"))
            await takedowns.record_check(number, ctx.principal.name, result, form.get("check_note"))
        except QueueError as error:
            return await show(
                request, ctx, number, http_status(error), takedown_error=error.message, values=form
            )
        return RedirectResponse(f"/console/cases/{number}#takedown", status_code=303)

    page = console.page
    return [
        Route("/console/cases/{case_id}/referrals", page(record_referral, *CASE_ROLES), methods=["POST"]),
        Route("/console/cases/{case_id}/checks", page(record_check, *CASE_ROLES), methods=["POST"]),
    ]
