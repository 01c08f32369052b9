"""Replies to Cloud API message objects: texts split within 4,096 characters, choices as interactive
buttons or a list, within WhatsApp's limits.

- up to 3 choices: reply buttons (`interactive.type: button`, titles at most 20 characters);
- more: an interactive list (`interactive.type: list`): at most 10 rows (the first 8 and the trailing two,
  Back and Cancel, when there are more), row titles at most 24 characters; a title shortened to fit keeps
  the full label in the row's description (at most 72); the button that opens the list (at most 20) says
  "Choose" in the citizen's language;
- the interactive body holds at most 1,024 characters: a longer text goes first as plain text messages,
  split at a paragraph, line, sentence or word (never inside a grapheme: Urdu marks, emoji sequences);
  plain texts hold at most 4,096.

Lengths are counted in UTF-16 code units, never less than characters. Urdu stays bidi-safe: the catalog's
texts carry their isolates (numbers, codes, links wrapped in FSI…PDI), and a cut never leaves an isolate
open: a part that would end inside one is closed there and the next part opens it again.
"""

from __future__ import annotations

from typing import Any

from bot.channels.messenger_render import fit, split_text, units
from bot.dialogue import Button, Reply
from responses import LANGUAGES, Catalog

MAX_TEXT = 4096
MAX_BODY = 1024
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_LIST_BUTTON = 20
ELLIPSIS = "…"
OPENERS = "\u2066\u2067\u2068"  # LRI, RLI, FSI
CLOSER = "\u2069"  # PDI
CHOOSE_KEY = "whatsapp.choose"


def _open_isolates(text: str) -> int:
    """How many isolates `text` leaves open at its end."""
    depth = 0
    for char in text:
        if char in OPENERS:
            depth += 1
        elif char == CLOSER and depth:
            depth -= 1
    return depth


def balanced(parts: list[str]) -> list[str]:
    """Parts of one text with every isolate closed in the part that opened it, and reopened (as FSI) in
    the next one: a cut inside an isolated number never turns the rest of a message around."""
    out: list[str] = []
    carried = 0
    for part in parts:
        text = "\u2068" * carried + part
        carried = _open_isolates(text)
        out.append(text + CLOSER * carried)
    return out


def title(label: str, limit: int) -> str:
    """A title within `limit`: cut at a grapheme boundary with an ellipsis when too long, no isolate left
    open."""
    label = " ".join(label.split())
    if units(label) <= limit:
        return label
    cut = fit(label, limit - 1).rstrip(" \u200c\u200d")
    while cut and units(cut + CLOSER * _open_isolates(cut) + ELLIPSIS) > limit:
        cut = fit(cut, units(cut) - 1).rstrip(" \u200c\u200d")
    return cut + CLOSER * _open_isolates(cut) + ELLIPSIS


def texts(text: str, limit: int = MAX_TEXT) -> list[str]:
    """`text` in parts within `limit` (bidi isolates balanced), never an empty list."""
    parts = [p for p in split_text(text, limit - 4) if p] or [""]
    return balanced(parts)


def _label(button: Button) -> str:
    return button.label or button.id


def _shown(buttons: tuple[Button, ...]) -> tuple[Button, ...]:
    if len(buttons) > MAX_ROWS:  # keep the first choices and the trailing Back / Cancel
        return buttons[: MAX_ROWS - 2] + buttons[-2:]
    return buttons


def choose_label(catalog: Catalog, lang: str) -> str:
    lang = lang if lang in LANGUAGES else "en"
    return title(catalog.text(CHOOSE_KEY, lang), MAX_LIST_BUTTON)


def interactive(body: str, buttons: tuple[Button, ...], choose: str) -> dict[str, Any]:
    """The `interactive` object for a body (at most MAX_BODY) and its choices."""
    if len(buttons) <= MAX_BUTTONS:
        return {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.id, "title": title(_label(b), MAX_BUTTON_TITLE)}}
                    for b in buttons
                ]
            },
        }
    rows: list[dict[str, str]] = []
    for b in _shown(buttons):
        full = " ".join(_label(b).split())
        row = {"id": b.id, "title": title(full, MAX_ROW_TITLE)}
        if row["title"] != full:
            row["description"] = title(full, MAX_ROW_DESCRIPTION)
        rows.append(row)
    return {
        "type": "list",
        "body": {"text": body},
        "action": {"button": choose, "sections": [{"rows": rows}]},
    }


def messages(reply: Reply, catalog: Catalog, lang: str = "") -> list[dict[str, Any]]:
    """The Cloud API message objects (without `to` and `messaging_product`) for one reply, in order; the
    last carries the choices."""
    lang = reply.lang or lang
    if not reply.buttons:
        return [{"type": "text", "text": {"body": part, "preview_url": False}} for part in texts(reply.text)]
    parts = texts(reply.text)
    last = parts.pop()
    out: list[dict[str, Any]] = [
        {"type": "text", "text": {"body": part, "preview_url": False}} for part in parts
    ]
    if units(last) > MAX_BODY:
        body_parts = texts(last, MAX_BODY)
        last = body_parts.pop()
        out += [{"type": "text", "text": {"body": p, "preview_url": False}} for p in body_parts]
    body = last if last.strip() else ELLIPSIS  # an interactive message needs a body
    out.append(
        {"type": "interactive", "interactive": interactive(body, reply.buttons, choose_label(catalog, lang))}
    )
    return out
