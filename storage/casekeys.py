"""Which case a report joins: one per link (its canonical URL), or, with no link, one evidence fingerprint.

A fingerprint must not split what is the same report written differently ("I saw it" and "i saw it.",
Urdu typed with Arabic letter forms), and must not join different things: screenshots meet on the file's
own fingerprint, an account on its handle and platform, a description on its normalised words.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from storage.records import NewReport

FILE_KINDS = ("photo", "document")  # evidence whose fingerprint names a file a channel may keep a copy of
TITLE_WORDS = 8
TITLE_CHARS = 80

# Arabic letter forms typed on Arabic or Persian keyboards, as the Urdu letters they stand for.
_URDU_FORMS = str.maketrans(
    {
        "\u064a": "\u06cc",  # ي -> ی
        "\u0649": "\u06cc",  # ى -> ی
        "\u0643": "\u06a9",  # ك -> ک
        "\u0647": "\u06c1",  # ه -> ہ
        "\u0629": "\u06c3",  # ة -> ۃ
        "\u06c0": "\u06c1",  # ۀ -> ہ
        "\u0640": None,  # tatweel
    }
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class CaseKey:
    column: str  # canonical_url | fingerprint
    key: str
    platform: str
    title: str | None  # what analysts read for a case without a link


def normalise(text: str) -> str:
    """Case, spacing, punctuation, symbols, marks, digits and Urdu letter forms folded away."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_URDU_FORMS)
    kept = []
    for ch in text:
        kind = unicodedata.category(ch)
        if kind.startswith(("P", "S", "C")) or kind in ("Mn", "Me"):
            kept.append(" " if kind.startswith(("P", "S")) else "")
        elif kind == "Nd":
            kept.append(str(unicodedata.digit(ch)))
        else:
            kept.append(ch)
    return _SPACE.sub(" ", "".join(kept)).strip()


def _digest(*parts: str) -> str:
    return "fp:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _title(text: str) -> str:
    words = _SPACE.sub(" ", text).strip().split(" ")
    title = " ".join(words[:TITLE_WORDS])
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1].rstrip()
    return title + ("…" if title != " ".join(words) else "")


def case_keys(report: NewReport) -> list[CaseKey]:
    """Every case the report joins, the first link's first: one per distinct link; with none, one key."""
    keys: list[CaseKey] = []
    for item in report.evidence:
        if item.kind == "link" and all(k.key != item.value for k in keys):
            keys.append(CaseKey("canonical_url", item.value, item.platform or "web", None))
    if keys:
        return keys
    for item in report.evidence:
        if item.kind in FILE_KINDS and item.fingerprint:
            title = _title(report.description) if report.description.strip() else f"{item.kind} evidence"
            return [CaseKey("fingerprint", f"file:{item.fingerprint}", "unknown", title)]
    for item in report.evidence:
        if item.kind == "handle":
            platform = item.platform or "unknown"
            handle = normalise(item.value.lstrip("@")).replace(" ", "")
            shown = item.value if item.value.startswith("@") else "@" + item.value
            title = shown if platform == "unknown" else f"{shown} ({platform})"
            return [CaseKey("fingerprint", _digest("handle", handle, platform), platform, title)]
    return [
        CaseKey(
            "fingerprint",
            _digest("text", normalise(report.description)),
            "unknown",
            _title(report.description) or "(no description)",
        )
    ]


def case_key(report: NewReport) -> tuple[str, str, str]:
    """(column, key, platform) of the report's first case."""
    first = case_keys(report)[0]
    return first.column, first.key, first.platform
