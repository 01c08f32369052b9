"""PostgreSQL's groups of claims in two round trips (storage/claimgroup.py, migration 0020).

A group of claims without filters is the pick without locks (which reads the audit chain's head too) and
one call of `raabta_claim_cases`, which stores the events chained in the process and hands the cases out
only if the head and the cases are still as the pick saw them; otherwise the group is claimed again in a
transaction that locks as it picks. What these tests hold it to: two round trips a group (a counting proxy
in front of the server), the same cases, rows and audit events as the transaction's path, a group turned
down when another transaction holds one of its cases, or when another append moved the chain's head
(nothing changed, the chain still verifying), and a migration that adds and removes the function.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import select

from storage import audit
from storage.queue import CaseFilter, Queue, claim_groups
from storage.repository import Storage, utcnow
from storage.schema import audit_events, cases
from tests.conftest import PG_URL, POSTGRES_ONLY, SECRET
from tests.pgdb import plain, scratch_database
from tests.test_pg_plain_turn import Counting, function_comes_and_goes, through
from tests.test_queue_order import seed

# Cases (name, urgent, priority, minutes after BASE first seen): the claim order is c3, c0, c1, ...
CASES = [(f"c{i}", i == 3, 50.0 - i, i) for i in range(32)]
ALL = CaseFilter(platform="telegram")  # every seeded case: a filter, so the transaction's path


async def opened(url: str) -> Storage:
    storage = Storage(url, SECRET.encode())
    await storage.upgrade()
    return storage


async def audit_rows(storage: Storage) -> list[tuple[Any, ...]]:
    async with storage.reader.connect() as conn:
        query = select(audit_events.c.actor, audit_events.c.action, audit_events.c.subject,
                       audit_events.c.detail).order_by(audit_events.c.id)  # fmt: skip
        return [tuple(row) for row in (await conn.execute(query)).all()]


def stamps_apart(item: dict[str, Any]) -> dict[str, Any]:
    """A claimed case with its claim's moments replaced by whether they are set (taken at other moments)."""
    moments = ("lease_until", "claimed_at", "updated_at")
    return {key: (value is not None if key in moments else value) for key, value in item.items()}


@POSTGRES_ONLY
async def test_a_group_of_claims_is_two_round_trips(db_url: str) -> None:
    proxy = Counting()
    async with through(proxy, db_url) as url:
        storage = await opened(url)
        try:
            await seed(storage, CASES)
            queue = Queue(storage)
            groups = claim_groups(storage)
            await queue.claim("warm")  # asyncpg prepares the two statements on this connection
            before, sent = groups.groups, proxy.sent
            got = await asyncio.gather(*(queue.claim(f"a{n}") for n in range(8)))
            assert groups.groups - before == 1 and groups.fallbacks == 0
            assert proxy.sent - sent == 2
            assert all(len(items) == 1 for items in got)
            # the same group through the transaction (a filter): BEGIN, pick, UPDATE, lock, head, INSERT,
            # COMMIT
            # (a group of as many claims first: SQLAlchemy prepares an UPDATE and an INSERT per size)
            await asyncio.gather(*(queue.claim(f"w{n}", within=ALL) for n in range(8)))
            sent = proxy.sent
            got = await asyncio.gather(*(queue.claim(f"a{n}", within=ALL) for n in range(8)))
            assert all(len(items) == 1 for items in got)
            assert proxy.sent - sent == 7
            assert await storage.verify_audit_chain()
        finally:
            await storage.close()


async def claim_all(url: str, within: CaseFilter | None) -> tuple[list[list[dict[str, Any]]], Storage]:
    storage = await opened(url)
    await seed(storage, CASES)
    queue = Queue(storage)
    rounds = []
    for limit in (1, 3, 10):  # three groups: 8 analysts at once, each asking for `limit` cases
        rounds += await asyncio.gather(*(queue.claim(f"a{n}", limit, 600, within) for n in range(8)))
    return rounds, storage


@POSTGRES_ONLY
async def test_the_function_claims_and_audits_what_the_transaction_does(db_url: str) -> None:
    assert PG_URL
    async with scratch_database(PG_URL, "raabta_test") as other:
        fast, a = await claim_all(db_url, None)
        slow, b = await claim_all(other, ALL)
        try:
            assert claim_groups(a).fallbacks == 0
            assert [[stamps_apart(c) for c in items] for items in fast] == [
                [stamps_apart(c) for c in items] for items in slow
            ]
            assert sum(len(items) for items in fast) == len(CASES)
            for items in fast:
                for item in items:
                    assert item["status"] == "in_review" and item["claimed_reports"] == item["report_count"]
                    lease = datetime.fromisoformat(item["lease_until"])
                    assert lease - datetime.fromisoformat(item["claimed_at"]) == timedelta(seconds=600)
                    assert item["updated_at"] == item["claimed_at"]
            assert await audit_rows(a) == await audit_rows(b)
            assert len(await audit_rows(a)) == len(CASES)
            assert await a.verify_audit_chain() and await b.verify_audit_chain()
        finally:
            await a.close()
            await b.close()


