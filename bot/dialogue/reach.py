"""Where a typed claim question ends up, end to end: through `nlu.parse` and the dialogue engine's pure
`handle(...)`, as a citizen who picked their language and then typed it (issue 24).

`raabta nlu eval` counts, over the held-out claim phrasings (nlu/data/claims/held_out.yml), how many reach
their claim's answer: shown at once (`ANSWERED`, with the emergency directions first when the classifier read
an emergency), or offered as one of the two nearest claims (`OFFERED`, one tap away). The matcher's own
figures (nlu/evaluate.py) say whether the right claim was found; this says whether the citizen got it, after
every other path (a crisis, an emergency, someone being drawn in, a worried relative, a report) had its say.
"""

from __future__ import annotations

from bot.dialogue.engine import handle
from bot.dialogue.types import Context, Inbound, Outcome, State
from nlu import parse
from responses import Catalog, catalog

ANSWERED = "answered"  # the claim's short answer was shown
OFFERED = "offered"  # the claim was one of the two offered ("did you mean ...")
MISSED = "missed"  # anything else: another path's answer, the menu, another claim


def _send(state: State, count: int, text: str | None = None, choice: str | None = None) -> Outcome:
    inbound = Inbound("eval", "user-1", str(count), text=text, choice=choice)
    return handle(inbound, parse(text or ""), state, Context(f"EVAL-{count:04d}"))


def reach(claim: str, language: str, text: str, texts: Catalog | None = None) -> str:
    """ANSWERED, OFFERED or MISSED: what a citizen who chose `language` and typed `text` got for `claim`."""
    texts = texts or catalog()
    state = _send(State(), 1, "/start").state
    state = _send(state, 2, choice=f"lang:{language}").state
    outcome = _send(state, 3, text)
    answer = texts.text(f"claims.{claim}", language)
    if any(reply.text.startswith(answer) for reply in outcome.replies):
        return ANSWERED
    if f"claim:{claim}" in outcome.state.offered:
        return OFFERED
    return MISSED
