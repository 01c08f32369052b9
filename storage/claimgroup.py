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

On PostgreSQL a group of claims without filters takes two round trips instead of that transaction's seven
(BEGIN, pick, UPDATE, the chain's lock, the chain's head, INSERT, COMMIT), each outside any transaction on
the driver's own connection (`Database.autocommit`, asyncpg's prepared statements): the pick without
locks, which reads the chain's head in the same statement; then, the events chained here onto that head
with the audit key (which never reaches the server), one call of `raabta_claim_cases` (migration 0020),
which under the chain's lock stores them and hands the cases out only if the head and every case are as
the pick saw them. If not (another append came in between, or another instance holds or took one of the
cases) it changes nothing, and the group is claimed again in the transaction above, which locks as it
picks. Claims with filters always take the transaction: their conditions could change in between.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, Update, bindparam, case, select, update
from sqlalchemy.engine.interfaces import Dialect

from storage import audit
from storage.batching import Batcher
from storage.database import Database, utcnow
from storage.engine import AUDIT_KEY, binder
from storage.schema import audit_events, cases

Pick = Callable[[Sequence[Any]], Select[Any]]
KEPT = 64  # statements of each kind kept (filters seen, group sizes seen), the least recently used go
ACTION = "case.claimed"
# Migration 0020's function: ids, holders, now, lease end, the head the events were chained onto, the
# action, the events' subjects, their detail, their links and their hashes.
CLAIM = "SELECT * FROM raabta_claim_cases($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"


@dataclass(frozen=True, slots=True)
class _Call:
    key: Hashable  # the filters, as the caller names them
    conditions: Sequence[Any]
    lease_seconds: int
    assignee: str
    limit: int


class Peek:
    """The pick without locks and the chain's head, in one statement for asyncpg: `sql` and its arguments
    at a moment for a number of cases, bound by the parameters' own types (`storage.engine.binder`)."""

    def __init__(self, pick: Select[Any], dialect: Dialect) -> None:
        head = select(audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1).scalar_subquery()
        compiled = pick.add_columns(head.label("head")).compile(dialect=dialect)
        self.sql = compiled.string
        self._names = compiled.positiontup or []
        self._bind = {name: binder(compiled.binds[name], dialect) for name in self._names}
        self._fixed = {name: self._bind[name](compiled.binds[name].value) for name in self._names}

    def args(self, now: datetime, limit: int) -> list[Any]:
        moment = {"now": self._bind["now"](now), "limit": self._bind["limit"](limit)}
        return [moment[name] if name in moment else self._fixed[name] for name in self._names]


class ClaimGroups:
    def __init__(self, db: Database, pick: Pick, peek: Select[Any] | None = None) -> None:
        """`peek`: PostgreSQL's pick without filters and without locks (storage.queue.claimable), for
        groups claimed in two round trips (migration 0020); None claims every group in a transaction."""
        self.db = db
        self.pick = pick  # storage.queue.claimable, with the dialect's locking decided
        self._picks: OrderedDict[Hashable, Select[Any]] = OrderedDict()
        self._claims: OrderedDict[int, Update] = OrderedDict()
        self.batcher: Batcher[_Call, list[Any]] = Batcher(self._batch)  # storage.batching
        self.groups = 0  # groups run so far (the benchmark reports calls per group)
        self.fallbacks = 0  # groups the function turned down, claimed again in a transaction
        self.peek = Peek(peek, db.writer.dialect) if peek is not None else None
        if peek is not None:
            dialect = db.writer.dialect
            self._at = binder(audit_events.c.at, dialect)
            self._lease = binder(cases.c.lease_until, dialect)
            self._detail = binder(audit_events.c.detail, dialect)
            key = db.writer.sync_engine.get_execution_options().get(AUDIT_KEY)
            if not isinstance(key, bytes):
                raise RuntimeError("the writer carries no audit key")
            self._key = key

    async def claim(
        self, key: Hashable, conditions: Sequence[Any], lease_seconds: int, assignee: str, limit: int
    ) -> list[Any]:
        """The cases claimed for `assignee` (at most `limit`, in claim order), once committed: each row a
        dict of the cases' columns, whichever way its group went."""
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
        """Each call's claimed rows, as mappings of the cases' columns."""
        if self.peek is not None and not group[0].conditions:
            shares = await self.db.autocommit(functools.partial(self._at_once, group))
            if shares is not None:
                return shares
            self.fallbacks += 1
        return await self._in_transaction(group)

    async def _at_once(self, group: list[_Call], driver: Any) -> list[list[Any]] | None:
        """The group in two statements on `driver` (asyncpg, outside any transaction), or None when the
        function turned it down (nothing changed)."""
        assert self.peek is not None
        now = utcnow()
        first = group[0]
        picked = await driver.fetch(self.peek.sql, *self.peek.args(now, sum(c.limit for c in group)))
        ids: list[int] = [row[0] for row in picked]
        shares, owner = _shares(group, ids)
        if not ids:
            return shares
        owners = [owner[case_id] for case_id in ids]
        subjects = [f"case:{case_id}" for case_id in ids]
        detail = {"lease_seconds": first.lease_seconds}
        head = picked[0][1]
        chain = [(to, subject, detail) for to, subject in zip(owners, subjects, strict=True)]
        events = audit.chained(self._key, head, now, ACTION, chain)
        claimed = await driver.fetch(
            CLAIM,
            ids,
            owners,
            self._at(now),
            self._lease(now + timedelta(seconds=first.lease_seconds)),
            head,
            ACTION,
            subjects,
            self._detail(detail),
            [event["prev_hash"] for event in events],
            [event["hash"] for event in events],
        )
        if not claimed:
            return None
        rows = {row["id"]: dict(row) for row in claimed}
        return [[rows[case_id] for case_id in share] for share in shares]

    async def _in_transaction(self, group: list[_Call]) -> list[list[Any]]:
        now = utcnow()
        first = group[0]
        wanted = sum(call.limit for call in group)
        async with self.db.transaction() as conn:
            pick = kept(self._picks, first.key, lambda: self.pick(first.conditions))
            ids: list[int] = list((await conn.scalars(pick, {"now": now, "limit": wanted})).all())
            shares, owner = _shares(group, ids)
            if not ids:
                return [[] for _ in shares]
            claim = kept(self._claims, len(ids), lambda: claim_statement(len(ids)))
            values: dict[str, Any] = {"now": now, "lease_until": now + timedelta(seconds=first.lease_seconds)}
            for at, case_id in enumerate(ids):
                values[f"id_{at}"] = case_id
                values[f"to_{at}"] = owner[case_id]
            rows = {row.id: dict(row._mapping) for row in (await conn.execute(claim, values)).all()}
            detail = {"lease_seconds": first.lease_seconds}
            events = [(owner[case_id], f"case:{case_id}", detail) for case_id in ids]
            await audit.append_by(conn, now, ACTION, events)
        return [[rows[case_id] for case_id in share] for share in shares]


def _shares(group: list[_Call], ids: list[int]) -> tuple[list[list[int]], dict[int, str]]:
    """The picked ids (in claim order) dealt out in arrival order, each call up to its limit, and each
    id's new holder."""
    shares: list[list[int]] = []
    owner: dict[int, str] = {}
    start = 0
    for call in group:
        share = ids[start : start + call.limit]
        start += call.limit
        shares.append(share)
        owner.update(dict.fromkeys(share, call.assignee))
    return shares, owner


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
