"""Facebook Messenger: a verified webhook in, the Send API out.

`GET /webhooks/messenger` answers Meta's subscription check. `POST /webhooks/messenger` reads at most
MAX_BODY bytes (413 beyond), verifies `X-Hub-Signature-256` (HMAC-SHA256 of the raw bytes with the app
secret, compared in constant time; 403 when missing or wrong), parses every event of every entry (400 when
the body is not JSON) and hands them to the dispatcher. The dispatcher handles the events of one sender in
order and different senders concurrently; the webhook answers 200 as soon as every event of the body is
stored (the pipeline's one transaction) or after ACK_DEADLINE seconds, whichever comes first, so Meta is
answered fast and, normally, only once the events are safe. Replies are sent afterwards.

Redeliveries: the message `mid` (a postback's `mid`, or a hash of sender, time and payload) is the
idempotency key; a redelivered event changes nothing and its replies are not sent again.

Shutdown: the webhook answers 503 (Meta delivers again later, to this or another instance) and the
dispatcher gets GRACE seconds to finish what it holds. Events still not stored then are cancelled and
counted in the `messenger_shutdown` log line: only those, acknowledged after the deadline and not finished
within the grace period, can be lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections import deque
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot import logs
from bot.channels.base import ChannelSetup
from bot.channels.messenger_events import CHANNEL, Event, parse_body
from bot.channels.messenger_send import REPLY_ATTEMPTS, GraphClient, MessengerSender
from bot.dialogue import Reply
from bot.pipeline import Pipeline
from bot.shared.config import Settings

log = logging.getLogger(__name__)
PATH = "/webhooks/messenger"
MAX_BODY = 2 * 1024 * 1024  # Meta batches up to 1,000 events of well under 2 KB each
MAX_CHALLENGE = 256
ACK_DEADLINE = 3.0  # seconds; Meta expects an answer within a few seconds
GRACE = 20.0  # seconds to finish held events on shutdown


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is "sha256=" + the hex HMAC-SHA256 of the raw `body`, compared in constant time."""
    if not header:
        return False
    expected = b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header.strip().encode("latin-1", "replace"))


@dataclass
class _Job:
    event: Event
    stored: asyncio.Future[None]


