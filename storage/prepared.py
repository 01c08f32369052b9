"""Statements built once, run on SQLite's sqlite3 connection without SQLAlchemy's per-execution machinery.

Why: a turn that is not a plain one (a report submit, a contact kept, a callback request, a follow-up
answer) runs the same SQLAlchemy Core code PostgreSQL runs, a dozen statements for a submit, and most of
them are built once, at module level, and executed with parameter dicts. For each execution SQLAlchemy
still builds an execution context, looks the compiled form up by the statement's cache key, constructs
and processes its parameters and wraps the cursor in a result: py-spy put that at about a tenth of the
event loop thread's samples under load, several times what SQLite spends running the statements (issue
23). Here such a statement is compiled once for the sqlite dialect per set of parameter names, with its
parameters' positions and bind processors and its result columns' processors, and then runs directly on
the driver's connection: the same SQL text, the same values bound (SQLAlchemy's own processors: rows
stored byte for byte as it stores them, tests/test_prepared.py), rows made by SQLAlchemy's own `Row`.

What is not exactly what SQLAlchemy would do is left to it, decided once per statement and parameter
names, when it is compiled (`_plan`): expanding IN or literal parameters, Python-side column defaults or
onupdate, parameters given by `.params()`, callable values, execution options, a RETURNING in an
executemany or an INSERT SQLAlchemy would batch into one multi-row INSERT, text SQL that could return
rows, result columns whose names clash. So is every execution while the connection has statement event
listeners (a test or benchmark counting statements) or is not in a transaction SQLAlchemy began, and one
whose parameters are not dicts of the same names. A statement is compiled only from its third execution
on (it is alive and the same object all along): a statement built per call never is, and SQLAlchemy's
own cache serves it as before; every entry is weak, so nothing here outlives its statement.
"""

from __future__ import annotations

import functools
import sqlite3
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Engine, exc
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.sql.elements import TextClause

from storage.engine import SqliteTimes, bind_processor

PROMOTE_AT = 3  # the execution of one statement object from which on it runs here
_KIND = {"INSERT", "UPDATE", "DELETE"}
_disabled: weakref.WeakSet[Engine] = weakref.WeakSet()


def disable(engine: Engine) -> None:
    """Run every statement of `engine`'s connections through SQLAlchemy (tests compare the two paths)."""
    _disabled.add(engine)


