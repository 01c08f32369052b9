"""Calls that arrive while a batch is being written wait, and go together in the next batch.

Why one shape for three writers: the turn writer (storage.groupcommit: turns ready together commit
together), the claims served together (storage.claimgroup) and the replied marks (storage.replied) all pay
a fixed cost a write (a transaction, an fsync, a round trip, the audit chain's lock) that grows little with
what the write carries. Under load the batches grow by themselves; idle a call is a batch of one, run at
once. No timer: nothing waits for company that is not already waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 (an item of a batch)
R = TypeVar("R")

# A batch's outcomes, one an item in order: its result, or the exception its caller raises.
Run = Callable[[list[I]], Awaitable[Sequence[R | BaseException]]]


class Batcher(Generic[I, R]):
    """`submit(item)` returns once the batch holding `item` ran: `run(items)`'s outcome for it. When `run`
    itself raises, every caller of that batch raises it. At most `most` items a batch."""

    def __init__(self, run: Run[I, R], most: int | None = None) -> None:
        self.run = run
        self.most = most
        self._ready: list[tuple[I, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0  # batches run (or failed) so far: benchmarks and tests read how calls went together
        self.items = 0

    async def submit(self, item: I) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._ready.append((item, future))
        if self._drainer is None or self._drainer.done() or self._drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._ready:
            cut = len(self._ready) if self.most is None else self.most
            batch, self._ready = self._ready[:cut], self._ready[cut:]
            try:
                outcomes: Sequence[R | BaseException] = await self.run([item for item, _ in batch])
            except BaseException as exc:  # each caller hears why (StorageUnavailable, most likely)
                outcomes = [exc] * len(batch)
                if not isinstance(exc, Exception):
                    self._settle(batch, outcomes)
                    raise
            self.batches += 1
            self.items += len(batch)
            self._settle(batch, outcomes)

    @staticmethod
    def _settle(batch: list[tuple[I, asyncio.Future[R]]], outcomes: Sequence[R | BaseException]) -> None:
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the caller went away; what it asked for was done all the same
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
