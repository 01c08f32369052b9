"""What a channel adapter promises the outbox worker: deliver replies to an address, say how it went."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from bot.dialogue import Reply


class Outcome(Enum):
    SENT = "sent"
    RETRY = "retry"  # a passing failure (5xx, timeout, rate limit): try again later
    GONE = "gone"  # permanent: blocked, user unavailable, no permission; mark the contact unreachable
    EXPIRED = "expired"  # may not be sent any more (e.g. outside Messenger's 24-hour window)


class Text(Protocol):
    """What a sender that only needs the words reads of a reply (the alert webhook): any `Reply` is one."""

    @property
    def text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    outcome: Outcome
    retry_after: float | None = None  # seconds, when the platform said how long to wait
    reason: str = ""  # short, no personal data: "429", "blocked", "outside_24h_window"


class Sender(Protocol):
    """A channel that can push messages to a citizen (Telegram, Messenger). The web chat is pulled."""

    channel: str

    async def deliver(self, address: str, replies: Sequence[Reply]) -> DeliveryResult: ...
