"""The dialogue engine: pure and channel-agnostic, with its flows in a registry.

`handle(inbound, parse, state, context) -> Outcome` turns one inbound event into replies, effects and the
next state (`handle_owned` does the same for a caller that hands its state over: it is changed in place,
not copied). It does no I/O: the caller asks the registry what the turn needs looked up
(`REGISTRY.needs(state, parse, inbound)`), looks it up (and draws a new reference code only when the
needs say `code`: a submission without one raises CodeNotDeclared), and persists state, effects and the
event id in one transaction before sending the replies. Channels read their command menus from `REGISTRY`.
"""

from bot.dialogue.engine import GLOBAL_CHOICES, CodeNotDeclared, handle, handle_owned
from bot.dialogue.flow import Command, Flow, Needs, Route, Step
from bot.dialogue.flows import REGISTRY
from bot.dialogue.registry import Registry
from bot.dialogue.types import (
    AnswerFollowup,
    Attachment,
    Button,
    ClaimAsked,
    Context,
    Draft,
    Effect,
    ForgetMe,
    Inbound,
    KeepContact,
    MonthNumbers,
    Outcome,
    Reply,
    RequestSupport,
    SkipFollowup,
    State,
    SubmitReport,
    Subscribe,
    Unsubscribe,
)

__all__ = [
    "GLOBAL_CHOICES",
    "REGISTRY",
    "AnswerFollowup",
    "Attachment",
    "Button",
    "ClaimAsked",
    "CodeNotDeclared",
    "Command",
    "Context",
    "Draft",
    "Effect",
    "Flow",
    "ForgetMe",
    "Inbound",
    "KeepContact",
    "MonthNumbers",
    "Needs",
    "Outcome",
    "Registry",
    "Reply",
    "RequestSupport",
    "Route",
    "SkipFollowup",
    "State",
    "Step",
    "SubmitReport",
    "Subscribe",
    "Unsubscribe",
    "handle",
    "handle_owned",
]
