"""Sealing channel addresses (chat ids, page-scoped ids) so a stolen database does not reveal them.

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from RAABTA_SECRET_KEY. Rotation: start with the new
secret and the old one listed in `previous`; everything still opens, and `reseal` re-encrypts under the new
key (MultiFernet.rotate).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.shared.identity import derive_key


def _fernet(secret: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive_key(secret, "contact-address")))


class AddressBox:
    def __init__(self, secret: bytes, previous: Sequence[bytes] = ()) -> None:
        self._box = MultiFernet([_fernet(secret), *(_fernet(p) for p in previous)])

    def seal(self, address: str) -> bytes:
        return self._box.encrypt(address.encode())

    def open(self, sealed: bytes) -> str | None:
        """The address, or None when no known key opens it (a rotated-out key)."""
        try:
            return self._box.decrypt(sealed).decode()
        except InvalidToken:
            return None

    def reseal(self, sealed: bytes) -> bytes:
        return self._box.rotate(sealed)
