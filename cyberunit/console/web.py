"""What every console page shares: the sign-in check, roles, CSRF, security headers, templates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.shared.body import BODY_TIMEOUT, Unread, read_body
from bot.shared.config import Settings, local_zone
from bot.shared.sealing import AddressBox
from cyberunit.console import sessions as S
from cyberunit.console.static import Assets
from cyberunit.labels import SCOPE_CHECK_HELP
from cyberunit.problems import http_status, unread
from storage.queue import Queue, QueueError, principal_by_token_hash
from storage.refusal import Invalid
from storage.repository import Storage
from storage.support import SupportError
from storage.tokens import Principal

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM = 16 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), clipboard-read=()",
}
NAV = {
    "analyst": [("/console/queue", "Queue"), ("/console/overview", "Overview")],
    "supervisor": [
        ("/console/queue", "Queue"),
        ("/console/overview", "Overview"),
        ("/console/workload", "Workload"),
        ("/console/audit", "Audit"),
    ],
    "counsellor": [("/console/support", "Support requests")],
    "admin": [("/console/overview", "Overview"), ("/console/tokens", "Tokens"), ("/console/audit", "Audit")],
}
HOME = {
    "analyst": "/console/queue",
    "supervisor": "/console/queue",
    "counsellor": "/console/support",
    "admin": "/console/tokens",
}
TITLES = {
    400: "Bad request",
    401: "Signed out",
    403: "Forbidden",
    404: "Not found",
    408: "Too slow",
    409: "Conflict",
    413: "Too large",
    500: "Something went wrong",
    503: "Unavailable",
}


@dataclass
class Ctx:
    """Who is asking, in which session, with the CSRF token their forms carry, and what they posted."""

    principal: Principal
    session: S.Session
    csrf: str
    form: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request, Ctx], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def secure(response: Response, cache: str = "no-store") -> Response:
    """The console's security headers; pages are never cached (they show case data)."""
    response.headers.update(HEADERS)
    response.headers.setdefault("Cache-Control", cache)
    return response


def cross_site(request: Request) -> bool:
    """A POST that a browser says came from another site (Sec-Fetch-Site, Origin).

    Under Referrer-Policy: no-referrer browsers send `Origin: null` even for the console's own forms;
    then Sec-Fetch-Site (which every current browser sends, and pages cannot forge) decides.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return site is None
    return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


async def read_form(request: Request) -> dict[str, str]:
    """An url-encoded form (the only kind the console sends), first value of each field.

    Read by the shared capped reader (bot.shared.body) before anything else, signed in or not: at most
    MAX_FORM bytes are ever buffered, a chunked body without Content-Length included, and a body that has
    not arrived within BODY_TIMEOUT seconds is refused (408)."""
    body = await read_body(request, MAX_FORM, BODY_TIMEOUT)
    if isinstance(body, Unread):
        raise unread(body)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid("the form could not be read") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise Invalid("the form holds a NUL character, which cannot be stored")
        form.setdefault(key, value)
    return form


def number(text: str | None) -> int | None:
    """A row id typed or linked: ASCII digits that fit the database's integer; anything else is None."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if value < 2**31 else None


def safe_next(value: str | None) -> str | None:
    """A place inside the console to go back to after signing in; anything else is dropped."""
    if not value or not value.startswith("/console") or "//" in value or "\\" in value:
        return None
    return value if len(value) < 500 else None


# A queue row's platform mark: a short glyph the eye finds faster than the word beside it.
PLATFORM_MARKS = {
    "facebook": "f",
    "instagram": "ig",
    "telegram": "tg",
    "whatsapp": "wa",
    "youtube": "▶",
    "tiktok": "tt",
    "x": "X",
    "web": "www",
}


def when(value: object, zone: tzinfo = UTC) -> str:
    """An ISO time in the console's zone, as `2025-01-31 19:05 PKT` (the zone's own abbreviation)."""
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or local.strftime('%z')}"


def waited(value: object, now: datetime | None = None) -> str:
    """How long since an ISO time, coarsely: "12 min", "3 h", "4 d" (a queue row's waiting time)."""
    if not isinstance(value, str):
        return ""
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        return ""
    seconds = (
        (now or datetime.now(UTC)) - (since if since.tzinfo else since.replace(tzinfo=UTC))
    ).total_seconds()
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


