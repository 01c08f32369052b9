"""The web chat's transcript: a conversation's last messages, kept a turn at a time as JSON lines.

Why: a reloaded chat page shows the conversation where it was (`GET /webchat/api/history`), from the bot's
replies and the labels of the buttons pressed (never typed text: it may hold a phone number or a name).
Each turn stores only its own messages, one JSON object a line, in a row of its own (storage.transcripts):
the turn never reads or rewrites the earlier ones. Kept as one text of the last thirty messages, a turn
copied, cut and wrote about 10 KB to add two or three: 12% of a turn's instructions in issue 23's
callgrind of long conversations.

A button pressed is kept as its id (`{"kind": "citizen", "choice": ...}`), and only when it was among the
buttons the conversation offered: the label is the one the message that offered it showed, found when a
page reads the messages (`messages`), so a turn needs no earlier message to name it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from storage.engine import json_text, json_value

MAX_MESSAGES = 30  # a page shows the conversation's last this many messages


def line(message: Mapping[str, Any]) -> str:
    """One message as a line, written as the JSON columns write (`json_text`: orjson, and for a lone
    surrogate the standard library's ASCII escapes). JSON escapes every newline inside a string, so lines
    never break inside one."""
    return json_text(message) + "\n"


# What a citizen wrote (or sent: a screenshot) stands in the transcript as this line alone: a reloaded page
# shows that they said something there, never what (the web chat's `webchat.not_kept`)
WROTE = '{"kind":"citizen","kept":false}\n'


def turn(pressed: str | None, replies: Iterable[str], wrote: bool = False) -> str:
    """A turn's messages as lines: the button pressed (its id: `pressed`, None for typed text) or, when
    the citizen `wrote`, WROTE; then the bot's replies, each as `json_text` wrote it (the pipeline encodes
    a turn's replies once, for its event's row and for these lines)."""
    said = line({"kind": "citizen", "choice": pressed}) if pressed is not None else WROTE if wrote else ""
    return said + "".join(f"{m}\n" for m in replies)


def messages(turns: Iterable[str], keep: int = MAX_MESSAGES) -> list[dict[str, Any]]:
    """The last `keep` messages of `turns` (each turn's lines, oldest turn first), oldest first. A pressed
    button is named by the label of the newest earlier message that offered its id, and left out when no
    kept message did (its message was cut); a line that is not a JSON object is skipped. A line of a
    transcript from before migration 0022 holds the label itself, and is kept as it is; so is WROTE, for
    the page to say in its own words."""
    found: list[dict[str, Any]] = []
    for text in turns:
        for said in text.split("\n"):  # not splitlines: a reply may hold U+2028, which it splits at
            message = _read(said)
            if message is None:
                continue
            if message.get("kind") == "citizen" and "choice" in message:
                label = _label(found, message["choice"])
                if label is None:
                    continue
                message = {"text": label, "kind": "citizen", "buttons": []}
            found.append(message)
    return found[-keep:] if keep else []


def _label(earlier: list[dict[str, Any]], choice: object) -> str | None:
    """The label `choice` had on the newest message of `earlier` that offered it."""
    for message in reversed(earlier):
        buttons = message.get("buttons")
        if not isinstance(buttons, list):
            continue
        for button in buttons:
            if (
                isinstance(button, dict)
                and button.get("id") == choice
                and isinstance(button.get("label"), str)
            ):
                return str(button["label"])
    return None


def _read(text: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = json_value(text)  # as the JSON columns read (an escaped lone surrogate too)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
