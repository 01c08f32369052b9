"""The flows, one module each, and the registry built from them.

The order here is the order of the main menu and of ties between routes of the same rank. A new flow is a
module declaring `FLOW` (see bot.dialogue.flow), its texts in responses/, and a line here.
"""

from bot.dialogue.flows import at_risk, crisis, family, followup, help, home, learn, privacy, report, status
from bot.dialogue.registry import Registry
from bot.dialogue.types import START

REGISTRY = Registry(
    (
        home.FLOW,
        crisis.FLOW,
        report.FLOW,
        learn.FLOW,
        family.FLOW,
        at_risk.FLOW,
        status.FLOW,
        privacy.FLOW,
        help.FLOW,
        followup.FLOW,
    ),
    start=START,
    home=home.HOME,
)
