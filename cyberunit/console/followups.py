"""Ask the reporters: the case page's form for a follow-up question, and the questions asked so far.

The case page holds a small section that loads this panel (htmx, on load) and links to it as a page of its
own without JavaScript. The panel says how many reporters a question would reach now (those who agreed to
updates on their report, as numbers only), and lists the questions asked with their counts and answers.
The answers are evidence on the reports too, where the case page shows them with the rest. Asking goes
through storage.followups, as the API does (cyberunit.api.render_followup writes each reporter's message).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cyberunit.api import render_followup
from cyberunit.console.web import Console, Ctx
from cyberunit.console.web import number as row_id
from cyberunit.problems import http_status
from storage import followups as F
from storage.refusal import NotFound, Refused

CASE_ROLES = ("analyst", "supervisor")


def case_id(request: Request) -> int:
    found = row_id(request.path_params["case_id"])
    if found is None:
        raise NotFound("no such case")
    return found


def routes(console: Console) -> list[Route]:
    storage = console.storage

    async def panel(
        request: Request,
        ctx: Ctx,
        number: int,
        status: int = 200,
        error: str | None = None,
        question: str = "",
    ) -> Response:
        """The panel alone for htmx (the case page's section), else a page of its own around it."""
        reach = await F.reach(storage, number, ctx.principal.name)
        fragment = bool(request.headers.get("hx-request")) and status == 200
        return console.render(
            request,
            "_followup.html" if fragment else "followup.html",
            ctx,
            status,
            case_id=number,
            reach=reach,
            asked=await F.of_case(storage, number),
            max_question=F.MAX_QUESTION,
            live_days=F.LIVE.days,
            error=error,
            question=question,
        )

    async def show(request: Request, ctx: Ctx) -> Response:
        return await panel(request, ctx, case_id(request))

    async def ask(request: Request, ctx: Ctx) -> Response:
        number = case_id(request)
        question = ctx.form.get("question", "")
        try:
            await F.ask(storage, number, question, ctx.principal.name, render_followup)
        except Refused as error:
            return await panel(
                request, ctx, number, http_status(error), error=error.message, question=question
            )
        # Back to the case, where the panel lists the question with how many it reached.
        return RedirectResponse(f"/console/cases/{number}#followup", status_code=303)

    page = console.page
    return [
        Route("/console/cases/{case_id}/followups", page(show, *CASE_ROLES), methods=["GET"]),
        Route("/console/cases/{case_id}/followups", page(ask, *CASE_ROLES), methods=["POST"]),
    ]
