"""Shared fixtures: a migrated database on each backend, settings, the app and an HTTP client.

PostgreSQL runs when RAABTA_TEST_POSTGRES_URL is set (CI sets it). Each test gets a database of its own,
created on that server and dropped afterwards. With the variable set, an unreachable server fails the
tests rather than skipping them.

A test that takes `storage` gets a copy of a database that the same migrations brought to head once per
test process (`Migrated`), not one migrated anew: the same schema, 0.1 s (SQLite) to 0.25 s (PostgreSQL)
less for each of ~1,400 tests. Tests of the migrations themselves open their own Storage.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.shared.config import Settings, load_settings
from storage.repository import Storage
from tests.browser import chromium  # noqa: F401  (the browser tests' shared fixture)
from tests.pgdb import create_database, drop_database

PG_URL = os.environ.get("RAABTA_TEST_POSTGRES_URL")
SECRET = "test-secret-key-0123456789abcdefghijklmnop"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def create_pg_database(template: str | None = None) -> str:
    """A fresh PostgreSQL database on the test server (a copy of `template` if given); its SQLAlchemy URL."""
    assert PG_URL, "RAABTA_TEST_POSTGRES_URL is not set"
    return await create_database(PG_URL, "raabta_test", template)


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


class Migrated:
    """A database of each backend brought to head by `Storage.upgrade` once per test process (created on
    first use, in the process's own temporary folder or as a PostgreSQL template of its own), and the
    URLs of the copies handed out: those need no `upgrade` of their own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite: Path | None = None
        self.postgres: str | None = None  # the template's URL (dropped when the session ends)
        self.copies: set[str] = set()

    async def sqlite_copy(self, path: Path) -> str:
        if self.sqlite is None:
            migrated = self.folder / "migrated.db"
            await self._upgrade(f"sqlite+aiosqlite:///{migrated}")
            self.sqlite = migrated
        for suffix in ("", "-wal"):  # closed, SQLite leaves no WAL; copied along if it ever does
            if (source := self.sqlite.with_name(self.sqlite.name + suffix)).exists():
                shutil.copyfile(source, path.with_name(path.name + suffix))
        return self._handed(f"sqlite+aiosqlite:///{path}")

    async def postgres_copy(self) -> str:
        if self.postgres is None:
            template = await create_pg_database()
            await self._upgrade(template)  # closed again: CREATE DATABASE ... TEMPLATE needs it unused
            self.postgres = template
        template_name = make_url(self.postgres).database
        assert template_name, self.postgres
        return self._handed(await create_pg_database(template=template_name))

    async def _upgrade(self, url: str) -> None:
        store = Storage(url, SECRET.encode())
        try:
            await store.upgrade()
        finally:
            await store.close()

    def _handed(self, url: str) -> str:
        self.copies.add(url)
        return url


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migrated]:
    databases = Migrated(tmp_path_factory.mktemp("migrated"))
    yield databases
    if databases.postgres is not None:
        asyncio.run(drop_pg_database(databases.postgres))


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated: Migrated) -> AsyncIterator[str]:
    # With `storage` among the test's fixtures, the database starts as a copy of the migrated one.
    copy = "storage" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "raabta.db"
        yield await migrated.sqlite_copy(path) if copy else f"sqlite+aiosqlite:///{path}"
        return
    if not PG_URL:
        pytest.skip("RAABTA_TEST_POSTGRES_URL is not set")
    url = await migrated.postgres_copy() if copy else await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def storage(db_url: str, migrated: Migrated) -> AsyncIterator[Storage]:
    store = Storage(db_url, SECRET.encode())
    if db_url not in migrated.copies:  # a `db_url` of a module's own
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
