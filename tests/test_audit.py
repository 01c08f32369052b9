"""The keyed audit chain: every way of tampering with it that `raabta audit verify` promises to name, on
both backends; the re-keying of an old plain SHA-256 chain by migration 0009; and the CLI end to end."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, delete, insert, select, update

from storage import audit, migrate
from storage.audit import GENESIS, Anchor, Verdict, chain_hash, plain_hash
from storage.keys import derive_key
from storage.repository import Storage
from storage.schema import audit_events
from tests.conftest import SECRET
from tests.test_cli import env_for
from tests.test_queue_cli import raabta

Hasher = Callable[[str, datetime, str, str, str, Any], str]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def write_events(storage: Storage, count: int, start: int = 1) -> None:
    """`count` events, one transaction each, as the app appends them."""
    for i in range(start, start + count):
        async with storage.writer.begin() as conn:
            await audit.append(
                conn, T0 + timedelta(minutes=i), "ayesha", "case.noted", f"case:{i}", {"length": i}
            )


async def check(storage: Storage, anchors: Sequence[Anchor] = (), secret: bytes | None = None) -> Verdict:
    async with storage.reader.connect() as conn:
        return await audit.verify(conn, anchors, secret or storage.secret)


async def anchor_now(storage: Storage) -> Anchor:
    async with storage.db.read() as conn:
        return await audit.take_anchor(conn, storage.secret)


async def rechain_from(storage: Storage, start: int, hasher: Hasher) -> None:
    """What an attacker with database access does after an edit: recompute every hash from `start` on."""
    async with storage.writer.begin() as conn:
        rows = (await conn.execute(select(audit_events).order_by(audit_events.c.id))).all()
        prev = GENESIS
        for row in rows:
            if row.id >= start:
                digest = hasher(prev, row.at, row.actor, row.action, row.subject, row.detail)
                await conn.execute(
                    update(audit_events)
                    .where(audit_events.c.id == row.id)
                    .values(prev_hash=prev, hash=digest)
                )
                prev = digest
            else:
                prev = row.hash


async def edit_detail(storage: Storage, event_id: int, detail: dict[str, Any]) -> None:
    async with storage.writer.begin() as conn:
        await conn.execute(update(audit_events).where(audit_events.c.id == event_id).values(detail=detail))


async def delete_events(storage: Storage, *ids: int) -> None:
    async with storage.writer.begin() as conn:
        await conn.execute(delete(audit_events).where(audit_events.c.id.in_(ids)))


def messages(verdict: Verdict) -> str:
    return "\n".join(audit.report(verdict))


async def test_an_untouched_chain_holds_with_and_without_an_anchor(storage: Storage) -> None:
    await write_events(storage, 5)
    plain = await check(storage)
    assert plain.intact and plain.count == 5 and plain.last_id == 5
    assert "cannot be detected without one" in messages(plain)
    first = await anchor_now(storage)
    await write_events(storage, 2, start=6)
    second = await anchor_now(storage)
    assert (first.count, first.last_id, second.count, second.last_id) == (5, 5, 7, 7)
    anchored = await check(storage, [first, second])
    assert anchored.intact
    assert audit.report(anchored) == [
        "audit chain intact: 7 events (anchor at event 7 checked, and 1 earlier anchor)"
    ]
    assert audit.report(await check(storage, [first])) == [
        "audit chain intact: 7 events (anchor at event 5 checked)"
    ]
    # An anchor of the empty log, and the anchor's JSON line, round-trip.
    [again] = audit.parse_anchors("noise\n" + second.to_json() + "\n")
    assert again == second


async def test_the_events_are_chained_with_the_key_not_plain_sha256(storage: Storage) -> None:
    await write_events(storage, 1)
    async with storage.reader.connect() as conn:
        row = (await conn.execute(select(audit_events))).one()
    content = (row.at, row.actor, row.action, row.subject, row.detail)
    assert row.prev_hash == GENESIS
    assert row.hash == chain_hash(storage.audit_key, GENESIS, *content)
    assert row.hash != plain_hash(GENESIS, *content)
    assert storage.audit_key == derive_key(SECRET.encode(), "audit-chain")


async def test_an_edited_event_is_named(storage: Storage) -> None:
    await write_events(storage, 5)
    await edit_detail(storage, 3, {"length": 999})
    verdict = await check(storage)
    assert not verdict.intact and verdict.first_id == 3
    assert [p.event_id for p in verdict.problems] == [3]  # the events after it still link to it
    assert audit.report(verdict)[0].startswith("audit chain BROKEN at event 3 (of 5 events)")
    assert "event 3 was altered" in messages(verdict)
    assert await storage.first_broken_audit() == 3


async def test_a_deleted_event_in_the_middle_breaks_the_chain_at_the_next(storage: Storage) -> None:
    await write_events(storage, 3)
    anchor = await anchor_now(storage)
    await write_events(storage, 3, start=4)
    await delete_events(storage, 3)
    verdict = await check(storage)
    assert not verdict.intact and verdict.first_id == 4
    assert "chain breaks at event 4" in messages(verdict) and "event 3 is missing" in messages(verdict)
    against = await check(storage, [anchor])
    assert "event 3 is missing: it was deleted" in messages(against)
    await delete_events(storage, 1)
    assert "the events before it were deleted" in messages(await check(storage))


async def test_deleting_the_newest_events_is_named_against_an_anchor(storage: Storage) -> None:
    await write_events(storage, 6)
    anchor = await anchor_now(storage)
    await delete_events(storage, 5, 6)
    # Without an anchor a shorter chain holds: that is why anchors are kept outside the database.
    assert (await check(storage)).intact
    verdict = await check(storage, [anchor])
    assert not verdict.intact and verdict.first_id == 6
    assert "event 6 is missing: the newest events were deleted (truncated)" in messages(verdict)
    # New events appended after the truncation (SQLite reuses the freed ids) do not hide it.
    await write_events(storage, 2, start=7)
    again = await check(storage, [anchor])
    assert not again.intact and again.first_id == 6
    assert "event 6" in audit.report(again)[1]


async def test_a_rewrite_recomputed_with_the_public_sha256_is_named(storage: Storage) -> None:
    await write_events(storage, 5)
    await edit_detail(storage, 3, {"length": 999})
    await rechain_from(storage, 3, plain_hash)
    verdict = await check(storage)
    assert not verdict.intact and verdict.first_id == 3
    assert [p.event_id for p in verdict.problems] == [3, 4, 5]
    assert "public unkeyed SHA-256" in verdict.problems[0].message
    # So is the whole chain recomputed from the first event (as the old `chain_hash` allowed).
    await rechain_from(storage, 1, plain_hash)
    assert (await check(storage)).first_id == 1


async def test_a_rewrite_recomputed_with_a_wrong_key_is_named(storage: Storage) -> None:
    await write_events(storage, 5)
    await edit_detail(storage, 2, {"length": 999})
    wrong = derive_key(b"not-the-secret", "audit-chain")
    await rechain_from(storage, 2, lambda *content: chain_hash(wrong, *content))
    verdict = await check(storage)
    assert not verdict.intact and verdict.first_id == 2
    assert [p.event_id for p in verdict.problems] == [2, 3, 4, 5]
    assert "recomputed with a wrong key" in verdict.problems[0].message


async def test_a_forged_anchor_is_refused(storage: Storage) -> None:
    await write_events(storage, 6)
    real = await anchor_now(storage)
    await delete_events(storage, 5, 6)
    # The attacker truncates and brings an anchor that matches what is left: altered, or signed without
    # the secret (with the chain's key, or another secret).
    altered = Anchor(4, 4, real.hash, real.at, real.signature)
    head = (await anchor_now(storage)).hash
    unsigned = Anchor.signed(b"", 4, 4, head, real.at)
    other = Anchor.signed(audit.anchor_key(b"another secret"), 4, 4, head, real.at)
    chain_keyed = Anchor.signed(storage.audit_key, 4, 4, head, real.at)
    for forged in (altered, unsigned, other, chain_keyed):
        verdict = await check(storage, [forged])
        assert not verdict.intact
        assert [p.event_id for p in verdict.problems] == [4]
        assert "bad signature" in messages(verdict)
        assert audit.report(verdict)[0].startswith("audit anchor FORGED")
    # The real anchor, given with a forged one, still names the truncation.
    both = await check(storage, [other, real])
    assert both.first_id == 6 and "bad signature" in messages(both)


def legacy_rows(count: int) -> list[dict[str, Any]]:
    """Events as the code before migration 0009 chained them: plain SHA-256."""
    rows, prev = [], GENESIS
    for i in range(1, count + 1):
        at = T0 + timedelta(minutes=i)
        detail = {"length": i, "note": "ق"}
        digest = plain_hash(prev, at, "ayesha", "case.noted", f"case:{i}", detail)
        rows.append(
            {
                "at": at,
                "actor": "ayesha",
                "action": "case.noted",
                "subject": f"case:{i}",
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


async def test_migration_0009_rekeys_a_plain_sha256_chain_once(db_url: str) -> None:
    store = Storage(db_url, SECRET.encode())
    try:
        await migrate.upgrade(store.writer, "0008")
        async with store.writer.begin() as conn:
            await conn.execute(insert(audit_events), legacy_rows(4))
        assert (await check(store)).first_id == 1  # plain SHA-256 does not pass the keyed check
        await store.upgrade()
        assert await store.is_current()
        verdict = await check(store)
        assert verdict.intact and verdict.count == 4
        await write_events(store, 2, start=5)  # the app appends onto the re-keyed chain
        assert (await check(store, [await anchor_now(store)])).intact

        # Downgrading returns the chain to plain SHA-256, which 0008's code verifies.
        def down(connection: Connection) -> None:
            command.downgrade(migrate.alembic_config(connection, store.audit_key), "0008")

        async with store.writer.begin() as conn:
            await conn.run_sync(down)
        async with store.reader.connect() as conn:
            rows = (await conn.execute(select(audit_events).order_by(audit_events.c.id))).all()
        prev = GENESIS
        for row in rows:
            assert row.prev_hash == prev
            assert row.hash == plain_hash(prev, row.at, row.actor, row.action, row.subject, row.detail)
            prev = row.hash
    finally:
        await store.close()


async def test_migration_0009_leaves_a_broken_plain_chain_for_verify(db_url: str) -> None:
    store = Storage(db_url, SECRET.encode())
    try:
        await migrate.upgrade(store.writer, "0008")
        rows = legacy_rows(4)
        rows[1]["detail"] = {"length": 999}  # edited before the upgrade
        async with store.writer.begin() as conn:
            await conn.execute(insert(audit_events), rows)
        await store.upgrade()
        async with store.reader.connect() as conn:
            hashes = (await conn.execute(select(audit_events.c.hash).order_by(audit_events.c.id))).scalars()
            assert list(hashes) == [r["hash"] for r in rows]  # not re-keyed
        verdict = await check(store)
        assert not verdict.intact
        assert "event 2 was altered" in messages(verdict)
        assert "could not re-key" in verdict.problems[0].message
    finally:
        await store.close()


async def test_audit_anchor_and_verify_from_the_command_line(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    await write_events(storage, 5)
    anchors = tmp_path / "anchors.jsonl"
    first = await raabta(env, "audit", "anchor")
    assert first.returncode == 0, first.stderr
    line = json.loads(first.stdout)
    assert line["event"] == "audit_anchor" and line["count"] == 5 and line["last_id"] == 5
    assert set(line) == {"event", "count", "last_id", "hash", "at", "signature"}
    await write_events(storage, 1, start=6)
    second = await raabta(env, "audit", "anchor")
    anchors.write_text(first.stdout + second.stdout)

    plain = await raabta(env, "audit", "verify")
    assert plain.returncode == 0 and "intact: 6 events" in plain.stdout
    assert "cannot be detected without one" in plain.stdout
    intact = await raabta(env, "audit", "verify", "--anchor", str(anchors))
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "audit chain intact: 6 events (anchor at event 6 checked, and 1 earlier anchor)" in intact.stdout
    text = await raabta(env, "audit", "verify", "--anchor", first.stdout.strip())
    assert text.returncode == 0 and "(anchor at event 5 checked)" in text.stdout

    forged = dict(line, count=4, last_id=4)
    refused = await raabta(env, "audit", "verify", "--anchor", json.dumps(forged))
    assert refused.returncode == 1 and "bad signature" in refused.stdout
    missing = await raabta(env, "audit", "verify", "--anchor", str(tmp_path / "nowhere.jsonl"))
    assert missing.returncode == 2 and "cannot read the anchor file" in missing.stderr
    empty = await raabta(env, "audit", "verify", "--anchor", str(tmp_path))
    assert empty.returncode == 2

    await delete_events(storage, 6)
    truncated = await raabta(env, "audit", "verify", "--anchor", str(anchors))
    assert truncated.returncode == 1
    assert "BROKEN at event 6" in truncated.stdout and "truncated" in truncated.stdout
    unnoticed = await raabta(env, "audit", "verify")  # without the anchor, the shorter chain holds
    assert unnoticed.returncode == 0 and "cannot be detected without one" in unnoticed.stdout
    await edit_detail(storage, 2, {"length": 0})
    edited = await raabta(env, "audit", "verify", "--anchor", str(anchors))
    assert edited.returncode == 1 and "BROKEN at event 2" in edited.stdout
