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
from storage.queue import Queue
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
