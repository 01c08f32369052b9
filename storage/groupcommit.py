"""SQLite's turn writer: the turns ready together commit together, durably, in one thread hop.

Why: through aiosqlite every statement is several thread hops and a greenlet switch, about half of a
message's CPU (issue 23), and with `synchronous=FULL` (a reference code the citizen saw must survive a
power failure) every COMMIT waits for the disk. Here the turns waiting when the writer is free run in
one transaction on a plain `sqlite3` connection in a worker thread: a SAVEPOINT each (a failing turn rolls
back alone), one COMMIT (one fsync) for the group, and only then does any of them return, so no reply of
a turn leaves before its group's COMMIT returned. When the COMMIT fails every turn of the group gets
StorageUnavailable (the pipeline answers "please send it again"), never a code.

The turns' storage code is the same code PostgreSQL runs, written against `AsyncConnection`: here it is
handed an `InlineConnection` (storage.inline), whose statements run at once in the calling thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.batching import Batcher
from storage.inline import InlineConnection, Work, drive

T = TypeVar("T")


class Unavailable(RuntimeError):
    """The group could not begin or commit: nothing of it was kept (storage.database maps it)."""


RawWork = Callable[[sqlite3.Connection], T]


class GroupWriter:
    """One writer per SQLite database in this process. `lock` is the one `Database.transaction` holds,
    so this process's other writes (outbox, console) never contend with a group for the file's lock."""

    def __init__(self, engine: Engine, lock: asyncio.Lock) -> None:
        self.engine = engine
        self.lock = lock
        # Turns that arrive while a group is in the thread wait for the next group (storage.batching).
        self.batcher: Batcher[tuple[Work[Any] | RawWork[Any], bool], Any] = Batcher(self._group)
        self.cpu = 0.0  # seconds of CPU the writer's thread spent on groups: bench.turns prints it a turn

    @property
    def groups(self) -> int:
        """Groups committed (or failed) so far: the benchmark reports turns per group."""
        return self.batcher.batches

    @property
    def turns(self) -> int:
        return self.batcher.items

    async def run(self, work: Work[T]) -> T:
        """Run `work` (storage code, against its connection) in the next group's transaction; its
        result once that group committed."""
        return cast(T, await self.batcher.submit((work, False)))

    async def run_raw(self, work: RawWork[T]) -> T:
        """`run` for fixed SQL on the stdlib sqlite3 connection itself (storage.plainturn)."""
        return cast(T, await self.batcher.submit((work, True)))

    async def _group(self, works: list[tuple[Work[Any] | RawWork[Any], bool]]) -> list[Any]:
        async with self.lock:
            return await asyncio.to_thread(self._commit_group, works)

    def _commit_group(self, works: list[tuple[Work[Any] | RawWork[Any], bool]]) -> list[Any]:
        """In the worker thread: BEGIN IMMEDIATE, a savepoint per turn, COMMIT. Each turn's result or
        exception; every turn Unavailable when the group could not begin or commit. The savepoints are
        plain SQL on the driver's connection (SQLAlchemy's nested transactions cost more than the
        turn's own statements); SQLAlchemy's transaction around them is the group's."""
        outcomes: list[Any] = []
        started = time.thread_time()
        try:
            with self.engine.connect() as sync, sync.begin():
                db: sqlite3.Connection = sync.connection.driver_connection  # type: ignore[assignment]
                conn = cast(AsyncConnection, InlineConnection(sync))
                for work, raw in works:
                    db.execute("SAVEPOINT turn")
                    try:
                        # The casts' types as strings: `cast` evaluates its first argument, and
                        # subscripting a Callable alias at run time cost 18 microseconds a turn.
                        if raw:
                            outcome = cast("RawWork[Any]", work)(db)
                        else:
                            outcome = drive(cast("Coroutine[Any, Any, Any]", cast("Work[Any]", work)(conn)))
                    except Exception as exc:  # this turn alone rolls back; its caller reads why
                        db.execute("ROLLBACK TO turn")
                        outcome = exc
                    db.execute("RELEASE turn")
                    outcomes.append(outcome)
        except (DBAPIError, OSError, sqlite3.Error) as exc:
            return [Unavailable(type(exc).__name__) for _ in works]
        finally:
            self.cpu += time.thread_time() - started
        return outcomes

    def close(self) -> None:
        self.engine.dispose()
