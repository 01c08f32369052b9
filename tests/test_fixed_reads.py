"""SQLite's per-turn reads in fixed SQL (storage/fixedreads.py) answer what their SQLAlchemy queries answer.

One SQLite database, filled through the real paths (turns with reports, a callback request, a follow-up
question delivered) and then moved in time and status with plain updates; each read is asked twice on
the same rows, through fixed SQL (`Database.fixed`, as the server runs) and through its Core query
(`Database.fixed` None, as PostgreSQL runs), and the answers must be equal, types included. The fixed
path must also run no statement through SQLAlchemy at all, which is its reason to be.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, update

from cyberunit.api import render_followup
from storage import followups
from storage.records import EvidenceRecord, NewReport, NewSupportRequest, TurnRecord
from storage.repository import Storage, StorageUnavailable
from storage.safety import Safety
from storage.schema import cases, reports, support_requests
from storage.support import month_numbers
from tests.conftest import SECRET

T = TypeVar("T")
LINK_A = "https://facebook.com/recruit.page.a"
LINK_B = "https://t.me/s/channel_b"
STATE = {"step": "menu", "lang": "ur", "recent": [{"text": "آپ کی رپورٹ 👍", "buttons": []}], "n": 1.5}


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    store = Storage(f"sqlite+aiosqlite:///{tmp_path}/fixed.db", SECRET.encode())
    await store.upgrade()
    try:
        yield store
    finally:
        await store.close()


@contextmanager
def no_sqlalchemy(storage: Storage) -> Iterator[list[str]]:
    """The statements SQLAlchemy ran on any of the storage's engines inside the block."""
    ran: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        ran.append(statement)

    engines = [storage.writer.sync_engine, storage.reader.sync_engine]
    engines += [e.engine for e in (storage.db.group, storage.db.inline_reader) if e is not None]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        yield ran
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)


async def both(storage: Storage, read: Callable[[], Awaitable[T]]) -> tuple[T, T]:
    """`read`'s answer through fixed SQL (which runs nothing through SQLAlchemy), then through Core."""
    assert storage.db.fixed is not None
    with no_sqlalchemy(storage) as ran:
        fixed = await read()
    assert ran == []
    kept, storage.db.fixed = storage.db.fixed, None
    try:
        with no_sqlalchemy(storage) as ran:
            core = await read()
        assert ran, "the Core path ran no statement"
    finally:
        storage.db.fixed = kept
    return fixed, core


async def same(storage: Storage, read: Callable[[], Awaitable[T]]) -> T:
    fixed, core = await both(storage, read)
    assert fixed == core
    assert type(fixed) is type(core)
    return fixed


def report(code: str, reporter: str, *links: str, lang: str = "en") -> NewReport:
    evidence = tuple(EvidenceRecord("link", link) for link in links)
    return NewReport(code, reporter, "webchat", lang, "propaganda", "seen on the page", False, evidence)


async def turn(storage: Storage, record: TurnRecord) -> None:
    assert (await storage.commit_turn(record)).status.value == "ok"


async def set_case(storage: Storage, link: str, **values: Any) -> None:
    async with storage.db.transaction() as conn:
        await conn.execute(update(cases).where(cases.c.canonical_url == link).values(**values))


async def test_conversation(storage: Storage) -> None:
    await turn(storage, TurnRecord("webchat", "e1", "c1", 0, STATE, []))
    await turn(storage, TurnRecord("webchat", "e2", "c1", 1, {**STATE, "n": 2}, []))
    found = await same(storage, lambda: storage.load_conversation("c1"))
    assert (found.state, found.version) == ({**STATE, "n": 2}, 2)
    assert (await same(storage, lambda: storage.load_conversation("nobody"))).version == 0


async def test_the_kept_connection_sees_each_commit_and_a_failure_drops_it(storage: Storage) -> None:
    """The loop's kept connection holds no snapshot between reads (each read is one by itself), and a
    statement failing there is StorageUnavailable, after which a fresh connection reads on."""
    await turn(storage, TurnRecord("webchat", "e1", "c1", 0, STATE, []))
    assert (await storage.load_conversation("c1")).version == 1
    await turn(storage, TurnRecord("webchat", "e2", "c1", 1, STATE, []))
    assert (await storage.load_conversation("c1")).version == 2

    def broken(db: sqlite3.Connection) -> None:
        db.execute("SELECT nothing FROM nowhere")

    with pytest.raises(StorageUnavailable):
        await storage.db.fetch_sqlite(broken)
    await turn(storage, TurnRecord("webchat", "e3", "c1", 2, STATE, []))
    assert (await storage.load_conversation("c1")).version == 3


async def test_reports_since(storage: Storage) -> None:
    for n in range(4):
        await turn(storage, TurnRecord("webchat", f"e{n}", "r1", n, {}, [], (report(f"RPT{n}-AAAA", "r1"),)))
    await turn(storage, TurnRecord("webchat", "x", "r2", 0, {}, [], (report("OTHR-AAAA", "r2"),)))
    now = datetime.now(UTC)
    for code, age in (("RPT0-AAAA", timedelta(hours=30)), ("RPT1-AAAA", timedelta(hours=2))):
        async with storage.db.transaction() as conn:
            await conn.execute(update(reports).where(reports.c.code == code).values(created_at=now - age))
    safety = Safety(storage)
    counts = []
    for hours in (1, 24, 48):
        counts.append(await same(storage, lambda h=hours: safety.reports_since("r1", h)))  # type: ignore[misc]
    assert counts == [2, 3, 4]
    assert await same(storage, lambda: safety.reports_since("nobody", 24)) == 0


