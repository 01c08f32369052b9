"""Reading one row to change it: locked on PostgreSQL, where writers run side by side."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection


async def lock_row(conn: AsyncConnection, table: Table, row_id: int) -> Any:
    """The row of `table` with this id, or None; FOR UPDATE on PostgreSQL (SQLite's single writer, in
    BEGIN IMMEDIATE, already holds the whole database)."""
    query = select(table).where(table.c.id == row_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()
