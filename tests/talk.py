"""A conversation with the pure dialogue engine, for transcript-style tests."""

from __future__ import annotations

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
from bot.dialogue.types import Effect
from nlu import parse
from responses import Catalog


class Talk:
    def __init__(
        self,
        reports: dict[str, str | None] | None = None,
        flows: Registry = REGISTRY,
        texts: Catalog | None = None,
    ) -> None:
        self.flows = flows
        self.texts = texts
        self.state = State()
        self.reports = reports or {}
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
        context = Context(f"TEST-{self.count:04d}", self.reports)
        outcome = handle(inbound, parse(text or ""), self.state, context, self.texts, self.flows)
        self.state = outcome.state
        self.outcomes.append(outcome)
        self.effects.extend(outcome.effects)
        return outcome

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
    def step(self) -> str:
        return self.state.step
