"""The console's routes, mounted by the app next to the API: `*console.routes(store, settings, box)`."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from bot.shared.config import Settings, secret_key
from bot.shared.sealing import AddressBox
from cyberunit.console import auth, cases, overview, people, search
from cyberunit.console import bulk as selection
from cyberunit.console import followups as asking
from cyberunit.console.sessions import Sessions
from cyberunit.console.web import Console, Endpoint, secure
from storage.repository import Storage, StorageUnavailable

log = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds, as the app's own answer while the database is unreachable
FAILED = "Something went wrong on our side; nothing more was changed. Try again, or tell the administrator."
DOWN = "The database is unreachable; nothing was changed. Try again shortly."


def shielded(console: Console, endpoint: Endpoint) -> Endpoint:
    """`endpoint`, whose unexpected errors become the console's own 500 page (and a database outage its
    503 page) with the security headers, instead of the server's bare answer without them."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except StorageUnavailable:
            status, message = 503, DOWN
        except Exception:
            log.exception("console_error", extra={"fields": {"path": request.url.path}})
            status, message = 500, FAILED
        try:
            response: Response = console.error(request, status, message)
        except Exception:  # the template itself failed: still an answer with the headers
            response = HTMLResponse(f"<!doctype html><title>{status}</title><p>{message}</p>", status)
        if status == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER)
        return secure(response)

    guarded.__name__ = getattr(endpoint, "__name__", "console")
    return guarded


def routes(
    storage: Storage, settings: Settings, box: AddressBox, console: Console | None = None
) -> list[BaseRoute]:
    """`box` is the app's AddressBox (the pipeline's): one key path opens callback numbers."""
    console = console or Console(storage, settings, Sessions(secret_key(settings)), box)

    async def static(request: Request) -> Response:
        return secure(await console.assets.serve(request), cache="public, max-age=86400")

    plain: list[Route] = [
        Route("/console/static/{name}", static, methods=["GET"]),
        *auth.routes(console),
        *cases.routes(console),
        *overview.routes(console),
        *people.routes(console),
        *search.routes(console),
        *asking.routes(console),  # ask the reporters of a case (its page's #followup)
        *selection.routes(console),  # bulk actions on the cases ticked on the queue
    ]
    return [
        Route(r.path, shielded(console, r.endpoint), methods=sorted(r.methods or ()), name=r.name)
        for r in plain
    ]
