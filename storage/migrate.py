"""Schema migrations with Alembic, over the app's own async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None, audit_key: bytes | None = None) -> Config:
    """Alembic's config; migrations find the connection, and the audit chain's key (migration 0009 re-keys
    the chain with it), in `config.attributes`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["audit_key"] = audit_key
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head", audit_key: bytes | None = None) -> None:
    """Bring the database to `revision` (the newest by default). `audit_key` is the Storage's audit key;
    without it, migrations that need it take the one on the engine's connections (AUDIT_KEY)."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection, audit_key), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
