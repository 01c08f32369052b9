"""A conversation with the pure dialogue engine, for transcript-style tests."""

from __future__ import annotations

from bot.dialogue import Attachment, Context, Inbound, Outcome, State, SubmitReport, handle
from nlu import parse


class Talk:
    def __init__(self, reports: dict[str, str | None] | None = None) -> None:
        self.state = State()
        self.reports = reports or {}
        self.count = 0
        self.outcomes: list[Outcome] = []
        self.submitted: list[SubmitReport] = []

    def send(
        self, text: str | None = None, choice: str | None = None, attachments: tuple[Attachment, ...] = ()
    ) -> Outcome:
        self.count += 1
        inbound = Inbound(
            "test", "user-1", str(self.count), text=text, choice=choice, attachments=attachments
        )
        outcome = handle(
            inbound, parse(text or ""), self.state, Context(f"TEST-{self.count:04d}", self.reports)
        )
        self.state = outcome.state
        self.outcomes.append(outcome)
        self.submitted.extend(outcome.effects)
        return outcome

    def press(self, choice: str) -> Outcome:
        assert choice in self.state.offered, f"{choice} not offered; offered: {self.state.offered}"
        return self.send(choice=choice)

    @property
    def last(self) -> Outcome:
        return self.outcomes[-1]

    @property
    def said(self) -> str:
        return "\n".join(r.text for r in self.last.replies)

    @property
    def step(self) -> str:
        return self.state.step
