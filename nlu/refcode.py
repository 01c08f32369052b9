"""Reference codes: 8 random Crockford base32 characters shown as XXXX-XXXX.

Typed codes are read leniently: any case, with or without the dash or spaces, and the letters Crockford
reads as digits (I and L as 1, O as 0).
"""

from __future__ import annotations

import re
import secrets

from nlu.normalize import BIDI_CONTROLS, strip_bidi

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPED = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_code() -> str:
    """A fresh random code, formatted XXXX-XXXX, mixing letters and digits.

    The mix lets a code typed loosely inside a sentence ("status k7qm2xd9") be told apart from a word.
    """
    while True:  # 8 symbols of 32 are 40 random bits: one read of the system's random source, not eight
        bits = int.from_bytes(secrets.token_bytes(5))
        raw = "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(8))
        if any(ch.isdigit() for ch in raw) and any(ch.isalpha() for ch in raw):
            return f"{raw[:4]}-{raw[4:]}"


def parse_code(text: str) -> str | None:
    """The canonical XXXX-XXXX form of a typed code, or None when `text` is not one (bidi controls, as in
    a code copied from an Urdu reply, are ignored)."""
    return _canonical(_SEPARATORS.sub("", strip_bidi(text)).upper().translate(_TYPED))


def _canonical(compact: str) -> str | None:
    """XXXX-XXXX for 8 symbols of the alphabet (upper case, I L O already read as 1 1 0), else None."""
    if len(compact) != 8 or any(ch not in ALPHABET for ch in compact):
        return None
    return f"{compact[:4]}-{compact[4:]}"


def find_codes(text: str) -> list[tuple[int, int, str]]:
    """Codes typed loosely inside a message: (start, end, canonical code).

    A code may come in up to four pieces with a few separators between them ("AW Y0 - 9QHY", "k7qm 2xd9").
    Eight letters alone could be words ("facebook", "mera code"), so a code must either be written with a
    dash or mix letters and digits (in pieces: split 4 + 4, or with digits in two pieces). Where candidates
    overlap ("mera code AWY0 - 9QHY") the better-formed one wins: with its dash, then in one piece, then
    split in the middle, then halves that both hold a digit. A conversation waiting for a code reads the
    whole message with `parse_code` instead.
    """
    text = text[:10_000]
    if not _MAY_HOLD_CODE.search(text):
        # Without a digit or a dash nothing is a code (see `_score`): most messages, read in one scan.
        return []
    pieces = [(m.start(), m.end(), m.group()) for m in _PIECE.finditer(text)]
    candidates: list[tuple[int, int, int, str]] = []  # (-score, start, end, code)
    for i in _starts(text, pieces):
        raw, dashed = "", False
        for j in range(i, min(i + _MAX_PIECES, len(pieces))):
            if j > i:
                gap = text[pieces[j - 1][1] : pieces[j][0]]
                if gap != " " and (len(strip_bidi(gap)) > _MAX_GAP or not _GAP.fullmatch(gap)):
                    break  # (a single space, the usual gap, is a separator and no dash)
                dashed = dashed or "-" in gap or "–" in gap or "—" in gap
            raw += pieces[j][2]
            if len(raw) > 8:
                break
            if len(raw) == 8:
                # `parse_code(raw)`: the pieces are letters and digits only, nothing to strip
                code = _canonical(raw.upper().translate(_TYPED))
                if code is not None:
                    count = j - i + 1
                    scored = _score(raw, [p[2] for p in pieces[i : j + 1]], dashed, count)
                    if scored is not None:
                        candidates.append((-scored, pieces[i][0], pieces[j][1], code))
                break
    taken: list[tuple[int, int, str]] = []
    for _, start, end, code in sorted(candidates):
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, code))
    return sorted(taken)


def _starts(text: str, pieces: list[tuple[int, int, str]]) -> range | list[int]:
    """The pieces a candidate can start at. Without a dash in the text, a code needs a digit (`_score`), in
    a piece of at most 8 characters no more than _MAX_PIECES - 1 pieces after its start: only those starts
    are tried (a link's or a phone number's digits no longer make every piece of a message a start)."""
    if _DASH.search(text):
        return range(len(pieces))
    starts: set[int] = set()
    for k, (_, _, piece) in enumerate(pieces):
        if len(piece) <= 8 and not piece.isalpha():  # letters and digits only: not all letters, a digit
            starts.update(range(max(0, k - _MAX_PIECES + 1), k + 1))
    return sorted(starts)


_DASH = re.compile("[-–—]")
_SEPARATORS = re.compile(r"[\s\-–—_.]")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[A-Za-z]")
_PIECE = re.compile(r"[0-9A-Za-z]+")
_MAY_HOLD_CODE = re.compile(r"[0-9\-–—]")  # a digit of a piece, or a dash of a gap
_GAP = re.compile(rf"[\s\-–—_.{BIDI_CONTROLS}]+")
_MAX_PIECES = 4
_MAX_GAP = 3


def _score(raw: str, parts: list[str], dashed: bool, count: int) -> int | None:
    """How well-formed a candidate is; None when it cannot be a code (an undashed run of letters)."""
    digit = _DIGIT.search
    mixed = bool(digit(raw) and _LETTER.search(raw))
    middle = count == 1 or (count == 2 and len(parts[0]) == 4)
    with_digits = sum(1 for p in parts if digit(p))
    if not (dashed or (mixed and (middle or with_digits >= 2))):
        return None
    halves = bool(digit(raw[:4]) and digit(raw[4:]))
    return 8 * dashed + 4 * (count == 1) + 2 * middle + halves
