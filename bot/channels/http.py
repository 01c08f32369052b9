"""What every webhook and the web chat share at the HTTP door: one capped, time-limited body reader and
the two checks of who is calling (Meta's `X-Hub-Signature-256`, a secret header such as Telegram's).

A body is read at most `limit` bytes and for at most `time_limit` seconds: longer (declared or streamed) is
refused with 413 before the rest is read, slower with 408, a client that goes away with 400. A slow
client therefore cannot hold a request, and its memory, open for as long as it likes. Each channel turns
the refusal into its own answer shape (JSON for Telegram and the web chat, plain text for Meta).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

BODY_TIMEOUT = 10.0  # seconds for the whole body: webhooks send theirs at once, a citizen's text is small


@dataclass(frozen=True, slots=True)
class Unread:
    """Why a body was not read: the HTTP status to answer and a plain-language reason."""

    status: int  # 413 too large, 408 too slow, 400 the client went away
    reason: str


async def read_body(request: Request, limit: int, time_limit: float = BODY_TIMEOUT) -> bytes | Unread:
    """The raw body, or why not: longer than `limit` bytes (as declared or as streamed), or not arrived
    in full within `time_limit` seconds."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
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


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` (`X-Hub-Signature-256`) is "sha256=" + the lowercase hex HMAC-SHA256 of the raw
    `body` keyed with `secret`, compared in constant time. A missing or empty secret matches nothing."""
    if not header or not secret:
        return False
    expected = b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header.strip().encode("latin-1", "replace"))


def secret_ok(expected: str | bytes | None, given: str | bytes | None) -> bool:
    """Whether a shared secret sent in a header or query (`given`) equals ours, compared in constant time.
    No secret of ours (None or empty) matches nothing."""
    if not expected or given is None:
        return False
    want = expected.encode() if isinstance(expected, str) else expected
    got = given.encode("utf-8", "replace") if isinstance(given, str) else given
    return hmac.compare_digest(want, got)
