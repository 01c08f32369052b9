"""SQLite's turn writer (storage/groupcommit.py): durable, grouped, and no reply before its COMMIT.

A COMMIT that fails is made to fail for real: an SQLite authorizer on the writer's own connection
denies the COMMIT statement (`sqlite3.Connection.set_authorizer`), as a full disk or an I/O error would
refuse it; nothing of ours is replaced.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text

from bot.app import make_pipeline
from bot.dialogue import Inbound
from bot.shared.config import Settings
from responses import catalog
from storage.database import StorageUnavailable
from storage.engine import json_text
from storage.groupcommit import CHECKPOINT_EVERY, WAL_FRAMES
from storage.records import CommitStatus, Conversation, EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage
from storage.states import StateCache
from tests.conftest import POSTGRES_ONLY, SQLITE_ONLY

CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}\b")


def report(code: str, url: str) -> NewReport:
    return NewReport(
        code, "r1", "test", "en", "recruitment", "recruiting", False, (EvidenceRecord("link", url),)
    )


def turn(event: str, conversation: str, version: int = 0, *reports: NewReport) -> TurnRecord:
    return TurnRecord(
        "test", event, conversation, version, {"step": "menu"}, [{"text": event}], tuple(reports)
    )


@contextmanager
def commits_refused(storage: Storage) -> Iterator[None]:
    """Every COMMIT on the turn writer's connection fails, as SQLite refuses it (not authorised)."""
    assert storage.db.group is not None

    def deny(action: int, first: str | None, *_: Any) -> int:
        refused = action == sqlite3.SQLITE_TRANSACTION and first == "COMMIT"
        return sqlite3.SQLITE_DENY if refused else sqlite3.SQLITE_OK

    def authorizer(rule: Any) -> None:
        conn = storage.db.group.connection()  # the writer's one connection, kept between groups
        conn.connection.driver_connection.set_authorizer(rule)  # type: ignore[union-attr]

    authorizer(deny)
    try:
        yield
    finally:
        authorizer(None)


@SQLITE_ONLY
async def test_every_sqlite_connection_is_wal_with_full_synchronous(storage: Storage) -> None:
    assert storage.db.group is not None
    conn = storage.db.group.connection()
    assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    for engine in (storage.db.writer, storage.db.reader):
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2


@SQLITE_ONLY
async def test_turns_ready_together_commit_as_one_group(storage: Storage) -> None:
    assert storage.db.group is not None
    before = storage.db.group.groups
    results = await asyncio.gather(*(storage.commit_turn(turn(f"e{i}", f"c{i}")) for i in range(20)))
    assert [r.status for r in results] == [CommitStatus.OK] * 20
    assert storage.db.group.groups - before < 20  # here: one group for the twenty
    assert await storage.count("conversations") == 20


@SQLITE_ONLY
async def test_a_failing_turn_rolls_back_alone_in_its_group(storage: Storage) -> None:
    await storage.commit_turn(turn("first", "c1", 0, report("AAAA-0001", "https://x.com/one")))
    results = await asyncio.gather(
        storage.commit_turn(turn("taken", "c2", 0, report("AAAA-0001", "https://x.com/two"))),
        storage.commit_turn(turn("stale", "c1", 0)),  # c1 is at version 1
        storage.commit_turn(turn("good", "c3", 0, report("AAAA-0002", "https://x.com/three"))),
        storage.commit_turn(turn("first", "c4", 0)),  # an event id stored already: its stored reply
    )
    assert [r.status for r in results] == [
        CommitStatus.CODE_TAKEN,
        CommitStatus.CONFLICT,
        CommitStatus.OK,
        CommitStatus.DUPLICATE,
    ]
    assert results[3].response == [{"text": "first"}]
    assert await storage.count("reports") == 2
    assert await storage.count("cases") == 2  # x.com/two's case went with its turn
    assert await storage.count("processed_events") == 2
    assert (await storage.load_conversation("c2")).version == 0
    assert await storage.verify_audit_chain()


@SQLITE_ONLY
async def test_a_group_whose_commit_fails_keeps_nothing_and_says_so_to_every_turn(storage: Storage) -> None:
    with commits_refused(storage):
        results = await asyncio.gather(
            *(
                storage.commit_turn(turn(f"e{i}", f"c{i}", 0, report(f"BBBB-000{i}", f"https://x.com/{i}")))
                for i in range(3)
            ),
            return_exceptions=True,
        )
    assert all(isinstance(r, StorageUnavailable) for r in results), results
    assert await storage.count("reports") == 0
    assert await storage.count("processed_events") == 0
    assert (await storage.load_conversation("c0", cached=True)).version == 0  # nothing cached either
    # The same turns sent again are stored as new.
    again = await storage.commit_turn(turn("e0", "c0", 0, report("BBBB-0000", "https://x.com/0")))
    assert again.status is CommitStatus.OK


