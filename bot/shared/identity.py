"""Keyed pseudonyms: the database keeps HMACs of channel user ids, never the ids themselves."""

from __future__ import annotations

import hmac

from storage.keys import derive_key

__all__ = ["Pseudonyms", "derive_key"]


class Pseudonyms:
    def __init__(self, secret: bytes) -> None:
        # The HMAC keyed once; each pseudonym continues a copy of it. A new HMAC (or `hmac.digest`) looks
        # the algorithm up in OpenSSL every time, twice the cost of the copy, and every message needs one.
        self._keyed = hmac.new(derive_key(secret, "pseudonym"), digestmod="sha256")

    def of(self, channel: str, user: str) -> str:
        """HMAC-SHA256 of `channel:user`, hex (64 characters)."""
        mac = self._keyed.copy()
        mac.update(f"{channel}:{user}".encode())
        return mac.hexdigest()
