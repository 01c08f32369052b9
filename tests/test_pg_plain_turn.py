"""PostgreSQL's plain turns in one call of `raabta_plain_turn` (storage/pgturn.py, migration 0019) store
what the SQLAlchemy path stores, in one round trip.

The same turns (first turn, next turns, a redelivery, a stale version, a first turn on a conversation that
exists, a contact marked unreachable) go through `commit_turn` (the function for plain turns) on one
scratch database and through `_commit_turn` (SQLAlchemy Core, in a transaction) on another; the results and
every row, read back with the JSON as the server keeps its text, match. A counting proxy in front of the
server shows one round trip per plain turn, whatever its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection, make_url

from storage import migrate
from storage.database import StorageUnavailable, utcnow
from storage.plainturn import is_plain
from storage.records import CommitResult, CommitStatus, TurnRecord
from storage.repository import Storage
from storage.schema import contacts, reporters
from tests.conftest import PG_URL, POSTGRES_ONLY, SECRET
from tests.pgdb import plain, scratch_database
from tests.tcp_proxy import Proxy
from tests.test_plain_turn import encoded, sample

# A web chat turn's messages (bot.shared.transcript): a row a turn, none for other channels
TRANSCRIPT = '{"text":"رپورٹ بھیج دی گئی","kind":"text","buttons":[]}\n'


def turns() -> list[TurnRecord]:
    state, said = sample()
    return [
        TurnRecord("webchat", "e1", "c1", 0, state, said, transcript=TRANSCRIPT, response_text=encoded(said)),
        TurnRecord("webchat", "e2", "c1", 1, {**state, "n": 2}, said, transcript=TRANSCRIPT * 2),
        TurnRecord("webchat", "e2", "c1", 2, {**state, "n": 3}, said),  # redelivered: its stored reply
        TurnRecord("webchat", "e3", "c1", 1, state, said),  # stale version: a conflict
        TurnRecord("webchat", "e4", "c1", 0, {"step": "start"}, said),  # a first turn, but c1 exists
        TurnRecord(
            "webchat", "e5", "c2", 0, {"step": "start"}, [], transcript=TRANSCRIPT
        ),  # c2's telegram contact stays
        # the same event id on another channel
        TurnRecord("telegram", "e1", "c3", 0, state, said, response_text=encoded(said)),
        TurnRecord("webchat", "e6", "c1", 2, {**state, "n": 4, "big": 2**70}, said),  # beyond orjson
        # e3's conflict kept nothing
        TurnRecord("webchat", "e3", "c1", 3, {**state, "n": 5}, said, transcript=TRANSCRIPT * 3),
    ]


EXPECTED = ["ok", "ok", "duplicate", "conflict", "conflict", "ok", "ok", "ok", "ok"]


async def opened(url: str) -> Storage:
    """A migrated storage where c1's webchat contact and c2's telegram one are marked unreachable (they
    blocked the bot once): a turn of c1 on webchat marks theirs reachable again, c2's on webchat does not
    touch their telegram one."""
    storage = Storage(url, SECRET.encode())
    await storage.upgrade()
    async with storage.db.transaction() as conn:
        for reporter, channel in (("c1", "webchat"), ("c2", "telegram")):
            await conn.execute(insert(reporters).values(id=reporter, created_at=utcnow()))
            await conn.execute(
                insert(contacts).values(
                    reporter_id=reporter, channel=channel, address=b"sealed", created_at=utcnow(),
                    unreachable_at=utcnow(),
                )
            )  # fmt: skip
    return storage


async def core(storage: Storage, turn: TurnRecord) -> CommitResult:
    """The turn through SQLAlchemy Core in a transaction; a duplicate or a conflict rolls back by raising
    with its result."""
    try:
        return await storage.db.write(functools.partial(storage._commit_turn, turn=turn))
    except Exception as exc:
        return exc.result  # type: ignore[attr-defined,no-any-return]


async def run(url: str, function: bool) -> list[CommitResult]:
    storage = await opened(url)
    results = []
    try:
        for turn in turns():
            assert is_plain(turn)
            results.append(await (storage.commit_turn(turn) if function else core(storage, turn)))
    finally:
        await storage.close()
    return results


async def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the turns touch, JSON as the text the server keeps (the json type keeps it as sent)."""
    conn = await asyncpg.connect(plain(url))
    try:
        found = {}
        for table, query in (
            ("processed_events", "SELECT channel, event_id, response::text, created_at, replied_at "
             "FROM processed_events ORDER BY channel, event_id"),
            ("conversations", "SELECT id, channel, state::text, version, updated_at "
             "FROM conversations ORDER BY id"),
            ("transcript_turns", "SELECT conversation_id, version, messages "
             "FROM transcript_turns ORDER BY conversation_id, version"),
            ("contacts", "SELECT id, reporter_id, channel, address, created_at, unreachable_at "
             "FROM contacts ORDER BY reporter_id, channel"),
        ):  # fmt: skip
            found[table] = [tuple(r) for r in await conn.fetch(query)]
        return found
    finally:
        await conn.close()


