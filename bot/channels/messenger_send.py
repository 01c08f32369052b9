"""The Graph API client: Send API and Messenger Profile calls with retries, and the outbox's Sender.

Every call carries the page token and its `appsecret_proof` (HMAC-SHA256 of the token with the app secret),
so the app can require proofs in Meta's settings. Answers are classified once, in `classify`:

- sent;
- retry with backoff: HTTP 5xx or 429, timeouts, network errors, temporary errors (codes 1, 2, 1200) and
  rate limits (4, 17, 32, 613, 80006); an invalid page token (190) is retried too, slowly: it is the
  operator's to fix, and no citizen should be marked unreachable for it;
- gone (the contact is marked unreachable): user unavailable (551 / subcode 1545041), no matching user
  (100 / 2018001), no permission (10, 200);
- expired (not sent, not retried): outside the 24-hour window (10 / 2018278), or any other rejection of the
  message itself.

Logs carry codes and outcomes only: never the token, the URL, the recipient or the text.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from bot import logs
from bot.channels import messenger_render
from bot.channels.meta import error_code, graph_call, with_retries
from bot.dialogue import Reply
from bot.shared.delivery import DeliveryResult, Outcome

log = logging.getLogger(__name__)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RATE_LIMITS = frozenset({4, 17, 32, 613, 80006})
TEMPORARY = frozenset({1, 2, 1200})
NO_PERMISSION = frozenset({10, 200})
OUTSIDE_WINDOW = 2018278
USER_UNAVAILABLE = (551, 1545041)
NO_MATCHING_USER = 2018001
RATE_LIMIT_WAIT = 60.0  # seconds the outbox waits after a rate limit (Meta does not say how long)
BAD_TOKEN_WAIT = 600.0
REPLY_ATTEMPTS = 4  # a reply to a citizen who is waiting: 0.5 + 1 + 2 s of backoff at most
NOTIFY_ATTEMPTS = 2  # the outbox retries later by itself


@dataclass(frozen=True, slots=True)
class GraphAnswer:
    outcome: Outcome
    reason: str = ""
    retry_after: float | None = None

    def result(self) -> DeliveryResult:
        """The same answer in the outbox's terms."""
        return DeliveryResult(self.outcome, self.retry_after, self.reason)


def classify(status: int, data: object) -> GraphAnswer:
    """What a Graph API answer means for delivery (see the module docstring)."""
    if 200 <= status < 300:
        return GraphAnswer(Outcome.SENT)
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    code, subcode = error_code(error.get("code")), error_code(error.get("error_subcode"))
    if subcode == OUTSIDE_WINDOW:
        return GraphAnswer(Outcome.EXPIRED, "outside_24h_window")
    if code == USER_UNAVAILABLE[0] or subcode == USER_UNAVAILABLE[1]:
        return GraphAnswer(Outcome.GONE, "user_unavailable")
    if subcode == NO_MATCHING_USER:
        return GraphAnswer(Outcome.GONE, "no_matching_user")
    if code in NO_PERMISSION:
        return GraphAnswer(Outcome.GONE, f"no_permission_{code}")
    if code in RATE_LIMITS:
        return GraphAnswer(Outcome.RETRY, f"rate_limit_{code}", RATE_LIMIT_WAIT)
    if code == 190:
        return GraphAnswer(Outcome.RETRY, "invalid_token", BAD_TOKEN_WAIT)
    if code in TEMPORARY:
        return GraphAnswer(Outcome.RETRY, f"temporary_{code}")
    if status >= 500 or status == 429:
        return GraphAnswer(Outcome.RETRY, f"http_{status}")
    return GraphAnswer(Outcome.EXPIRED, f"rejected_{code if code is not None else status}")


class GraphClient:
    """Calls to the Graph API at `base_url` (RAABTA_GRAPH_API_URL) as the page."""

    def __init__(
        self,
        base_url: str,
        page_token: str,
        app_secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.5,
        timeout: httpx.Timeout = TIMEOUT,
        concurrency: int = 32,
    ) -> None:
        proof = hmac.new(app_secret.encode(), page_token.encode(), hashlib.sha256).hexdigest()
        self._params = {"access_token": page_token, "appsecret_proof": proof}
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)
        self._slots = asyncio.Semaphore(concurrency)
        self.backoff = backoff

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def post(self, path: str, body: dict[str, Any], attempts: int = 1) -> GraphAnswer:
        """POST `body` to `path`, retrying passing failures up to `attempts` times in all."""
        return await with_retries(
            lambda: self._post_once(path, body),
            GraphAnswer(Outcome.RETRY, "not_tried"),
            attempts,
            self.backoff,
            log,
            "graph_call_failed",
            path=path,
        )

    async def _post_once(self, path: str, body: dict[str, Any]) -> GraphAnswer:
        async with self._slots:
            got = await graph_call(self._http.post(path, params=self._params, json=body))
        if isinstance(got, str):
            return GraphAnswer(Outcome.RETRY, got)
        status, data = got
        answer = classify(status, data)
        if answer.outcome is not Outcome.SENT:
            logs.event(log, "graph_answer", path=path, status=status, reason=answer.reason)
        return answer

    async def send(
        self, psid: str, replies: Sequence[Reply], messaging_type: str, attempts: int
    ) -> DeliveryResult:
        """Send `replies` to one citizen in order; stop at the first part that cannot be delivered."""
        for reply in replies:
            for message in messenger_render.messages(reply):
                body = {"recipient": {"id": psid}, "messaging_type": messaging_type, "message": message}
                answer = await self.post("me/messages", body, attempts)
                if answer.outcome is not Outcome.SENT:
                    return answer.result()
        return DeliveryResult(Outcome.SENT)


class MessengerSender:
    """Status notifications from the outbox, as UPDATE messages inside the 24-hour window; no message tag.

    `window` tells the outbox worker how long after the citizen's last message a notification may go out.
    """

    channel = "messenger"
    window = timedelta(hours=24)

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def deliver(self, address: str, replies: Sequence[Reply]) -> DeliveryResult:
        """Send a notification to the PSID `address`; outside the window Meta refuses and we record why."""
        return await self.client.send(address, replies, "UPDATE", NOTIFY_ATTEMPTS)
