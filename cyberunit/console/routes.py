"""The console's routes, mounted by the app next to the API: `*console.routes(store, settings, box)`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.shared.config import Settings, secret_key
from bot.shared.sealing import AddressBox
from cyberunit.console import auth, cases, overview, people
from cyberunit.console.sessions import Sessions
from cyberunit.console.web import Console, secure
from storage.repository import Storage


def routes(
    storage: Storage, settings: Settings, box: AddressBox, console: Console | None = None
) -> list[BaseRoute]:
    """`box` is the app's AddressBox (the pipeline's): one key path opens callback numbers."""
    console = console or Console(storage, settings, Sessions(secret_key(settings)), box)

    async def static(request: Request) -> Response:
        return secure(await console.assets.serve(request), cache="public, max-age=86400")

    return [
        Route("/console/static/{name}", static, methods=["GET"]),
        *auth.routes(console),
        *cases.routes(console),
        *overview.routes(console),
        *people.routes(console),
    ]
