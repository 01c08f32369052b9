"""The web chat: a page at /chat and a small JSON API (DESIGN: POST/GET /webchat/api/messages)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.channels.fallback import handle_or_fallback
from bot.channels.http import BODY_TIMEOUT, Unread, read_body
from bot.dialogue import Inbound
from bot.pipeline import Pipeline
from responses import catalog

CHANNEL = "webchat"
STATIC = Path(__file__).parent / "static"
MAX_BODY = 256 * 1024
SESSION = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
MAX_CHOICE = 64
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def problem(status: int, detail: str) -> JSONResponse:
    """An error the web chat page can show: JSON with a plain-language detail."""
    return JSONResponse({"error": detail}, status_code=status)


class ClientLimiter:
    """Messages a minute from one client address (fixed one-minute windows); 0 turns it off."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._counts: dict[tuple[str, int], int] = defaultdict(int)

    def allow(self, client: str) -> bool:
        if self.per_minute <= 0:
            return True
        window = int(time.monotonic() // 60)
        if len(self._counts) > 10_000:
            self._counts = defaultdict(int, {k: v for k, v in self._counts.items() if k[1] == window})
        self._counts[(client, window)] += 1
        return self._counts[(client, window)] <= self.per_minute


async def _read_json(request: Request, time_limit: float) -> dict[str, Any] | JSONResponse:
    body = await read_body(request, MAX_BODY, time_limit)
    if isinstance(body, Unread):
        return problem(body.status, body.reason)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: nested too deep
        return problem(400, "body must be JSON in UTF-8")
    if not isinstance(data, dict):
        return problem(400, "body must be a JSON object")
    return data


def _inbound(data: dict[str, Any]) -> Inbound | JSONResponse:
    session = data.get("session")
    if not isinstance(session, str) or not SESSION.match(session):
        return problem(400, "session must be 8 to 128 letters, digits, - or _")
    text, choice, event_id = data.get("text"), data.get("choice"), data.get("id")
    if (text is None) == (choice is None):
        return problem(400, "send exactly one of text or choice")
    if text is not None and not isinstance(text, str):
        return problem(400, "text must be a string")
    if choice is not None and (not isinstance(choice, str) or not 0 < len(choice) <= MAX_CHOICE):
        return problem(400, f"choice must be a button id of at most {MAX_CHOICE} characters")
    if event_id is not None and (not isinstance(event_id, str) or not EVENT_ID.match(event_id)):
        return problem(400, "id must be 1 to 128 letters, digits or . _ : -")
    return Inbound(CHANNEL, session, event_id or uuid.uuid4().hex, text=text, choice=choice)


def routes(pipeline: Pipeline, ip_limit: int, body_timeout: float = BODY_TIMEOUT) -> list[Route | Mount]:
    """The page, its static files and the messages API; a message's body must arrive within
    `body_timeout` seconds, and a handling that fails unexpectedly gets the crash fallback (503)."""
    limiter = ClientLimiter(ip_limit)

    async def page(_request: Request) -> Response:
        return FileResponse(STATIC / "chat.html", headers={"Content-Security-Policy": CSP})

    async def post_message(request: Request) -> Response:
        client = request.client.host if request.client else "-"
        if not limiter.allow(client):
            return JSONResponse(
                {"messages": [{"text": catalog().text("common.slow_down", "en"), "buttons": []}]},
                status_code=429,
                headers={"Retry-After": "60"},
            )
        data = await _read_json(request, body_timeout)
        if isinstance(data, JSONResponse):
            return data
        inbound = _inbound(data)
        if isinstance(inbound, JSONResponse):
            return inbound
        handled = await handle_or_fallback(pipeline, inbound)
        body = {"messages": [r.to_dict() for r in handled.replies]}
        return JSONResponse(body, status_code=200 if handled.saved else 503)

    async def get_messages(request: Request) -> Response:
        session = request.query_params.get("session", "")
        if not SESSION.match(session):
            return problem(400, "session must be 8 to 128 letters, digits, - or _")
        conversation = pipeline.pseudonyms.of(CHANNEL, session)
        notes = await pipeline.storage.outbox.take(CHANNEL, conversation)
        messages = [
            {"text": n.payload.get("text", ""), "buttons": n.payload.get("buttons", [])} for n in notes
        ]
        return JSONResponse({"messages": messages})

    return [
        Route("/chat", page),
        Route("/webchat/api/messages", post_message, methods=["POST"]),
        Route("/webchat/api/messages", get_messages, methods=["GET"]),
        Mount("/static/chat", StaticFiles(directory=STATIC), name="chat-static"),
    ]
