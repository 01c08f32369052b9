"""The dialect's way to change rows: one row read to change it (locked on PostgreSQL, where writers run
side by side), and INSERT with ON CONFLICT."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, Table, bindparam, select, text
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


FILE_LOCKS = 7_201_002  # the class of PostgreSQL advisory locks taken by a kept file's name (`lock_file`)
_FILE_SHARED = text("SELECT pg_advisory_xact_lock_shared(:kind, hashtext(:name))")
_FILE_ALONE = text("SELECT pg_advisory_xact_lock(:kind, hashtext(:name))")


async def lock_file(conn: AsyncConnection, channel: str, name: str, shared: bool) -> None:
    """On PostgreSQL, hold a lock on a kept file's name to the transaction's end: shared by reports that
    read whether the file was downloaded yet (storage.evidence_rows), alone by the download's record
    (storage.evidence_files). Why: under READ COMMITTED a report that read "no hash yet" and a download
    that updates the rows naming the file, run side by side, each miss the other's uncommitted rows, and
    the report's row stayed without its hash; with the lock the second one starts after the first
    committed, and its next statement sees it. SQLite's single writer already runs them one at a time."""
    if conn.dialect.name == "postgresql":
        statement = _FILE_SHARED if shared else _FILE_ALONE
        await conn.execute(statement, {"kind": FILE_LOCKS, "name": f"{channel}/{name}"})


def upsert(conn: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT with the dialect's ON CONFLICT clauses (both dialects spell them alike)."""
    return upsert_for(conn.dialect.name, table)


def upsert_for(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """`upsert` by the dialect's name, for a statement built once."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@functools.cache
def insert_new(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT that skips a row already there, built once per table; the values are the parameters
    (building a statement costs more CPU than SQLite takes to run it, issue 23)."""
    return upsert_for(dialect, table).on_conflict_do_nothing()
