"""Scratch PostgreSQL databases: one of its own for a test or a benchmark run, on a server that outlives
them, dropped afterwards (tests/conftest.py, tests/test_two_instances.py, bench/)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy.engine import make_url


def plain(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(server_url: str, prefix: str, template: str | None = None) -> str:
    """A new database `<prefix>_<random>` on the server of `server_url`, empty or a copy of the database
    `template` (which nobody may be connected to); its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copied = "" if template is None else f' TEMPLATE "{template}"'
    conn = await asyncpg.connect(plain(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copied}')
    finally:
        await conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, url: str) -> None:
    """Drop the database of `url` (connections to it closed), connected to the one of `server_url`."""
    conn = await asyncpg.connect(plain(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """`create_database`, dropped when the block ends however it ends."""
    url = await create_database(server_url, prefix)
    try:
        yield url
    finally:
        await drop_database(server_url, url)
