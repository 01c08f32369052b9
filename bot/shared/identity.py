"""Keyed pseudonyms: the database keeps HMACs of channel user ids, never the ids themselves."""

from __future__ import annotations

import hmac

from storage.keys import derive_key

__all__ = ["Pseudonyms", "derive_key"]


class Pseudonyms:
    def __init__(self, secret: bytes) -> None:
        self._key = derive_key(secret, "pseudonym")

    def of(self, channel: str, user: str) -> str:
        """HMAC-SHA256 of `channel:user`, hex (64 characters); `hmac.digest` is OpenSSL's one-shot, a
        fraction of `hmac.new`'s cost, and every message needs one."""
        return hmac.digest(self._key, f"{channel}:{user}".encode(), "sha256").hex()
