"""Console sessions: a signed cookie naming a token by its hash, with absolute and idle expiry, and CSRF.

The cookie never holds the token itself, only its SHA-256 (the same hash the tokens table keeps), so a
copied cookie cannot be used as a bearer token. Every request looks the hash up again: a revoked token
signs its sessions out at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.shared.identity import derive_key

COOKIE = "raabta_console"
LOGIN_COOKIE = "raabta_console_login"  # a nonce that binds the sign-in form's CSRF token to this browser
PATH = "/console"
ABSOLUTE = 8 * 3600  # a session ends 8 hours after sign-in, whatever happens
IDLE = 3600  # ... or after an hour without a request
REFRESH_AFTER = 60  # re-issue the cookie (new "seen" time) at most once a minute
LOGIN_WINDOW = 3600


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    sid: str
    issued: int
    seen: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        self._sign = derive_key(secret, "console-session")
        self._csrf = derive_key(secret, "console-csrf")
        self.clock = clock

    def now(self) -> int:
        return int(self.clock())

    def new(self, token_hash: str) -> Session:
        now = self.now()
        return Session(token_hash, secrets.token_urlsafe(18), now, now)

    def encode(self, session: Session) -> str:
        payload = _b64(json.dumps([session.token_hash, session.sid, session.issued, session.seen]).encode())
        return f"{payload}.{self._mac(payload)}"

    def decode(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None when it is missing, forged or malformed."""
        if not value or len(value) > 400 or "." not in value:
            return None
        payload, _, mac = value.partition(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            token_hash, sid, issued, seen = json.loads(_unb64(payload))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            return None
        if not (isinstance(token_hash, str) and isinstance(sid, str)):
            return None
        if not (isinstance(issued, int) and isinstance(seen, int)):
            return None
        return Session(token_hash, sid, issued, seen)

    def expired(self, session: Session) -> bool:
        now = self.now()
        return (
            now - session.issued > ABSOLUTE
            or now - session.seen > IDLE
            or session.seen > now + 300  # from the future: a clock jump or a forgery
        )

    def touched(self, session: Session) -> Session | None:
        """A fresher copy to send back, when the last one is over a minute old; None otherwise."""
        now = self.now()
        return replace(session, seen=now) if now - session.seen >= REFRESH_AFTER else None

    def remaining(self, session: Session) -> int:
        return max(0, session.issued + ABSOLUTE - self.now())

    def csrf(self, sid: str) -> str:
        return hmac.new(self._csrf, f"session:{sid}".encode(), hashlib.sha256).hexdigest()

    def login_csrf(self, nonce: str) -> str:
        return hmac.new(self._csrf, f"login:{nonce}".encode(), hashlib.sha256).hexdigest()

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._sign, payload.encode(), hashlib.sha256).digest())


def same(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())