@SQLITE_ONLY
async def test_no_reference_code_is_shown_when_the_commit_fails(storage: Storage, settings: Settings) -> None:
    """A citizen sends a report; the COMMIT is refused: they are asked to send it again and see no code;
    sent again, the report is stored and the code they see is the stored one."""
    pipeline = make_pipeline(settings, storage)
    walk = [
        (None, "lang:en"),
        (None, "menu:report"),
        ("https://www.facebook.com/recruit.page.fail", None),
        (None, "cat:propaganda"),
    ]
    for i, (said, choice) in enumerate(walk):
        handled = await pipeline.handle(Inbound("webchat", "s1", f"w{i}", text=said, choice=choice))
    offered = [b.id for r in handled.replies for b in r.buttons]
    assert "confirm:submit" in offered, offered
    send = "confirm:submit"
    with commits_refused(storage):
        refused = await pipeline.handle(Inbound("webchat", "s1", "send", choice=send))
    assert not refused.saved
    said = " ".join(r.text for r in refused.replies)
    assert said == catalog().text("common.unavailable", "en")
    assert not CODE.search(said)
    assert await storage.count("reports") == 0
    stored = await pipeline.handle(Inbound("webchat", "s1", "send", choice=send))  # the same event again
    assert stored.saved and not stored.duplicate
    code = CODE.search(" ".join(r.text for r in stored.replies))
    assert code is not None
    async with storage.db.read() as conn:
        kept = (await conn.execute(text("SELECT code FROM reports"))).scalars().all()
    assert kept == [code.group()]


