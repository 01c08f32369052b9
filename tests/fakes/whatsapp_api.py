"""An in-process fake of the WhatsApp Cloud API, served over real HTTP on 127.0.0.1 (uvicorn in a thread).

- `POST /{version}/{phone-number-id}/messages`: checks the bearer token (error 190) and the number (100),
  refuses shapes over WhatsApp's limits (error 100: text over 4,096, more than 3 reply buttons or titles
  over 20, list rows over 10, row titles over 24, descriptions over 72, a list button over 20, a body over
  1,024, duplicate ids), and answers `{"messaging_product", "contacts", "messages": [{"id": "wamid..."}]}`;
- `GET /{version}/{media-id}`: the media object (`url` on this server's media path, `mime_type`, `sha256`,
  `file_size`), bearer token required;
- `GET /media/<id>`: the bytes, bearer token required (Meta's media host stands in for it);
- `GET /{version}/{phone-number-id}`: the number's details (for `raabta whatsapp check`).
Tests script answers for the next sends (`api.script.append(...)`); every send is in `api.calls`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.http_server import serve

VERSION = "v21.0"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def error(status: int, code: int, message: str) -> Answer:
    return Answer(
        status, {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Ax"}}
    )


SERVER_ERROR = error(500, 131000, "Something went wrong")
RATE_LIMITED = error(400, 130429, "Rate limit hit")
UNDELIVERABLE = error(400, 131026, "Message undeliverable")
REENGAGEMENT = error(400, 131047, "Re-engagement message")


@dataclass
class Sent:
    body: dict[str, Any]
    status: int = 200
    wamid: str = ""

    @property
    def to(self) -> str:
        return str(self.body.get("to"))

    @property
    def kind(self) -> str:
        return str(self.body.get("type"))

    @property
    def interactive(self) -> dict[str, Any]:
        value = self.body.get("interactive")
        return value if isinstance(value, dict) else {}

    @property
    def text(self) -> str:
        if self.kind == "text":
            return str(self.body["text"]["body"])
        if self.kind == "interactive":
            return str(self.interactive["body"]["text"])
        return ""

    @property
    def choices(self) -> list[dict[str, str]]:
        """Reply buttons or list rows: [{"id", "title", ("description")}]."""
        action = self.interactive.get("action", {})
        if self.interactive.get("type") == "button":
            return [b["reply"] for b in action["buttons"]]
        if self.interactive.get("type") == "list":
            return [row for section in action["sections"] for row in section["rows"]]
        return []

    @property
    def ids(self) -> list[str]:
        return [c["id"] for c in self.choices]


@dataclass
class FakeCloudAPI:
    token: str
    phone_number_id: str
    calls: list[Sent] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # id -> (bytes, mime type)
    media_requests: list[str] = field(default_factory=list)
    base: str = ""  # http://127.0.0.1:<port>, once served
    count: int = 0

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/media/{media_id}", self._media_bytes, methods=["GET"]),
                Route("/{version}/{number}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{object_id}", self._object, methods=["GET"]),
            ]
        )

    def add_media(self, media_id: str, data: bytes, mime: str = "image/jpeg") -> str:
        """Offer a file; its sha256 as Meta sends it in the webhook (base64)."""
        self.media[media_id] = (data, mime)
        return base64.b64encode(hashlib.sha256(data).digest()).decode()

    def sent_to(self, wa_id: str) -> list[Sent]:
        return [c for c in self.calls if c.to == wa_id and c.status == 200]

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    async def _messages(self, request: Request) -> JSONResponse:
        body = await request.json()
        call = Sent(body)
        self.calls.append(call)
        answer: Answer | None = None
        if not self._authorised(request):
            answer = error(401, 190, "Invalid OAuth access token")
        elif request.path_params["number"] != self.phone_number_id:
            answer = error(400, 100, "Unsupported post request")
        else:
            answer = shape_problem(body)
        if answer is None and self.script:
            answer = self.script.pop(0)
        if answer is not None and answer.status >= 300:
            call.status = answer.status
            return JSONResponse(answer.body, status_code=answer.status)
        self.count += 1
        call.wamid = f"wamid.FAKE{self.count:06d}"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                "messages": [{"id": call.wamid}],
            }
        )

    async def _object(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse(error(401, 190, "Invalid OAuth access token").body, status_code=401)
        object_id = request.path_params["object_id"]
        if object_id == self.phone_number_id:
            return JSONResponse(
                {
                    "display_phone_number": "15550783881",
                    "verified_name": "Raabta Test",
                    "quality_rating": "GREEN",
                    "id": object_id,
                }
            )
        if object_id not in self.media:
            return JSONResponse(error(404, 100, "Unsupported get request").body, status_code=404)
        data, mime = self.media[object_id]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.base}/media/{object_id}?hash=x",
                "mime_type": mime,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": len(data),
                "id": object_id,
            }
        )

    async def _media_bytes(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        self.media_requests.append(media_id)
        if not self._authorised(request):
            return Response(status_code=401)
        if media_id not in self.media:
            return Response(status_code=404)
        data, mime = self.media[media_id]
        return Response(data, media_type=mime)

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on a free port of 127.0.0.1; yields the Graph API base URL (RAABTA_GRAPH_API_URL)."""
        with serve(self.app) as origin:
            self.base = origin
            yield f"{origin}/{VERSION}"


def shape_problem(body: dict[str, Any]) -> Answer | None:
    """WhatsApp's limits on a message, as error 100 like the real API."""
    bad = None
    if body.get("messaging_product") != "whatsapp" or not body.get("to"):
        bad = "messaging_product and to are required"
    kind = body.get("type")
    if kind == "text":
        text = body.get("text", {}).get("body", "")
        if not 0 < len(text) <= 4096:
            bad = "text body must be 1 to 4096 characters"
    elif kind == "interactive":
        bad = _interactive_problem(body.get("interactive", {}))
    elif kind == "template":
        template = body.get("template", {})
        if not template.get("name") or not template.get("language", {}).get("code"):
            bad = "template name and language required"
    else:
        bad = f"unsupported type {kind}"
    return error(400, 100, f"(#100) Invalid parameter: {bad}") if bad else None


def _interactive_problem(interactive: dict[str, Any]) -> str | None:
    body = interactive.get("body", {}).get("text", "")
    if not 0 < len(body) <= 1024:
        return "interactive body must be 1 to 1024 characters"
    action = interactive.get("action", {})
    if interactive.get("type") == "button":
        buttons = action.get("buttons", [])
        titles = [b["reply"]["title"] for b in buttons]
        ids = [b["reply"]["id"] for b in buttons]
        if not 1 <= len(buttons) <= 3 or any(not 0 < len(t) <= 20 for t in titles):
            return "1 to 3 buttons, titles of at most 20 characters"
        if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
            return "button ids and titles must be unique"
        return None
    if interactive.get("type") == "list":
        rows = [r for s in action.get("sections", []) for r in s.get("rows", [])]
        if not 0 < len(action.get("button", "")) <= 20:
            return "list button must be 1 to 20 characters"
        if not 1 <= len(rows) <= 10:
            return "a list holds 1 to 10 rows"
        if any(not 0 < len(r["title"]) <= 24 or len(r.get("description", "")) > 72 for r in rows):
            return "row titles at most 24, descriptions at most 72 characters"
        if len({r["id"] for r in rows}) != len(rows):
            return "row ids must be unique"
        return None
    return "interactive type must be button or list"
