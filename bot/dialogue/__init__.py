"""The dialogue engine: pure and channel-agnostic.

`handle(inbound, parse, state, context) -> Outcome` turns one inbound event into replies, effects and the
next state. It does no I/O: the caller looks up what the engine may need (reference codes) beforehand, and
persists state, effects and the event id in one transaction before sending the replies.
"""

from bot.dialogue.engine import handle
from bot.dialogue.types import (
    Attachment,
    Button,
    Context,
    ForgetMe,
    Inbound,
    KeepContact,
    Outcome,
    Reply,
    State,
    SubmitReport,
)

__all__ = [
    "Attachment",
    "Button",
    "Context",
    "ForgetMe",
    "Inbound",
    "KeepContact",
    "Outcome",
    "Reply",
    "State",
    "SubmitReport",
    "handle",
]
