"""SQLite's turn writer: the turns ready together commit together, durably, with at most one thread hop.

Why: through aiosqlite every statement is several thread hops and a greenlet switch, about half of a
message's CPU (issue 23), and with `synchronous=FULL` (a reference code the citizen saw must survive a
power failure) every COMMIT waits for the disk. Here the turns waiting when the writer is free run in
one transaction on a plain `sqlite3` connection: a SAVEPOINT each (a failing turn rolls back alone), one
COMMIT (one fsync) for the group, and only then does any of them return, so no reply of a turn leaves
before its group's COMMIT returned. When the COMMIT fails every turn of the group gets
StorageUnavailable (the pipeline answers "please send it again"), never a code.

Where each part runs: the turns' statements in the event loop's own thread, and only the COMMIT, the
one part that waits for the disk, in a worker thread while the loop goes on with the next messages (whose
turns wait for the next group). Why not the whole group in the worker, as before: each statement releases
the GIL around SQLite's call, so the worker and the loop took it from each other at every statement and
a group's statements waited behind the loop's work (a plain turn took 82 microseconds of the worker's
time for about 20 of SQLite's own). Measured in the server (bench.pipeline, closed loop), CPU a message
stayed about the same and the messages answered a second rose. The statements need no waiting: BEGIN
IMMEDIATE is asked without SQLite's busy wait, and when another process holds the file's write lock (a
CLI command writing) the group runs in the worker as before, where waiting for the lock holds up nothing
else.

A group commits in the loop's own thread while COMMITs are quick (under `INLINE_BELOW` on average),
whatever its size. The hop to the worker and back (a thread woken, the loop woken, the GIL handed over
twice) cost about 100 microseconds of CPU a message at 100 messages a second, where every group is of
one, more than the loop loses by waiting for a quick fsync itself, which is what the floor app does
(bench.pipeline). Under load it cost as much: with 32 clients back to back the groups held 1.3 turns on
average (the worker's thread switched 1.5 times a message), and committing them in the loop's thread
took server CPU a message from 0.55-0.62 ms to 0.45-0.54 ms with about as many messages answered
(bench.threads, issue 23's ninth sitting): the messages that arrive while the loop waits for the disk
are read together afterwards, and their turns make the next group. A message arriving meanwhile waits
that long at most. A disk whose COMMITs slow down (the average is kept of every group's) sends every
group to the worker again, where the loop goes on while the disk works.

The writer's connection never checkpoints the write-ahead log inside a COMMIT (SQLite's automatic
checkpoint is off on it): every so many turns (`CHECKPOINT_EVERY` to begin with), the group's COMMIT goes
to the worker and a PASSIVE checkpoint follows it there. The number of turns between checkpoints follows
the frames each checkpoint found in the log, so that the log holds about `WAL_FRAMES` pages, as with
SQLite's own automatic checkpoint (a report writes about twice a plain turn's pages). Left automatic,
a checkpoint (hundreds of pages copied into the database and an fsync, several milliseconds) would run
inside whichever COMMIT crossed SQLite's threshold, a quick group's in the loop's thread included,
and every message would wait for it.
Its statement journals (each turn's SAVEPOINT copies the pages it changes) are kept in memory
(`temp_store=MEMORY`): on disk they were a temporary file opened and removed every group and about seven
writes a message (strace, bench.pipeline's closed loop).

The turns' storage code is the same code PostgreSQL runs, written against `AsyncConnection`: here it is
handed an `InlineConnection` (storage.inline), whose statements run at once in the calling thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.batching import Batcher
from storage.engine import SQLITE_BUSY_MS
from storage.inline import InlineConnection, Work, drive

T = TypeVar("T")


class Unavailable(RuntimeError):
    """The group could not begin or commit: nothing of it was kept (storage.database maps it)."""


RawWork = Callable[[sqlite3.Connection], T]

INLINE_BELOW = 0.002  # seconds: a group commits in the loop's thread while COMMITs average less
WEIGHT = 0.2  # of the latest COMMIT's time in that average
CHECKPOINT_EVERY = 256  # turns between checkpoints to begin with (then adjusted: WAL_FRAMES)
WAL_FRAMES = 1000  # pages the log holds at a checkpoint: SQLite's default automatic checkpoint


class GroupWriter:
    """One writer per SQLite database in this process. `lock` is the one `Database.transaction` holds,
    so this process's other writes (outbox, console) never contend with a group for the file's lock.

    The writer keeps its one connection checked out between groups and begins and commits each group in
    plain SQL on the driver's connection: a pool checkout and return (with its reset) and SQLAlchemy's
    transaction machinery cost about 200 calls a group, which an idle server pays for every message (a
    group of one). Storage code that runs through SQLAlchemy inside a group still gets SQLAlchemy's own
    transaction, begun lazily and ended with the group (it sends nothing: the driver is in autocommit
    and the engine has no `begin` listener, so the one BEGIN is the group's). The engine's pool holds
    that one connection: code other than the writer reaches it through `connection()`, never
    `engine.connect()`, which would wait for it."""

    def __init__(self, engine: Engine, lock: asyncio.Lock, inline_below: float = INLINE_BELOW) -> None:
        self.engine = engine
        self.lock = lock
        self.inline_below = inline_below
        self.commit_seconds = 0.0  # the groups' COMMITs, wall time, a moving average (WEIGHT)
        # Turns that arrive while a group is in the thread wait for the next group (storage.batching).
        self.batcher: Batcher[tuple[Work[Any] | RawWork[Any], bool], Any] = Batcher(self._group)
        self._held: Connection | None = None
        self._since_checkpoint = 0  # turns committed since the last checkpoint was asked
        self.checkpoint_every = CHECKPOINT_EVERY  # turns, adjusted by each checkpoint
        self.wal_frames = 0  # pages in the log at the last checkpoint

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

    def connection(self) -> Connection:
        """The writer's connection, checked out of the pool once and kept (between groups only: tests set
        an authorizer or a trace callback on it). Its busy timeout is 0: a group asks for the file's write
        lock without waiting in the loop's thread (see `_begin_at_once`); once a group holds that lock,
        nothing in its transaction waits for another connection (WAL: readers never block the writer).
        Its statement journals are in memory and it checkpoints only when asked (the module's docstring)."""
        held = self._held
        if held is None or held.closed or held.invalidated:
            fresh = self.engine.connect()
            try:
                db = _driver(fresh)
                db.execute("PRAGMA busy_timeout=0")
                db.execute("PRAGMA temp_store=MEMORY")
                db.execute("PRAGMA wal_autocheckpoint=0")
            except BaseException:  # kept only once it is set up as the writer needs it
                fresh.close()
                raise
            held = self._held = fresh
        return held

    def release(self) -> None:
        """Return the kept connection to the pool; the pool's reset rolls back what a failed group left.
        The next group checks one out again (a fresh one after `engine.dispose()`)."""
        held, self._held = self._held, None
        if held is not None:
            held.close()

    async def _group(self, works: list[tuple[Work[Any] | RawWork[Any], bool]]) -> list[Any]:
        async with self.lock:
            try:
                sync = self._begin_at_once()
                if sync is None:  # another process is writing: wait for its lock where nothing else waits
                    return await asyncio.to_thread(self._commit_group, works)
                try:
                    outcomes = self._run_turns(sync, works)
                except BaseException:
                    self.release()  # rolls the group back
                    raise
            except (DBAPIError, OSError, sqlite3.Error) as exc:
                return [Unavailable(type(exc).__name__) for _ in works]
            self._since_checkpoint += len(works)
            if self._since_checkpoint >= self.checkpoint_every:
                self._since_checkpoint = 0
                return await asyncio.to_thread(self._commit, sync, outcomes, True)
            if self.commit_seconds < self.inline_below:
                return self._commit(sync, outcomes)
            return await asyncio.to_thread(self._commit, sync, outcomes)

    def _begin_at_once(self) -> Connection | None:
        """The writer's connection in a transaction (BEGIN IMMEDIATE: the file's write lock taken), or None
        when another process holds that lock now: the connection's busy timeout is 0, so no busy wait in
        the loop's thread."""
        sync = self.connection()
        try:
            _driver(sync).execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
                return None
            self.release()
            raise
        return sync

    def _commit(self, sync: Connection, outcomes: list[Any], checkpoint: bool = False) -> list[Any]:
        """The group's COMMIT (its fsync), in the worker thread or, while COMMITs are quick, the loop's;
        then, when asked (only ever in the worker), a PASSIVE checkpoint. Every turn Unavailable when the
        COMMIT fails (nothing of the group was kept)."""
        try:
            began = time.perf_counter()
            _finish(sync)
            self.commit_seconds += (time.perf_counter() - began - self.commit_seconds) * WEIGHT
            if checkpoint:  # the group is kept whatever happens here: a failed checkpoint waits for the next
                with contextlib.suppress(sqlite3.Error):
                    self._checkpoint(_driver(sync))
        except (DBAPIError, OSError, sqlite3.Error) as exc:
            self.release()
            return [Unavailable(type(exc).__name__) for _ in outcomes]
        return outcomes

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        """A PASSIVE checkpoint (it copies what no reader still needs, waiting for nobody), and the turns
        until the next one, scaled so that the log holds about WAL_FRAMES pages then."""
        found = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        frames = int(found[1]) if found and found[1] and found[1] > 0 else 0
        if frames:
            self.wal_frames = frames
            scaled = round(self.checkpoint_every * WAL_FRAMES / frames)
            self.checkpoint_every = max(CHECKPOINT_EVERY // 8, min(CHECKPOINT_EVERY * 4, scaled))

    def _commit_group(self, works: list[tuple[Work[Any] | RawWork[Any], bool]]) -> list[Any]:
        """In the worker thread, the whole group: BEGIN IMMEDIATE (waiting for another process's write
        lock as long as SQLite's busy timeout allows), the turns, COMMIT. Each turn's result or exception;
        every turn Unavailable when the group could not begin or commit."""
        try:
            sync = self.connection()
            db = _driver(sync)
            db.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            try:
                db.execute("BEGIN IMMEDIATE")
            finally:
                db.execute("PRAGMA busy_timeout=0")
            outcomes = self._run_turns(sync, works)
            _finish(sync)
        except (DBAPIError, OSError, sqlite3.Error) as exc:
            self.release()
            return [Unavailable(type(exc).__name__) for _ in works]
        except BaseException:
            self.release()
            raise
        return outcomes

    @staticmethod
    def _run_turns(sync: Connection, works: list[tuple[Work[Any] | RawWork[Any], bool]]) -> list[Any]:
        """Each turn in a savepoint of the group's transaction: its result, or the exception that rolled
        it back alone. The savepoints are plain SQL on the driver's connection (SQLAlchemy's nested
        transactions cost more than the turn's own statements), inside the group's transaction, begun in
        plain SQL too."""
        db = _driver(sync)
        # Made for the first turn that runs storage code: a group of plain turns (fixed SQL) needs none,
        # and making one (its prepared statements' cache, SQLAlchemy's listeners looked at) was 2% of an
        # idle server's samples a message
        conn: AsyncConnection | None = None
        outcomes: list[Any] = []
        for work, raw in works:
            db.execute("SAVEPOINT turn")
            try:
                # The casts' types as strings: `cast` evaluates its first argument, and subscripting a
                # Callable alias at run time cost 18 microseconds a turn.
                if raw:
                    outcome = cast("RawWork[Any]", work)(db)
                else:
                    if conn is None:
                        conn = cast(AsyncConnection, InlineConnection(sync))
                    outcome = drive(cast("Coroutine[Any, Any, Any]", cast("Work[Any]", work)(conn)))
            except Exception as exc:  # this turn alone rolls back; its caller reads why
                db.execute("ROLLBACK TO turn")
                outcome = exc
            db.execute("RELEASE turn")
            outcomes.append(outcome)
        return outcomes

    def close(self) -> None:
        """Its connection back and the engine's pool closed. A writer used again opens a fresh connection
        (tests close it so that the next one carries a `connect` listener, bench.statements to count)."""
        self.release()
        self.engine.dispose()


def _driver(sync: Connection) -> sqlite3.Connection:
    return cast(sqlite3.Connection, sync.connection.driver_connection)


def _finish(sync: Connection) -> None:
    """COMMIT the group, then end SQLAlchemy's transaction if storage code began one inside the group
    (the driver is in autocommit by then: SQLAlchemy's commit sends nothing)."""
    _driver(sync).execute("COMMIT")
    if sync.in_transaction():
        sync.commit()
