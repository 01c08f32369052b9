"""The web chat's transcript: a conversation's last messages, one JSON object a line, kept beside its state.

Why: a reloaded chat page shows the conversation where it was (`GET /webchat/api/history`), from the bot's
replies and the labels of the buttons pressed (never typed text: it may hold a phone number or a name).
They were kept in the state itself (`State.recent`), about 10 KB of JSON that every web chat turn parsed,
copied and serialised again to add two or three messages: 0.12 to 0.25 ms of a turn's 1 ms of CPU (issue
23's `bench.turns` with and without it). As lines, a turn adds its messages to the end of the text and cuts
the oldest off by counting newlines, without reading the rest; only a reload parses them. The conversation's
row holds them (`conversations.transcript`), so forget-me and retention, which delete the row, delete them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from storage.engine import json_text, json_value

MAX_MESSAGES = 30  # a transcript keeps the last this many messages


def line(message: Mapping[str, Any]) -> str:
    """One message as a line, written as the JSON columns write (`json_text`: orjson, and for a lone
    surrogate the standard library's ASCII escapes). JSON escapes every newline inside a string, so lines
    never break inside one."""
    return json_text(message) + "\n"


def added(transcript: str | None, messages: Iterable[Mapping[str, Any]], keep: int = MAX_MESSAGES) -> str:
    """`transcript` with `messages` at its end, cut to its last `keep` messages."""
    text = (transcript or "") + "".join(line(m) for m in messages)
    # The cut is after the (keep + 1)th newline from the end: found from the end, `rfind` reads only the
    # lines kept and is a memory search, where counting every newline read the whole text a character at
    # a time (2.7% of a turn's instructions in issue 23's callgrind of bench.turns).
    cut = len(text)
    for _ in range(keep + 1):
        cut = text.rfind("\n", 0, cut)
        if cut < 0:
            return text
    return text[cut + 1 :]


def messages(transcript: str | None) -> list[dict[str, Any]]:
    """The transcript's messages, oldest first; a line that is not a JSON object is skipped."""
    found = []
    for text in (transcript or "").split("\n"):  # not splitlines: a reply may hold U+2028, which it splits at
        message = _read(text)
        if message is not None:
            found.append(message)
    return found


def last_with_buttons(transcript: str | None) -> dict[str, Any]:
    """The newest message that offered buttons ({} if none): read from the end, one line at a time (the
    last reply nearly always has them), to find the label of the button a turn's citizen pressed."""
    text = transcript or ""
    end = len(text)
    while end > 0:
        start = text.rfind("\n", 0, end - 1) + 1
        message = _read(text[start:end])
        if message is not None and message.get("buttons"):
            return message
        end = start
    return {}


def _read(text: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = json_value(text)  # as the JSON columns read (an escaped lone surrogate too)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
