"""Which SQL statements a web chat message runs, counted by their text: bench/turns.py's conversations
through the Pipeline on SQLite, with SQLAlchemy's `before_cursor_execute` on every engine of the Storage
(the async ones' sync engines, the turn writer's and the inline reader's) and, for the fixed SQL run on
the stdlib connections themselves, sqlite3's trace callback.

Usage: .venv/bin/python -m bench.statements [--turns 480] [--concurrency 16]

Why: to see which statements a turn still builds through SQLAlchemy (each costs tens of microseconds of
compiling and result processing) before moving the frequent ones to fixed SQL (issue 23).
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections import Counter
from typing import Any

from sqlalchemy import event

from bench.turns import SCRIPT, citizens, open_pipeline

_SPACE = re.compile(r"\s+")
# sqlite3's trace callback sees statements with their values in them: those become `?` to count by shape
_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|X'[0-9A-Fa-f]*'")
_LIST = re.compile(r"\(\?(?:, \?)+\)")


def _short(sql: str) -> str:
    return _SPACE.sub(" ", sql).strip()[:160]


def _shape(sql: str) -> str:
    return _short(_LIST.sub("(?...)", _LITERAL.sub("?", sql)))


async def count(turns: int, concurrency: int) -> None:
    pipeline, storage = await open_pipeline("raabta-statements-")
    core: Counter[str] = Counter()  # statements SQLAlchemy compiled and ran
    raw: Counter[str] = Counter()  # every statement SQLite ran (fixed SQL included)
    on = False

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if on:
            core[_short(statement)] += 1

    def trace(statement: str) -> None:
        if on:
            raw[_shape(statement)] += 1

    def connected(dbapi: Any, _record: Any) -> None:
        inner = getattr(dbapi, "driver_connection", dbapi)  # aiosqlite's adapter: the thread's sqlite3
        inner = getattr(inner, "_conn", inner)
        if hasattr(inner, "set_trace_callback"):
            inner.set_trace_callback(trace)

    for async_engine in {storage.writer, storage.reader}:
        await async_engine.dispose()  # connections opened from now on carry the trace callback
    engines = [storage.writer.sync_engine, storage.reader.sync_engine]
    if storage.db.group is not None:
        engines.append(storage.db.group.engine)
        storage.db.group.close()
    if storage.db.inline_reader is not None:
        storage.db.inline_reader.close()  # its kept connections too (it reopens them when asked)
        engines.append(storage.db.inline_reader.engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "connect", connected)
    rounds = max(1, turns // concurrency // len(SCRIPT))
    citizen = citizens(pipeline)
    await asyncio.gather(*(citizen(u, 1) for u in range(2)))
    on = True
    await asyncio.gather(*(citizen(u, rounds) for u in range(10, 10 + concurrency)))
    on = False
    done = rounds * len(SCRIPT) * concurrency
    for title, counter in (("through SQLAlchemy", core), ("run by SQLite (all)", raw)):
        print(f"## {title}: {sum(counter.values()) / done:.2f} statements a message ({done} messages)")
        for sql, n in counter.most_common():
            print(f"{n / done:7.3f}  {sql}")
        print()
    await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=480)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(count(args.turns, args.concurrency))


if __name__ == "__main__":
    main()
