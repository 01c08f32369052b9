"""Engines per backend: SQLite in WAL with `synchronous=FULL` and `BEGIN IMMEDIATE` writes (async ones, and
the sync one the turn writer commits groups of turns on: storage.groupcommit), or PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_MS = 10_000


def json_text(value: Any) -> str:
    """JSON columns' serialiser: orjson (a turn writes its state, its replies and audit details as JSON,
    several times faster than the standard library's), and the standard library's for what orjson
    refuses (a lone surrogate, an integer beyond 64 bits), so nothing that stored before fails now."""
    return _json(value).decode()


def json_list(items: Iterable[str]) -> str:
    """A JSON array of values each already written by `json_text`: the text `json_text` writes for the
    list itself (orjson puts nothing between the items but a comma), without encoding the values again.
    A turn's replies go into its event's row and, one a line, into the web chat's transcript: encoded
    once, for both (bot.pipeline)."""
    return "[" + ",".join(items) + "]"


def json_bytes(value: Any) -> bytes:
    """`json_text` as UTF-8 bytes: a plain turn serialises its state once, for the row and for the state
    cache (storage.states). A copy of exactly its length, not orjson's own output: orjson hands over the
    buffer it wrote into (4 KB at least, doubled as it fills, never shrunk: 0.5 KB of JSON weigh 4 KB, 3 KB
    weigh 16 KB), so the state cache, which counts lengths, held 18.6 MB for its 8 MB budget (issue 23's
    memory target). The copy takes 0.2 microseconds."""
    return memoryview(_json(value)).tobytes()


def _json(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value).encode()


def json_value(text: str | bytes) -> Any:
    """JSON columns' reader: orjson, and the standard library's for rows orjson cannot read (NaN, an
    escaped lone surrogate, written by older versions)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def binder(column: Any, dialect: Any) -> Callable[[Any], Any]:
    """The column's own bind processor on `dialect` (identity when it has none), for fixed SQL that must
    store byte for byte what SQLAlchemy Core stores (storage.plainturn, pgturn, fixedreads, replied)."""
    return bind_processor(column.type, dialect) or _same


def bind_processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processor of `type_` on `dialect` (None when it has none); for SQLite's DATETIME in
    its default storage format, `SqliteTimes` in front of it (the same text, made faster)."""
    impl = type_.dialect_impl(dialect)
    process: Callable[[Any], Any] | None = impl.bind_processor(dialect)
    if process is not None and isinstance(impl, sqlite.DATETIME) and impl._storage_format == _SQLITE_FORMAT:
        return SqliteTimes(process)
    return process


_SQLITE_FORMAT = sqlite.DATETIME()._storage_format  # type: ignore[no-untyped-call]
_SQLITE_TEXT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"  # _SQLITE_FORMAT, by position


class SqliteTimes:
    """SQLite's DATETIME bind processor (SQLAlchemy's `process`, which is 3.7 microseconds: a dict of seven
    fields, then a format by name): the same text by position, and the last datetime's text kept for every
    column, since a turn binds its one `now` in two to ten places (its event, its state, its report, case
    and audit rows). Anything but a `datetime` goes to SQLAlchemy's processor. The last value and its text
    are one tuple, replaced whole, so threads binding meanwhile see both or neither; holding the value
    keeps its identity from being reused by another object."""

    __slots__ = ("process",)
    last: tuple[Any, str] = (None, "")  # shared by every column: the text does not depend on it

    def __init__(self, process: Callable[[Any], Any]) -> None:
        self.process = process

    def __call__(self, value: Any) -> Any:
        last = SqliteTimes.last
        if value is last[0] and value is not None:
            return last[1]
        if type(value) is not datetime:
            return self.process(value)
        text = _SQLITE_TEXT % (
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
        )
        SqliteTimes.last = (value, text)
        return text


def reader(column: Any, dialect: Any) -> Callable[[Any], Any]:
    """The column's own result processor on `dialect` (identity when it has none): `binder`'s reverse."""
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


JSON_OPTIONS = {"json_serializer": json_text, "json_deserializer": json_value}
SINGLE_STATEMENT = "single_statement"  # execution option: this read is one statement (see the reader)
# Execution option carried by every connection of a Storage's engines: the key that chains audit events
# (storage.audit reads it from the connection, so no caller has to hand it down).
AUDIT_KEY = "raabta_audit_key"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # FULL: a COMMIT returns once the write-ahead log is on disk, so a reference code the citizen was
    # shown survives a power failure (NORMAL may lose the last commits). The turn writer groups commits,
    # so the wait for the disk is one per group of turns, not one per turn.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def private_database_file(path: Path) -> None:
    """Make the SQLite file (and the folder it is created in) readable by this user only: a new folder
    0700, the database created empty as 0600 before SQLite opens it, so its WAL and shared-memory files,
    which SQLite creates with the database's own mode, are 0600 too. A database left by an older version
    with wider modes (0644 under a default umask) is narrowed to 0600, its WAL and -shm with it."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if name.stat().st_mode & 0o077:
                name.chmod(0o600)
        except FileNotFoundError:
            continue
        except PermissionError:  # not ours to change (a shared or read-only deployment): leave it
            continue


def _sqlite_file(url: str) -> None:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        private_database_file(Path(parsed.database))


def create_inline_engines(url: str, audit_key: bytes) -> tuple[Engine, Engine] | None:
    """SQLite's sync engines (stdlib sqlite3, usable from worker threads; storage.inline): the turn
    writer's, one connection on which the writer itself begins each group's transaction (BEGIN
    IMMEDIATE, in plain SQL: storage.groupcommit), and the one-hop reader's. None on
    PostgreSQL, whose turns and reads each have a connection of their own."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    _sqlite_file(url)
    writer, reader = (
        create_engine(
            parsed.set(drivername="sqlite+pysqlite"),
            pool_size=size,
            max_overflow=0,
            pool_timeout=60,
            connect_args={"check_same_thread": False},
            execution_options={AUDIT_KEY: audit_key},
            **JSON_OPTIONS,
        )
        for size in (1, 4)
    )
    for engine in (writer, reader):
        event.listen(engine, "connect", _sqlite_pragmas)

    return writer, reader


def create_engines(url: str, audit_key: bytes) -> tuple[AsyncEngine, AsyncEngine]:
    """(writer, reader) engines for `url`. On PostgreSQL both are the same engine."""
    parsed = make_url(url)
    options: dict[str, Any] = {"execution_options": {AUDIT_KEY: audit_key}, **JSON_OPTIONS}
    if parsed.get_backend_name() == "sqlite":
        _sqlite_file(url)
        # One writer connection: writes queue in-process instead of contending for the file lock.
        writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60, **options)
        reader = create_async_engine(url, pool_size=4, max_overflow=4, **options)
        for engine in (writer, reader):
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)

        @event.listens_for(writer.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(reader.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            # A read of several statements sees one snapshot; a single statement is one by itself, so
            # `single_statement` reads (one per message: the conversation's state) skip a round trip.
            if not conn.get_execution_options().get(SINGLE_STATEMENT):
                conn.exec_driver_sql("BEGIN")

        return writer, reader
    if parsed.get_backend_name() == "postgresql":
        # No pre-ping (three round trips per checkout): a connection found dead fails its transaction,
        # which `Database.write` runs again once on a fresh one.
        engine = create_async_engine(url, pool_size=10, max_overflow=10, **options)
        return engine, engine
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")
