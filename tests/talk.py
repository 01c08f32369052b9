"""A conversation with the pure dialogue engine, for transcript-style tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from bot.dialogue import (
    REGISTRY,
    Attachment,
    Context,
    Inbound,
    Outcome,
    Registry,
    State,
    SubmitReport,
    handle,
)
from bot.dialogue.types import Effect, ReportStatus
from nlu import Parse, parse
from responses import Catalog, catalog
from responses.languages import LANGUAGES

# The dates `status(word)` gives a report: received on 1 Dec 2026, under review from 2 Dec, decided on 3 Dec.
RECEIVED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
REVIEWED = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
DECIDED = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


def status(word: str, reason: str | None = None) -> ReportStatus:
    """What a reporter is told of a report whose status is `word`, with the fixed dates above."""
    decided = word in ("action_taken", "reviewed")
    return ReportStatus(
        word, RECEIVED, REVIEWED if word != "received" else None, DECIDED if decided else None, reason
    )


def drop_language_line(text: str) -> str:
    """`text` without the trailing "(I will answer in English...)" line of a first message."""
    for lang in LANGUAGES:
        line = "\n\n" + catalog().text("welcome.language_guessed", lang)
        if text.endswith(line):
            return text[: -len(line)]
    return text


class Talk:
    def __init__(
        self,
        reports: Mapping[str, ReportStatus | str | None] | None = None,
        flows: Registry = REGISTRY,
        texts: Catalog | None = None,
    ) -> None:
        self.flows = flows
        self.texts = texts
        self.state = State()
        # a known code's status, or just its word (received, under_review, ...: `status(word)`)
        self.reports = {c: status(r) if isinstance(r, str) else r for c, r in (reports or {}).items()}
        self.count = 0
        self.outcomes: list[Outcome] = []
        self.effects: list[Effect] = []

    def send(
        self,
        text: str | None = None,
        choice: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        unsupported: str | None = None,
    ) -> Outcome:
        self.count += 1
        inbound = Inbound(
            "test",
            "user-1",
            str(self.count),
            text=text,
            choice=choice,
            attachments=attachments,
            unsupported=unsupported,
        )
        understood = parse(text or "")
        context = self.context(inbound, understood)
        outcome = handle(inbound, understood, self.state, context, self.texts, self.flows)
        self.state = outcome.state
        self.outcomes.append(outcome)
        self.effects.extend(outcome.effects)
        return outcome

    def context(self, inbound: Inbound, understood: Parse) -> Context:
        """What the pipeline would look up for this turn: here a code for every turn, and the known
        reports' statuses (tests/test_needs_code.py draws codes as the pipeline does)."""
        return Context(f"TEST-{self.count:04d}", self.reports)

    def press(self, choice: str) -> Outcome:
        assert choice in self.state.offered, f"{choice} not offered; offered: {self.state.offered}"
        return self.send(choice=choice)

    @property
    def submitted(self) -> list[SubmitReport]:
        return [e for e in self.effects if isinstance(e, SubmitReport)]

    @property
    def last(self) -> Outcome:
        return self.outcomes[-1]

    @property
    def said(self) -> str:
        return "\n".join(r.text for r in self.last.replies)

    @property
    def answer(self) -> str:
        """What was said, without the line offering a switch of language after a first message."""
        return drop_language_line(self.said)

    @property
    def step(self) -> str:
        return self.state.step
