"""The web chat: a page at /chat and a small JSON API (DESIGN: POST/GET /webchat/api/messages, GET
/webchat/api/history).

Every message in the API is `{"text", "lang", "kind", "buttons": [{"id", "label"}]}`, with `calls` (numbers
to dial: `tel:` links) on emergency and crisis answers. The page follows the conversation's language: its
own words come from responses/webchat.yaml, written into the page in all three languages.

A link to a card, `/chat?card=<id>` (bot/shared/library.py), opens the page on that card: the page sends
`/card <id> <browser language>`, which the Learn flow answers, as the session's first message or after
restoring a known one; an id that names no card gets the ordinary welcome.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from bot.channels.fallback import handle_or_fallback, language_of
from bot.channels.http import BODY_TIMEOUT, JSONBody, Unread, body_json, read_body
from bot.dialogue import Inbound, Reply, State
from bot.limits import NewSessions
from bot.pipeline import Handled, Pipeline
from bot.shared import transcript
from responses import LANGUAGES, Catalog

CHANNEL = "webchat"
STATIC = Path(__file__).parent / "static"
MAX_BODY = 256 * 1024
SESSION = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
MAX_CHOICE = 64
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; font-src 'self'"
)
# chat.html's one inline script (it starts the first request while chat.js loads) is allowed by its hash,
# nothing else inline.
_EARLY = re.search(r"<script>(.*?)</script>", (STATIC / "chat.html").read_text(encoding="utf-8"), re.S)
_EARLY_HASH = base64.b64encode(hashlib.sha256(_EARLY.group(1).encode() if _EARLY else b"").digest()).decode()
PAGE_CSP = CSP.replace("script-src 'self'", f"script-src 'self' 'sha256-{_EARLY_HASH}'")
RTL = frozenset({"ur"})
# The page's own words (responses/webchat.yaml), written into the page in every language.
PAGE_TEXTS = (
    "title",
    "tagline",
    "conversation",
    "message_label",
    "placeholder",
    "send",
    "attach",
    "sending_file",
    "composer",
    "safety",
    "quick_exit",
    "quick_exit_note",
    "clear",
    "clear_note",
    "connection",
)
FONTS_CACHE = "public, max-age=31536000, immutable"  # the font's name changes with its content
# Whether a conversation is stored (its session is not new); None while the database is unreachable. The
# app passes one in (bot/app.py), so that the channel never imports storage.
Stored = Callable[[str], Awaitable[bool | None]]


def problem(status: int, detail: str) -> JSONResponse:
    """An error the web chat page can show: JSON with a plain-language detail."""
    return JSONBody({"error": detail}, status_code=status)


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

    @staticmethod
    def retry_after() -> int:
        """Whole seconds until the next window opens (at least 1)."""
        return max(1, math.ceil(60 - time.monotonic() % 60))


class ChatStatic(StaticFiles):
    """The page's files: the font is cached for a year (a new font gets a new name); the rest is
    revalidated on every load, so a fixed script reaches phones at once."""

    def file_response(
        self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        fonts = str(full_path).endswith(".woff2")
        response.headers["Cache-Control"] = FONTS_CACHE if fonts else "no-cache"
        return response


def message(reply: Reply) -> dict[str, Any]:
    """One reply as the API shows it: text, lang, kind, buttons (a language's own button carries its
    lang, so a screen reader says "اردو" in Urdu), and calls when there are numbers to dial."""
    data = reply.to_dict()
    data["kind"] = reply.kind_or_derived
    data["lang"] = reply.lang if reply.lang in LANGUAGES else "en"
    for button in data["buttons"]:
        named = button["id"][5:] if button["id"].startswith("lang:") else ""
        if named in LANGUAGES:
            button["lang"] = named
    return data


def stored_message(data: object, wrote: str = "") -> dict[str, Any] | None:
    """A message of the conversation's transcript (bot.shared.transcript), as the API shows it. What the
    citizen wrote was not kept: `wrote` says so in the conversation's language (`kept` false: the page
    shows it muted), in the place where they wrote it."""
    if isinstance(data, dict) and data.get("kind") == "citizen" and data.get("kept") is False:
        return {"text": wrote, "lang": "", "kind": "citizen", "kept": False, "buttons": []} if wrote else None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return None
    if data.get("kind") == "citizen":  # a button the citizen pressed, by its label
        return {"text": data["text"], "lang": "", "kind": "citizen", "buttons": []}
    return message(Reply.from_dict(data))


def page_texts(texts: Catalog) -> dict[str, dict[str, str]]:
    """The page's words in every language, with each language's direction."""
    return {
        lang: {
            "dir": "rtl" if lang in RTL else "ltr",
            **{k: texts.text(f"webchat.{k}", lang) for k in PAGE_TEXTS},
        }
        for lang in LANGUAGES
    }


def render_page(texts: Catalog) -> str:
    """chat.html with its words in English (the page switches language as soon as the conversation
    has one) and every language's words for the script."""
    words = page_texts(texts)
    page = (STATIC / "chat.html").read_text(encoding="utf-8")
    for key, value in words["en"].items():
        page = page.replace("{{" + key + "}}", html.escape(value))
    embedded = json.dumps(words, ensure_ascii=False).replace("<", "\\u003c").replace("&", "\\u0026")
    return page.replace("{{texts}}", embedded)


async def _read_json(request: Request, time_limit: float) -> dict[str, Any] | JSONResponse:
    body = await read_body(request, MAX_BODY, time_limit)
    if isinstance(body, Unread):
        return problem(body.status, body.reason)
    try:
        data = body_json(body)
    except ValueError:  # not UTF-8, not JSON, nested too deep, an integer beyond 64 bits
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


