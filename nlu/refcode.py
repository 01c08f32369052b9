"""Reference codes: 8 random Crockford base32 characters shown as XXXX-XXXX.

Typed codes are read leniently: any case, with or without the dash or spaces, and the letters Crockford
reads as digits (I and L as 1, O as 0).
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPED = str.maketrans({"I": "1", "L": "1", "O": "0"})
# Every place a code could start (a lookahead, so overlapping candidates are all seen).
_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])(?=([0-9A-Za-z]{4})([\s\-–—_.]?)([0-9A-Za-z]{4})(?![0-9A-Za-z]))")


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
    dash or mix letters and digits. Where candidates overlap ("karo M3N4-P5Q6") the better-formed one
    wins: with its dash, then without a separator, then halves that both hold a digit. A conversation
    waiting for a code reads the whole message with `parse_code` instead.
    """
    candidates: list[tuple[int, int, int, str]] = []  # (-score, start, end, code)
    for match in _CANDIDATE.finditer(text[:10_000]):
        first, separator, second = match.group(1), match.group(2), match.group(3)
        whole = first + separator + second
        dashed = separator in ("-", "–", "—")
        mixed = bool(re.search(r"\d", whole) and re.search(r"[A-Za-z]", whole))
        if not (dashed or mixed):
            continue
        code = parse_code(first + second)
        if code is None:
            continue
        score = (3 if dashed else 2 if not separator else 1) * 2 + (
            1 if re.search(r"\d", first) and re.search(r"\d", second) else 0
        )
        start = match.start()
        candidates.append((-score, start, start + len(whole), code))
    taken: list[tuple[int, int, str]] = []
    for _, start, end, code in sorted(candidates):
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, code))
    return sorted(taken)
