"""One conversation's events one after another, in arrival order; different conversations concurrently.

Every channel holds its events in this order from the moment they arrive until their replies are sent
(the pipeline orders the handling itself too, but a channel must not send one message's replies before
the previous message's): Telegram per chat, Messenger per sender. Nothing is held for a conversation with
no work, so a campaign's thousands of citizens cost nothing once answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class InOrder(Generic[K]):
    """Turns per key: `async with order.turn(key):` waits for the earlier holders of `key`, in the order
    they asked (asyncio's lock wakes its waiters first come, first served), and lets other keys run."""

    def __init__(self) -> None:
        self._locks: dict[K, asyncio.Lock] = {}
        self._waiting: dict[K, int] = {}  # key -> turns taken or asked for, not yet given back

    @asynccontextmanager
    async def turn(self, key: K) -> AsyncIterator[None]:
        """Hold `key`'s turn for the body of the `async with`. Asking takes no await before the queue is
        joined, so tasks started in order queue in that order."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

    def __len__(self) -> int:
        """How many keys have work taken or waiting."""
        return len(self._waiting)

    def waiting(self, key: K) -> int:
        """How many turns of `key` are held or asked for."""
        return self._waiting.get(key, 0)
