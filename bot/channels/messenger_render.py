"""Replies to Send API message objects: texts split below 2,000 characters, buttons within Meta's limits.

Quick replies carry the buttons (at most 13, titles at most 20 characters). The text of a quick-reply
message is an ordinary chat message: it can be copied (reference codes) and the buttons go away once used,
which matches the engine, where only the latest buttons are on offer. A button template (at most 3, text at
most 640 characters) is used only when every button stays valid forever (the language choice): its buttons
remain in the thread and can be tapped days later without being stale.

Lengths are counted in UTF-16 code units, which is never less than characters, so an emoji cannot push a
message over the limit. Cuts fall on grapheme boundaries: never between a letter and its combining marks
(Urdu zer, zabar, pesh, hamza above), nor inside a joiner sequence or a flag.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from bot.dialogue import GLOBAL_CHOICES, Button, Reply
from bot.dialogue.types import Call

MAX_TEXT = 1990  # below Meta's 2,000
MAX_TEMPLATE_TEXT = 640
MAX_QUICK_REPLIES = 13
MAX_TEMPLATE_BUTTONS = 3
MAX_TITLE = 20
ELLIPSIS = "…"
# Meta's call button dials only a full international number ("+" country code number). Pakistan's short
# emergency codes (15, 1122) have none: "+9215" would dial a wrong number, so they stay in the text's first
# line and only numbers written in full get a button.
E164 = re.compile(r"\+[1-9]\d{6,14}")
_BREAKS = (
    re.compile(r"\n\s*\n"),  # paragraphs
    re.compile(r"\n"),  # lines
    re.compile(r"[.!?۔؟][\"')\]»]*\s"),  # sentences (Urdu full stop ۔ and question mark ؟ too)
    re.compile(r"\s"),  # words
)


def units(text: str) -> int:
    """Length in UTF-16 code units (what a JavaScript client counts)."""
    return len(text.encode("utf-16-le")) // 2


def _regional(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _attached(char: str) -> bool:
    """A character that belongs to the one before it: a combining mark, a joiner, a variation or skin tone."""
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char == "\u200d"
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
    )


def is_boundary(text: str, index: int) -> bool:
    """Whether cutting `text` before `index` keeps every grapheme whole."""
    if index <= 0 or index >= len(text):
        return True
    if _attached(text[index]) or text[index - 1] == "\u200d":
        return False
    if _regional(text[index]) and _regional(text[index - 1]):
        run = 0
        while index - run - 1 >= 0 and _regional(text[index - run - 1]):
            run += 1
        return run % 2 == 0
    return True


def fit(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` UTF-16 units that ends on a grapheme boundary."""
    end, used = 0, 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > limit:
            break
        used += size
        end += 1
    while end > 0 and not is_boundary(text, end):
        end -= 1
    return text[:end]


def title(label: str, limit: int = MAX_TITLE) -> str:
    """A button title within `limit`, cut at a grapheme boundary with an ellipsis when too long."""
    label = " ".join(label.split())
    if units(label) <= limit:
        return label
    return fit(label, limit - 1).rstrip(" \u200c\u200d") + ELLIPSIS


def _strip(text: str) -> str:
    """`text` without outer whitespace, except a space that carries a combining mark."""
    start, end = 0, len(text)
    while start < end and text[start].isspace() and is_boundary(text, start + 1):
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return text[start:end]


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """`text` in parts within `limit`, cut at a paragraph, line, sentence or word near the end."""
    parts: list[str] = []
    rest = _strip(text)
    while units(rest) > limit:
        head = fit(rest, limit)
        cut = len(head)
        for pattern in _BREAKS:
            ends = [
                m.end()
                for m in pattern.finditer(head)
                if m.end() >= len(head) // 2 and is_boundary(rest, m.end())
            ]
            if ends:
                cut = ends[-1]
                break
        if cut == 0:  # a single grapheme longer than the limit: cut it rather than loop
            cut = 1
        parts.append(_strip(rest[:cut]))
        rest = _strip(rest[cut:])
    if rest or not parts:
        parts.append(rest)
    return parts


def _quick_replies(buttons: tuple[Button, ...]) -> list[dict[str, str]]:
    if len(buttons) > MAX_QUICK_REPLIES:  # keep the first choices and the trailing Back / Cancel
        buttons = buttons[: MAX_QUICK_REPLIES - 2] + buttons[-2:]
    return [{"content_type": "text", "title": title(b.label or b.id), "payload": b.id} for b in buttons]


def uses_template(reply: Reply) -> bool:
    """A button template for at most 3 buttons that never go stale, on a short text."""
    return (
        0 < len(reply.buttons) <= MAX_TEMPLATE_BUTTONS
        and all(b.id in GLOBAL_CHOICES for b in reply.buttons)
        and 0 < units(reply.text.strip()) <= MAX_TEMPLATE_TEXT
    )


def dialable(reply: Reply) -> list[Call]:
    """The reply's numbers that a call button can dial (at most 3, the template's limit)."""
    return [c for c in reply.calls if E164.fullmatch(c.number)][:MAX_TEMPLATE_BUTTONS]


def messages(reply: Reply) -> list[dict[str, Any]]:
    """The Send API `message` objects for one reply, in order; the last one carries the buttons."""
    calls = dialable(reply)
    if calls and not reply.buttons and 0 < units(reply.text.strip()) <= MAX_TEMPLATE_TEXT:
        buttons = [{"type": "phone_number", "title": title(c.label), "payload": c.number} for c in calls]
        template = {"template_type": "button", "text": reply.text.strip(), "buttons": buttons}
        return [{"attachment": {"type": "template", "payload": template}}]
    if uses_template(reply):
        buttons = [
            {"type": "postback", "title": title(b.label or b.id), "payload": b.id} for b in reply.buttons
        ]
        template = {"template_type": "button", "text": reply.text.strip(), "buttons": buttons}
        return [{"attachment": {"type": "template", "payload": template}}]
    parts = split_text(reply.text)
    if not parts[-1] and reply.buttons:
        parts[-1] = ELLIPSIS  # quick replies need a text to hang on
    out: list[dict[str, Any]] = [{"text": part} for part in parts if part]
    if reply.buttons and out:
        out[-1]["quick_replies"] = _quick_replies(reply.buttons)
    return out
