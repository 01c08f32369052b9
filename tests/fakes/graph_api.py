"""An in-process fake of the Graph API: the Send API (`/me/messages`) and the Messenger Profile API.

Reach it without sockets through `graph.transport` (an `httpx.ASGITransport`), or serve it for real on
127.0.0.1 with `with graph.serve() as url:` (uvicorn in a thread) and set RAABTA_GRAPH_API_URL to `url`.

Like the real API it checks the page token and the appsecret_proof (error 190 / 100), refuses message
shapes over Meta's limits (error 100), and answers `{"recipient_id", "message_id"}`. Tests script answers
for the next calls (`graph.script.append(SERVER_ERROR)`) or for a recipient (`graph.unavailable.add(psid)`);
every call that reached it is recorded in `graph.calls`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.http_server import serve

VERSION = "v21.0"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    delay: float = 0.0  # seconds to wait before answering (timeouts, over real HTTP)


def error(status: int, code: int, message: str, subcode: int | None = None) -> Answer:
    """An error in the Graph API's shape."""
    body: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbC123",
    }
    if subcode is not None:
        body["error_subcode"] = subcode
    return Answer(status, {"error": body})


SERVER_ERROR = error(500, 2, "An unexpected error has occurred. Please retry your request later.")
RATE_LIMITED = error(400, 613, "Calls to this api have exceeded the rate limit.")
USER_UNAVAILABLE = error(400, 551, "This person isn't available right now.", 1545041)
OUTSIDE_WINDOW = error(
    400,
    10,
    "(#10) This message is sent outside of allowed window. Learn more about the new policy here: "
    "https://developers.facebook.com/docs/messenger-platform/policy-overview",
    2018278,
)
NO_MATCHING_USER = error(400, 100, "(#100) No matching user found", 2018001)


def slow(seconds: float) -> Answer:
    """A success that arrives after `seconds` (beyond the client's timeout: a timeout)."""
    return Answer(200, {}, delay=seconds)


@dataclass
class Call:
    """One request the fake received."""

    path: str
    body: dict[str, Any]
    status: int = 200  # what the fake answered

    @property
    def recipient(self) -> str:
        return str(self.body["recipient"]["id"])

    @property
    def message(self) -> dict[str, Any]:
        message = self.body.get("message")
        return message if isinstance(message, dict) else {}

    @property
    def template(self) -> dict[str, Any] | None:
        attachment = self.message.get("attachment")
        return attachment["payload"] if isinstance(attachment, dict) else None

    @property
    def text(self) -> str:
        template = self.template
        return str(template["text"]) if template else str(self.message.get("text", ""))

    @property
    def buttons(self) -> list[dict[str, str]]:
        """Quick replies or template buttons, as sent."""
        template = self.template
        if template:
            return list(template["buttons"])
        return list(self.message.get("quick_replies", []))

    @property
    def payloads(self) -> list[str]:
        return [b["payload"] for b in self.buttons]

    @property
    def titles(self) -> list[str]:
        return [b["title"] for b in self.buttons]


@dataclass
class FakeGraphAPI:
    page_token: str
    app_secret: str
    calls: list[Call] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)  # answers for the next Send API calls, in order
    unavailable: set[str] = field(default_factory=set)  # PSIDs answered "user unavailable"
    outside_window: set[str] = field(default_factory=set)  # PSIDs whose 24-hour window has closed
    count: int = 0

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/{version}/me/messages", self._messages, methods=["POST"]),
                Route("/{version}/me/messenger_profile", self._profile, methods=["POST"]),
            ]
        )

    @property
    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    @property
    def base_url(self) -> str:
        """RAABTA_GRAPH_API_URL for the ASGI transport."""
        return f"http://graph.test/{VERSION}"

    def sent_to(self, psid: str) -> list[Call]:
        """The messages delivered to one recipient, in order."""
        return [c for c in self.calls if c.path == "messages" and c.recipient == psid and c.status == 200]

    def _auth_problem(self, request: Request) -> Answer | None:
        token = request.query_params.get("access_token")
        if token != self.page_token:
            return error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        proof = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if request.query_params.get("appsecret_proof") != proof:
            return error(400, 100, "Invalid appsecret_proof provided in the API argument")
        return None

    async def _messages(self, request: Request) -> JSONResponse:
        body = await request.json()
        call = Call("messages", body)
        self.calls.append(call)
        answer = self._auth_problem(request) or _shape_problem(body)
        if answer is None and self.script:
            answer = self.script.pop(0)
        if answer is None and call.recipient in self.unavailable:
            answer = USER_UNAVAILABLE
        if answer is None and call.recipient in self.outside_window:
            answer = OUTSIDE_WINDOW
        if answer is not None and answer.delay:
            await asyncio.sleep(answer.delay)
        if answer is not None and answer.status >= 300:
            call.status = answer.status
            return JSONResponse(answer.body, status_code=answer.status)
        self.count += 1
        return JSONResponse({"recipient_id": call.recipient, "message_id": f"m_sent_{self.count}"})

    async def _profile(self, request: Request) -> JSONResponse:
        body = await request.json()
        call = Call("messenger_profile", body)
        self.calls.append(call)
        answer = self._auth_problem(request)
        if answer is not None:
            call.status = answer.status
            return JSONResponse(answer.body, status_code=answer.status)
        return JSONResponse({"result": "success"})

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on a free port of 127.0.0.1 in a thread; yields the Graph API base URL."""
        with serve(self.app) as origin:
            yield f"{origin}/{VERSION}"


def _shape_problem(body: dict[str, Any]) -> Answer | None:
    """Meta's limits on a Send API body, as error 100 like the real API."""
    message = body.get("message")
    if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        return error(400, 100, "(#100) Param messaging_type must be one of RESPONSE, UPDATE, MESSAGE_TAG")
    if not isinstance(body.get("recipient"), dict) or not isinstance(message, dict):
        return error(400, 100, "(#100) The parameter recipient is required")
    text = message.get("text")
    if text is not None and not 0 < len(text) <= 2000:
        return error(400, 100, "(#100) Length of param message[text] must be less than or equal to 2000")
    if len(message.get("quick_replies", [])) > 13:
        return error(400, 100, "(#100) param message[quick_replies] must have at most 13 elements")
    attachment = message.get("attachment")
    if isinstance(attachment, dict) and attachment.get("type") == "template":
        payload = attachment["payload"]
        if len(payload["text"]) > 640 or not 1 <= len(payload["buttons"]) <= 3:
            return error(400, 100, "(#100) Invalid button template")
    elif text is None:
        return error(400, 100, "(#100) Must send either message text or an attachment")
    return None
