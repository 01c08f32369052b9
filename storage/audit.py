"""The append-only audit log, chained with a key: each row's hash is HMAC-SHA256, keyed from the secret,
of its content and the previous row's hash.

Without the key nobody can recompute a valid chain, so an edited event, a deleted one in the middle, or a
chain rewritten with the public SHA-256 (the chain before migration 0009) or another key is named by
`verify`. Deleting the newest events leaves a shorter chain that still holds: only an anchor kept outside
the database (`take_anchor`: the signed count, last id and hash of the chain head) shows that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Insert, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import AUDIT_KEY
from storage.keys import derive_key
from storage.schema import audit_events

GENESIS = "0" * 64
# PostgreSQL advisory lock id serialising appends; the function of migration 0020 (raabta_claim_cases)
# takes it by this number too, frozen there.
_LOCK = 7_201_001
ANCHOR_EVENT = (
    "audit_anchor"  # the anchor's `event` field, as `raabta audit anchor` prints and the server logs
)
SHOWN = 10  # problems listed in full by `verify`; the rest are counted


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _body(prev: str, at: datetime, actor: str, action: str, subject: str, detail: Any) -> bytes:
    return json.dumps(
        {
            "prev": prev,
            "at": as_utc(at).isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "detail": detail,
        },
        sort_keys=True,
        ensure_ascii=False,
    ).encode()


def chain_hash(
    key: bytes, prev: str, at: datetime, actor: str, action: str, subject: str, detail: Any
) -> str:
    """The keyed hash of one event: HMAC-SHA256(audit key, its content and the previous hash)."""
    return hmac.new(key, _body(prev, at, actor, action, subject, detail), hashlib.sha256).hexdigest()


def plain_hash(prev: str, at: datetime, actor: str, action: str, subject: str, detail: Any) -> str:
    """The unkeyed SHA-256 that chained events before migration 0009; anyone can compute it, so a chain
    made with it proves nothing. Kept to re-key old chains and to name a chain recomputed with it."""
    return hashlib.sha256(_body(prev, at, actor, action, subject, detail)).hexdigest()


def key_of(conn: AsyncConnection) -> bytes:
    """The audit key a Storage puts on every connection of its engines (`storage.engine.AUDIT_KEY`)."""
    sync = conn.sync_connection
    key = sync.get_execution_options().get(AUDIT_KEY) if sync is not None else None
    if not isinstance(key, bytes):
        raise RuntimeError("this connection carries no audit key: open it from a Storage's engines")
    return key


async def append(
    conn: AsyncConnection, at: datetime, actor: str, action: str, subject: str, detail: dict[str, Any]
) -> None:
    """Append one event inside the caller's transaction."""
    await append_many(conn, at, actor, action, [(subject, detail)])


async def append_many(
    conn: AsyncConnection, at: datetime, actor: str, action: str, events: list[tuple[str, dict[str, Any]]]
) -> None:
    """Append events (subject, detail) of one action, chained in order, in one INSERT.

    On PostgreSQL an advisory lock held to the end of the transaction serialises appends; the head is read
    in a statement after the lock's, because under READ COMMITTED a statement sees what was committed when
    it started. Call it last in a transaction, so the lock is held only for the head read, the INSERT and
    the COMMIT.
    """
    await append_by(conn, at, action, [(actor, subject, detail) for subject, detail in events])


