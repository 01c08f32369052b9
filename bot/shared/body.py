"""One capped, time-limited body reader for every route: web chat, webhooks, the API and the console.

A body is read as it streams in, at most `limit` bytes and for at most `time_limit` seconds: longer
(declared in Content-Length or streamed, chunked or not) is refused with 413 as soon as it passes the
limit, before the rest is read; slower with 408; a client that goes away with 400. Nothing is buffered
beyond `limit`, so neither a huge nor a slow body can hold a request, and its memory, for as long as the
sender likes. Each caller turns the refusal into its own answer shape (problem details for the API, an
HTML page for the console, JSON for Telegram and the web chat, plain text for Meta).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

BODY_TIMEOUT = 10.0  # seconds for the whole body: webhooks send theirs at once, forms and notes are small


@dataclass(frozen=True, slots=True)
class Unread:
    """Why a body was not read: the HTTP status to answer and a plain-language reason."""

    status: int  # 413 too large, 408 too slow, 400 the client went away
    reason: str


async def read_body(request: Request, limit: int, time_limit: float = BODY_TIMEOUT) -> bytes | Unread:
    """The raw body, or why not: longer than `limit` bytes (as declared or as streamed), or not arrived
    in full within `time_limit` seconds."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return Unread(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(time_limit):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return Unread(413, f"body larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        return Unread(408, f"the body did not arrive within {time_limit:g} seconds")
    except ClientDisconnect:
        return Unread(400, "the client went away before the body arrived")
    return b"".join(chunks)


def body_json(body: bytes) -> Any:
    """The JSON value of a body read above. ValueError when it is not JSON in UTF-8 (bad bytes, bad JSON,
    nesting deeper than 1,024, an integer beyond 64 bits). orjson: the web chat and the webhooks parse
    a body per message, and it does so several times faster than the standard library."""
    return orjson.loads(body)