def stamps_apart(table: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with their timestamps replaced by their kind (they were taken at different moments)."""
    return [tuple(f"<{v.tzinfo}>" if isinstance(v, datetime) else v for v in row) for row in table]


@POSTGRES_ONLY
async def test_the_function_stores_what_sqlalchemy_stores(db_url: str) -> None:
    assert PG_URL
    async with scratch_database(PG_URL, "raabta_test") as other:
        function_results = await run(db_url, function=True)
        core_results = await run(other, function=False)
        a, b = await rows(db_url), await rows(other)
    assert [r.status.value for r in function_results] == EXPECTED
    assert function_results[2].response == turns()[1].response
    assert core_results == function_results
    for table in a:
        assert stamps_apart(a[table]) == stamps_apart(b[table]), table
    for found in (a, b):
        events = {(channel, event): at for channel, event, _, at, _ in found["processed_events"]}
        states = {conversation: at for conversation, _, _, _, at in found["conversations"]}
        # a turn's event and state carry one timestamp, as the columns store it
        assert states == {"c1": events["webchat", "e3"], "c2": events["webchat", "e5"],
                          "c3": events["telegram", "e1"]}  # fmt: skip
        assert [event for _, event, *_ in found["processed_events"]] == ["e1", "e1", "e2", "e3", "e5", "e6"]
        assert [version for _, _, _, version, _ in found["conversations"]] == [4, 1, 1]
        # a row for each web chat turn that said something, at the version it made
        assert found["transcript_turns"] == [
            ("c1", 1, TRANSCRIPT), ("c1", 2, TRANSCRIPT * 2), ("c1", 4, TRANSCRIPT * 3), ("c2", 1, TRANSCRIPT)
        ]  # fmt: skip
        reachable = {(reporter, channel): gone for _, reporter, channel, _, _, gone in found["contacts"]}
        assert reachable["c1", "webchat"] is None and reachable["c2", "telegram"] is not None


class Counting:
    """A TCP proxy in front of PostgreSQL that counts what the client sends: asyncpg waits for the
    server's answer before it sends more, so each chunk it sends is a round trip."""

    def __init__(self) -> None:
        self.sent = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(host, port)

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, counted: bool) -> None:
                with contextlib.suppress(ConnectionError, OSError):
                    while chunk := await src.read(65536):
                        self.sent += counted
                        dst.write(chunk)
                        await dst.drain()
                dst.transport.abort()

            await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


@contextlib.asynccontextmanager
async def through(proxy: Counting | Proxy, url: str) -> AsyncIterator[str]:
    """`url` through `proxy` (started here, stopped afterwards)."""
    parsed = make_url(url)
    if isinstance(proxy, Counting):
        await proxy.start(parsed.host or "127.0.0.1", parsed.port or 5432)
    else:
        await proxy.start()
    try:
        yield parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    finally:
        await proxy.stop()