async def append_by(
    conn: AsyncConnection, at: datetime, action: str, events: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """`append_many` for events (actor, subject, detail) of one action by several actors: the claims of
    several analysts served together (storage.claimgroup) append their events in one INSERT.

    The head is the one this engine appended last when it still is the newest (`_ONTO`: the first event
    goes in only if so, checked by the INSERT itself under the chain's lock), else read: one statement
    instead of two for the report turns that append one event each (issue 23); several events go in one
    INSERT after the head is read, two statements either way. Remembering is only a guess, never
    trusted: another process or instance, a rolled-back turn or a truncated chain makes it miss, and the
    head is then read as before."""
    if not events:
        return
    key = key_of(conn)
    if conn.dialect.name == "postgresql":
        await conn.execute(_PG_LOCK)
    engine = conn.sync_connection.engine if conn.sync_connection is not None else None
    head = _heads.get(engine) if engine is not None and len(events) == 1 else None
    rows = chained(key, head, at, action, events) if head is not None else []
    if not rows or (await conn.execute(_ONTO, rows[0])).rowcount != 1:
        rows = chained(key, await conn.scalar(_HEAD), at, action, events)
        await conn.execute(_APPEND, rows)  # several events: one INSERT, as one statement would need
    if engine is not None:
        _heads[engine] = rows[-1]["hash"]


def _onto() -> Insert:
    """INSERT of one event that goes in only if its `prev_hash` is the chain's newest hash (the values,
    `chained`'s row, are the parameters)."""
    c = audit_events.c
    columns = [c.at, c.actor, c.action, c.subject, c.detail, c.prev_hash, c.hash]
    values = [bindparam(column.name, type_=column.type) for column in columns]
    newest = select(c.hash).order_by(c.id.desc()).limit(1).scalar_subquery()
    return audit_events.insert().from_select(columns, select(*values).where(newest == values[5]))


# Built once: every report appends to the chain, and building a statement costs more than running it.
_HEAD = select(audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)
_APPEND = audit_events.insert()
_ONTO = _onto()
_PG_LOCK = text(f"SELECT pg_advisory_xact_lock({_LOCK})")
# The hash each engine appended last (a guess `append_by` checks); weak, so a closed Storage's goes.
_heads: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def chained(
    key: bytes, head: str | None, at: datetime, action: str, events: Sequence[tuple[str, str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The audit rows of events (actor, subject, detail) of one action at `at`, chained in order onto
    `head` (the newest event's hash; None: the chain is empty). `append_by` inserts them under the chain's
    lock; storage.claimgroup hands them to the function of migration 0020, which inserts them only if
    `head` is still the newest hash once it holds that lock."""
    prev = head or GENESIS
    rows = []
    for actor, subject, detail in events:
        digest = chain_hash(key, prev, at, actor, action, subject, detail)
        rows.append(
            {
                "at": at,
                "actor": actor,
                "action": action,
                "subject": subject,
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


# --- anchors -------------------------------------------------------------------------------------------


def anchor_key(secret: bytes | None) -> bytes:
    """The key that signs anchors: derived apart from the chain's, so an anchor never reveals that key."""
    return derive_key(secret or b"", "audit-anchor")


class AnchorError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain head at one moment, signed: `count` events, the last `last_id` with `hash`, taken `at`."""

    count: int
    last_id: int | None
    hash: str
    at: str
    signature: str

    @staticmethod
    def payload(count: int, last_id: int | None, hash: str, at: str) -> bytes:
        body = {"count": count, "last_id": last_id, "hash": hash, "at": at}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def signed(cls, key: bytes, count: int, last_id: int | None, hash: str, at: str) -> Anchor:
        signature = hmac.new(key, cls.payload(count, last_id, hash, at), hashlib.sha256).hexdigest()
        return cls(count, last_id, hash, at, signature)

    def valid(self, key: bytes) -> bool:
        expected = Anchor.signed(key, self.count, self.last_id, self.hash, self.at).signature
        return hmac.compare_digest(expected, self.signature)

    def fields(self) -> dict[str, Any]:
        """The anchor as log fields (numbers, a hash and a time: nothing about anyone)."""
        return {
            "count": self.count,
            "last_id": self.last_id,
            "hash": self.hash,
            "at": self.at,
            "signature": self.signature,
        }

    def to_json(self) -> str:
        return json.dumps({"event": ANCHOR_EVENT, **self.fields()})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Anchor:
        count, last_id = data.get("count"), data.get("last_id")
        values = (data.get("hash"), data.get("at"), data.get("signature"))
        if (
            type(count) is not int
            or count < 0
            or not (last_id is None or type(last_id) is int)
            or not all(isinstance(v, str) for v in values)
        ):
            raise AnchorError("an anchor needs count, last_id, hash, at and signature")
        hash_, at, signature = (str(v) for v in values)
        return cls(count, last_id, hash_, at, signature)


def parse_anchors(content: str) -> list[Anchor]:
    """Every anchor in `content`: one JSON line, or many (a file of anchors, or the server's log, where
    lines that are not `audit_anchor` events are skipped). Raises AnchorError when there is none."""
    found = []
    for number, line in enumerate(content.splitlines(), 1):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict) or data.get("event") != ANCHOR_EVENT:
            continue
        try:
            found.append(Anchor.from_dict(data))
        except AnchorError as exc:
            raise AnchorError(f"line {number}: {exc}") from None
    if not found:
        raise AnchorError(f'no anchor found (expected JSON lines with "event": "{ANCHOR_EVENT}")')
    return found


async def take_anchor(conn: AsyncConnection, secret: bytes | None, now: datetime | None = None) -> Anchor:
    """The signed chain head now, to be kept outside the database."""
    count = select(func.count()).select_from(audit_events).scalar_subquery()
    # One statement: the count and the head come from one snapshot on either backend.
    query = select(audit_events.c.id, audit_events.c.hash, count).order_by(audit_events.c.id.desc()).limit(1)
    row = (await conn.execute(query)).first()
    at = as_utc(now or datetime.now(UTC)).isoformat()
    if row is None:
        return Anchor.signed(anchor_key(secret), 0, None, GENESIS, at)
    return Anchor.signed(anchor_key(secret), int(row[2]), int(row[0]), str(row[1]), at)


# --- verification -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Problem:
    event_id: int | None  # the event named (an anchor's own event for a forged anchor)
    message: str
    forged_anchor: bool = False  # the problem is the anchor itself, not the chain


@dataclass(slots=True)
class Verdict:
    count: int = 0
    last_id: int | None = None
    problems: list[Problem] = field(default_factory=list)
    anchors: list[Anchor] = field(default_factory=list)  # the anchors checked (signature valid)

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_id(self) -> int | None:
        """The first event named as changed (a forged anchor names none: the chain may be whole)."""
        return next((p.event_id for p in self.problems if not p.forged_anchor), None)


@dataclass(slots=True)
class _Watch:
    """What one anchor expects, filled in while the chain streams past."""

    anchor: Anchor
    last: int  # the anchor's last event id
    seen: int = 0  # events with id <= anchor.last_id
    hash: str | None = None  # the hash the anchored event has now (None: it is gone)


async def verify(
    conn: AsyncConnection, anchors: Sequence[Anchor] = (), secret: bytes | None = None
) -> Verdict:
    """Check every event's link and keyed hash, and the chain against each anchor (signed with `secret`).

    Each row is checked on its own: its link against the row before it (a deleted event breaks the link of
    the next one) and its hash against its own content and link (an edited event fails alone).
    """
    key = key_of(conn)
    verdict = Verdict()
    signing = anchor_key(secret)
    watches, forged = [], []
    for anchor in anchors:
        if anchor.valid(signing):
            verdict.anchors.append(anchor)
            if anchor.last_id is not None:
                watches.append(_Watch(anchor, anchor.last_id))
        else:
            forged.append(
                Problem(
                    anchor.last_id,
                    f"the anchor of {anchor.at} (event {anchor.last_id}, {_events(anchor.count)}) has a bad "
                    "signature: it is forged or was altered, or was signed with another secret",
                    forged_anchor=True,
                )
            )
    prev_id, prev_hash = None, GENESIS
    result = await conn.stream(select(audit_events).order_by(audit_events.c.id))
    async for row in result:
        event_id = int(row.id)
        verdict.count += 1
        verdict.last_id = event_id
        if row.prev_hash != prev_hash:
            if prev_id is None:
                verdict.problems.append(
                    Problem(
                        event_id,
                        f"chain breaks at event {event_id}: it is the first event left, yet it links to an "
                        "earlier one: the events before it were deleted",
                    )
                )
            else:
                gap = (
                    f"events {prev_id + 1} to {event_id - 1} are missing"
                    if event_id - prev_id > 2
                    else f"event {prev_id + 1} is missing"
                    if event_id - prev_id == 2
                    else "no id is missing, so its link was altered"
                )
                verdict.problems.append(
                    Problem(
                        event_id,
                        f"chain breaks at event {event_id}: it does not link to event {prev_id} before it "
                        f"({gap}; an event between them was deleted, or a link was altered)",
                    )
                )
        content = (row.at, row.actor, row.action, row.subject, row.detail)
        if row.hash != chain_hash(key, row.prev_hash, *content):
            if row.hash == plain_hash(row.prev_hash, *content):
                how = (
                    "its hash is the public unkeyed SHA-256 of its content: it was rewritten without the "
                    "key (or is from a chain that migration 0009 could not re-key because it was broken)"
                )
            else:
                how = (
                    "its content does not match its keyed hash: it was edited, or its hash was recomputed "
                    "with a wrong key"
                )
            verdict.problems.append(Problem(event_id, f"event {event_id} was altered: {how}"))
        for watch in watches:
            if event_id <= watch.last:
                watch.seen += 1
            if event_id == watch.last:
                watch.hash = row.hash
        prev_id, prev_hash = event_id, row.hash
    for watch in watches:
        anchor, last = watch.anchor, watch.last
        said = f"the anchor of {anchor.at} counted {_events(anchor.count)} ending at event {last}"
        if watch.hash is None:
            now = f"the log now has {_events(verdict.count)}" + (
                f" ending at event {verdict.last_id}" if verdict.last_id is not None else ""
            )
            what = (
                "it was deleted"
                if verdict.last_id is not None and verdict.last_id > last
                else "the newest events were deleted (truncated)"
            )
            verdict.problems.append(Problem(last, f"event {last} is missing: {what}; {said}, {now}"))
        elif watch.hash != anchor.hash:
            verdict.problems.append(
                Problem(
                    last,
                    f"event {last} differs from the anchor's hash: the chain up to it was rewritten, or "
                    f"the newest events were deleted and others appended in their place; {said}",
                )
            )
        elif watch.seen != anchor.count:
            verdict.problems.append(
                Problem(
                    last,
                    f"{anchor.count - watch.seen} of the events up to event {last} were deleted; {said}, "
                    f"{watch.seen} are left",
                )
            )
    verdict.problems += forged
    return verdict


def _events(count: int) -> str:
    return f"{count} event{'' if count == 1 else 's'}"


async def first_broken(conn: AsyncConnection) -> int | None:
    """The id of the first event named by `verify`, or None when the whole chain holds."""
    return (await verify(conn)).first_id


def report(verdict: Verdict) -> list[str]:
    """`verify`'s verdict as lines for a person: what was changed, first things first."""
    if verdict.intact:
        if not verdict.anchors:
            return [
                f"audit chain intact: {_events(verdict.count)} (no anchor given: deleting the newest events "
                "cannot be detected without one; keep `raabta audit anchor` lines outside the database "
                "and pass them with --anchor)"
            ]
        newest = max(verdict.anchors, key=lambda a: (a.last_id or 0, a.count))
        more = len(verdict.anchors) - 1
        earlier = f", and {more} earlier anchor{'s' if more > 1 else ''}" if more else ""
        at = f"event {newest.last_id}" if newest.last_id is not None else "the empty log"
        checked = f"anchor at {at} checked{earlier}"
        return [f"audit chain intact: {_events(verdict.count)} ({checked})"]
    named = verdict.first_id
    total = len(verdict.problems)
    lines = [
        f"audit chain BROKEN at event {named} (of {_events(verdict.count)}): {total} problem(s)"
        if named is not None
        else f"audit anchor FORGED: the chain of {_events(verdict.count)} holds, but {total} anchor(s) do not"
    ]
    lines += [f"  {p.message}" for p in verdict.problems[:SHOWN]]
    if total > SHOWN:
        lines.append(f"  ... and {total - SHOWN} more")
    return lines
