"""One capped, time-limited body reader for every route: web chat, webhooks, the API and the console.

A body is read as it streams in, at most `limit` bytes and for at most `time_limit` seconds: longer
(declared in Content-Length or streamed, chunked or not) is refused with 413 as soon as it passes the
limit, before the rest is read; slower with 408; a client that goes away with 400. Nothing is buffered
beyond `limit`, so neither a huge nor a slow body can hold a request, and its memory, for as long as the
sender likes. Each caller turns the refusal into its own answer shape (problem details for the API, an
HTML page for the console, JSON for Telegram and the web chat, plain text for Meta).

The timer starts at the first wait for the client. A web chat message or a webhook's update nearly always
arrives with its headers, and the server hands over such a body without waiting: it is read with no timer
at all. Arming `asyncio.timeout` and cancelling it again cost 3.5 to 5 microseconds a request on uvloop,
the async generator of `Request.stream` one more: reading a web chat message's body took 7.8 microseconds,
now 1.3 (issue 23, where it was 4% of the event loop's samples a message). A body that must be waited
for is read under `asyncio.timeout(time_limit)` from that first wait on; what was read before it took no
waiting, so no sender can stretch it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

BODY_TIMEOUT = 10.0  # seconds for the whole body: webhooks send theirs at once, forms and notes are small


@dataclass(frozen=True, slots=True)
class Unread:
    """Why a body was not read: the HTTP status to answer and a plain-language reason."""

    status: int  # 413 too large, 408 too slow, 400 the client went away
    reason: str


async def read_body(request: Request, limit: int, time_limit: float = BODY_TIMEOUT) -> bytes | Unread:
    """The raw body, or why not: longer than `limit` bytes (as declared or as streamed), or not arrived
    in full within `time_limit` seconds of the first wait for it. The body is read from the ASGI
    `receive` itself (not `request.stream()`), once: it is not kept on the request."""
    for name, declared in request.scope["headers"]:  # not request.headers: a copy of them all, to read one
        if name == b"content-length":  # ASGI's header names are lowercase
            if declared.isdigit() and int(declared) > limit:  # bytes: ASCII digits only
                return Unread(413, f"body larger than {limit} bytes")
            break
    reading = _read(request.receive, limit)
    try:
        try:
            waiting = reading.send(None)  # up to the first wait for the client, if there is one
        except StopIteration as done:  # all of it had arrived: no timer armed
            body: bytes | Unread = done.value
            return body
        async with asyncio.timeout(time_limit):
            return await _Resumed(reading, waiting)
    except TimeoutError:
        return Unread(408, f"the body did not arrive within {time_limit:g} seconds")
    except ClientDisconnect:
        return Unread(400, "the client went away before the body arrived")


async def _read(receive: Receive, limit: int) -> bytes | Unread:
    """The body's ASGI messages, joined; 413 as soon as they pass `limit`; ClientDisconnect if the client
    went away (as `Request.stream` reads them)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            continue  # no other kind is sent for a request; Starlette passes over any
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return Unread(413, f"body larger than {limit} bytes")
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _Resumed:
    """Awaiting it carries on a coroutine stopped at its first wait (`waiting`: what it yielded to the
    event loop there), as `await` would have: the task waits on what it yields, sends its results in and
    throws its exceptions (a cancellation, the time limit's) into it."""

    __slots__ = ("_coroutine", "_waiting")

    def __init__(self, coroutine: Coroutine[Any, Any, bytes | Unread], waiting: Any) -> None:
        self._coroutine = coroutine
        self._waiting = waiting

    def __await__(self) -> Generator[Any, Any, bytes | Unread]:
        coroutine, waiting = self._coroutine, self._waiting
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as error:  # every exception goes on into the coroutine
                try:
                    waiting = coroutine.throw(error)
                except StopIteration as done:
                    result: bytes | Unread = done.value
                    return result
            else:
                try:
                    waiting = coroutine.send(sent)
                except StopIteration as done:
                    result = done.value
                    return result


def body_json(body: bytes) -> Any:
    """The JSON value of a body read above. ValueError when it is not JSON in UTF-8 (bad bytes, bad JSON,
    nesting deeper than 1,024, an integer beyond 64 bits). orjson: the web chat and the webhooks parse
    a body per message, and it does so several times faster than the standard library."""
    return orjson.loads(body)
