"""Storage work run in one thread hop on SQLite: `InlineConnection`, `drive` and the one-hop reader.

Why: through aiosqlite a statement costs several thread hops and a greenlet switch (issue 23's profile:
half of a web chat message's CPU). Storage code is written once, against `AsyncConnection`; a coroutine
of it that only awaits its connection can instead be handed an `InlineConnection`, whose statements run
at once in the calling thread: the coroutine never suspends, and `drive` runs it to its end in one call,
in a worker thread or in the loop's own. The turn writer (storage.groupcommit) runs groups of turns that
way in the loop's thread and commits them in a worker; `InlineReader` does the reads every turn makes
(its conversation, a question waiting for it, its report counts) in the loop's thread, through
SQLAlchemy (`run`) or in fixed SQL on a sqlite3 connection the thread keeps (`run_raw`,
storage.fixedreads).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Result
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import PoolProxiedConnection

from storage.prepared import Prepared
from storage.prepared import enabled as prepared_enabled

T = TypeVar("T")
Work = Callable[[AsyncConnection], Awaitable[T]]


class Suspended(RuntimeError):
    """Storage work awaited something other than its connection: it cannot run inline."""


class InlineConnection:
    """What storage code uses of `AsyncConnection` (execute, scalar, scalars, dialect, sync_connection),
    over a sync connection: each statement runs when it is awaited, in the awaiting thread. Results are
    the sync ones; storage code reads each before its next statement, as it does on AsyncConnection.

    On SQLite a statement built once (a module's constant, executed with parameter dicts) runs on the
    driver's connection without SQLAlchemy's per-execution machinery, compiled once (storage.prepared:
    the same SQL and values; what that cannot do exactly goes through SQLAlchemy as before)."""

    __slots__ = ("_prepared", "sync_connection")

    def __init__(self, sync: Connection) -> None:
        self.sync_connection = sync
        self._prepared = Prepared(sync) if prepared_enabled(sync.engine) else None

    @property
    def dialect(self) -> Dialect:
        return self.sync_connection.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Result[Any]:
        if self._prepared is not None:
            ran = self._prepared.run(statement, parameters)
            if ran is not None:
                return cast("Result[Any]", ran)
        return self.sync_connection.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        if self._prepared is not None:
            ran = self._prepared.run(statement, parameters)
            if ran is not None:
                return ran.scalar()
        return self.sync_connection.scalar(statement, parameters)

    async def scalars(self, statement: Any, parameters: Any = None) -> Any:
        if self._prepared is not None:
            ran = self._prepared.run(statement, parameters)
            if ran is not None:
                return ran.scalars()
        return self.sync_connection.scalars(statement, parameters)


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (its awaits are an InlineConnection's) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return cast(T, finished.value)
    coroutine.close()
    raise Suspended("storage work waited on something other than its connection")


class InlineReader:
    """Reads on SQLite's sync reader engine, run at once in the event loop's own thread. `snapshot`: the
    read's statements see one snapshot (a deferred BEGIN); else each statement is one by itself.

    Why the loop's thread and not a worker's: in WAL mode a reader never waits for the writer, and these
    reads are a few indexed rows (tens of microseconds), while a hop to a worker thread and back costs
    more than that and, under load, waits for the GIL behind the thread committing a group: at 200
    messages a second the hops' waits were the long tail of the latency (issue 23)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held: dict[int, PoolProxiedConnection] = {}  # by thread: `run_raw`'s connections

    async def run(self, work: Work[T], snapshot: bool = False) -> T:
        return self._read(work, snapshot)

    def run_raw(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` (fixed SQL, each statement one by itself: the connection is in autocommit) at once on
        the sqlite3 connection this thread keeps checked out of the pool. Why kept: a checkout and its
        return cost twice what an indexed read itself does. A connection whose statement failed is
        dropped (the pool opens a fresh one next time)."""
        thread = threading.get_ident()
        held = self._held.get(thread)
        if held is None:
            held = self._held[thread] = self.engine.raw_connection()
        try:
            return work(cast(sqlite3.Connection, held.driver_connection))
        except sqlite3.Error:
            self._held.pop(thread, None)
            held.invalidate()
            raise

    def _read(self, work: Work[T], snapshot: bool) -> T:
        with self.engine.connect() as sync:
            if snapshot:
                sync.exec_driver_sql("BEGIN")
            return drive(cast("Coroutine[Any, Any, T]", work(cast(AsyncConnection, InlineConnection(sync)))))

    def close(self) -> None:
        held, self._held = list(self._held.values()), {}
        for connection in held:
            connection.close()
        self.engine.dispose()
