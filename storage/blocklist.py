"""The citizens blocked now, held in memory: one query every few seconds instead of one per message.

Blocks are few and change rarely (after repeated floods, or when an admin lifts one). A block or lift made
through this process (`Safety.block`, `Safety.lift`) is seen by the next message at once; one made by
another process (`raabta blocks lift`, another instance) within `refresh` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.repository import Storage
from storage.schema import blocks

REFRESH_SECONDS = 5.0


class BlockList:
    def __init__(
        self,
        storage: Storage,
        refresh: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.refresh = refresh
        self.clock = clock
        self._blocked: frozenset[str] = frozenset()
        self._loaded_at: float | None = None
        self._generation = -1

    async def contains(self, reporter_id: str) -> bool:
        fresh = (
            self._loaded_at is not None
            and self.clock() - self._loaded_at < self.refresh
            and self._generation == self.storage.blocks_generation
        )
        if not fresh:
            await self._load()
        return reporter_id in self._blocked

    async def _load(self) -> None:
        generation, started = self.storage.blocks_generation, self.clock()

        async def load(conn: AsyncConnection) -> frozenset[str]:
            found = await conn.scalars(select(blocks.c.reporter_id).where(blocks.c.lifted_at.is_(None)))
            return frozenset(found.all())

        self._blocked = await self.storage.db.fetch(load)
        self._loaded_at, self._generation = started, generation
