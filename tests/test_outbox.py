"""Notifications: sealed contacts, and the outbox worker's delivery, retry and give-up rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.dialogue import Reply
from bot.outbox import OutboxWorker, backoff
from bot.shared.delivery import DeliveryResult, Outcome
from bot.shared.sealing import AddressBox
from storage.records import TurnRecord
from storage.repository import Storage, utcnow
from storage.schema import contacts, outbox

SECRET = b"s" * 40


class RecordingChannel:
    """A channel double at the Sender boundary: records deliveries, answers as scripted."""

    channel = "telegram"

    def __init__(self, *answers: DeliveryResult) -> None:
        self.answers = list(answers)
        self.delivered: list[tuple[str, str]] = []

    async def deliver(self, address: str, replies: Sequence[Reply]) -> DeliveryResult:
        self.delivered.append((address, replies[0].text))
        answer = self.answers.pop(0) if self.answers else DeliveryResult(Outcome.SENT)
        if answer.reason == "explode":
            raise RuntimeError("channel bug")
        return answer


async def consent(storage: Storage, box: AddressBox, reporter: str, address: str) -> None:
    await storage.commit_turn(
        TurnRecord("telegram", f"ev-{reporter}", reporter, 0, {}, [], contact=box.seal(address))
    )


def test_sealed_addresses_open_only_with_the_key_and_survive_rotation() -> None:
    old = AddressBox(SECRET)
    sealed = old.seal("123456789")
    assert b"123456789" not in sealed
    assert old.open(sealed) == "123456789"
    assert AddressBox(b"x" * 40).open(sealed) is None
    rotated = AddressBox(b"n" * 40, previous=[SECRET])
    assert rotated.open(sealed) == "123456789"
    resealed = rotated.reseal(sealed)
    assert AddressBox(b"n" * 40).open(resealed) == "123456789"


async def test_a_consenting_reporter_is_notified_once(storage: Storage) -> None:
    box = AddressBox(SECRET)
    await consent(storage, box, "r1", "555")
    row = await storage.outbox.enqueue_now("r1", "telegram", "status", {"text": "reviewed"})
    channel = RecordingChannel()
    worker = OutboxWorker(storage, box, {"telegram": channel})
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert channel.delivered == [("555", "reviewed")]
    assert (await storage.outbox.status_of(row))[0] == "sent"
    async with storage.reader.connect() as conn:
        stored = await conn.scalar(select(contacts.c.address))
    assert b"555" not in stored


async def test_a_rate_limit_waits_as_long_as_asked_then_sends(storage: Storage) -> None:
    box = AddressBox(SECRET)
    await consent(storage, box, "r1", "555")
    row = await storage.outbox.enqueue_now("r1", "telegram", "status", {"text": "hi"})
    channel = RecordingChannel(DeliveryResult(Outcome.RETRY, retry_after=0, reason="429"))
    worker = OutboxWorker(storage, box, {"telegram": channel})
    await worker.run_once()
    assert await storage.outbox.status_of(row) == ("pending", 1, "429")
    await worker.run_once()
    assert await storage.outbox.status_of(row) == ("sent", 2, None)
    assert len(channel.delivered) == 2


async def test_a_failure_without_a_hint_backs_off(storage: Storage) -> None:
    box = AddressBox(SECRET)
    await consent(storage, box, "r1", "555")
    row = await storage.outbox.enqueue_now("r1", "telegram", "status", {"text": "hi"})
    worker = OutboxWorker(
        storage, box, {"telegram": RecordingChannel(DeliveryResult(Outcome.RETRY, reason="500"))}
    )
    before = utcnow()
    await worker.run_once()
    assert await worker.run_once() == 0  # not due yet
    async with storage.reader.connect() as conn:
        due = await conn.scalar(select(outbox.c.next_attempt_at).where(outbox.c.id == row))
    assert due.replace(tzinfo=before.tzinfo) >= before + timedelta(seconds=backoff(1) - 1)
    assert [backoff(n) for n in (1, 2, 3, 30)] == [5.0, 10.0, 20.0, 3600.0]


async def test_a_channel_error_is_retried_not_lost(storage: Storage) -> None:
    box = AddressBox(SECRET)
    await consent(storage, box, "r1", "555")
    row = await storage.outbox.enqueue_now("r1", "telegram", "status", {"text": "hi"})
    worker = OutboxWorker(
        storage, box, {"telegram": RecordingChannel(DeliveryResult(Outcome.RETRY, reason="explode"))}
    )
    await worker.run_once()
    assert (await storage.outbox.status_of(row))[0] == "pending"


async def test_a_blocked_user_is_marked_unreachable_and_not_tried_again(storage: Storage) -> None:
    box = AddressBox(SECRET)
    await consent(storage, box, "r1", "555")
    first = await storage.outbox.enqueue_now("r1", "telegram", "status", {"text": "one"})
    second = await storage.outbox.enqueue_now("r1", "telegram", "status", {"text": "two"})
    channel = RecordingChannel(DeliveryResult(Outcome.GONE, reason="blocked"))
    worker = OutboxWorker(storage, box, {"telegram": channel})
    await worker.run_once()
    assert await storage.outbox.status_of(first) == ("failed", 1, "blocked")
    assert await storage.outbox.status_of(second) == ("failed", 1, "unreachable")
    assert len(channel.delivered) == 1
    assert await storage.outbox.contact_of("r1", "telegram") is None


@pytest.mark.parametrize(("reporter", "reason"), [("nobody", "no_contact")])
async def test_without_consent_nothing_is_sent(storage: Storage, reporter: str, reason: str) -> None:
    row = await storage.outbox.enqueue_now(reporter, "telegram", "status", {"text": "x"})
    channel = RecordingChannel()
    await OutboxWorker(storage, AddressBox(SECRET), {"telegram": channel}).run_once()
    assert await storage.outbox.status_of(row) == ("failed", 1, reason)
    assert channel.delivered == []


async def test_old_and_out_of_window_notifications_expire(storage: Storage) -> None:
    box = AddressBox(SECRET)
    await consent(storage, box, "r1", "555")
    old = await storage.outbox.enqueue_now("r1", "telegram", "status", {"text": "old"})
    late = await storage.outbox.enqueue_now("r1", "telegram", "status", {"text": "late"})
    async with storage.writer.begin() as conn:
        await conn.execute(
            update(outbox).where(outbox.c.id == old).values(created_at=utcnow() - timedelta(days=8))
        )
    channel = RecordingChannel(DeliveryResult(Outcome.EXPIRED, reason="outside_24h_window"))
    await OutboxWorker(storage, box, {"telegram": channel}).run_once()
    assert await storage.outbox.status_of(old) == ("expired", 1, "too_old")
    assert await storage.outbox.status_of(late) == ("expired", 1, "outside_24h_window")
    assert channel.delivered == [("555", "late")]


async def test_web_chat_notifications_are_not_claimed_by_the_pushing_worker(storage: Storage) -> None:
    row = await storage.outbox.enqueue_now("r1", "webchat", "status", {"text": "pull me"})
    assert await OutboxWorker(storage, AddressBox(SECRET), {"telegram": RecordingChannel()}).run_once() == 0
    assert (await storage.outbox.status_of(row))[0] == "pending"
