"""The dialect's way to change rows: one row read to change it (locked on PostgreSQL, where writers run
side by side), and INSERT with ON CONFLICT."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def lock_row(conn: AsyncConnection, table: Table, row_id: int) -> Any:
    """The row of `table` with this id, or None; FOR UPDATE on PostgreSQL (SQLite's single writer, in
    BEGIN IMMEDIATE, already holds the whole database)."""
    query = select(table).where(table.c.id == row_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


def upsert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT with the dialect's ON CONFLICT clauses (both dialects spell them alike)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
