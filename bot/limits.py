"""Per-citizen flood limits: messages a minute, with an automatic block after repeated floods."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    OK = "ok"
    SLOW_DOWN = "slow_down"  # over the per-minute limit: answered politely, not handled
    BLOCK = "block"  # this flood is one too many: block the citizen


@dataclass(frozen=True, slots=True)
class Limits:
    messages_per_minute: int = 30
    reports_per_hour: int = 5
    reports_per_day: int = 20
    floods_before_block: int = 3


class FloodGuard:
    """In-process sliding windows per pseudonym (one instance's view; the block itself is stored)."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._messages: dict[str, deque[float]] = {}
        self._floods: dict[str, deque[float]] = {}
        self._flooding: set[str] = set()  # over the limit in the current minute: count the flood once
        self._pruned = clock()

    def check(self, who: str) -> Verdict:
        now = self.clock()
        recent = self._messages.setdefault(who, deque())
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) < self.limits.messages_per_minute:
            recent.append(now)
            self._flooding.discard(who)
            self._prune(now)
            return Verdict.OK
        if who in self._flooding:
            return Verdict.SLOW_DOWN
        self._flooding.add(who)
        floods = self._floods.setdefault(who, deque())
        while floods and floods[0] <= now - 86_400:
            floods.popleft()
        floods.append(now)
        return Verdict.BLOCK if len(floods) >= self.limits.floods_before_block else Verdict.SLOW_DOWN

    def retry_after(self, who: str) -> int:
        """Whole seconds until `who` may send again (the oldest message counted leaves the minute); at
        least 1."""
        recent = self._messages.get(who)
        if not recent or len(recent) < self.limits.messages_per_minute:
            return 1
        return max(1, math.ceil(recent[0] + 60 - self.clock()))

    def forgive(self, who: str) -> None:
        """Take back the last message counted: it was not handled through no fault of the citizen (our
        database was down), and the citizen was asked to send it again."""
        recent = self._messages.get(who)
        if recent:
            recent.pop()

    def _prune(self, now: float) -> None:
        """Forget citizens quiet for a minute: once a minute (else memory grows with every new citizen)."""
        if len(self._messages) > 50_000 or now - self._pruned >= 60:
            self._messages = {k: v for k, v in self._messages.items() if v and v[-1] > now - 60}
            self._pruned = now
