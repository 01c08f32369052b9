"""Claims that arrive together are served together: one pick, one UPDATE, one audit append, one COMMIT.

Why: every claim appends to the audit chain, and each event holds the previous one's hash, so claims in
transactions of their own queue one behind the other for the chain's lock (PostgreSQL) or the file's
(SQLite), each paying a transaction's fixed cost: one case per call stopped near 350 claims a second
(docs/benchmarks.md, "Queue claims"), where claiming ten cases per call reached 2,500. Here the calls
waiting while a group runs form the next group: their limits are added up, the next cases in claim
order are picked once (FOR UPDATE SKIP LOCKED on PostgreSQL, so other instances' groups pass them by),
handed out in arrival order, each to its own analyst in one UPDATE, and chained in one INSERT. What each
caller gets is what it would have got claiming alone at that moment; a group's failure is each of its
callers' failure.

Calls group only with calls of the same filters and lease (`key`); groups of different keys run one
after the other.

The statements are built once and kept: the pick per filters (`:now` and `:limit` its parameters), the
UPDATE per number of cases (`CASE id WHEN :id_0 THEN :to_0 ...`). Building them for every group (a union
of two CTEs, an UPDATE returning every column) cost more of this process's CPU than the database spent
running them, and the CPU is what bounded claims a second (issue 23).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, Update, bindparam, case, update

from storage import audit
from storage.batching import Batcher
from storage.database import Database, utcnow
from storage.schema import cases

Pick = Callable[[Sequence[Any]], Select[Any]]
KEPT = 64  # statements of each kind kept (filters seen, group sizes seen), the least recently used go


@dataclass(frozen=True, slots=True)
class _Call:
    key: Hashable  # the filters, as the caller names them
    conditions: Sequence[Any]
    lease_seconds: int
    assignee: str
    limit: int


class ClaimGroups:
    def __init__(self, db: Database, pick: Pick) -> None:
        self.db = db
        self.pick = pick  # storage.queue.claimable, with the dialect's locking decided
        self._picks: OrderedDict[Hashable, Select[Any]] = OrderedDict()
        self._claims: OrderedDict[int, Update] = OrderedDict()
        self.batcher: Batcher[_Call, list[Any]] = Batcher(self._batch)  # storage.batching
        self.groups = 0  # groups run so far (the benchmark reports calls per group)

    async def claim(
        self, key: Hashable, conditions: Sequence[Any], lease_seconds: int, assignee: str, limit: int
    ) -> list[Any]:
        """The case rows claimed for `assignee` (at most `limit`, in claim order), once committed."""
        return await self.batcher.submit(_Call(key, conditions, lease_seconds, assignee, limit))

    async def _batch(self, calls: list[_Call]) -> list[list[Any] | BaseException]:
        """The calls that waited together, a group per filters and lease, the groups one after the other;
        a group's failure is each of its callers' failure."""
        groups: dict[Hashable, list[int]] = {}
        for at, call in enumerate(calls):
            groups.setdefault((call.key, call.lease_seconds), []).append(at)
        outcomes: list[list[Any] | BaseException] = [[] for _ in calls]
        for members in groups.values():
            shares: Sequence[list[Any] | BaseException]
            try:
                shares = await self._run([calls[at] for at in members])
            except Exception as exc:  # StorageUnavailable, most likely
                shares = [exc] * len(members)
            else:
                self.groups += 1
            for at, share in zip(members, shares, strict=True):
                outcomes[at] = share
        return outcomes

    async def _run(self, group: list[_Call]) -> list[list[Any]]:
        now = utcnow()
        first = group[0]
        wanted = sum(call.limit for call in group)
        async with self.db.transaction() as conn:
            pick = kept(self._picks, first.key, lambda: self.pick(first.conditions))
            ids: list[int] = list((await conn.scalars(pick, {"now": now, "limit": wanted})).all())
            shares: list[list[int]] = []
            owner: dict[int, str] = {}
            start = 0
            for call in group:
                share = ids[start : start + call.limit]
                start += call.limit
                shares.append(share)
                owner.update(dict.fromkeys(share, call.assignee))
            if not ids:
                return [[] for _ in shares]
            claim = kept(self._claims, len(ids), lambda: claim_statement(len(ids)))
            values: dict[str, Any] = {"now": now, "lease_until": now + timedelta(seconds=first.lease_seconds)}
            for at, case_id in enumerate(ids):
                values[f"id_{at}"] = case_id
                values[f"to_{at}"] = owner[case_id]
            rows = {row.id: row for row in (await conn.execute(claim, values)).all()}
            detail = {"lease_seconds": first.lease_seconds}
            events = [(owner[case_id], f"case:{case_id}", detail) for case_id in ids]
            await audit.append_by(conn, now, "case.claimed", events)
        return [[rows[case_id] for case_id in share] for share in shares]


def claim_statement(size: int) -> Update:
    """The UPDATE that hands `size` cases (`:id_0` ...) each to its analyst (`:to_0` ...) until
    `:lease_until`, returning the claimed rows."""
    ids = [bindparam(f"id_{at}", type_=cases.c.id.type) for at in range(size)]
    owners = {ids[at]: bindparam(f"to_{at}", type_=cases.c.assignee.type) for at in range(size)}
    now = bindparam("now", type_=cases.c.claimed_at.type)
    return (
        update(cases)
        .where(cases.c.id.in_(ids))
        .values(
            status="in_review",
            assignee=case(owners, value=cases.c.id),
            lease_until=bindparam("lease_until", type_=cases.c.lease_until.type),
            claimed_reports=cases.c.report_count,
            claimed_at=now,
            updated_at=now,
        )
        .returning(*cases.c)
    )


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def kept(store: OrderedDict[K, V], key: K, make: Callable[[], V]) -> V:
    """`store[key]`, made when missing; at most KEPT kept, the least recently used dropped."""
    found = store.get(key)
    if found is None:
        found = store[key] = make()
        if len(store) > KEPT:
            store.popitem(last=False)
    else:
        store.move_to_end(key)
    return found
