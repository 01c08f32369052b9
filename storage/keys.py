"""Keys derived from the one configured secret: one per purpose, so a leaked derived key exposes no other."""

from __future__ import annotations

import hashlib
import hmac


def derive_key(secret: bytes, purpose: str) -> bytes:
    """HMAC-SHA256(secret, "raabta/<purpose>"): a separate key for each purpose."""
    return hmac.new(secret, f"raabta/{purpose}".encode(), hashlib.sha256).digest()