async def test_case_exists(storage: Storage) -> None:
    await turn(storage, TurnRecord("webchat", "e", "r1", 0, {}, [], (report("CASE-AAAA", "r1", LINK_A),)))
    assert await same(storage, lambda: storage.reports.case_exists(LINK_A)) is True
    assert await same(storage, lambda: storage.reports.case_exists(LINK_B)) is False


async def test_told_of_reports_on_one_and_on_several_cases(storage: Storage) -> None:
    await turn(
        storage, TurnRecord("webchat", "a", "r1", 0, {}, [], (report("TWO0-AAAA", "r1", LINK_A, LINK_B),))
    )
    await turn(
        storage, TurnRecord("webchat", "b", "r2", 0, {}, [], (report("ONE0-AAAA", "r2", LINK_A, lang="ur"),))
    )
    await turn(storage, TurnRecord("webchat", "c", "r3", 0, {}, [], (report("NEW0-AAAA", "r3"),)))
    codes = ["TWO0-AAAA", "ONE0-AAAA", "NEW0-AAAA", "NONE-AAAA"]
    fresh = await same(storage, lambda: storage.reports.told(codes))
    assert sorted(fresh) == sorted(codes[:3]) and {t.word for t in fresh.values()} == {"received"}
    now = datetime.now(UTC)
    await set_case(storage, LINK_A, status="in_review", claimed_at=now - timedelta(hours=3))
    told = await same(storage, lambda: storage.reports.told(codes))
    assert told["ONE0-AAAA"].word == "under_review" and told["ONE0-AAAA"].reviewed is not None
    await set_case(storage, LINK_A, status="no_action", decided_at=now, reason="not_extremist")
    await set_case(storage, LINK_B, status="escalated", claimed_at=now - timedelta(days=1), decided_at=now)
    told = await same(storage, lambda: storage.reports.told(codes))
    assert (told["TWO0-AAAA"].word, told["TWO0-AAAA"].reason) == ("action_taken", "passed_to_investigators")
    assert (told["ONE0-AAAA"].word, told["ONE0-AAAA"].reason) == ("reviewed", "not_extremist")
    assert told["ONE0-AAAA"].decided == now
    assert await same(storage, lambda: storage.reports.told(["NONE-AAAA"])) == {}


async def test_requests_told(storage: Storage) -> None:
    for n, status in enumerate(("new", "in_progress", "done")):
        request = NewSupportRequest(f"FAM{n}-AAAA", f"f{n}", "webchat", "ur", "signs", "call after 5")
        await turn(storage, TurnRecord("webchat", f"s{n}", f"f{n}", 0, {}, [], support=(request,)))
        if status != "new":
            async with storage.db.transaction() as conn:
                await conn.execute(
                    update(support_requests)
                    .where(support_requests.c.code == request.code)
                    .values(status=status, handled_at=datetime.now(UTC), handled_by="counsellor")
                )
    codes = ["FAM0-AAAA", "FAM1-AAAA", "FAM2-AAAA", "NONE-AAAA"]
    told = await same(storage, lambda: storage.reports.requests_told(codes))
    assert [told[c].word for c in codes[:3]] == ["callback_new", "callback_in_progress", "callback_done"]
    assert told["FAM2-AAAA"].decided is not None and told["FAM0-AAAA"].reviewed is None


async def test_a_question_waiting_for_its_reader(storage: Storage) -> None:
    for n in range(2):
        code = f"ASKD-000{n}"
        await turn(
            storage, TurnRecord("webchat", f"a{n}", f"r{n}", 0, {}, [], (report(code, f"r{n}", LINK_A),))
        )
        yes = TurnRecord("webchat", f"b{n}", f"r{n}", 1, {}, [], contact=b"sealed", updates_for=(code,))
        await turn(storage, yes)
    case = await storage.reports.case_of("ASKD-0000")
    assert case is not None
    await followups.ask(storage, int(case["id"]), "Is the page still up?", "analyst", render_followup)

    async def waiting(conversation: str) -> followups.Waiting | None:
        followups._ASKED.pop(storage, None)  # each path reads the list of citizens asked itself
        return await followups.waiting_for(storage, conversation)

    async def asked() -> frozenset[str]:
        followups._ASKED.pop(storage, None)
        return await followups._asked(storage)

    assert await same(storage, asked) == {"r0", "r1"}
    assert await same(storage, lambda: waiting("r0")) is None  # asked, not delivered yet
    await storage.outbox.take("webchat", "r0")  # delivered to r0 only
    found = await same(storage, lambda: waiting("r0"))
    assert found is not None and found.code == "ASKD-0000"
    assert await same(storage, lambda: waiting("r1")) is None
    assert await same(storage, lambda: waiting("nobody")) is None


async def test_month_numbers(storage: Storage) -> None:
    links = [f"https://t.me/s/channel_{n}" for n in range(5)]
    for n, link in enumerate(links):
        await turn(
            storage,
            TurnRecord("webchat", f"m{n}", f"r{n}", 0, {}, [], (report(f"MNTH-000{n}", f"r{n}", link),)),
        )
    now = datetime.now(UTC)
    await set_case(storage, links[0], status="referred", decided_at=now)
    await set_case(storage, links[1], status="escalated", decided_at=now)
    await set_case(storage, links[2], status="referred", decided_at=now - timedelta(days=62))  # months ago
    await set_case(storage, links[3], status="monitoring", decided_at=now)
    async with storage.db.transaction() as conn:  # a report of months ago
        await conn.execute(
            update(reports).where(reports.c.code == "MNTH-0004").values(created_at=now - timedelta(days=62))
        )
    assert await same(storage, lambda: month_numbers(storage)) == (4, 2, 1)
    assert await same(storage, lambda: month_numbers(storage, now - timedelta(days=62))) == (5, 3, 1)
