"""What every webhook and the web chat share at the HTTP door: the capped, time-limited body reader
(`bot.shared.body`, which the API and the console use too) and the two checks of who is calling (Meta's
`X-Hub-Signature-256`, a secret header such as Telegram's).

A body is read at most `limit` bytes and for at most `time_limit` seconds: longer (declared or streamed) is
refused with 413 before the rest is read, slower with 408, a client that goes away with 400. A slow
client therefore cannot hold a request, and its memory, open for as long as it likes. Each channel turns
the refusal into its own answer shape (JSON for Telegram and the web chat, plain text for Meta).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

from bot.shared.body import BODY_TIMEOUT, Unread, body_json, read_body

__all__ = ["BODY_TIMEOUT", "JSONBody", "Unread", "body_json", "read_body", "secret_ok", "signature_ok"]


class JSONBody(JSONResponse):
    """Starlette's JSONResponse, rendered by orjson (the same compact UTF-8 JSON; the web chat answers
    every message with one). Without headers of the caller's, the response's own two (Content-Length and
    Content-Type, as Starlette writes them) are set directly: Starlette's general `init_headers` was about
    half of the 1.1 microseconds a response took to make."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if headers is not None or media_type is not None or status_code < 200 or status_code in (204, 304):
            super().__init__(content, status_code, headers, media_type, background)
            return
        self.status_code = status_code
        self.background = background
        self.body = body = self.render(content)
        self.raw_headers = [(b"content-length", str(len(body)).encode()), _JSON]

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_JSON = (b"content-type", JSONBody.media_type.encode("latin-1"))


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
