"""Keyed pseudonyms: the database keeps HMACs of channel user ids, never the ids themselves."""

from __future__ import annotations

import hashlib
import hmac


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A separate key for each purpose, so one leaked derived key does not expose the others."""
    return hmac.new(secret, f"raabta/{purpose}".encode(), hashlib.sha256).digest()


class Pseudonyms:
    def __init__(self, secret: bytes) -> None:
        self._key = derive_key(secret, "pseudonym")

    def of(self, channel: str, user: str) -> str:
        """HMAC-SHA256 of `channel:user`, hex (64 characters)."""
        return hmac.new(self._key, f"{channel}:{user}".encode(), hashlib.sha256).hexdigest()
