"""Entities other than links: platforms named in words, @handles and reference codes."""

from __future__ import annotations

import re

from nlu.refcode import find_codes
from nlu.types import Entity

PLATFORM_NAMES: dict[str, str] = {
    "facebook": "facebook",
    "fb": "facebook",
    "face book": "facebook",
    "fesbuk": "facebook",
    "فیس بک": "facebook",
    "فیسبک": "facebook",
    "messenger": "facebook",
    "instagram": "instagram",
    "insta": "instagram",
    "ig": "instagram",
    "انسٹاگرام": "instagram",
    "انسٹا": "instagram",
    "انسٹا گرام": "instagram",
    "tiktok": "tiktok",
    "tik tok": "tiktok",
    "tik-tok": "tiktok",
    "ٹک ٹاک": "tiktok",
    "ٹکٹاک": "tiktok",
    "telegram": "telegram",
    "ٹیلیگرام": "telegram",
    "ٹیلی گرام": "telegram",
    "youtube": "youtube",
    "yt": "youtube",
    "یوٹیوب": "youtube",
    "یو ٹیوب": "youtube",
    "twitter": "x",
    "x.com": "x",
    "ٹویٹر": "x",
    "ٹوئٹر": "x",
    "whatsapp": "whatsapp",
    "whats app": "whatsapp",
    "whatsap": "whatsapp",
    "watsapp": "whatsapp",
    "واٹس ایپ": "whatsapp",
    "وٹس ایپ": "whatsapp",
    "واٹس اپ": "whatsapp",
}
_PLATFORM_RE = re.compile(
    r"(?<![\w.])("
    + "|".join(re.escape(k) for k in sorted(PLATFORM_NAMES, key=len, reverse=True))
    + r")(?![\w])",
    re.IGNORECASE,
)


def _platform_named(said: str) -> str:
    """The platform of a name `_PLATFORM_RE` matched. Its case-blind match is not `str.lower`: a dotted
    capital İ (a Turkish keyboard, an autocorrect: "İG pe ye page dekho") matches "i", while "İ".lower()
    is two characters, so the name is then found the way the pattern found it."""
    found = PLATFORM_NAMES.get(said.lower())
    if found is not None:
        return found
    return next(p for name, p in PLATFORM_NAMES.items() if re.fullmatch(re.escape(name), said, re.IGNORECASE))


_HANDLE_RE = re.compile(r"(?<![\w@/.])@([A-Za-z0-9_.]{2,64})(?![\w@])")


def find_entities(text: str, url_spans: list[tuple[int, int]]) -> list[Entity]:
    """Platforms, handles and reference codes outside the given link spans."""

    def outside_links(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in url_spans)

    found: list[Entity] = []
    window = text[:10_000]
    for m in _PLATFORM_RE.finditer(window):
        if outside_links(m.start(), m.end()):
            found.append(Entity("platform", _platform_named(m.group(1)), m.start(), m.end()))
    for m in _HANDLE_RE.finditer(window):
        if outside_links(m.start(), m.end()):
            found.append(Entity("handle", "@" + m.group(1).rstrip("."), m.start(), m.end()))
    for start, end, code in find_codes(window):
        if outside_links(start, end):
            found.append(Entity("reference", code, start, end))
    return found
