"""Shared fixtures: a migrated database on each backend, settings, the app and an HTTP client.

PostgreSQL runs when RAABTA_TEST_POSTGRES_URL is set (CI sets it). Each test gets a database of its own,
created on that server and dropped afterwards. With the variable set, an unreachable server fails the
tests rather than skipping them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.app import create_app
from bot.shared.config import Settings, load_settings
from storage.repository import Storage
from tests.browser import chromium  # noqa: F401  (the browser tests' shared fixture)
from tests.pgdb import create_database, drop_database

PG_URL = os.environ.get("RAABTA_TEST_POSTGRES_URL")
SECRET = "test-secret-key-0123456789abcdefghijklmnop"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def create_pg_database() -> str:
    """A fresh PostgreSQL database on the test server; returns its SQLAlchemy URL."""
    assert PG_URL, "RAABTA_TEST_POSTGRES_URL is not set"
    return await create_database(PG_URL, "raabta_test")


async def drop_pg_database(url: str) -> None:
    assert PG_URL
    await drop_database(PG_URL, url)


# For a corpus of platform payload shapes replayed one by one: how a shape is read does not depend on the
# database, and the storage paths they reach run on both backends in each channel's end-to-end tests, so
# the corpus runs on SQLite only (it would otherwise double `make test`'s longest minutes).
SQLITE_ONLY = pytest.mark.sqlite_only
# A test of what only PostgreSQL has (several connections, a server that can cut them).
POSTGRES_ONLY = pytest.mark.postgres_only


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the PostgreSQL variants of tests marked `sqlite_only` and the SQLite variants of those
    marked `postgres_only` (never skipped: not run at all)."""
    dropped = [
        item
        for item in items
        if (item.get_closest_marker("sqlite_only") and item.get_closest_marker("postgres"))
        or (item.get_closest_marker("postgres_only") and not item.get_closest_marker("postgres"))
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/raabta.db"
        return
    if not PG_URL:
        pytest.skip("RAABTA_TEST_POSTGRES_URL is not set")
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def storage(db_url: str) -> AsyncIterator[Storage]:
    store = Storage(db_url, SECRET.encode())
    await store.upgrade()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=db_url,
        secret_key=SECRET,
        data_dir=tmp_path / "data",
        webchat_ip_limit=0,
        webchat_new_sessions_per_hour=0,  # tests start many chats from one address; see test_bounded_storage
    )


@pytest.fixture
async def client(settings: Settings, storage: Storage) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, storage)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
