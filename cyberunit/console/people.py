"""Families' callback requests (counsellors: list, take, reveal a number, reply in the chat, close;
supervisors and admins: give a request to a counsellor, reveal with an override and a reason) and token
management (admins)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cyberunit.console.filters import LANGUAGES
from cyberunit.console.web import Console, Ctx
from cyberunit.console.web import number as row_id
from cyberunit.problems import http_status
from storage import support as S
from storage.queue import support_page
from storage.refusal import Invalid, NotFound, TooMany
from storage.tokens import ROLES, TokenError, Tokens

TEL = re.compile(r"\+?[0-9]{5,15}")  # what may go into a tel: link
SUPPORT_ROLES = ("counsellor", *S.OVERRIDERS)  # who may open one request, take it and reveal its number
SUPPORT_STATUSES = {"": "All", **{s: s.replace("_", " ").capitalize() for s in S.STATUSES}}


def request_id(request: Request) -> int:
    found = row_id(request.path_params["request_id"])
    if found is None:
        raise NotFound("no such support request")
    return found


def routes(console: Console) -> list[Route]:
    tokens = Tokens(console.storage)

    async def support(request: Request, ctx: Ctx) -> Response:
        status = request.query_params.get("status", "")
        if status not in SUPPORT_STATUSES:
            raise Invalid("status must be new, in_progress or done")
        items = await support_page(console.storage, status or None)
        closed = row_id(request.query_params.get("closed"))
        return console.render(
            request,
            "support.html",
            ctx,
            items=items,
            status=status,
            statuses=SUPPORT_STATUSES,
            languages=LANGUAGES,
            closed=next((r for r in items if r["id"] == closed and r["status"] == "done"), None),
        )

    async def show_request(
        request: Request,
        ctx: Ctx,
        item: dict[str, object] | None = None,
        http_status: int = 200,
        **shown: object,
    ) -> Response:
        item = item or await S.get_request(console.storage, request_id(request))
        phone = shown.get("phone")
        counsellors: list[str] = []
        if ctx.principal.role in S.OVERRIDERS:  # whom a supervisor may give the request to
            listed = await tokens.list()
            counsellors = [t["name"] for t in listed if t["role"] == S.COUNSELLOR and not t["revoked"]]
        return console.render(
            request,
            "support_request.html",
            ctx,
            http_status,
            r=item,
            languages=LANGUAGES,
            max_reply=S.MAX_REPLY,
            max_note=S.MAX_CLOSING_NOTE,
            phone=phone,
            tel=phone if isinstance(phone, str) and TEL.fullmatch(phone) else None,
            phone_error=shown.get("phone_error"),
            reply_error=shown.get("reply_error"),
            close_error=shown.get("close_error"),
            take_error=shown.get("take_error"),
            counsellors=counsellors,
            overriders=S.OVERRIDERS,
            max_reason=S.MAX_OVERRIDE_REASON,
            replied=request.query_params.get("replied") == "1",
            taken=request.query_params.get("taken") == "1",
            values=shown.get("values", {}),
        )

    async def support_request(request: Request, ctx: Ctx) -> Response:
        return await show_request(request, ctx)

    async def support_take(request: Request, ctx: Ctx) -> Response:
        number = request_id(request)
        try:
            await S.take(console.storage, number, ctx.principal, ctx.form.get("to"))
        except S.SupportError as error:
            if isinstance(error, NotFound):
                raise
            return await show_request(
                request, ctx, None, http_status(error), take_error=error.message, values=ctx.form
            )
        return RedirectResponse(f"/console/support/{number}?taken=1", status_code=303)

    async def support_phone(request: Request, ctx: Ctx) -> Response:
        # Shown in this response only: never in a URL, never cached (Cache-Control: no-store).
        number = request_id(request)
        override = ctx.form.get("override", "") in ("1", "true")
        try:
            revealed = await S.reveal_phone(
                console.storage,
                number,
                ctx.principal,
                console.box.open,
                override=override,
                reason=ctx.form.get("reason"),
                per_hour=console.settings.support_reveals_per_hour,
            )
        except S.SupportError as error:
            if isinstance(error, NotFound):
                raise
            refused = await show_request(
                request, ctx, None, http_status(error), phone_error=error.message, values=ctx.form
            )
            if isinstance(error, TooMany):
                refused.headers["Retry-After"] = str(error.retry_after)
            return refused
        return await show_request(request, ctx, revealed.request, phone=revealed.phone)

    async def support_reply(request: Request, ctx: Ctx) -> Response:
        number = request_id(request)
        try:
            await S.reply(console.storage, number, ctx.form.get("text", ""), ctx.principal.name)
        except S.SupportError as error:
            if isinstance(error, NotFound):
                raise
            return await show_request(
                request, ctx, None, http_status(error), reply_error=error.message, values=ctx.form
            )
        return RedirectResponse(f"/console/support/{number}?replied=1", status_code=303)

    async def support_close(request: Request, ctx: Ctx) -> Response:
        number = request_id(request)
        try:
            await S.close_request(console.storage, number, ctx.principal.name, ctx.form.get("note", ""))
        except S.SupportError as error:
            if isinstance(error, NotFound):
                raise
            return await show_request(
                request, ctx, None, http_status(error), close_error=error.message, values=ctx.form
            )
        return RedirectResponse(f"/console/support?closed={number}", status_code=303)

    async def token_page(
        request: Request,
        ctx: Ctx,
        http_status: int = 200,
        created: tuple[str, str] | None = None,
        error: str | None = None,
        values: dict[str, str] | None = None,
    ) -> Response:
        listed = await tokens.list()
        revoked = request.query_params.get("revoked", "")
        return console.render(
            request,
            "tokens.html",
            ctx,
            http_status,
            tokens=listed,
            roles=ROLES,
            created=created,
            error=error,
            revoked=revoked if any(t["name"] == revoked and t["revoked"] for t in listed) else None,
            values=values or {},
        )

    async def token_list(request: Request, ctx: Ctx) -> Response:
        return await token_page(request, ctx)

    async def token_create(request: Request, ctx: Ctx) -> Response:
        name, role = ctx.form.get("name", ""), ctx.form.get("role", "")
        try:
            token = await tokens.create(name, role, actor=ctx.principal.name)
        except TokenError as error:
            return await token_page(request, ctx, 400, error=str(error), values=ctx.form)
        # Shown once, in this response only: never in a URL, never cached (Cache-Control: no-store).
        return await token_page(request, ctx, created=(name.strip(), token))

    async def token_revoke(request: Request, ctx: Ctx) -> Response:
        name = ctx.form.get("name", "")
        if not await tokens.revoke(name, actor=ctx.principal.name):
            return await token_page(request, ctx, 404, error=f"No active token named {name!r}.")
        return RedirectResponse("/console/tokens?" + urlencode({"revoked": name}), status_code=303)

    page = console.page
    return [
        Route("/console/support", page(support, "counsellor"), methods=["GET"]),
        Route("/console/support/{request_id}", page(support_request, *SUPPORT_ROLES), methods=["GET"]),
        Route("/console/support/{request_id}/take", page(support_take, *SUPPORT_ROLES), methods=["POST"]),
        Route("/console/support/{request_id}/phone", page(support_phone, *SUPPORT_ROLES), methods=["POST"]),
        Route("/console/support/{request_id}/reply", page(support_reply, "counsellor"), methods=["POST"]),
        Route("/console/support/{request_id}/close", page(support_close, "counsellor"), methods=["POST"]),
        Route("/console/tokens", page(token_list, "admin"), methods=["GET"]),
        Route("/console/tokens", page(token_create, "admin"), methods=["POST"]),
        Route("/console/tokens/revoke", page(token_revoke, "admin"), methods=["POST"]),
    ]
