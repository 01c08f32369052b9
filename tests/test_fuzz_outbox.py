"""Notifications through platform outages: generated fault schedules, then recovery, and the outbox drains.

The channel tests cover each refusal on its own (a 429 waited out, a 500 retried, a blocked citizen); what
is tested here is the queue as a whole: several reporters waiting for news while the fake Bot API or the
fake Graph API answers a generated run of 429s and 5xx. Whatever the schedule, once the platform answers
again every notification is delivered, none is given up or lost, and none is delivered twice (a refused
call delivered nothing, so at-least-once here means exactly once). Backoff delays are not waited out: the
test makes pending rows due again between rounds, as the clock would.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from bot.app import make_pipeline
from bot.channels.messenger_send import GraphClient, MessengerSender
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_send import ChatPacer
from bot.outbox import OutboxWorker
from bot.shared.config import Settings, load_settings
from bot.shared.sealing import AddressBox
from storage.records import TurnRecord
from storage.repository import Storage, utcnow
from storage.schema import outbox
from tests.fakes.graph_api import RATE_LIMITED, SERVER_ERROR, FakeGraphAPI, error
from tests.fakes.telegram_api import FakeBotAPI

SECRET = "outbox-fuzz-secret-0123456789abcdefghijkl"
PAGE_TOKEN = "EAAGoutboxFuzzPageToken0123456789"
APP_SECRET = "outbox_fuzz_app_secret"
ROUNDS_AFTER_RECOVERY = 3  # worker rounds allowed once the platform answers again
FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
NUMBERS = itertools.count(1)


async def waiting_reporters(
    storage: Storage, box: AddressBox, channel: str, addresses: list[str]
) -> list[int]:
    """Reporters who agreed to updates, each with one notification queued; the outbox row ids."""
    rows = []
    for address in addresses:
        number = next(NUMBERS)
        reporter = f"{channel}-reporter-{number}"
        await storage.commit_turn(
            TurnRecord(channel, f"ev-{number}", reporter, 0, {}, [], contact=box.seal(address))
        )
        text = f"Update {number}: your report was reviewed."
        rows.append(await storage.outbox.enqueue_now(reporter, channel, "status", {"text": text}))
    return rows


async def make_due(storage: Storage) -> None:
    """What the clock does between rounds: pending rows whose backoff has not run out become due."""
    async with storage.writer.begin() as conn:
        await conn.execute(
            update(outbox).where(outbox.c.status == "pending").values(next_attempt_at=utcnow())
        )


async def drain(
    worker: OutboxWorker, storage: Storage, rows: list[int], faults: int
) -> list[tuple[str, str | None]]:
    """Run the worker through the faults and then ROUNDS_AFTER_RECOVERY rounds; the rows' final states."""
    for _ in range(faults + ROUNDS_AFTER_RECOVERY):
        await worker.run_once()
        states = [await storage.outbox.status_of(row) for row in rows]
        if all(status == "sent" for status, _attempts, _error in states):
            break
        assert all(status in ("sent", "pending") for status, _a, _e in states), states  # nothing given up
        await make_due(storage)
    return [(status, error) for status, _attempts, error in [await storage.outbox.status_of(r) for r in rows]]


# --- Telegram --------------------------------------------------------------------------------------


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def telegram_worker(
    settings: Settings, storage: Storage, bot_api: FakeBotAPI, tmp_path: Path
) -> AsyncIterator[OutboxWorker]:
    full = load_settings(
        database_url=settings.database_url,
        secret_key=SECRET,
        data_dir=tmp_path / "data",
        telegram_token=bot_api.token,
        telegram_api_url=bot_api.base_url,
        telegram_webhook_url="https://raabta.example.org/webhooks/telegram",
        telegram_webhook_secret="outbox-fuzz",
    )
    pipeline = make_pipeline(full, storage)
    channel = TelegramChannel(full, pipeline, pacer=ChatPacer(rate=1000, burst=1000))
    await channel.start()
    try:
        sender = channel.channel_setup().sender
        assert sender is not None
        yield OutboxWorker(storage, pipeline.box, {"telegram": sender})
    finally:
        await channel.stop()


TELEGRAM_FAULT = st.sampled_from([(429, 0), (500, None), (502, None), (503, None)])


@FUZZ
@given(faults=st.lists(TELEGRAM_FAULT, max_size=8), reporters=st.integers(1, 4))
async def test_telegram_notifications_drain_once_the_bot_api_recovers(
    storage: Storage,
    bot_api: FakeBotAPI,
    telegram_worker: OutboxWorker,
    faults: list[tuple[int, int | None]],
    reporters: int,
) -> None:
    chats = [str(700_000_000 + next(NUMBERS)) for _ in range(reporters)]
    rows = await waiting_reporters(storage, telegram_worker.box, "telegram", chats)
    for status, retry_after in faults:
        bot_api.fail("sendMessage", status, retry_after=retry_after)
    final = await drain(telegram_worker, storage, rows, len(faults))
    assert final == [("sent", None)] * len(rows)
    delivered = Counter(c.params["chat_id"] for c in bot_api.sent() if c.result is not None)
    assert all(delivered[int(chat)] == 1 for chat in chats), delivered
    assert len(bot_api.sent()) == len(rows) + len(faults)  # every fault was met, and nothing else sent
    bot_api.calls.clear()


# --- Messenger -------------------------------------------------------------------------------------

GRAPH_FAULT = st.sampled_from([SERVER_ERROR, RATE_LIMITED, error(503, 2, "Service temporarily unavailable")])


@FUZZ
@given(faults=st.lists(GRAPH_FAULT, max_size=8), reporters=st.integers(1, 4))
async def test_messenger_notifications_drain_once_the_graph_api_recovers(
    storage: Storage, faults: list[object], reporters: int
) -> None:
    graph = FakeGraphAPI(PAGE_TOKEN, APP_SECRET)
    client = GraphClient(graph.base_url, PAGE_TOKEN, APP_SECRET, transport=graph.transport, backoff=0.001)
    box = AddressBox(SECRET.encode())
    worker = OutboxWorker(storage, box, {"messenger": MessengerSender(client)})
    try:
        psids = [str(6_000_000_000_000_000 + next(NUMBERS)) for _ in range(reporters)]
        rows = await waiting_reporters(storage, box, "messenger", psids)
        graph.script.extend(faults)  # type: ignore[arg-type]
        final = await drain(worker, storage, rows, len(faults))
    finally:
        await client.aclose()
    assert final == [("sent", None)] * len(rows)
    assert all(len(graph.sent_to(psid)) == 1 for psid in psids), [len(graph.sent_to(p)) for p in psids]
    assert len([c for c in graph.calls if c.path == "messages"]) == len(rows) + len(faults)