def enabled(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite" and engine not in _disabled


class _Plan:
    """One statement compiled for one set of parameter names: its SQL, where each positional value comes
    from (a parameter's name, or a value fixed in the statement) and its bind processor, and its result
    columns."""

    __slots__ = ("dml", "first", "insert", "meta", "processors", "returns", "runs", "sources", "sql")

    def __init__(
        self,
        sql: str,
        sources: list[tuple[str | None, Any, Callable[[Any], Any] | None]],
        meta: SimpleResultMetaData | None,
        processors: list[Callable[[Any], Any] | None] | None,
        dml: bool,
        insert: bool,
    ) -> None:
        self.sql = sql
        self.sources = sources
        self.meta = meta
        self.processors = processors
        self.first = processors[0] if processors else None
        self.returns = meta is not None
        self.dml = dml
        self.insert = insert
        self.runs = 0  # executions here (tests check the path they compare was taken)

    def values(self, params: dict[str, Any] | None) -> tuple[Any, ...]:
        """The positional values for one parameter dict, each through its bind processor."""
        out = []
        for name, fixed, process in self.sources:
            value = fixed if name is None else params[name]  # type: ignore[index]
            out.append(value if process is None else process(value))
        return tuple(out)


_NO = object()  # a statement (for these parameter names) SQLAlchemy runs


class _Entry:
    """What is known of one statement object: how often it was seen, and its plans by parameter names."""

    __slots__ = ("plans", "ref", "seen")

    def __init__(self, ref: weakref.ref[Any]) -> None:
        self.ref = ref
        self.seen = 1
        self.plans: dict[tuple[tuple[str, ...], bool], Any] = {}


# Per dialect (each engine has its own, with its own JSON serialiser): by statement id, weakly.
_caches: weakref.WeakKeyDictionary[Dialect, dict[int, _Entry]] = weakref.WeakKeyDictionary()


def _entry(cache: dict[int, _Entry], statement: Any) -> _Entry | None:
    """The statement's entry, once it was executed PROMOTE_AT times; None before."""
    key = id(statement)
    entry = cache.get(key)
    if entry is not None and entry.ref() is statement:
        if entry.seen >= PROMOTE_AT:
            return entry
        entry.seen += 1
        return entry if entry.seen >= PROMOTE_AT else None
    try:
        ref = weakref.ref(statement, functools.partial(_forget, cache, key))
    except TypeError:  # not weakly referenceable: never kept
        return None
    cache[key] = _Entry(ref)
    return None


def runs(statement: Any, engine: Engine) -> int:
    """How many times `statement` ran here on `engine`'s connections (tests: the path they compare with
    SQLAlchemy's was taken)."""
    entry = _caches.get(engine.dialect, {}).get(id(statement))
    if entry is None or entry.ref() is not statement:
        return 0
    return sum(plan.runs for plan in entry.plans.values() if plan is not _NO)


def _forget(cache: dict[int, _Entry], key: int, gone: weakref.ref[Any]) -> None:
    entry = cache.get(key)
    if entry is not None and entry.ref is gone:
        del cache[key]


def _plan(statement: Any, dialect: Dialect, names: tuple[str, ...], many: bool) -> Any:
    """The statement compiled as SQLAlchemy compiles it for these parameter names, or _NO when running
    it here could differ in any way from running it through SQLAlchemy. The compiled form's attributes
    read here are SQLAlchemy's own, some private (2.1): one that another version renamed or dropped
    sends its statements to SQLAlchemy, never here half understood."""
    try:
        return _compiled_plan(statement, dialect, names, many)
    except AttributeError:
        return _NO


def _compiled_plan(statement: Any, dialect: Dialect, names: tuple[str, ...], many: bool) -> Any:
    kind = getattr(statement, "is_dml", False) or getattr(statement, "is_select", False)
    if not kind and not isinstance(statement, TextClause):
        return _NO
    if statement._execution_options:
        return _NO
    try:
        compiled: Any = statement.compile(dialect=dialect, column_keys=sorted(names), for_executemany=many)
    except Exception:
        return _NO  # SQLAlchemy raises it, as it would have
    if (
        not compiled.positional
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
        or compiled._collected_params
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled._insertmanyvalues is not None
        or compiled.schema_translate_map
    ):
        return _NO
    dml = bool(compiled.isinsert or compiled.isupdate or compiled.isdelete)
    if compiled.isplaintext:
        words = compiled.string.split(None, 1)
        if not words or words[0].upper() not in _KIND or "RETURNING" in compiled.string.upper():
            return _NO
        dml = True
    processors = compiled._bind_processors
    binds = compiled.binds
    sources: list[tuple[str | None, Any, Callable[[Any], Any] | None]] = []
    for name in compiled.positiontup:
        bind = binds[name]
        if bind.callable is not None:
            return _NO
        if bind.key in names:
            source: str | None = bind.key
        elif name in names:
            source = name
        elif bind.required:
            return _NO  # SQLAlchemy says which value is missing
        else:
            source = None
        process = processors.get(name)
        faster = bind_processor(bind.type, dialect) if process is not None else None
        if isinstance(faster, SqliteTimes):  # SQLite's DATETIME: the same text, faster; nothing else changed
            process = faster
        sources.append((source, None if source is not None else bind.value, process))
    returning = compiled._result_columns if (not dml or compiled.effective_returning is not None) else []
    if not dml and not returning:
        return _NO
    if returning and (
        many
        or not compiled._ordered_columns
        or compiled._textual_ordered_columns
        or compiled._ad_hoc_textual
        or compiled._loose_column_name_matching
    ):
        return _NO
    meta, row_processors = None, None
    if returning:
        keys = [column[0] for column in returning]
        extra = [
            (column[1], *(column[2] or ())) if column[1] != column[0] else tuple(column[2] or ())
            for column in returning
        ]
        every = [key for name, more in zip(keys, extra, strict=True) for key in {name, *more}]
        if len(every) != len(set(every)):
            return _NO  # a name or column in two result columns: SQLAlchemy's ambiguity rules
        row_processors = [column[3]._cached_result_processor(dialect, None) for column in returning]
        meta = SimpleResultMetaData(keys, extra=extra, _processors=row_processors)
        if not any(p is not None for p in row_processors):
            row_processors = None
    insert = bool(compiled.isinsert) or compiled.string.lstrip()[:6].upper() == "INSERT"
    return _Plan(compiled.string, sources, meta, row_processors, dml, insert)


class Prepared:
    """Runs the statements it can for one transaction of one SQLAlchemy connection on SQLite: `run`
    returns None for those SQLAlchemy has to."""

    __slots__ = ("cache", "db", "dialect", "sync", "watched")

    def __init__(self, sync: Connection) -> None:
        self.sync = sync
        self.db: sqlite3.Connection = sync.connection.driver_connection  # type: ignore[assignment]
        self.dialect = sync.dialect
        cache = _caches.get(self.dialect)
        self.cache = cache if cache is not None else _caches.setdefault(self.dialect, {})
        # Looked at once (1.4 microseconds a statement otherwise): a listener added while a group of
        # turns runs sees the statements from the next group on.
        self.watched = _watched(sync)

    def run(self, statement: Any, parameters: Any) -> Ran | None:
        if parameters is None:
            names: tuple[str, ...] = ()
            many = False
            rows: list[dict[str, Any]] | None = None
        elif type(parameters) is dict:
            names, many, rows = tuple(parameters), False, [parameters]
        elif type(parameters) is list and parameters and all(type(p) is dict for p in parameters):
            names, many, rows = tuple(parameters[0]), len(parameters) > 1, parameters
            if many:
                first = parameters[0].keys()
                if any(p.keys() != first for p in parameters):
                    return None
        else:
            return None
        entry = _entry(self.cache, statement)
        if entry is None:
            return None
        sync = self.sync
        if self.watched or not sync.in_transaction():
            return None
        plan = entry.plans.get((names, many))
        if plan is None:
            plan = entry.plans[(names, many)] = _plan(statement, self.dialect, names, many)
        if plan is _NO:
            return None
        try:
            if rows is None:
                values: Any = plan.values(None)
            elif many:
                values = [plan.values(p) for p in rows]
            else:
                values = plan.values(rows[0])
        except Exception:
            return None  # a value its processor refuses: SQLAlchemy raises it, as it would have
        plan.runs += 1
        cursor = self.db.cursor()
        try:
            if many:
                cursor.executemany(plan.sql, values)
            else:
                cursor.execute(plan.sql, values)
        except (
            sqlite3.Error
        ) as error:  # wrapped, and the connection invalidated if it is gone, as SQLAlchemy does
            sync._handle_dbapi_exception(error, plan.sql, values, cast(DBAPICursor, cursor), None)
        except BaseException:
            cursor.close()
            raise
        return Ran(plan, cursor)


def _watched(sync: Connection) -> bool:
    """Whether a listener wants to see statements run (SQLAlchemy's own path calls them)."""
    dispatch = sync.dispatch
    return bool(
        dispatch.before_execute
        or dispatch.after_execute
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
    )


class Ran:
    """What storage code reads of a result, for a statement run by `Prepared`: the same rows (SQLAlchemy's
    `Row`, its result processors applied), rowcount, and the methods of `Result` storage code calls; any
    other attribute of `Result` is SQLAlchemy's own, on the rows not read yet (from then on every call)."""

    __slots__ = ("_closed", "_cursor", "_full", "_plan", "_rowcount")

    def __init__(self, plan: _Plan, cursor: sqlite3.Cursor) -> None:
        self._plan = plan
        self._cursor = cursor
        self._closed = False
        self._full: IteratorResult[Any] | None = None
        self._rowcount: int | None = None
        if not cursor.description:  # no rows: SQLAlchemy reads the count and closes the cursor at once
            self._rowcount = cursor.rowcount
            self._close()
        elif plan.dml and not plan.insert:  # UPDATE or DELETE ... RETURNING: counted before the rows
            self._rowcount = cursor.rowcount

    @property
    def rowcount(self) -> int:
        return self._rowcount if self._rowcount is not None else self._cursor.rowcount

    @property
    def returns_rows(self) -> bool:
        return self._plan.returns

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cursor.close()

    def close(self) -> None:
        if self._full is not None:
            self._full.close()
        self._close()

    def _raw(self) -> sqlite3.Cursor:
        if not self._plan.returns:
            raise exc.ResourceClosedError(
                "This result object does not return rows. It has been closed automatically."
            )
        if self._closed:
            raise exc.ResourceClosedError("This result object is closed.")
        return self._cursor

    def _row(self, data: Any) -> Row[Any]:
        meta = self._plan.meta
        assert meta is not None
        return Row(meta, self._plan.processors, meta._key_to_index, data)  # type: ignore[arg-type]

    def first(self) -> Row[Any] | None:
        if self._full is not None:
            return self._full.first()
        data = self._raw().fetchone()
        self._close()
        return None if data is None else self._row(data)

    def scalar(self) -> Any:
        if self._full is not None:
            return self._full.scalar()
        data = self._raw().fetchone()
        self._close()
        if data is None:
            return None
        process = self._plan.first
        return data[0] if process is None else process(data[0])

    def one_or_none(self) -> Row[Any] | None:
        if self._full is not None:
            return self._full.one_or_none()
        return self._only(False)

    def one(self) -> Row[Any]:
        if self._full is not None:
            return self._full.one()
        row = self._only(True)
        assert row is not None
        return row

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def _only(self, required: bool) -> Row[Any] | None:
        found = self._raw().fetchmany(2)
        self._close()
        if len(found) > 1:
            raise exc.MultipleResultsFound(
                "Multiple rows were found when exactly one was required"
                if required
                else "Multiple rows were found when one or none was required"
            )
        if not found:
            if required:
                raise exc.NoResultFound("No row was found when one was required")
            return None
        return self._row(found[0])

    def all(self) -> Sequence[Row[Any]]:
        if self._full is not None:
            return self._full.all()
        found = self._raw().fetchall()
        self._close()
        return [self._row(data) for data in found]

    def fetchall(self) -> Sequence[Row[Any]]:
        return self.all()

    def fetchone(self) -> Row[Any] | None:
        if self._full is not None:
            return self._full.fetchone()
        data = self._raw().fetchone()
        if data is None:
            self._close()
            return None
        return self._row(data)

    def __iter__(self) -> Iterator[Row[Any]]:
        if self._full is not None:
            return iter(self._full)
        return iter(self.all())

    def scalars(self, index: int = 0) -> Any:
        if self._full is not None or index != 0:
            return self._rest().scalars(index)
        found = self._raw().fetchall()
        self._close()
        return Scalars(found, self._plan.first)

    def _rest(self) -> IteratorResult[Any]:
        """The rows not read yet as SQLAlchemy's result, which answers every call from then on."""
        if self._full is None:
            found = self._raw().fetchall()
            self._close()
            meta = self._plan.meta
            assert meta is not None
            self._full = IteratorResult(meta, iter(found))
        return self._full

    def __getattr__(self, name: str) -> Any:  # any other attribute of Result: SQLAlchemy's own
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._rest(), name)


class Scalars:
    """`Result.scalars()` of the rows read: the first column of each; any other method of
    SQLAlchemy's `ScalarResult` is its own, on the values."""

    __slots__ = ("_values",)

    def __init__(self, rows: list[Any], process: Callable[[Any], Any] | None) -> None:
        self._values = [row[0] for row in rows] if process is None else [process(row[0]) for row in rows]

    def all(self) -> list[Any]:
        values, self._values = self._values, []
        return values

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())

    def first(self) -> Any:
        values = self.all()
        return values[0] if values else None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        values, self._values = self._values, []
        return getattr(
            IteratorResult(SimpleResultMetaData(["value"]), ((v,) for v in values)).scalars(), name
        )