@dataclass
class Dispatcher:
    """Per-sender queues: one worker task per sender with work, none when idle."""

    pipeline: Pipeline
    client: GraphClient
    _queues: dict[str, deque[_Job]] = field(default_factory=dict)
    _workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    closing: bool = False

    def submit(self, event: Event) -> asyncio.Future[None]:
        """Queue `event` behind its sender's earlier ones; the future resolves once it is stored."""
        job = _Job(event, asyncio.get_running_loop().create_future())
        self._queues.setdefault(event.sender, deque()).append(job)
        if event.sender not in self._workers:
            self._workers[event.sender] = asyncio.create_task(self._work(event.sender))
        return job.stored

    async def _work(self, sender: str) -> None:
        queue = self._queues[sender]
        try:
            while queue:
                job = queue[0]
                try:
                    await self._handle(job)
                finally:
                    queue.popleft()
                    if not job.stored.done():
                        job.stored.set_result(None)
        finally:
            del self._queues[sender]
            del self._workers[sender]

    async def _handle(self, job: _Job) -> None:
        """Store the event through the pipeline, then send its replies (unless it was a redelivery)."""
        try:
            handled = await self.pipeline.handle(job.event.inbound)
        except Exception:  # a bug must not stop this sender's queue; the citizen is asked to send again
            log.exception("messenger_event_failed")
            replies = [Reply(self.pipeline.texts.text("common.unavailable", "en"))]
        else:
            if handled.duplicate:
                return
            replies = handled.replies
        job.stored.set_result(None)
        result = await self.client.send(job.event.sender, replies, "RESPONSE", REPLY_ATTEMPTS)
        logs.event(log, "messenger_replied", outcome=result.outcome.value, reason=result.reason)

    async def idle(self) -> None:
        """Wait until every queued event is handled and its replies sent."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def close(self, grace: float = GRACE) -> None:
        """Stop taking events; finish held ones for up to `grace` seconds, then cancel the rest."""
        self.closing = True
        workers = list(self._workers.values())
        if workers:
            await asyncio.wait(workers, timeout=grace)
        unfinished = sum(not job.stored.done() for queue in self._queues.values() for job in queue)
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*list(self._workers.values()), return_exceptions=True)
        logs.event(log, "messenger_shutdown", unfinished=unfinished)


class Messenger:
    """The channel: webhook routes, the dispatcher behind them, and the Sender for notifications."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.5,
        ack_deadline: float = ACK_DEADLINE,
    ) -> None:
        assert settings.messenger_page_token and settings.messenger_app_secret
        assert settings.messenger_verify_token
        self.app_secret = settings.messenger_app_secret.get_secret_value().encode()
        self.verify_token = settings.messenger_verify_token.get_secret_value().encode()
        self.client = GraphClient(
            settings.graph_api_url,
            settings.messenger_page_token.get_secret_value(),
            settings.messenger_app_secret.get_secret_value(),
            transport=transport,
            backoff=backoff,
        )
        self.dispatcher = Dispatcher(pipeline, self.client)
        self.sender = MessengerSender(self.client)
        self.ack_deadline = ack_deadline

    def routes(self) -> list[BaseRoute]:
        """GET (subscription check) and POST (events) on /webhooks/messenger."""
        return [
            Route(PATH, self.verify, methods=["GET"]),
            Route(PATH, self.receive, methods=["POST"]),
        ]

    async def verify(self, request: Request) -> Response:
        """Meta's subscription check: echo hub.challenge when the mode and verify token are right."""
        query = request.query_params
        token = query.get("hub.verify_token", "").encode("utf-8", "replace")
        challenge = query.get("hub.challenge", "")
        if (
            query.get("hub.mode") != "subscribe"
            or not hmac.compare_digest(token, self.verify_token)
            or not 0 < len(challenge) <= MAX_CHALLENGE
        ):
            logs.event(log, "messenger_verify_refused")
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(challenge)

    async def receive(self, request: Request) -> Response:
        """Webhook events: capped, verified, acknowledged once stored (or after the deadline)."""
        if self.dispatcher.closing:
            return PlainTextResponse("shutting down", status_code=503)
        body = await _read_capped(request)
        if body is None:
            return PlainTextResponse("body too large", status_code=413)
        if not signature_ok(self.app_secret, body, request.headers.get("x-hub-signature-256")):
            logs.event(log, "messenger_signature_refused", bytes=len(body))
            return PlainTextResponse("forbidden", status_code=403)
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return PlainTextResponse("body must be JSON", status_code=400)
        if not isinstance(data, dict):
            return PlainTextResponse("body must be a JSON object", status_code=400)
        batch = parse_body(data)
        if self.dispatcher.closing:  # shutdown began while the body was read: Meta will deliver it again
            return PlainTextResponse("shutting down", status_code=503)
        stored = [self.dispatcher.submit(event) for event in batch.events]
        if stored:
            await asyncio.wait(stored, timeout=self.ack_deadline)
        logs.event(
            log,
            "messenger_webhook",
            events=len(batch.events),
            stored=sum(f.done() for f in stored),
            **{f"skipped_{kind}": count for kind, count in batch.skipped.items()},
        )
        return PlainTextResponse("EVENT_RECEIVED")

    async def stop(self) -> None:
        """Drain the dispatcher (see the module docstring), then close the HTTP client."""
        await self.dispatcher.close()
        await self.client.aclose()

    def channel(self) -> ChannelSetup:
        """What the app mounts and starts: routes, the notification sender, and the stop hook."""
        return ChannelSetup(CHANNEL, self.routes(), self.sender, None, self.stop)


async def _read_capped(request: Request, limit: int = MAX_BODY) -> bytes | None:
    """The raw body, or None as soon as it is (or is declared) longer than `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def setup(
    settings: Settings, pipeline: Pipeline, *, transport: httpx.AsyncBaseTransport | None = None
) -> ChannelSetup | None:
    """The Messenger channel when its page token, app secret and verify token are all set, else None."""
    if not (
        settings.messenger_page_token and settings.messenger_app_secret and settings.messenger_verify_token
    ):
        return None
    return Messenger(settings, pipeline, transport=transport).channel()
