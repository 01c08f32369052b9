"""The database: its engines, and the one place where a driver's failure becomes StorageUnavailable.

Every read and write in storage goes through `Database.read()` or `Database.transaction()`, so callers
see one exception for "the database could not be reached or refused the transaction" (nothing was
committed) and never a driver's own. A unique-constraint clash (IntegrityError) is not an outage: it
passes through for the caller to read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import SINGLE_STATEMENT, create_engines


def utcnow() -> datetime:
    """The time storage stamps rows with."""
    return datetime.now(UTC)


class StorageUnavailable(RuntimeError):
    """The database could not be reached or refused the transaction; nothing was committed."""


class Database:
    def __init__(self, url: str, audit_key: bytes) -> None:
        self.url = url
        self.writer, self.reader = create_engines(url, audit_key)
        self.dialect = self.writer.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without an exception."""
        try:
            async with self.writer.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (DBAPIError, OSError) as exc:
            raise StorageUnavailable(type(exc).__name__) from exc

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
            raise StorageUnavailable(type(exc).__name__) from exc

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.execute(text("SELECT 1"))
        except StorageUnavailable:
            return False
        return True

    async def close(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
