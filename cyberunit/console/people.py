"""Families' callback requests (counsellors) and token management (admins)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cyberunit.console.filters import LANGUAGES
from cyberunit.console.web import Console, Ctx
from storage.queue import QueueError, support_page
from storage.tokens import ROLES, TokenError, Tokens

SUPPORT_STATUSES = {"": "All", "new": "New", "in_progress": "In progress", "done": "Done"}


def routes(console: Console) -> list[Route]:
    tokens = Tokens(console.storage)

    async def support(request: Request, ctx: Ctx) -> Response:
        status = request.query_params.get("status", "")
        if status not in SUPPORT_STATUSES:
            raise QueueError(400, "status must be new, in_progress or done")
        items = await support_page(console.storage, status or None)
        return console.render(
            request,
            "support.html",
            ctx,
            items=items,
            status=status,
            statuses=SUPPORT_STATUSES,
            languages=LANGUAGES,
        )

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
        Route("/console/tokens", page(token_list, "admin"), methods=["GET"]),
        Route("/console/tokens", page(token_create, "admin"), methods=["POST"]),
        Route("/console/tokens/revoke", page(token_revoke, "admin"), methods=["POST"]),
    ]