def routes(
    pipeline: Pipeline,
    ip_limit: int,
    body_timeout: float = BODY_TIMEOUT,
    new_sessions_per_hour: int = 0,
    stored: Stored | None = None,
) -> list[Route | Mount]:
    """The page, its static files and the messages API; a message's body must arrive within
    `body_timeout` seconds, and a handling that fails unexpectedly gets the crash fallback (503).
    A refusal (a flood, from the session or from the address) is 429 with Retry-After, in the
    conversation's language; a blocked session gets 403 with its explanation. With `stored`, an address
    may start `new_sessions_per_hour` new sessions (session ids with no stored conversation) an hour:
    the next one is 429 with Retry-After and stores nothing, since every new session would store a
    conversation (a script can invent session ids without end)."""
    limiter = ClientLimiter(ip_limit)
    sessions = NewSessions(new_sessions_per_hour if stored is not None else 0)
    page_html = render_page(pipeline.texts)
    page_headers = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}

    async def page(_request: Request) -> Response:
        return HTMLResponse(page_html, headers=page_headers)

    async def favicon(_request: Request) -> Response:
        return FileResponse(
            STATIC / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    def answer(handled: Handled) -> Response:
        body = {"messages": [message(r) for r in handled.replies]}
        if handled.refused and handled.retry_after is not None:
            return JSONBody(body, status_code=429, headers={"Retry-After": str(handled.retry_after)})
        if handled.refused:
            return JSONBody(body, status_code=403)
        return JSONBody(body, status_code=200 if handled.saved else 503)

    async def post_message(request: Request) -> Response:
        peer = request.scope.get("client")  # not request.client: a named tuple made at every call
        client = peer[0] if peer else "-"
        allowed = limiter.allow(client)
        data = await _read_json(request, body_timeout)
        if isinstance(data, JSONResponse):
            return data
        inbound = _inbound(data)
        if isinstance(inbound, JSONResponse):
            return inbound
        if not allowed:
            conversation = pipeline.pseudonyms.of(CHANNEL, inbound.user)
            lang = await pipeline.language(conversation, inbound)
            slow = Reply(pipeline.texts.text("common.slow_down", lang), kind="notice", lang=lang)
            return answer(Handled([slow], saved=False, refused=True, retry_after=limiter.retry_after()))
        if not sessions.known(inbound.user) and stored is not None:
            found = await stored(pipeline.pseudonyms.of(CHANNEL, inbound.user))
            # None: the database is unreachable (the pipeline answers that, nothing is counted); known by
            # now: another message of the session was let through meanwhile
            new = found is False and not sessions.known(inbound.user)
            if found:
                sessions.existing(inbound.user)
            elif new and not sessions.admit(client, inbound.user):
                return answer(refuse_new_session(inbound, sessions.retry_after(client)))
        return answer(await handle_or_fallback(pipeline, inbound))

    def refuse_new_session(inbound: Inbound, retry_after: int) -> Handled:
        """Too many new sessions from this address: nothing is stored. Someone speaking of harming
        themselves still gets the crisis answer (the numbers to call), as a flood never refuses them."""
        calling = pipeline.calling_answer(inbound.text or "")
        if calling is not None:
            return calling
        lang = language_of(inbound)
        busy = Reply(pipeline.texts.text("common.new_chats", lang), kind="notice", lang=lang)
        return Handled([busy], saved=False, refused=True, retry_after=retry_after)

    def session_of(request: Request) -> str | JSONResponse:
        session = request.query_params.get("session", "")
        if not SESSION.match(session):
            return problem(400, "session must be 8 to 128 letters, digits, - or _")
        return session

    async def get_messages(request: Request) -> Response:
        session = session_of(request)
        if isinstance(session, JSONResponse):
            return session
        conversation = pipeline.pseudonyms.of(CHANNEL, session)
        notes = await pipeline.storage.outbox.take(CHANNEL, conversation)
        if not notes:
            return JSONBody({"messages": []})
        lang = await pipeline.language(conversation, Inbound(CHANNEL, session, "-"))
        messages = [
            message(
                Reply.from_dict({"kind": "notification", **n.payload, "lang": n.payload.get("lang") or lang})
            )
            for n in notes
        ]
        return JSONBody({"messages": messages})

    async def history(request: Request) -> Response:
        """The conversation's recent messages (its transcript, deleted with its state) and the
        buttons on offer now, so a reloaded page shows the chat where it was."""
        session = session_of(request)
        if isinstance(session, JSONResponse):
            return session
        conversation = pipeline.pseudonyms.of(CHANNEL, session)
        stored = await pipeline.storage.load_conversation(conversation)
        state = State.from_dict(stored.state)
        lang = state.lang if state.lang in LANGUAGES else None
        wrote = pipeline.texts.text("webchat.not_kept", lang or "en")
        found = [
            stored_message(m, wrote)
            for m in transcript.messages(await pipeline.storage.transcript(conversation))
        ]
        messages = [m for m in found if m is not None]
        last = next((m for m in reversed(messages) if m["kind"] != "citizen"), None)
        offered = last["buttons"] if last and [b["id"] for b in last["buttons"]] == state.offered else []
        return JSONBody(
            {"lang": lang, "messages": messages, "buttons": offered}, headers={"Cache-Control": "no-store"}
        )

    return [  # the route of every message first (bot/app.py: Starlette tries routes in order)
        Route("/webchat/api/messages", post_message, methods=["POST"]),
        Route("/chat", page),
        Route("/favicon.ico", favicon),
        Route("/webchat/api/messages", get_messages, methods=["GET"]),
        Route("/webchat/api/history", history, methods=["GET"]),
        Mount("/static/chat", ChatStatic(directory=STATIC), name="chat-static"),
    ]
