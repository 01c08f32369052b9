"""SQLite's plain turns in fixed SQL (storage/plainturn.py) store what the SQLAlchemy path stores.

The same turns (first turn, next turns, a redelivery, a stale version, a contact marked unreachable) go
through `commit_turn` (fixed SQL for plain turns) on one database and through `_commit_turn` (SQLAlchemy
Core) on another; the results and every row, read back raw, match (timestamps in the same format).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from storage.database import utcnow
from storage.engine import json_list, json_text
from storage.plainturn import is_plain
from storage.records import CommitResult, TurnRecord
from storage.repository import Storage
from storage.schema import contacts, reporters
from tests.conftest import SECRET

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


def sample() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A state and a reply with Urdu, an emoji and a float: what the JSON columns must keep as they are."""
    state = {"step": "menu", "lang": "ur", "recent": [{"text": "آپ کی رپورٹ", "buttons": []}], "n": 1.5}
    said = [{"text": "ٹھیک ہے 👍", "buttons": [{"id": "nav:menu", "label": "Menu"}], "lang": "ur"}]
    return state, said


def encoded(said: list[dict[str, Any]]) -> str:
    """The replies as the pipeline hands them over besides the list: each encoded once (`json_text`), then
    joined (`json_list`). The fixed SQL stores that text; SQLAlchemy encodes the list: the rows must match."""
    return json_list(map(json_text, said))


# A web chat turn's messages (bot.shared.transcript): a row a turn, none for other channels
TRANSCRIPT = '{"text":"رپورٹ بھیج دی گئی","kind":"text","buttons":[]}\n'


def turns() -> list[TurnRecord]:
    state, said = sample()
    return [
        TurnRecord("webchat", "e1", "c1", 0, state, said, transcript=TRANSCRIPT, response_text=encoded(said)),
        TurnRecord("webchat", "e2", "c1", 1, {**state, "n": 2}, said, transcript=TRANSCRIPT * 2),
        TurnRecord("webchat", "e2", "c1", 2, {**state, "n": 3}, said),  # redelivered: its stored reply
        TurnRecord("webchat", "e3", "c1", 1, state, said),  # stale version: a conflict
        TurnRecord("webchat", "e4", "c2", 0, {"step": "start"}, [], transcript=TRANSCRIPT),
        # the same event id on another channel
        TurnRecord("telegram", "e1", "c3", 0, state, said, response_text=encoded(said)),
        TurnRecord("webchat", "e5", "c1", 2, {**state, "n": 4}, said, transcript=TRANSCRIPT * 3),
    ]


def rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(path)
    try:
        found = {}
        for table, order in (
            ("processed_events", "channel, event_id"),
            ("conversations", "id"),
            ("transcript_turns", "conversation_id, version"),
            ("contacts", "reporter_id"),
        ):
            found[table] = [tuple(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]
        return found
    finally:
        db.close()


def stamps_apart(table: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with their timestamps replaced by their format (they were taken at different moments)."""
    return [tuple("<stamp>" if isinstance(v, str) and STAMP.match(v) else v for v in row) for row in table]


async def opened(path: Path) -> Storage:
    """A fresh SQLite storage where citizen c1 has a contact marked unreachable (they blocked the bot once):
    a turn of theirs must mark it reachable again."""
    storage = Storage(f"sqlite+aiosqlite:///{path}", SECRET.encode())
    await storage.upgrade()
    async with storage.db.transaction() as conn:  # c1 blocked the bot once: its contact is unreachable
        await conn.execute(insert(reporters).values(id="c1", created_at=utcnow()))
        await conn.execute(
            insert(contacts).values(
                reporter_id="c1", channel="webchat", address=b"sealed", created_at=utcnow(),
                unreachable_at=utcnow(),
            )
        )  # fmt: skip
    return storage


async def run(path: Path, fixed: bool) -> list[CommitResult]:
    storage = await opened(path)
    results = []
    try:
        for turn in turns():
            assert is_plain(turn)
            if fixed:
                results.append(await storage.commit_turn(turn))
                continue
            try:  # SQLAlchemy Core; a duplicate or a conflict rolls back by raising with its result
                results.append(await storage.db.write(functools.partial(storage._commit_turn, turn=turn)))
            except Exception as exc:
                results.append(exc.result)  # type: ignore[attr-defined]
    finally:
        await storage.close()
    return results


async def test_fixed_sql_stores_what_sqlalchemy_stores(tmp_path: Path) -> None:
    fixed, core = tmp_path / "fixed.db", tmp_path / "core.db"
    fixed_results = await run(fixed, fixed=True)
    core_results = await run(core, fixed=False)
    assert [r.status.value for r in fixed_results] == [
        "ok", "ok", "duplicate", "conflict", "ok", "ok", "ok",
    ]  # fmt: skip
    assert fixed_results[2].response == turns()[1].response
    assert core_results == fixed_results
    a, b = rows(fixed), rows(core)
    for table in a:
        assert stamps_apart(a[table]) == stamps_apart(b[table]), table
    assert len(a["processed_events"]) == 5 and len(a["conversations"]) == 3
    # a row for each web chat turn that said something, at the version it made
    assert a["transcript_turns"] == [
        ("c1", 1, TRANSCRIPT), ("c1", 2, TRANSCRIPT * 2), ("c1", 3, TRANSCRIPT * 3), ("c2", 1, TRANSCRIPT)
    ]  # fmt: skip
    assert a["contacts"] and all(None in row for row in a["contacts"])  # c1 wrote: reachable again
