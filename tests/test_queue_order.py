"""The claim order and the batched audit, at the storage level, on both backends.

`Queue.claim` picks ids from two index-ordered arms (expired leases, new cases) and appends one audit event
per claimed case in one INSERT; these tests pin what that must keep: urgent first, then priority, then the
oldest; an expired lease is claimable before the reaper runs; every claim leaves one event per case and an
unbroken chain.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from storage import audit
from storage.queue import CaseFilter, Queue, claim_groups
from storage.repository import Storage, utcnow
from storage.schema import audit_events, cases

BASE = datetime(2026, 1, 1, tzinfo=UTC)


async def seed(storage: Storage, rows: list[tuple[str, bool, float, int]]) -> dict[str, int]:
    """Cases named by their URL's last part: (name, urgent, priority, minutes after BASE first seen)."""
    values: list[dict[str, Any]] = [
        {
            "canonical_url": f"https://t.me/{name}",
            "platform": "telegram",
            "status": "new",
            "urgent": urgent,
            "priority": priority,
            "categories": ["propaganda"],
            "report_count": 1,
            "reporter_count": 1,
            "first_seen": BASE + timedelta(minutes=minutes),
            "last_seen": BASE + timedelta(minutes=minutes),
            "updated_at": BASE,
        }
        for name, urgent, priority, minutes in rows
    ]
    async with storage.writer.begin() as conn:
        await conn.execute(cases.insert(), values)
        found = (await conn.execute(select(cases.c.canonical_url, cases.c.id))).all()
    return {url.rsplit("/", 1)[1]: case_id for url, case_id in found}


def names(ids: dict[str, int], items: list[dict[str, Any]]) -> list[str]:
    by_id = {case_id: name for name, case_id in ids.items()}
    return [by_id[item["id"]] for item in items]


async def test_claims_follow_urgency_then_priority_then_age(storage: Storage) -> None:
    ids = await seed(
        storage,
        [
            ("low_old", False, 10.0, 0),
            ("high_new", False, 90.0, 50),
            ("high_old", False, 90.0, 5),
            ("urgent_low", True, 1.0, 60),
            ("mid", False, 50.0, 1),
        ],
    )
    queue = Queue(storage)
    first = await queue.claim("analyst-a", limit=2)
    assert names(ids, first) == ["urgent_low", "high_old"]
    assert all(c["status"] == "in_review" and c["assignee"] == "analyst-a" for c in first)
    rest = [names(ids, await queue.claim("analyst-b"))[0] for _ in range(3)]
    assert rest == ["high_new", "mid", "low_old"]
    assert await queue.claim("analyst-b") == []


async def test_an_expired_lease_is_claimable_before_the_reaper_runs_and_keeps_its_rank(
    storage: Storage,
) -> None:
    ids = await seed(
        storage, [("top", False, 80.0, 0), ("second", False, 60.0, 1), ("third", False, 40.0, 2)]
    )
    queue = Queue(storage)
    [top] = await queue.claim("analyst-a")
    assert top["id"] == ids["top"]
    async with storage.writer.begin() as conn:
        await conn.execute(
            update(cases).where(cases.c.id == ids["top"]).values(lease_until=utcnow() - timedelta(seconds=5))
        )
    again = await queue.claim("analyst-b", limit=2)
    assert names(ids, again) == ["top", "second"]
    assert again[0]["assignee"] == "analyst-b"


async def test_every_claim_leaves_one_audit_event_per_case_in_an_unbroken_chain(storage: Storage) -> None:
    await seed(storage, [(f"c{i}", i % 7 == 0, float(i % 13), i) for i in range(60)])
    queue = Queue(storage)

    async def consumer(name: str, limit: int) -> list[int]:
        got: list[int] = []
        while items := await queue.claim(name, limit=limit):
            got += [item["id"] for item in items]
        return got

    claimed = await asyncio.gather(*(consumer(f"analyst-{n}", 1 + n % 4) for n in range(6)))
    flat = [case_id for got in claimed for case_id in got]
    assert len(flat) == len(set(flat)) == 60
    async with storage.reader.connect() as conn:
        events = (
            await conn.execute(
                select(audit_events.c.subject, func.count())
                .where(audit_events.c.action == "case.claimed")
                .group_by(audit_events.c.subject)
            )
        ).all()
        assert len(events) == 60 and all(n == 1 for _, n in events)
        assert await audit.first_broken(conn) is None


async def test_claims_made_at_once_are_served_together_each_to_its_own_analyst(storage: Storage) -> None:
    """Eight analysts press "claim next" at the same moment with five cases open: one transaction serves
    them (storage.claimgroup); the first five in arrival order get the five cases in claim order, the
    rest nothing; each case is held by, and audited to, the analyst it went to."""
    ids = await seed(storage, [(f"c{i}", i == 3, 50.0 - i, i) for i in range(5)])
    queue = Queue(storage)
    groups = claim_groups(storage)
    before = groups.groups
    got = await asyncio.gather(*(queue.claim(f"a{n}") for n in range(8)))
    assert groups.groups - before == 1
    assert [names(ids, items) for items in got] == [["c3"], ["c0"], ["c1"], ["c2"], ["c4"], [], [], []]
    for n, items in enumerate(got):
        assert all(item["assignee"] == f"a{n}" and item["status"] == "in_review" for item in items)
    async with storage.reader.connect() as conn:
        claimed = (
            await conn.execute(
                select(audit_events.c.actor, audit_events.c.subject).where(
                    audit_events.c.action == "case.claimed"
                )
            )
        ).all()
    by_id = {case_id: name for name, case_id in ids.items()}
    owners = {by_id[int(subject.split(":")[1])]: actor for actor, subject in claimed}
    assert owners == {"c3": "a0", "c0": "a1", "c1": "a2", "c2": "a3", "c4": "a4"}
    assert await storage.verify_audit_chain()


async def test_claims_at_once_with_other_filters_keep_to_their_own(storage: Storage) -> None:
    await seed(storage, [("tg1", False, 90.0, 0), ("tg2", False, 80.0, 1)])
    async with storage.writer.begin() as conn:
        await conn.execute(
            cases.insert(),
            [
                {
                    "canonical_url": "https://instagram.com/insta1",
                    "platform": "instagram",
                    "status": "new",
                    "urgent": False,
                    "priority": 10.0,
                    "categories": ["propaganda"],
                    "report_count": 1,
                    "reporter_count": 1,
                    "first_seen": BASE,
                    "last_seen": BASE,
                    "updated_at": BASE,
                }
            ],
        )
    queue = Queue(storage)
    insta, anything, again = await asyncio.gather(
        queue.claim("a1", within=CaseFilter(platform="instagram")),
        queue.claim("a2", limit=2),
        queue.claim("a3", within=CaseFilter(platform="instagram")),
    )
    assert [c["canonical_url"] for c in insta] == ["https://instagram.com/insta1"]
    assert [c["canonical_url"] for c in anything] == ["https://t.me/tg1", "https://t.me/tg2"]
    assert again == []
