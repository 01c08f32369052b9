"""Reference codes: 8 random Crockford base32 characters shown as XXXX-XXXX.

Typed codes are read leniently: any case, with or without the dash or spaces, and the letters Crockford
reads as digits (I and L as 1, O as 0).
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPED = str.maketrans({"I": "1", "L": "1", "O": "0"})
_LOOSE = re.compile(r"(?<![0-9A-Za-z])([0-9A-Za-z]{4})[\s\-–—_.]?([0-9A-Za-z]{4})(?![0-9A-Za-z])")


def new_code() -> str:
    """A fresh random code, formatted XXXX-XXXX, mixing letters and digits.

    The mix lets a code typed loosely inside a sentence ("status k7qm2xd9") be told apart from a word.
    """
    while True:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
        if any(ch.isdigit() for ch in raw) and any(ch.isalpha() for ch in raw):
            return f"{raw[:4]}-{raw[4:]}"


def parse_code(text: str) -> str | None:
    """The canonical XXXX-XXXX form of a typed code, or None when `text` is not one."""
    compact = re.sub(r"[\s\-–—_.]", "", text).upper().translate(_TYPED)
    if len(compact) != 8 or any(ch not in ALPHABET for ch in compact):
        return None
    return f"{compact[:4]}-{compact[4:]}"


def find_codes(text: str) -> list[tuple[int, int, str]]:
    """Codes typed loosely inside a message: (start, end, canonical code).

    Eight letters alone could be words ("facebook", "mera code"), so a code must either be written with its
    dash or mix letters and digits. A conversation waiting for a code reads the whole message with
    `parse_code` instead.
    """
    found: list[tuple[int, int, str]] = []
    for match in _LOOSE.finditer(text[:10_000]):
        whole = match.group(0)
        dashed = len(whole) == 9 and whole[4] in "-–—"
        mixed = bool(re.search(r"\d", whole) and re.search(r"[A-Za-z]", whole))
        if not (dashed or mixed):
            continue
        code = parse_code(match.group(1) + match.group(2))
        if code is not None:
            found.append((match.start(), match.end(), code))
    return found
