"""The one crash fallback of every channel: when handling a message fails unexpectedly (a bug, not the
database being down, which the pipeline answers itself), the citizen is asked to send it again in their
own language, nothing counts as kept, and the error is logged (its type and trace, never the text).

The language is what the channel knows (Telegram's client language), else what the message itself says
(`nlu.parse(text).language`, or a language button pressed), else English. It is worked out from the
message alone: a channel reads no stored state.
"""

from __future__ import annotations

import logging

from bot.dialogue import Inbound, Reply
from bot.pipeline import Handled, Pipeline
from nlu import parse
from responses import LANGUAGES, Catalog

log = logging.getLogger(__name__)
KEY = "common.unavailable"  # "please send it again": nothing was kept


def language_of(inbound: Inbound, known: str | None = None) -> str:
    """The citizen's language for a fallback answer: `known` (what the channel knows), else the language
    of the message's text or of the language button pressed, else English."""
    if known in LANGUAGES:
        return known
    if inbound.choice and inbound.choice.startswith("lang:") and inbound.choice[5:] in LANGUAGES:
        return inbound.choice[5:]
    if inbound.text:
        return parse(inbound.text).language  # never raises; English when the text does not tell
    return "en"


def crash_reply(texts: Catalog, inbound: Inbound, known: str | None = None) -> Reply:
    """`common.unavailable` in the citizen's language (`language_of`), marked as a notice in it."""
    lang = language_of(inbound, known)
    return Reply(texts.text(KEY, lang), kind="notice", lang=lang)


async def handle_or_fallback(pipeline: Pipeline, inbound: Inbound, known: str | None = None) -> Handled:
    """`pipeline.handle(inbound)`; if it raises, the crash is logged and the citizen gets `crash_reply`,
    marked not saved (nothing is acknowledged as kept, so the message can be sent again)."""
    try:
        return await pipeline.handle(inbound)
    except Exception:
        log.exception("channel_handling_failed", extra={"fields": {"channel": inbound.channel}})
        return Handled([crash_reply(pipeline.texts, inbound, known)], saved=False)
