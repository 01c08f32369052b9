"""Urgent-case alerts: an HMAC-signed JSON POST to RAABTA_ALERT_WEBHOOK_URL, retried through the outbox."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import httpx

from bot.shared.delivery import DeliveryResult, Outcome, Text
from bot.shared.identity import derive_key

SIGNATURE_HEADER = "X-Raabta-Signature-256"


def signature(secret: bytes, body: bytes) -> str:
    """`sha256=<hex>` of the body, keyed from RAABTA_SECRET_KEY (purpose "alert-webhook")."""
    return "sha256=" + hmac.new(derive_key(secret, "alert-webhook"), body, hashlib.sha256).hexdigest()


class AlertSender:
    """Posts alerts; has no citizen address (the outbox worker passes an empty one)."""

    channel = "alert"
    addressless = True

    def __init__(self, url: str, secret: bytes, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.secret = secret
        self.client = client or httpx.AsyncClient(timeout=10)

    async def deliver(self, address: str, replies: Sequence[Text]) -> DeliveryResult:
        body = replies[0].text.encode()
        try:
            response = await self.client.post(
                self.url,
                content=body,
                headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature(self.secret, body)},
            )
        except httpx.HTTPError:
            return DeliveryResult(Outcome.RETRY, reason="network")
        if response.is_success:
            return DeliveryResult(Outcome.SENT)
        if response.status_code == 429 or response.status_code >= 500:
            return DeliveryResult(Outcome.RETRY, reason=str(response.status_code))
        return DeliveryResult(Outcome.GONE, reason=str(response.status_code))
