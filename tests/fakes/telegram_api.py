"""An in-process fake of the Telegram Bot API: a real HTTP server the real python-telegram-bot talks to.

It speaks the wire format (`POST /bot<token>/<method>` with form or JSON fields, answers in the
`{"ok": ..., "result": ...}` envelope), records every call, feeds pushed updates to `getUpdates` (long
polling honours `offset` and `timeout`), serves files under `/file/bot<token>/<path>`, and can be
scripted to fail: `fail("sendMessage", 429, retry_after=1)`, `fail(..., 500)`, `block(chat_id)`.

Usage:
    async with FakeBotAPI() as api:
        settings = load_settings(telegram_token=api.token, telegram_api_url=api.base_url, ...)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.channels.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from tests.fakes.http_server import PromptServer

TOKEN = "123456:TEST-token"
BOT_ID = 222222222
RAW_FIELDS = frozenset(
    {"text", "caption", "url", "secret_token", "callback_query_id", "file_id", "language_code", "description"}
)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    result: Any = None

    @property
    def buttons(self) -> list[str]:
        """Callback data (or URLs) of the inline keyboard this call carried."""
        markup = self.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        return [b.get("callback_data") or b.get("url", "") for row in rows for b in row]


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


class _QuietServer(PromptServer):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test runner keeps its own signal handlers


def _decode(fields: dict[str, str]) -> dict[str, Any]:
    """Form fields as the library sends them: strings raw, other values JSON-encoded."""
    params: dict[str, Any] = {}
    for key, value in fields.items():
        if key in RAW_FIELDS:
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


class FakeBotAPI:
    """The fake server and its scriptable state."""

    def __init__(self, token: str = TOKEN, username: str = "raabta_test_bot") -> None:
        self.token = token
        self.me = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Raabta",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.offset = 0  # updates below it were confirmed by the client
        self.blocked: set[int] = set()
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.downloads: list[str] = []  # the paths asked for under /file/bot<token>/, in order
        self.webhook: dict[str, Any] | None = None
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._arrived = asyncio.Event()
        self._holds: dict[int, asyncio.Event] = {}
        self._message_id = 1000
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    # scripting -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def push(self, update: dict[str, Any]) -> None:
        """Make an update available to getUpdates."""
        self.updates.append(update)
        self._arrived.set()

    def fail(
        self, method: str, status: int, description: str = "", retry_after: int | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` with an error."""
        text = description or {
            429: f"Too Many Requests: retry after {retry_after}",
            500: "Internal Server Error",
            403: "Forbidden: bot was blocked by the user",
            400: "Bad Request: chat not found",
        }.get(status, "Error")
        for _ in range(times):
            self._failures[method].append(Failure(status, text, retry_after))

    def hold(self, chat_id: int) -> asyncio.Event:
        """Keep messages to `chat_id` waiting until the returned event is set."""
        self._holds[chat_id] = asyncio.Event()
        return self._holds[chat_id]

    def block(self, chat_id: int) -> None:
        """From now on, messages to `chat_id` fail as if the citizen blocked the bot."""
        self.blocked.add(chat_id)

    def add_file(self, file_id: str, content: bytes, path: str = "photos/file_0.jpg") -> None:
        self.files[file_id] = (path, content)

    def called(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        return self.called("sendMessage", chat_id)

    async def wait_for(self, condition: Callable[[], object], patience: float = 15.0) -> None:
        """Wait until `condition()` is true (a condition, never a duration, decides the test)."""
        deadline = time.monotonic() + patience
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("the fake Bot API did not see the expected calls in time")
            await asyncio.sleep(0.01)

    async def wait_fetched(self, update_id: int) -> None:
        """Wait until the client confirmed `update_id` (asked for updates after it)."""
        await self.wait_for(lambda: self.offset > update_id)

    # server --------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeBotAPI:
        # IPPROTO_TCP spelled out: asyncio turns Nagle off only for sockets that say so (else replies
        # written in two parts wait ~40 ms for a delayed ACK).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), lifespan="off", log_level="warning", access_log=False)
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        self._arrived.set()
        await self._task

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )

    async def _params(self, request: Request) -> dict[str, Any]:
        body = (await request.body()).decode()
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json") and body:
            data = json.loads(body)
            return data if isinstance(data, dict) else {}
        fields = dict(parse_qsl(body, keep_blank_values=True))
        fields.update(request.query_params)
        return _decode(fields)

    async def _method(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return self._error(Failure(401, "Unauthorized"))
        method = request.path_params["method"]
        params = await self._params(request)
        call = Call(method, params)
        self.calls.append(call)
        if self._failures[method]:
            return self._error(self._failures[method].popleft())
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(Failure(404, "Not Found: method not found"))
        result = await handler(params)
        if isinstance(result, Failure):
            return self._error(result)
        call.result = result
        return JSONResponse({"ok": True, "result": result})

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        self.downloads.append(request.path_params["path"])
        for path, content in self.files.values():
            if path == request.path_params["path"]:
                return Response(content, media_type="application/octet-stream")
        return Response(status_code=404)

    @staticmethod
    def _error(failure: Failure) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
        if failure.retry_after is not None:
            body["parameters"] = {"retry_after": failure.retry_after}
        return JSONResponse(body, status_code=failure.status)

    # methods -------------------------------------------------------------------------------------

    async def _m_getMe(self, _params: dict[str, Any]) -> Any:
        return self.me

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        if offset:
            self.offset = max(self.offset, offset)
        if self.webhook and self.webhook.get("url"):
            return Failure(409, "Conflict: can't use getUpdates method while webhook is active")
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            ready = [u for u in self.updates if u["update_id"] >= self.offset]
            if ready or time.monotonic() >= deadline or (self._server and self._server.should_exit):
                return ready[: int(params.get("limit") or 100)]
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), max(0.0, deadline - time.monotonic()))

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _m_deleteWebhook(self, _params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _m_setMyCommands(self, _params: dict[str, Any]) -> Any:
        return True

    async def _m_answerCallbackQuery(self, _params: dict[str, Any]) -> Any:
        return True

    def _message(self, params: dict[str, Any], message_id: int | None = None) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        if message_id is None:
            self._message_id += 1
            message_id = self._message_id
        chat: dict[str, Any] = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        chat.update({"first_name": "Citizen"} if chat_id > 0 else {"title": "Group"})
        message = {
            "message_id": message_id,
            "from": {k: self.me[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": chat,
            "date": int(time.time()),
            "text": params.get("text", ""),
        }
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        if int(params["chat_id"]) in self._holds:
            await self._holds[int(params["chat_id"])].wait()
        if int(params["chat_id"]) in self.blocked:
            return Failure(403, "Forbidden: bot was blocked by the user")
        if not str(params.get("text", "")).strip():
            return Failure(400, "Bad Request: message text is empty")
        return self._message(params)

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        return self._message(params, int(params["message_id"]))

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        return self._message(params, int(params["message_id"]))

    async def _m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            return Failure(400, "Bad Request: invalid file_id")
        path, content = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": "u" + file_id[-8:],
            "file_size": len(content),
            "file_path": path,
        }


# a citizen ---------------------------------------------------------------------------------------

FIXTURES = Path(__file__).parent.parent / "fixtures" / "telegram"
FIXTURE_USER = 111111111
Deliver = Callable[[dict[str, Any]], Awaitable[None]]


def load_fixture(name: str) -> dict[str, Any]:
    """An update as the Bot API sends it, from tests/fixtures/telegram/<name>.json."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _rechat(value: Any, chat_id: int) -> Any:
    if isinstance(value, dict):
        return {k: (chat_id if v == FIXTURE_USER else _rechat(v, chat_id)) for k, v in value.items()}
    if isinstance(value, list):
        return [_rechat(v, chat_id) for v in value]
    return value


class Citizen:
    """A Telegram user in a private chat with the bot: sends real-shaped updates, reads what came back."""

    _update_ids = itertools.count(700_000_000)
    _message_ids = itertools.count(100)

    def __init__(
        self, api: FakeBotAPI, deliver: Deliver, chat_id: int = FIXTURE_USER, language_code: str = "en"
    ):
        self.api = api
        self.deliver = deliver
        self.chat_id = chat_id
        self.user = {"id": chat_id, "is_bot": False, "first_name": "Ali", "language_code": language_code}
        self.last: list[Call] = []

    def update(self, **payload: Any) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), **payload}

    def message(self, **fields: Any) -> dict[str, Any]:
        chat = {"id": self.chat_id, "first_name": "Ali", "type": "private"}
        return {
            "message_id": next(self._message_ids),
            "from": self.user,
            "chat": chat,
            "date": int(time.time()),
            **fields,
        }

    async def send(self, update: dict[str, Any]) -> list[Call]:
        """Deliver one update; what the bot sent to this chat while handling it."""
        before = len(self.api.sent(self.chat_id))
        await self.deliver(update)
        self.last = self.api.sent(self.chat_id)[before:]
        return self.last

    async def say(self, text: str) -> list[Call]:
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            fields["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
        return await self.send(self.update(message=self.message(**fields)))

    def fixture(self, name: str) -> dict[str, Any]:
        """A fixture update moved into this chat, with a fresh update id."""
        data: dict[str, Any] = _rechat(load_fixture(name), self.chat_id)
        data["update_id"] = next(self._update_ids)
        return data

    async def send_fixture(self, name: str) -> list[Call]:
        return await self.send(self.fixture(name))

    def press_update(self, button_id: str, data: str | None = None) -> dict[str, Any]:
        """A callback query for the latest message that carried `button_id`."""
        for call in reversed(self.api.sent(self.chat_id)):
            if button_id in call.buttons:
                message = call.result
                break
        else:
            raise AssertionError(f"no message offered {button_id!r}")
        query = {
            "id": str(next(self._update_ids)),
            "from": self.user,
            "message": message,
            "chat_instance": "-5476321098765432101",
            "data": data if data is not None else button_id,
        }
        return self.update(callback_query=query)

    async def press(self, button_id: str) -> list[Call]:
        return await self.send(self.press_update(button_id))

    @property
    def said(self) -> str:
        return "\n".join(str(c.params.get("text", "")) for c in self.last)

    @property
    def buttons(self) -> list[str]:
        return [b for c in self.last for b in c.buttons]


@contextlib.asynccontextmanager
async def serving(channel: TelegramChannel, api: FakeBotAPI) -> AsyncIterator[Deliver]:
    """Start the channel; yield a function that delivers one update the way its mode receives them.

    Webhook mode: a POST to the channel's route (with the secret), polling mode: an update that the fake
    hands to getUpdates. Either way it returns once the update has been handled.
    """
    await channel.start()
    try:
        if channel.webhook_url:
            app = Starlette(routes=channel.channel_setup().routes)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://raabta") as http:

                async def post(update: dict[str, Any]) -> None:
                    headers = {SECRET_HEADER: channel.secret or ""}
                    response = await http.post(WEBHOOK_PATH, json=update, headers=headers)
                    assert response.status_code == 200, response.text
                    await channel.drain()

                yield post
        else:

            async def poll(update: dict[str, Any]) -> None:
                api.push(update)
                await api.wait_fetched(update["update_id"])
                await channel.drain()

            yield poll
    finally:
        await channel.stop()
