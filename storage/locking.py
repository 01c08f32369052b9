"""The dialect's way to change rows: one row read to change it (locked on PostgreSQL, where writers run
side by side), and INSERT with ON CONFLICT."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def lock_row(conn: AsyncConnection, table: Table, row_id: int) -> Any:
    """The row of `table` with this id, or None; FOR UPDATE on PostgreSQL (SQLite's single writer, in
    BEGIN IMMEDIATE, already holds the whole database)."""
    query = _row_query(table, conn.dialect.name == "postgresql")
    return (await conn.execute(query, {"row_id": row_id})).first()


@functools.cache
def _row_query(table: Table, for_update: bool) -> Select[Any]:
    """Built once per table: building a statement costs more CPU than SQLite takes to run it (issue 23),
    and a statement built once also keeps its cache key."""
    query = select(table).where(table.c.id == bindparam("row_id"))
    return query.with_for_update() if for_update else query


def upsert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT with the dialect's ON CONFLICT clauses (both dialects spell them alike)."""
    return upsert_for(conn.dialect.name, table)


def upsert_for(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """`upsert` by the dialect's name, for a statement built once."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
