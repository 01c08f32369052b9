"""Flood limits: messages a minute per citizen, with an automatic block after repeated floods; new chat
sessions an hour per client address."""

from __future__ import annotations

import bisect
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
    """In-process sliding windows per pseudonym (one instance's view; the block itself is stored).

    A window is a list of times, oldest first, not a deque: a deque weighs 600 bytes before its first
    entry, and every citizen who wrote within the minute has one (7 MB of a server's memory after 100,000
    web chat messages, issue 23); a list of at most `messages_per_minute` is cut from the front as cheaply.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._messages: dict[str, list[float]] = {}
        self._floods: dict[str, list[float]] = {}
        self._flooding: set[str] = set()  # over the limit in the current minute: count the flood once
        self._pruned = clock()

    def check(self, who: str) -> Verdict:
        now = self.clock()
        recent = self._messages.setdefault(who, [])
        del recent[: bisect.bisect_right(recent, now - 60)]
        if len(recent) < self.limits.messages_per_minute:
            recent.append(now)
            self._flooding.discard(who)
            self._prune(now)
            return Verdict.OK
        if who in self._flooding:
            return Verdict.SLOW_DOWN
        self._flooding.add(who)
        floods = self._floods.setdefault(who, [])
        del floods[: bisect.bisect_right(floods, now - 86_400)]
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


class NewSessions:
    """New chat sessions an hour from one client address (a sliding hour); 0 turns the limit off.

    Every new session id stores a conversation, and a script can invent session ids without end: this
    caps how fast one address can add conversations, and with the purge of idle sessions that never
    reported (`Safety.purge`), how many it can hold (`per_hour` x 24 x idle days). The caller says which
    sessions are new (no stored conversation); sessions already known within the hour are not asked
    about again (`known`). One instance's view, like the per-address message limit.
    """

    WINDOW = 3600.0

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self._started: dict[str, deque[float]] = {}  # address -> when its new sessions started
        self._known: dict[str, float] = {}  # session -> when it was last let through
        self._pruned = clock()

    def known(self, session: str) -> bool:
        """Was this session let through within the hour? (Then it is not new, and costs nothing.)"""
        if self.per_hour <= 0:
            return True
        seen = self._known.get(session)
        return seen is not None and seen > self.clock() - self.WINDOW

    def existing(self, session: str) -> None:
        """The session has a stored conversation: let it through without counting it."""
        self._known[session] = self.clock()

    def admit(self, address: str, session: str) -> bool:
        """Count a new session from `address`; False (and not counted) when the address is at the limit."""
        now = self.clock()
        self._prune(now)
        started = self._started.setdefault(address, deque())
        while started and started[0] <= now - self.WINDOW:
            started.popleft()
        if len(started) >= self.per_hour:
            return False
        started.append(now)
        self._known[session] = now
        return True

    def retry_after(self, address: str) -> int:
        """Whole seconds until `address` may start a session again (its oldest one leaves the hour)."""
        started = self._started.get(address)
        if not started or len(started) < self.per_hour:
            return 1
        return max(1, math.ceil(started[0] + self.WINDOW - self.clock()))

    def _prune(self, now: float) -> None:
        """Forget addresses and sessions quiet for an hour, once a minute (memory stays bounded by what
        the limit lets through in an hour)."""
        if now - self._pruned < 60:
            return
        cutoff = now - self.WINDOW
        self._known = {k: t for k, t in self._known.items() if t > cutoff}
        self._started = {a: d for a, d in self._started.items() if d and d[-1] > cutoff}
        self._pruned = now
