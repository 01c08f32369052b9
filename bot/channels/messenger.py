"""Facebook Messenger: a verified webhook in, the Send API out.

`GET /webhooks/messenger` answers Meta's subscription check. `POST /webhooks/messenger` reads at most
MAX_BODY bytes (413 beyond, 408 when the body does not arrive in time), verifies `X-Hub-Signature-256`
(HMAC-SHA256 of the raw bytes with the app secret, compared in constant time; 403 when missing or wrong),
parses every event of every entry (400 when the body is not JSON) and hands them to the dispatcher (the
body reader and the checks are the ones every channel shares: `bot.channels.http`). The dispatcher
handles the events of one sender in order and different senders concurrently (`bot.channels.order`);
the webhook answers 200 as soon as every event of the body is stored (the pipeline's one transaction) or
after ACK_DEADLINE seconds, whichever comes first, so Meta is answered fast and, normally, only once the
events are safe. Replies are sent afterwards.

A handling that fails unexpectedly is answered by the shared crash fallback (`bot.channels.fallback`):
"please send it again" in the citizen's language, as far as the message tells it.

Redeliveries: the message `mid` (a postback's `mid`, or a hash of sender, time and payload) is the
idempotency key; a redelivered event changes nothing and its replies are not sent again.

Shutdown: the webhook answers 503 (Meta delivers again later, to this or another instance) and the
dispatcher gets GRACE seconds to finish what it holds. Events still not stored then are cancelled and
counted in the `messenger_shutdown` log line: only those, acknowledged after the deadline and not finished
within the grace period, can be lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot import logs
from bot.channels.base import ChannelSetup
from bot.channels.fallback import handle_or_fallback
from bot.channels.http import BODY_TIMEOUT, Unread, read_body, secret_ok, signature_ok
from bot.channels.messenger_events import CHANNEL, Event, parse_body, postbacks
from bot.channels.messenger_send import REPLY_ATTEMPTS, GraphClient, MessengerSender
from bot.channels.order import InOrder
from bot.pipeline import Pipeline
from bot.shared.config import Settings

log = logging.getLogger(__name__)
PATH = "/webhooks/messenger"
MAX_BODY = 2 * 1024 * 1024  # Meta batches up to 1,000 events of well under 2 KB each
MAX_CHALLENGE = 256
ACK_DEADLINE = 3.0  # seconds; Meta expects an answer within a few seconds
GRACE = 20.0  # seconds to finish held events on shutdown


@dataclass
class _Job:
    event: Event
    stored: asyncio.Future[None]


@dataclass
class Dispatcher:
    """One task per event, taking its sender's turn (`InOrder`): a sender's events in arrival order,
    different senders concurrently; nothing is held for a sender with no work."""

    pipeline: Pipeline
    client: GraphClient
    order: InOrder[str] = field(default_factory=InOrder)
    _jobs: dict[asyncio.Task[None], _Job] = field(default_factory=dict)
    closing: bool = False

    def submit(self, event: Event) -> asyncio.Future[None]:
        """Queue `event` behind its sender's earlier ones; the future resolves once it is stored."""
        job = _Job(event, asyncio.get_running_loop().create_future())
        task = asyncio.create_task(self._run(job))
        self._jobs[task] = job
        task.add_done_callback(self._jobs.pop)
        return job.stored

    async def _run(self, job: _Job) -> None:
        try:
            async with self.order.turn(job.event.sender):
                await self._handle(job)
        finally:
            if not job.stored.done():
                job.stored.set_result(None)

    async def _handle(self, job: _Job) -> None:
        """Store the event through the pipeline, then send its replies (unless it was a redelivery). A bug
        must not stop this sender's queue: the crash fallback asks the citizen to send it again."""
        handled = await handle_or_fallback(self.pipeline, job.event.inbound)
        job.stored.set_result(None)
        if handled.duplicate:
            return
        result = await self.client.send(job.event.sender, handled.replies, "RESPONSE", REPLY_ATTEMPTS)
        logs.event(log, "messenger_replied", outcome=result.outcome.value, reason=result.reason)

    async def idle(self) -> None:
        """Wait until every queued event is handled and its replies sent."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)

    async def close(self, grace: float = GRACE) -> None:
        """Stop taking events; finish held ones for up to `grace` seconds, then cancel the rest."""
        self.closing = True
        if self._jobs:
            await asyncio.wait(list(self._jobs), timeout=grace)
        unfinished = sum(not job.stored.done() for job in self._jobs.values())
        for task in list(self._jobs):
            task.cancel()
        await asyncio.gather(*list(self._jobs), return_exceptions=True)
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
        body_timeout: float = BODY_TIMEOUT,
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
        self.postbacks = postbacks(pipeline.flows)  # the flows' commands behind the menu's payloads
        self.sender = MessengerSender(self.client)
        self.ack_deadline = ack_deadline
        self.body_timeout = body_timeout

    def routes(self) -> list[BaseRoute]:
        """GET (subscription check) and POST (events) on /webhooks/messenger."""
        return [
            Route(PATH, self.verify, methods=["GET"]),
            Route(PATH, self.receive, methods=["POST"]),
        ]

    async def verify(self, request: Request) -> Response:
        """Meta's subscription check: echo hub.challenge when the mode and verify token are right."""
        query = request.query_params
        challenge = query.get("hub.challenge", "")
        if (
            query.get("hub.mode") != "subscribe"
            or not secret_ok(self.verify_token, query.get("hub.verify_token"))
            or not 0 < len(challenge) <= MAX_CHALLENGE
        ):
            logs.event(log, "messenger_verify_refused")
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(challenge)

    async def receive(self, request: Request) -> Response:
        """Webhook events: capped, verified, acknowledged once stored (or after the deadline)."""
        if self.dispatcher.closing:
            return PlainTextResponse("shutting down", status_code=503)
        body = await read_body(request, MAX_BODY, self.body_timeout)
        if isinstance(body, Unread):
            return PlainTextResponse(body.reason, status_code=body.status)
        if not signature_ok(self.app_secret, body, request.headers.get("x-hub-signature-256")):
            logs.event(log, "messenger_signature_refused", bytes=len(body))
            return PlainTextResponse("forbidden", status_code=403)
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return PlainTextResponse("body must be JSON", status_code=400)
        if not isinstance(data, dict):
            return PlainTextResponse("body must be a JSON object", status_code=400)
        batch = parse_body(data, self.postbacks)
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


def setup(
    settings: Settings, pipeline: Pipeline, *, transport: httpx.AsyncBaseTransport | None = None
) -> ChannelSetup | None:
    """The Messenger channel when its page token, app secret and verify token are all set, else None."""
    if not (
        settings.messenger_page_token and settings.messenger_app_secret and settings.messenger_verify_token
    ):
        return None
    return Messenger(settings, pipeline, transport=transport).channel()
