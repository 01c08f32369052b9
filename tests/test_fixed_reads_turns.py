"""SQLite's turns that are not plain (a report, a contact, a callback request, forget-me) begin with the
statements of a plain turn in fixed SQL (storage.plainturn.PlainTurns.head and .reachable, from
`Storage._commit_turn`); they store what the Core path stores.

The same turns go through `commit_turn` on one database as the server runs it and, on another, with
fixed SQL turned off (`Database.fixed` None: every statement through SQLAlchemy Core); the results and the
rows of every table they touch, read back raw, match (timestamps in the same format).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event

from storage.plainturn import is_plain
from storage.records import (
    CommitResult,
    EvidenceRecord,
    NewReport,
    NewSupportRequest,
    TurnRecord,
)
from tests.test_plain_turn import opened, stamps_apart

TABLES = (
    ("processed_events", "channel, event_id"),
    ("conversations", "id"),
    ("contacts", "reporter_id, channel"),
    ("reporters", "id"),
    ("reports", "id"),
    ("case_reports", "case_id, report_id"),
    ("evidence", "id"),
    ("support_requests", "id"),
    ("subscriptions", "id"),
)
LINK = "https://facebook.com/recruit.page.7"


def turns() -> list[TurnRecord]:
    state = {"step": "done", "lang": "ur", "recent": [{"text": "آپ کی رپورٹ", "buttons": []}]}
    said = [{"text": "رپورٹ موصول ہو گئی 👍", "buttons": [], "lang": "ur"}]
    report = NewReport(
        "K7QM-2XD9", "c1", "webchat", "ur", "propaganda", "یہ صفحہ", False, (EvidenceRecord("link", LINK),)
    )
    request = NewSupportRequest("FAMC-2XD9", "c2", "webchat", "ur", "signs", "call after 5")
    return [
        TurnRecord("webchat", "e1", "c1", 0, state, said, (report,)),
        TurnRecord("webchat", "e2", "c1", 1, state, said, contact=b"sealed-2", updates_for=("K7QM-2XD9",)),
        TurnRecord("webchat", "e2", "c1", 2, state, [], contact=b"sealed-3"),  # redelivered
        TurnRecord("webchat", "e3", "c1", 1, state, said, contact=b"sealed-4"),  # stale version
        TurnRecord("webchat", "e4", "c2", 0, state, said, support=(request,)),
        TurnRecord("webchat", "e5", "c3", 0, state, said, subscribe="ur"),
        TurnRecord("webchat", "e6", "c3", 1, state, said, unsubscribe=True),
        TurnRecord("webchat", "e7", "c1", 2, state, said, forget=True),
    ]


def rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(path)
    try:
        return {
            table: [tuple(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY {order}")]
            for table, order in TABLES
        }
    finally:
        db.close()


async def run(path: Path, fixed: bool) -> tuple[list[CommitResult], list[str]]:
    """The turns' results, and the statements SQLAlchemy ran for them."""
    storage = await opened(path)
    if not fixed:
        storage.db.fixed = None
    ran: list[str] = []
    assert storage.db.group is not None
    event.listen(storage.db.group.engine, "before_cursor_execute", lambda *a: ran.append(a[2]))
    try:
        results = []
        for turn in turns():
            assert not is_plain(turn)
            results.append(await storage.commit_turn(turn))
    finally:
        await storage.close()
    return results, ran


async def test_turns_that_are_not_plain_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    fixed, core = tmp_path / "fixed.db", tmp_path / "core.db"
    fixed_results, fixed_ran = await run(fixed, fixed=True)
    core_results, core_ran = await run(core, fixed=False)
    assert [r.status.value for r in fixed_results] == [
        "ok", "ok", "duplicate", "conflict", "ok", "ok", "ok", "ok",
    ]  # fmt: skip
    assert fixed_results[2].response == turns()[1].response
    assert core_results == fixed_results
    a, b = rows(fixed), rows(core)
    for table in a:
        assert stamps_apart(a[table]) == stamps_apart(b[table]), table
    assert len(a["reports"]) == 1 and a["reports"][0][3] is None  # forgotten: the report stays, anonymous
    assert not a["contacts"] and len(a["processed_events"]) == 6 and len(a["support_requests"]) == 1
    # The fixed path ran the event, state and contact statements outside SQLAlchemy; Core ran them all.
    head = ("INSERT INTO processed_events", "UPDATE conversations", "INSERT INTO conversations")
    assert not [s for s in fixed_ran if s.startswith(head)]
    assert len([s for s in core_ran if s.startswith(head)]) == 15  # 8 events; 7 states, one stale
    # and the duplicate's stored reply, and the contact marked reachable by the 5 turns that went on
    # (neither the duplicate, the stale one nor forget-me)
    assert len(core_ran) - len(fixed_ran) == 15 + 1 + 5