@SQLITE_ONLY
async def test_while_another_process_writes_the_turns_wait_for_it_and_the_loop_does_not(
    storage: Storage,
) -> None:
    """A CLI command in another process holds the file's write lock: the group waits for it, in the
    worker thread (the turns' statements run in the loop's thread only when the lock is free at once),
    so the event loop goes on meanwhile. The other writer here lets go only once it saw the loop tick 20
    times (or, if the loop were stuck in SQLite's busy wait, after 5 s); then the turns are stored."""
    other = sqlite3.connect(storage.writer.url.database or "", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    ticked = threading.Event()
    why: list[str] = []

    def let_go() -> None:
        why.append("the loop ticked" if ticked.wait(5) else "the loop was stuck")
        other.execute("COMMIT")

    releasing = threading.Thread(target=let_go)
    try:
        pending = asyncio.ensure_future(
            asyncio.gather(storage.commit_turn(turn("e1", "c1")), storage.commit_turn(turn("e2", "c2")))
        )
        releasing.start()
        for _ in range(20):
            await asyncio.sleep(0.01)
        ticked.set()
        results = await pending
    finally:
        releasing.join()
        other.close()
    assert why == ["the loop ticked"]
    assert [r.status for r in results] == [CommitStatus.OK, CommitStatus.OK]
    assert await storage.count("conversations") == 2


@SQLITE_ONLY
async def test_groups_of_one_reuse_the_writers_connection_and_leave_the_file_free(storage: Storage) -> None:
    """An idle server commits every message as a group of one: the writer keeps its connection between
    groups (no pool checkout a group), and after each group, plain turns and report turns (which run
    some statements through SQLAlchemy) alike, no transaction is left open: another process can take the
    file's write lock at once."""
    group = storage.db.group
    assert group is not None
    checkouts: list[object] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    event.listen(group.engine, "checkout", checked_out)
    other = sqlite3.connect(storage.writer.url.database or "", isolation_level=None, timeout=0)
    try:
        for i in range(6):
            reports = (report(f"DDDD-000{i}", f"https://x.com/d{i}"),) if i % 2 else ()
            assert (await storage.commit_turn(turn(f"e{i}", f"c{i}", 0, *reports))).status is CommitStatus.OK
            other.execute("BEGIN IMMEDIATE")  # SQLITE_BUSY at once if the writer still held the lock
            other.execute("ROLLBACK")
            assert not group.connection().in_transaction()
    finally:
        other.close()
        event.remove(group.engine, "checkout", checked_out)
    assert len(checkouts) <= 1  # the first group's, when no earlier one had checked it out
    assert await storage.count("reports") == 3
    assert await storage.verify_audit_chain()


@SQLITE_ONLY
async def test_the_writers_connection_used_between_groups_does_not_hold_up_the_next(storage: Storage) -> None:
    """A statement run through SQLAlchemy on the writer's connection between groups (as a test or a tool
    reading a pragma does) begins no transaction of its own in SQLite: the next group begins and commits."""
    group = storage.db.group
    assert group is not None
    assert (await storage.commit_turn(turn("e1", "c1"))).status is CommitStatus.OK
    assert group.connection().exec_driver_sql("PRAGMA synchronous").scalar() == 2
    assert (await storage.commit_turn(turn("e2", "c2"))).status is CommitStatus.OK
    async with storage.db.transaction() as conn:  # this process's other writer takes the lock at once
        await conn.execute(text("DELETE FROM conversations WHERE id = 'c1'"))
    assert await storage.count("conversations") == 1


@dataclass
class Traced:
    """The threads the writer's connection ran its COMMITs and its checkpoints in, in order."""

    commits: list[int] = field(default_factory=list)
    checkpoints: list[int] = field(default_factory=list)


def commits_traced(storage: Storage, first_sleeps: float = 0.0) -> Traced:
    """The thread of every COMMIT and checkpoint the writer's connection runs from now on (sqlite3's trace
    callback runs in the thread executing the statement). The callback runs as SQLite starts the
    statement: sleeping in it on the first COMMIT makes that COMMIT as slow as a busy disk's fsync would."""
    assert storage.db.group is not None
    traced = Traced()

    def trace(sql: str) -> None:
        if sql == "COMMIT":
            traced.commits.append(threading.get_ident())
            if len(traced.commits) == 1:
                time.sleep(first_sleeps)
        elif "wal_checkpoint" in sql:
            traced.checkpoints.append(threading.get_ident())

    storage.db.group.connection().connection.driver_connection.set_trace_callback(trace)  # type: ignore[union-attr]
    return traced


@SQLITE_ONLY
async def test_groups_commit_in_the_loops_thread_while_commits_are_quick_and_else_in_the_worker(
    storage: Storage,
) -> None:
    """Quick COMMITs: a group of one and a group of three commit in the loop's thread (no hop to the
    worker and back). Slow ones (here: any): both go to the worker."""
    group = storage.db.group
    assert group is not None
    loop_thread = threading.get_ident()
    threads = commits_traced(storage).commits
    for quick in (True, False):
        group.inline_below = float("inf") if quick else 0.0  # however fast or slow this machine's disk is
        assert (await storage.commit_turn(turn(f"e{quick}", f"c{quick}"))).status is CommitStatus.OK
        results = await asyncio.gather(
            *(storage.commit_turn(turn(f"g{quick}{i}", f"g{quick}{i}")) for i in range(3))
        )
        assert [r.status for r in results] == [CommitStatus.OK] * 3
        assert group.turns - group.groups >= 2 * (1 + (not quick))  # the three went together
    assert len(threads) == 4, threads
    assert threads[:2] == [loop_thread] * 2 and all(t != loop_thread for t in threads[2:]), threads
    assert await storage.count("conversations") == 8


@SQLITE_ONLY
async def test_after_a_slow_commit_groups_of_one_commit_in_the_worker_until_commits_are_quick_again(
    storage: Storage,
) -> None:
    """A COMMIT that takes 50 ms sends the next groups to the worker: the loop must not stand still for a
    slow disk. Quick COMMITs bring the groups of one back to the loop's thread."""
    group = storage.db.group
    assert group is not None
    group.inline_below = 0.005
    loop_thread = threading.get_ident()
    threads = commits_traced(storage, first_sleeps=0.05).commits
    assert (await storage.commit_turn(turn("slow", "c0"))).status is CommitStatus.OK
    assert threads == [loop_thread] and group.commit_seconds >= 0.005
    for i in range(1, 40):
        assert (await storage.commit_turn(turn(f"e{i}", f"c{i}"))).status is CommitStatus.OK
        if threads[-1] == loop_thread:
            break
    assert threads[1] != loop_thread  # right after the slow one: the worker
    assert threads[-1] == loop_thread, "quick commits never brought groups of one back to the loop"


@SQLITE_ONLY
async def test_the_write_ahead_log_is_checkpointed_in_the_worker_never_in_the_loops_thread(
    storage: Storage,
) -> None:
    """Groups of one commit in the loop's thread; a checkpoint (pages copied into the database, an fsync)
    must not run there. SQLite's automatic checkpoint is off on the writer's connection, and every
    CHECKPOINT_EVERY turns a checkpoint runs in the worker after that group's COMMIT. The log does not
    grow without end: after the checkpoints, few of its frames are left to copy."""
    group = storage.db.group
    assert group is not None
    group.inline_below = float("inf")
    conn = group.connection()
    assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
    loop_thread = threading.get_ident()
    traced = commits_traced(storage)
    turns = 3 * CHECKPOINT_EVERY + 5
    for i in range(turns):
        assert (await storage.commit_turn(turn(f"e{i}", f"c{i % 40}", i // 40))).status is CommitStatus.OK
    checkpoints = [t == loop_thread for t in traced.checkpoints]
    assert len(checkpoints) >= 3 and not any(checkpoints), checkpoints
    commits = [t == loop_thread for t in traced.commits]
    assert sum(commits) >= turns - len(checkpoints)  # all the others: in the loop's thread
    other = sqlite3.connect(storage.writer.url.database or "", isolation_level=None)
    try:
        _, frames, _ = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        other.close()
    assert frames < WAL_FRAMES, frames  # 3 * 256 turns left in the log would be thousands of frames


@SQLITE_ONLY
async def test_checkpoints_come_at_about_a_thousand_pages_whatever_the_turns_write(storage: Storage) -> None:
    """Reports write about twice a plain turn's pages: checkpoints every fixed number of turns would let
    the log of a day of reports grow twice as large. The turns between checkpoints follow what each
    checkpoint found, so that the log holds about WAL_FRAMES pages at a checkpoint, as with SQLite's
    automatic checkpoint, for plain turns and for reports alike."""
    group = storage.db.group
    assert group is not None
    found: dict[str, list[int]] = {"plain": [], "report": []}
    for kind in ("plain", "report"):
        for i in range(4 * CHECKPOINT_EVERY):
            reports = (
                (report(f"{i:04d}-{kind[:4].upper()}", f"https://x.com/{kind}{i}"),)
                if kind == "report"
                else ()
            )
            done = await storage.commit_turn(turn(f"{kind}{i}", f"{kind}{i}", 0, *reports))
            assert done.status is CommitStatus.OK
            if not found[kind] or group.wal_frames != found[kind][-1]:
                found[kind].append(group.wal_frames)
    for kind, frames in found.items():  # the first checkpoint of each kind comes at the last kind's pace
        settled = frames[2:]
        assert len(settled) >= 3, found
        assert all(WAL_FRAMES / 2 <= n <= WAL_FRAMES * 3 / 2 for n in settled), (kind, found)


@SQLITE_ONLY
@pytest.mark.parametrize("turns", [1, 7])
async def test_the_state_cache_never_hides_a_change_made_elsewhere(storage: Storage, turns: int) -> None:
    """Another instance (here: a second Storage on the same file) moves the conversation on: this
    process's cached state makes its next commit a conflict, which drops the entry."""
    for i in range(turns):
        assert (await storage.commit_turn(turn(f"a{i}", "c1", i))).status is CommitStatus.OK
    other = Storage(storage.url, storage.secret)
    try:
        stored = await other.load_conversation("c1")
        assert (await other.commit_turn(turn("b", "c1", stored.version))).status is CommitStatus.OK
    finally:
        await other.close()
    cached = await storage.load_conversation("c1", cached=True)
    assert cached.version == turns  # stale, as this process last wrote it
    assert (await storage.commit_turn(turn("late", "c1", cached.version))).status is CommitStatus.CONFLICT
    fresh = await storage.load_conversation("c1", cached=True)
    assert fresh.version == turns + 1


@POSTGRES_ONLY
async def test_a_turn_on_a_connection_the_server_cut_is_run_again_on_a_fresh_one(storage: Storage) -> None:
    """There is no pre-ping: the pool hands out a connection PostgreSQL has closed (a restart, an idle
    timeout), the turn fails on it, and `Database.write` runs it once more on a fresh connection."""
    assert (await storage.commit_turn(turn("e1", "c1"))).status is CommitStatus.OK
    database = storage.writer.url.database
    plain = storage.writer.url.set(drivername="postgresql").render_as_string(hide_password=False)
    cutter = await asyncpg.connect(plain.replace(f"/{database}", "/postgres"))
    try:  # every connection to this test's database, the pooled one the next turn will be handed too
        cut = await cutter.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1", database
        )
    finally:
        await cutter.close()
    assert cut >= 1
    result = await storage.commit_turn(turn("e2", "c1", 1, report("CCCC-0001", "https://x.com/cut")))
    assert result.status is CommitStatus.OK
    assert await storage.count("reports") == 1


def test_the_state_cache_is_bounded_by_entries_and_by_characters() -> None:
    cache = StateCache(size=3, budget=1_000)
    for i in range(5):
        cache.put(f"c{i}", Conversation({"step": "menu"}, i))
    assert len(cache) == 3 and cache.get("c0") is None and cache.get("c4") is not None
    big = {"recent": [{"text": "x" * 400}]}
    for i in range(3):
        cache.put(f"big{i}", Conversation(big, 1))
    assert cache.held <= 1_000
    assert cache.get("big2") is not None and cache.get("big0") is None
    cache.put("big2", Conversation({"step": "menu"}, 2))  # replaced: its old weight goes
    assert cache.held == sum(len(json_text(c.state)) for k in ("c4", "big1", "big2") if (c := cache.get(k)))
    cache.clear()
    assert cache.held == 0 and len(cache) == 0
