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
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.inline import InlineConnection, Work, drive

T = TypeVar("T")


class Unavailable(RuntimeError):
    """The group could not begin or commit: nothing of it was kept (storage.database maps it)."""


class GroupWriter:
    """One writer per SQLite database in this process. `lock` is the one `Database.transaction` holds,
    so this process's other writes (outbox, console) never contend with a group for the file's lock."""

    def __init__(self, engine: Engine, lock: asyncio.Lock) -> None:
        self.engine = engine
        self.lock = lock
        self._ready: list[tuple[Work[Any], asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.groups = 0  # groups committed (or failed) so far: the benchmark reports turns per group
        self.turns = 0

    async def run(self, work: Work[T]) -> T:
        """Run `work` in the next group's transaction; its result once that group committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ready.append((work, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        # Turns that arrive while a group is in the thread wait for the next group: under load the
        # groups grow by themselves, idle a turn is a group of one.
        while self._ready:
            batch, self._ready = self._ready, []
            async with self.lock:
                outcomes = await asyncio.to_thread(self._commit_group, [work for work, _ in batch])
            self.groups += 1
            self.turns += len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the caller went away; the turn is stored all the same
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _commit_group(self, works: list[Work[Any]]) -> list[Any]:
        """In the worker thread: BEGIN IMMEDIATE, a savepoint per turn, COMMIT. Each turn's result or
        exception; every turn Unavailable when the group could not begin or commit."""
        outcomes: list[Any] = []
        try:
            with self.engine.connect() as sync, sync.begin():
                conn = cast(AsyncConnection, InlineConnection(sync))
                for work in works:
                    try:
                        with _savepoint(sync):
                            outcomes.append(drive(cast(Coroutine[Any, Any, Any], work(conn))))
                    except Exception as exc:  # this turn alone rolls back; its caller reads why
                        outcomes.append(exc)
        except (DBAPIError, OSError) as exc:
            return [Unavailable(type(exc).__name__) for _ in works]
        return outcomes

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def _savepoint(sync: Connection) -> Iterator[None]:
    nested = sync.begin_nested()
    try:
        yield
    except BaseException:
        nested.rollback()
        raise
    nested.commit()