@POSTGRES_ONLY
async def test_a_plain_turn_is_one_round_trip_whatever_its_outcome(db_url: str) -> None:
    proxy = Counting()
    async with through(proxy, db_url) as url:
        storage = await opened(url)
        try:
            warm = TurnRecord("webchat", "w", "warm", 0, {"step": "menu"}, [])
            assert (await storage.commit_turn(warm)).status is CommitStatus.OK  # asyncpg prepares the call
            trips, statuses = [], []
            for turn in turns():
                before = proxy.sent
                statuses.append((await storage.commit_turn(turn)).status.value)
                trips.append(proxy.sent - before)
            assert statuses == EXPECTED
            assert trips == [1] * len(EXPECTED)
            # the same kind of turn through SQLAlchemy in a transaction: BEGIN, three statements, COMMIT
            await core(storage, TurnRecord("webchat", "x1", "warm", 1, {"step": "menu"}, []))
            before = proxy.sent
            result = await core(storage, TurnRecord("webchat", "x2", "warm", 2, {"step": "menu"}, []))
            assert result.status is CommitStatus.OK
            assert proxy.sent - before >= 4
        finally:
            await storage.close()


async def cut_every_connection(storage: Storage) -> int:
    database = storage.writer.url.database
    server = storage.writer.url.set(drivername="postgresql", database="postgres")
    cutter = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        cut: int = await cutter.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1", database
        )
    finally:
        await cutter.close()
    return cut


@POSTGRES_ONLY
async def test_a_plain_turn_on_a_connection_the_server_cut_is_run_again_on_a_fresh_one(
    storage: Storage,
) -> None:
    """No pre-ping: the pool hands out the connection PostgreSQL closed; the call fails on it and runs once
    more on a fresh one, as `Database.write` does for a turn in a transaction."""
    first = TurnRecord("webchat", "e1", "c1", 0, {"n": 1}, [])
    assert (await storage.commit_turn(first)).status is CommitStatus.OK
    assert await cut_every_connection(storage) >= 1
    result = await storage.commit_turn(TurnRecord("webchat", "e2", "c1", 1, {"n": 2}, []))
    assert result.status is CommitStatus.OK
    assert (await storage.load_conversation("c1")).version == 2


@POSTGRES_ONLY
async def test_an_unreachable_database_is_storage_unavailable_and_the_next_turn_commits(db_url: str) -> None:
    proxy = Proxy(make_url(db_url).host or "127.0.0.1", make_url(db_url).port or 5432)
    async with through(proxy, db_url) as url:
        storage = await opened(url)
        try:
            first = TurnRecord("webchat", "e1", "c1", 0, {}, [])
            assert (await storage.commit_turn(first)).status is CommitStatus.OK
            proxy.cut()
            with pytest.raises(StorageUnavailable):
                await storage.commit_turn(TurnRecord("webchat", "e2", "c1", 1, {"n": 2}, []))
            proxy.restore()
            result = await storage.commit_turn(TurnRecord("webchat", "e2", "c1", 1, {"n": 2}, []))
            assert result.status is CommitStatus.OK
        finally:
            await storage.close()


async def function_comes_and_goes(storage: Storage, function: str, below: str) -> None:
    """The stored function is there at head, gone once the database went down to the revision `below`
    it, and back after `upgrade` (tests/test_pg_claim_groups.py checks migration 0020 the same way)."""

    async def present() -> bool:
        async with storage.db.read() as conn:
            found = await conn.scalar(text("SELECT to_regproc(:name) IS NOT NULL"), {"name": function})
        return bool(found)

    def down(conn: Connection) -> None:
        command.downgrade(migrate.alembic_config(conn, storage.audit_key), below)

    assert await present()
    async with storage.writer.begin() as conn:
        await conn.run_sync(down)
    assert not await present()
    assert await migrate.current_revision(storage.writer) == below
    await storage.upgrade()
    assert await present() and await storage.is_current()


@POSTGRES_ONLY
async def test_the_migration_adds_and_removes_the_function(storage: Storage) -> None:
    await function_comes_and_goes(storage, "raabta_plain_turn", "0018")
    assert (await storage.commit_turn(TurnRecord("webchat", "e1", "c1", 0, {}, []))).status.value == "ok"