@POSTGRES_ONLY
async def test_a_case_another_transaction_holds_turns_the_group_to_the_transaction(storage: Storage) -> None:
    """Another instance's claim holds c3's row: the pick without locks still sees c3 first, the function
    cannot lock it and changes nothing, and the transaction's pick passes it by (SKIP LOCKED)."""
    ids = await seed(storage, CASES)
    queue = Queue(storage)
    groups = claim_groups(storage)
    other = await asyncpg.connect(plain(storage.url))
    try:
        async with other.transaction():
            await other.execute("SELECT id FROM cases WHERE id = $1 FOR UPDATE", ids["c3"])
            got = await asyncio.gather(*(queue.claim(f"a{n}") for n in range(2)))
            assert groups.fallbacks == 1
            assert [[c["id"] for c in items] for items in got] == [[ids["c0"]], [ids["c1"]]]
        again = await queue.claim("a9")  # released: the next group goes through the function
        assert [c["id"] for c in again] == [ids["c3"]] and groups.fallbacks == 1
    finally:
        await other.close()
    assert [subject for _, _, subject, _ in await audit_rows(storage)] == [
        f"case:{ids[name]}" for name in ("c0", "c1", "c3")
    ]
    assert await storage.verify_audit_chain()


async def call(storage: Storage, ids: list[int], head: str | None, chained_onto: str | None) -> int:
    """`raabta_claim_cases` for `ids`, told the chain's head is `head`, with events chained onto
    `chained_onto` (with the storage's key): how many rows it returns."""
    now = utcnow()
    detail = {"lease_seconds": 300}
    subjects = [f"case:{case_id}" for case_id in ids]
    events = audit.chained(storage.audit_key, chained_onto, now, "case.claimed",
                           [("a1", subject, detail) for subject in subjects])  # fmt: skip
    conn = await asyncpg.connect(plain(storage.url))
    try:
        rows = await conn.fetch(
            "SELECT * FROM raabta_claim_cases($1, $2, $3, $4, $5, $6, $7, $8::json, $9, $10)",
            ids, ["a1"] * len(ids), now, now + timedelta(minutes=5), head, "case.claimed", subjects,
            json.dumps(detail), [e["prev_hash"] for e in events], [e["hash"] for e in events],
        )  # fmt: skip
    finally:
        await conn.close()
    return len(rows)


async def statuses(storage: Storage) -> dict[int, str]:
    async with storage.reader.connect() as conn:
        return {
            case_id: status
            for case_id, status in (await conn.execute(select(cases.c.id, cases.c.status))).all()
        }


async def hashes(storage: Storage) -> list[str]:
    async with storage.reader.connect() as conn:
        return list((await conn.scalars(select(audit_events.c.hash).order_by(audit_events.c.id))).all())


@POSTGRES_ONLY
async def test_the_function_changes_nothing_unless_head_and_cases_are_as_the_pick_saw_them(
    storage: Storage,
) -> None:
    ids = await seed(storage, CASES[:3])
    queue = Queue(storage)
    [first] = await queue.claim("a0")  # c0: the chain has one event now
    [head] = await hashes(storage)
    free = [ids["c1"], ids["c2"]]
    before = await statuses(storage)
    # a head that is no longer the newest (another append came in between): the empty chain's, or None
    assert await call(storage, free, audit.GENESIS, None) == 0
    assert await call(storage, free, None, None) == 0
    # the right head, but one of the cases is held already (under a lease that has not run out)
    assert await call(storage, [ids["c1"], first["id"]], head, head) == 0
    assert await statuses(storage) == before
    assert await hashes(storage) == [head] and await storage.verify_audit_chain()
    # what the pick saw: the cases are claimed, the events stored, chained in their order
    assert await call(storage, free, head, head) == 2
    assert {(await statuses(storage))[case_id] for case_id in free} == {"in_review"}
    assert [s for _, _, s, _ in await audit_rows(storage)][1:] == [f"case:{i}" for i in free]
    assert await storage.verify_audit_chain()


@POSTGRES_ONLY
async def test_the_migration_adds_and_removes_the_function(storage: Storage) -> None:
    await function_comes_and_goes(storage, "raabta_claim_cases", "0019")
    await seed(storage, CASES[:2])
    assert len(await Queue(storage).claim("a1", limit=2)) == 2
    assert claim_groups(storage).fallbacks == 0 and await storage.verify_audit_chain()


@POSTGRES_ONLY
async def test_two_instances_claiming_at_once_never_claim_a_case_twice(storage: Storage) -> None:
    """Two processes' groups race for the same first cases: the one whose function comes second finds
    them taken (or the head moved) and claims again in a transaction; no case twice, the chain whole."""
    await seed(storage, [(f"c{i}", i % 9 == 0, float(i % 17), i) for i in range(120)])
    other = await opened(storage.url)
    try:

        async def consumer(store: Storage, name: str) -> list[int]:
            got: list[int] = []
            while items := await Queue(store).claim(name, limit=1 + len(got) % 3):
                got += [item["id"] for item in items]
            return got

        claimed = await asyncio.gather(
            *(consumer(store, f"{at}-{n}") for at, store in enumerate((storage, other)) for n in range(4))
        )
    finally:
        await other.close()
    flat = [case_id for got in claimed for case_id in got]
    assert len(flat) == len(set(flat)) == 120
    subjects = [subject for _, _, subject, _ in await audit_rows(storage)]
    assert sorted(subjects) == sorted(f"case:{case_id}" for case_id in flat)
    assert await storage.verify_audit_chain()