class Console:
    def __init__(self, storage: Storage, settings: Settings, sessions: S.Sessions, box: AddressBox) -> None:
        self.storage = storage
        self.settings = settings
        self.sessions = sessions
        self.box = box  # the app's, to open a callback number a counsellor asks for
        self.queue = Queue(storage)
        self.assets = Assets()
        self.env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["static"] = self.assets.url
        self.env.globals["scope_check_help"] = SCOPE_CHECK_HELP
        zone = local_zone(settings.console_timezone)
        self.env.filters["when"] = partial(when, zone=zone)
        self.env.filters["waited"] = waited
        self.env.filters["utc"] = when
        self.env.globals["platform_marks"] = PLATFORM_MARKS

    # --- responses ----------------------------------------------------------------------------------

    def render(
        self, request: Request, name: str, ctx: Ctx | None, http_status: int = 200, **values: Any
    ) -> HTMLResponse:
        me = ctx.principal if ctx else None
        html = self.env.get_template(name).render(
            me=me,
            csrf=ctx.csrf if ctx else "",
            nav=NAV.get(me.role, []) if me else [],
            here=request.url.path,
            **values,
        )
        return HTMLResponse(html, status_code=http_status)

    def error(self, request: Request, status: int, message: str, ctx: Ctx | None = None) -> HTMLResponse:
        title = TITLES.get(status, "Error")
        return self.render(request, "error.html", ctx, status, status=status, title=title, message=message)

    def signed_out(self, request: Request, reason: str, had_cookie: bool) -> Response:
        """No usable session: back to the sign-in page (htmx: tell it to go there)."""
        target = f"/console/login?reason={reason}"
        back = safe_next(request.url.path)
        if request.method == "GET" and back and not request.headers.get("hx-request"):
            query = f"?{request.url.query}" if request.url.query else ""
            target += "&next=" + quote(back + query, safe="")
        response: Response
        if request.headers.get("hx-request"):
            response = Response(status_code=401, headers={"HX-Redirect": target})
        elif request.method == "GET":
            response = RedirectResponse(target, status_code=303)
        else:
            response = self.error(request, 401, "Your session has ended. Sign in again.")
        if had_cookie:
            self.clear_session(response)
        return response

    # --- cookies ------------------------------------------------------------------------------------

    def https(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.settings.env == "production"

    def set_session(self, request: Request, response: Response, session: S.Session) -> None:
        response.set_cookie(
            S.COOKIE,
            self.sessions.encode(session),
            max_age=self.sessions.remaining(session),
            path=S.PATH,
            secure=self.https(request),
            httponly=True,
            samesite="strict",
        )

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(S.COOKIE, path=S.PATH, httponly=True, samesite="strict")

    # --- the guard ----------------------------------------------------------------------------------

    def page(self, handler: Handler, *roles: str) -> Endpoint:
        """Wrap a handler: a live session, the right role, a valid CSRF token on posts, the headers."""

        async def endpoint(request: Request) -> Response:
            return secure(await self._guarded(request, handler, roles))

        endpoint.__name__ = handler.__name__
        return endpoint

    async def _guarded(self, request: Request, handler: Handler, roles: tuple[str, ...]) -> Response:
        if request.method == "POST" and cross_site(request):
            return self.error(request, 403, "Refused: this form was sent from another site.")
        cookie = request.cookies.get(S.COOKIE)
        session = self.sessions.decode(cookie)
        if session is None:
            return self.signed_out(request, "signin" if cookie is None else "invalid", cookie is not None)
        if self.sessions.expired(session):
            return self.signed_out(request, "expired", True)
        found = await principal_by_token_hash(self.storage, session.token_hash)
        if found is None:
            return self.signed_out(request, "revoked", True)
        ctx = Ctx(Principal(*found), session, self.sessions.csrf(session.sid))
        try:
            if request.method == "POST":
                ctx.form = await read_form(request)
                if not S.same(ctx.csrf, ctx.form.get("csrf")):
                    return self.error(
                        request, 403, "Refused: the form is out of date or forged. Reload and try again.", ctx
                    )
            if ctx.principal.role not in roles:
                return self.error(request, 403, f"The {ctx.principal.role} role may not use this page.", ctx)
            response = await handler(request, ctx)
        except (QueueError, SupportError) as error:
            response = self.error(request, http_status(error), error.message, ctx)
        # Background refreshes (htmx polling the queue) are not activity: an unattended screen idles out.
        fresh = self.sessions.touched(session)
        if fresh is not None and not request.headers.get("hx-request"):
            self.set_session(request, response, fresh)
        return response
