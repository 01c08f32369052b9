"""The database: its engines, and the one place where a driver's failure becomes StorageUnavailable.

Every read and write in storage goes through `Database.read()` or `Database.transaction()`, so callers
see one exception for "the database could not be reached or refused the transaction" (nothing was
committed) and never a driver's own. A unique-constraint clash (IntegrityError) is not an outage: it
passes through for the caller to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import SINGLE_STATEMENT, create_engines, create_inline_engines
from storage.fixedreads import FixedReads
from storage.groupcommit import GroupWriter, Unavailable
from storage.inline import InlineReader

T = TypeVar("T")


def utcnow() -> datetime:
    """The time storage stamps rows with."""
    return datetime.now(UTC)


class StorageUnavailable(RuntimeError):
    """The database could not be reached or refused the transaction; nothing was committed.

    `retryable`: the connection was found dead (PostgreSQL restarted, a connection cut while it idled in
    the pool); the pool has dropped it, so the same work may well succeed on a fresh one."""

    def __init__(self, reason: str, retryable: bool = False) -> None:
        super().__init__(reason)
        self.retryable = retryable


def _unavailable(exc: BaseException) -> StorageUnavailable:
    dead = isinstance(exc, DBAPIError) and exc.connection_invalidated
    return StorageUnavailable(type(exc).__name__, retryable=dead)


class Database:
    def __init__(self, url: str, audit_key: bytes) -> None:
        self.url = url
        self.writer, self.reader = create_engines(url, audit_key)
        self.dialect = self.writer.dialect.name
        # SQLite: one write lock in this process for the turn writer's groups and every other write, so
        # they queue here instead of contending for the file's lock (and sleeping in SQLite's busy wait).
        self.write_lock = asyncio.Lock()
        inline = create_inline_engines(url, audit_key)
        self.group = GroupWriter(inline[0], self.write_lock) if inline is not None else None
        self.inline_reader = InlineReader(inline[1]) if inline is not None else None
        # SQLite: the reads every turn makes in fixed SQL (storage.fixedreads, run by `fetch_sqlite`);
        # None runs their SQLAlchemy queries (PostgreSQL; tests/test_fixed_reads.py compares the two).
        self.fixed = FixedReads(self.writer.dialect) if inline is not None else None

    async def fetch(self, work: Callable[[AsyncConnection], Awaitable[T]], snapshot: bool = False) -> T:
        """`work`'s reads, for the reads every message makes: on SQLite in one thread hop
        (storage.inline: `work` must only await its connection), else as `read()`. `snapshot`: its
        statements see one snapshot."""
        if self.inline_reader is None:
            async with self.read(single_statement=not snapshot) as conn:
                return await work(conn)
        try:
            return await self.inline_reader.run(work, snapshot)
        except IntegrityError:
            raise
        except (DBAPIError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def fetch_sqlite(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`fetch` for fixed SQL on SQLite's own connection (storage.fixedreads), at once in the calling
        thread (the loop's: storage.inline.InlineReader.run_raw)."""
        assert self.inline_reader is not None, "SQLite only"
        try:
            return self.inline_reader.run_raw(work)
        except (OSError, sqlite3.Error) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc
        except DBAPIError as exc:  # the pool could not open a connection
            raise _unavailable(exc) from exc

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`work` in a write transaction, committed before this returns. On SQLite it shares one
        transaction (a savepoint of its own) with the other work ready at the same moment
        (storage.groupcommit), so `work` must only await its connection. On PostgreSQL a connection
        found dead is dropped and the work runs once more on a fresh one (there is no pre-ping)."""
        if self.group is not None:
            try:
                return await self.group.run(work)
            except IntegrityError:
                raise
            except Unavailable as exc:
                raise StorageUnavailable(str(exc)) from exc
            except (DBAPIError, OSError, sqlite3.Error) as exc:
                raise _unavailable(exc) from exc
        try:
            async with self.transaction() as conn:
                return await work(conn)
        except StorageUnavailable as exc:
            if not exc.retryable:
                raise
        async with self.transaction() as conn:
            return await work(conn)

    async def write_sqlite(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`write` for fixed SQL on SQLite's own connection (storage.plainturn), in the next group."""
        assert self.group is not None, "SQLite only"
        try:
            return await self.group.run_raw(work)
        except Unavailable as exc:
            raise StorageUnavailable(str(exc)) from exc
        except (OSError, sqlite3.Error) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

    async def autocommit(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """PostgreSQL: `work` on the driver's own connection (asyncpg) from the writer's pool, outside
        any transaction, for work that is one statement (storage.pgturn: a plain turn in one round trip,
        five round trips in a transaction). Failures become StorageUnavailable as in `write`, and, as
        there, a connection found dead is dropped and `work` runs once more on a fresh one."""
        assert self.group is None, "PostgreSQL only"
        try:
            return await self._on_driver(work)
        except StorageUnavailable as exc:
            if not exc.retryable:
                raise
        return await self._on_driver(work)

    async def _on_driver(self, work: Callable[[Any], Awaitable[T]]) -> T:
        import asyncpg  # here, not at the top: every SQLite process (the CLI's among them) would load it

        try:
            async with self.writer.connect() as conn:
                driver: Any = (await conn.get_raw_connection()).driver_connection
                try:
                    return await work(driver)
                except asyncpg.PostgresError as exc:  # the server's answer, unless the connection is gone
                    dead = driver.is_closed() or isinstance(exc, asyncpg.PostgresConnectionError)
                    if dead:
                        await conn.invalidate()
                    raise StorageUnavailable(type(exc).__name__, retryable=dead) from exc
                except Exception as exc:  # the driver's own (a connection cut under it): drop the connection
                    await conn.invalidate()
                    raise StorageUnavailable(type(exc).__name__, retryable=True) from exc
                except BaseException:  # cancelled mid-call: the connection's state is unknown
                    await conn.invalidate()
                    raise
        except (DBAPIError, OSError) as exc:  # the pool could not open a connection
            raise _unavailable(exc) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # ... cut during its handshake
            raise StorageUnavailable(type(exc).__name__) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without an exception."""
        async with self.write_lock if self.group is not None else contextlib.nullcontext():
            try:
                async with self.writer.begin() as conn:
                    yield conn
            except IntegrityError:
                raise
            except (DBAPIError, OSError) as exc:
                raise _unavailable(exc) from exc

    @asynccontextmanager
    async def read(self, single_statement: bool = False) -> AsyncIterator[AsyncConnection]:
        """A read; several statements see one snapshot unless `single_statement` says there is one."""
        try:
            async with self.reader.connect() as conn:
                if single_statement:
                    await conn.execution_options(**{SINGLE_STATEMENT: True})
                yield conn
        except IntegrityError:
            raise
        except (DBAPIError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.execute(text("SELECT 1"))
        except StorageUnavailable:
            return False
        return True

    async def close(self) -> None:
        if self.group is not None:
            await asyncio.to_thread(self.group.close)
        if self.inline_reader is not None:
            await asyncio.to_thread(self.inline_reader.close)
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
