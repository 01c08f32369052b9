"""The outbox worker: delivers queued notifications through the channels that push (Telegram, Messenger).

At-least-once: a row is leased, delivered, then marked. A crash between delivery and marking sends again
after the lease; nothing is lost. Passing failures back off exponentially (or as long as the platform
asked); permanent ones mark the contact unreachable; rows older than MAX_AGE expire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta

from bot import logs, metrics
from bot.dialogue import Button, Reply
from bot.shared.delivery import DeliveryResult, Outcome, Sender
from bot.shared.sealing import AddressBox
from storage.records import OutboxItem
from storage.repository import Storage, StorageUnavailable, utcnow

log = logging.getLogger(__name__)
MAX_AGE = timedelta(days=7)
BASE_DELAY = 5.0
MAX_DELAY = 3600.0


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` tries: 5, 10, 20, ... up to an hour."""
    return float(min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1)))


def replies_of(payload: Mapping[str, object]) -> list[Reply]:
    buttons = payload.get("buttons") or []
    assert isinstance(buttons, list)
    return [
        Reply(str(payload.get("text", "")), tuple(Button(str(b["id"]), str(b["label"])) for b in buttons))
    ]


class OutboxWorker:
    def __init__(self, storage: Storage, box: AddressBox, senders: Mapping[str, Sender]) -> None:
        self.storage = storage
        self.box = box
        self.senders = dict(senders)

    async def run_once(self, limit: int = 50) -> int:
        """Deliver what is due now; how many rows were handled."""
        items = await self.storage.outbox.claim(list(self.senders), limit=limit)
        gone: set[tuple[str, str]] = set()  # contacts found unreachable during this batch
        for item in items:
            if (item.conversation_id, item.channel) in gone:
                await self.storage.outbox.finish(item.id, "failed", "unreachable")
                continue
            if await self._deliver(item) is Outcome.GONE:
                gone.add((item.conversation_id, item.channel))
        return len(items)

    async def _deliver(self, item: OutboxItem) -> Outcome | None:
        now = utcnow()
        if now - item.created_at > MAX_AGE:
            await self.storage.outbox.finish(item.id, "expired", "too_old")
            return None
        sender = self.senders[item.channel]
        if getattr(sender, "addressless", False):
            address: str | None = ""
        else:
            address = self.box.open(item.address) if item.address else None
        if address is None or item.unreachable:
            await self.storage.outbox.finish(
                item.id, "failed", "no_contact" if address is None else "unreachable"
            )
            return None
        window = getattr(sender, "window", None)  # Messenger: 24 hours after the citizen last wrote
        if window is not None and item.last_inbound_at is not None and now - item.last_inbound_at > window:
            await self.storage.outbox.finish(item.id, "expired", "outside_24h_window")
            return None
        try:
            result = await sender.deliver(address, replies_of(item.payload))
        except Exception:  # a channel bug must not stop the worker; the row is retried
            log.exception("delivery_error", extra={"fields": {"channel": item.channel}})
            result = DeliveryResult(Outcome.RETRY, reason="exception")
        await self._record(item, result)
        return result.outcome

    async def _record(self, item: OutboxItem, result: DeliveryResult) -> None:
        if result.outcome is not Outcome.SENT:
            metrics.SEND_FAILURES.labels(item.channel, result.outcome.value).inc()
        if result.outcome is Outcome.SENT:
            await self.storage.outbox.finish(item.id, "sent")
        elif result.outcome is Outcome.RETRY:
            delay = result.retry_after if result.retry_after is not None else backoff(item.attempts)
            await self.storage.outbox.finish(
                item.id, "pending", result.reason, utcnow() + timedelta(seconds=delay)
            )
        elif result.outcome is Outcome.GONE and getattr(self.senders[item.channel], "addressless", False):
            await self.storage.outbox.finish(item.id, "failed", result.reason)
        elif result.outcome is Outcome.GONE:
            await self.storage.outbox.mark_unreachable(item.conversation_id, item.channel)
            await self.storage.outbox.finish(item.id, "failed", result.reason)
        else:
            await self.storage.outbox.finish(item.id, "expired", result.reason)
        logs.event(
            log,
            "notification",
            channel=item.channel,
            outcome=result.outcome.value,
            reason=result.reason,
            attempts=item.attempts,
        )

    async def run_forever(self, interval: float = 1.0) -> None:
        """Poll until cancelled; a database outage pauses delivery without stopping the worker."""
        while True:
            try:
                handled = await self.run_once()
            except StorageUnavailable:
                handled = 0
                log.warning("outbox_storage_unavailable")
            if not handled:
                await asyncio.sleep(interval)
