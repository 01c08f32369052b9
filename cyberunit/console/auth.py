"""Signing in with a token, signing out, and the console's front door."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cyberunit.console import sessions as S
from cyberunit.console.web import HOME, Console, Ctx, cross_site, read_form, safe_next, secure
from cyberunit.problems import http_status
from storage.queue import QueueError, principal_by_token_hash
from storage.tokens import Tokens, digest

REASONS = {
    "expired": "Your session expired. Sign in again.",
    "revoked": "Your session ended: the token was revoked or is no longer valid.",
    "invalid": "Your session could not be read. Sign in again.",
    "signed_out": "You have signed out.",
}
ROLES = tuple(HOME)


def routes(console: Console) -> list[Route]:
    tokens = Tokens(console.storage)

    def form(request: Request, status: int = 200, message: str | None = None, nonce: str = "") -> Response:
        """The sign-in form, its CSRF token bound to a fresh nonce cookie."""
        nonce = nonce or secrets.token_urlsafe(18)
        reason = request.query_params.get("reason", "")
        response = console.render(
            request,
            "login.html",
            None,
            status,
            login_csrf=console.sessions.login_csrf(nonce),
            next=safe_next(request.query_params.get("next")) or "",
            notice=REASONS.get(reason),
            message=message,
        )
        response.set_cookie(
            S.LOGIN_COOKIE,
            nonce,
            max_age=S.LOGIN_WINDOW,
            path=S.PATH,
            secure=console.https(request),
            httponly=True,
            samesite="strict",
        )
        return secure(response)

    async def signed_in_as(request: Request) -> str | None:
        session = console.sessions.decode(request.cookies.get(S.COOKIE))
        if session is None or console.sessions.expired(session):
            return None
        found = await principal_by_token_hash(console.storage, session.token_hash)
        return found[1] if found else None

    async def login_page(request: Request) -> Response:
        role = await signed_in_as(request)
        if role is not None:
            return secure(RedirectResponse(HOME[role], status_code=303))
        return form(request)

    async def login(request: Request) -> Response:
        if cross_site(request):
            return secure(console.error(request, 403, "Refused: this form was sent from another site."))
        try:
            posted = await read_form(request)
        except QueueError as error:
            return secure(console.error(request, http_status(error), error.message))
        nonce = request.cookies.get(S.LOGIN_COOKIE, "")
        if not nonce or not S.same(console.sessions.login_csrf(nonce), posted.get("csrf")):
            return form(request, 403, "Refused: the sign-in form was out of date or forged. Try again.")
        token = posted.get("token", "").strip()
        who = await tokens.verify(token) if token else None
        if who is None:
            return form(request, 401, "That token is unknown or revoked.", nonce)
        if who.role not in HOME:  # a partner's token opens the TAXII feed only (cyberunit.taxii)
            refused = "That is a partner's token: it opens the TAXII feed (/taxii2/) only."
            return form(request, 403, refused, nonce)
        target = safe_next(posted.get("next")) or HOME[who.role]
        response = RedirectResponse(target, status_code=303)
        console.set_session(request, response, console.sessions.new(digest(token)))
        response.delete_cookie(S.LOGIN_COOKIE, path=S.PATH, httponly=True, samesite="strict")
        return secure(response)

    async def logout(_request: Request, _ctx: Ctx) -> Response:
        response = RedirectResponse("/console/login?reason=signed_out", status_code=303)
        console.clear_session(response)
        return response

    async def home(_request: Request, ctx: Ctx) -> Response:
        return RedirectResponse(HOME[ctx.principal.role], status_code=303)

    return [
        Route("/console", console.page(home, *ROLES), methods=["GET"]),
        Route("/console/login", login_page, methods=["GET"]),
        Route("/console/login", login, methods=["POST"]),
        Route("/console/logout", console.page(logout, *ROLES), methods=["POST"]),
    ]
