"""WhatsApp (Cloud API): a verified webhook in, `POST /{phone-number-id}/messages` out.

`GET /webhooks/whatsapp` answers Meta's subscription check (`hub.mode=subscribe`, our verify token, the
challenge echoed). `POST /webhooks/whatsapp` reads at most MAX_BODY bytes (413 beyond, 408 when the body
does not arrive in time), verifies `X-Hub-Signature-256` (HMAC-SHA256 of the raw bytes with the app
secret, constant time; 403 when missing or wrong), parses every message, status and error of every change
of every entry (400 when the body is not a JSON object; `bot.channels.whatsapp_events`) and hands the
messages to the dispatcher, which handles one sender's messages in order and different senders
concurrently (`bot.channels.order`). The webhook answers 200 once every message of the body is stored
(the pipeline's one transaction) or after ACK_DEADLINE seconds; replies are sent afterwards.

Redeliveries: the wamid is the idempotency key; a redelivered message changes nothing and its replies are
not sent again. A crash while handling is answered by the shared fallback ("please send it again").

Privacy: the sender's `wa_id` is their phone number. The pipeline turns it into the keyed pseudonym on
arrival, like every channel's id; the raw number is held in memory only to address the replies, sealed
(with consent) as the address for updates, and never logged: log lines carry counts, kinds and codes.

Statuses: sent, delivered and read are counted; `failed` for a message this instance sent marks the
citizen unreachable (the outbox stops writing to them) with the error code in the log line, except for
passing errors (rate limits, temporary) and a closed window (131047), which are logged. Statuses for
messages we do not know are ignored. `referral` (click-to-WhatsApp ads) is counted per campaign on
/metrics and kept nowhere else. Images and PDFs are fetched at once (`bot.channels.whatsapp_media`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import ClassVar

import httpx
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot import logs
from bot.channels import meta
from bot.channels.base import ChannelSetup
from bot.channels.evidence import EvidenceStore
from bot.channels.fallback import handle_or_fallback, language_of
from bot.channels.http import BODY_TIMEOUT
from bot.channels.order import InOrder
from bot.channels.whatsapp_events import CHANNEL, Batch, Event, Status, parse_body
from bot.channels.whatsapp_media import WhatsAppMedia
from bot.channels.whatsapp_send import (
    RATE_LIMITS,
    REENGAGEMENT,
    REPLY_ATTEMPTS,
    TEMPORARY,
    CloudClient,
    LastInbound,
    WhatsAppSender,
)
from bot.channels.whatsapp_templates import Templates
from bot.dialogue import State
from bot.metrics import REGISTRY
from bot.pipeline import Pipeline
from bot.shared.config import Settings

log = logging.getLogger(__name__)
PATH = "/webhooks/whatsapp"
MAX_BODY = 3 * 1024 * 1024  # Meta batches changes; each message is small
ACK_DEADLINE = 3.0
GRACE = meta.GRACE
MAX_CAMPAIGNS = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

REFERRALS = Counter(
    "raabta_whatsapp_referrals",
    "People who wrote through a click-to-WhatsApp ad or post, by campaign (the ad or post id)",
    ["campaign"],
    registry=REGISTRY,
)
STATUSES = Counter(
    "raabta_whatsapp_statuses",
    "Statuses of messages we sent on WhatsApp, by status",
    ["status"],
    registry=REGISTRY,
)
_campaigns: set[str] = set()
_campaigns_lock = threading.Lock()


def count_referral(source_id: str | None) -> None:
    """Count one referral by its campaign, a safe label; at most MAX_CAMPAIGNS distinct ones per process."""
    label = _UNSAFE.sub("_", source_id or "")[:40] or "none"
    with _campaigns_lock:
        if label not in _campaigns and len(_campaigns) >= MAX_CAMPAIGNS:
            label = "other"
        else:
            _campaigns.add(label)
    REFERRALS.labels(label).inc()


@dataclass
class Dispatcher(meta.Dispatching[Event]):
    """WhatsApp's messages through the shared machinery (`bot.channels.meta.Dispatching`): a sender's
    messages in arrival order."""

    channel: ClassVar[str] = CHANNEL
    logger: ClassVar[logging.Logger] = log
    pipeline: Pipeline
    client: CloudClient
    media: WhatsAppMedia | None = None
    order: InOrder[str] = field(default_factory=InOrder)
    _jobs: dict[asyncio.Task[None], meta.Job[Event]] = field(default_factory=dict)
    closing: bool = False

    def copies(self) -> WhatsAppMedia | None:
        return self.media

    async def _handle(self, job: meta.Job[Event]) -> None:
        inbound = job.event.inbound
        handled = await handle_or_fallback(self.pipeline, inbound)
        job.stored.set_result(None)
        if handled.duplicate:
            return
        if self.media is not None and handled.saved:
            self.media.keep(inbound.attachments)  # media ids expire: copy the citizen's files now
        lang = next((r.lang for r in handled.replies if r.lang), "") or language_of(inbound)
        result = await self.client.send(job.event.sender, handled.replies, REPLY_ATTEMPTS, lang)
        logs.event(log, "whatsapp_replied", outcome=result.outcome.value, reason=result.reason)


class WhatsApp:
    """The channel: webhook routes, the dispatcher behind them, and the Sender for notifications."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        *,
        evidence: EvidenceStore | None = None,
        last_inbound: LastInbound | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        media_transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.5,
        ack_deadline: float = ACK_DEADLINE,
        body_timeout: float = BODY_TIMEOUT,
    ) -> None:
        assert settings.whatsapp_token and settings.whatsapp_app_secret
        assert settings.whatsapp_verify_token and settings.whatsapp_phone_number_id
        token = settings.whatsapp_token.get_secret_value()
        self.app_secret = settings.whatsapp_app_secret.get_secret_value().encode()
        self.verify_token = settings.whatsapp_verify_token.get_secret_value().encode()
        self.phone_number_id = settings.whatsapp_phone_number_id
        self.pipeline = pipeline
        self.client = CloudClient(
            settings.graph_api_url,
            token,
            self.phone_number_id,
            pipeline.texts,
            transport=transport,
            backoff=backoff,
            rate=settings.whatsapp_messages_per_second,
        )
        self.media = (
            WhatsAppMedia(
                evidence,
                self.client,
                token,
                settings.whatsapp_max_file_mb * 1024 * 1024,
                meta.MediaHosts.parse(settings.whatsapp_media_hosts),
                transport=media_transport,
            )
            if settings.whatsapp_download_files and evidence is not None
            else None
        )
        self.templates = Templates(
            pipeline.texts, settings.whatsapp_template, settings.whatsapp_template_languages
        )
        self.dispatcher = Dispatcher(pipeline, self.client, self.media)
        self.sender = WhatsAppSender(
            self.client,
            self.templates,
            lambda wa_id: pipeline.pseudonyms.of(CHANNEL, wa_id),
            last_inbound,
            self._state,
        )
        self.ack_deadline = ack_deadline
        self.body_timeout = body_timeout

    async def _state(self, conversation: str) -> State:
        return State.from_dict((await self.pipeline.storage.load_conversation(conversation)).state)

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self.verify, methods=["GET"]), Route(PATH, self.receive, methods=["POST"])]

    async def verify(self, request: Request) -> Response:
        """Meta's subscription check (`bot.channels.meta.verify`)."""
        return meta.verify(request, self.verify_token, log, CHANNEL)

    async def receive(self, request: Request) -> Response:
        """Webhook bodies: capped, verified, acknowledged once stored (or after the deadline)."""
        if self.dispatcher.closing:
            return PlainTextResponse("shutting down", status_code=503)
        data = await meta.signed_json(request, MAX_BODY, self.body_timeout, self.app_secret, log, CHANNEL)
        if isinstance(data, Response):
            return data
        batch = parse_body(data, self.phone_number_id)
        if self.dispatcher.closing:
            return PlainTextResponse("shutting down", status_code=503)
        for ref in batch.referrals:
            count_referral(ref)
        await self._statuses(batch)
        stored = await self.dispatcher.store(batch.events, self.ack_deadline)
        logs.event(
            log,
            "whatsapp_webhook",
            messages=len(batch.events),
            stored=stored,
            statuses=len(batch.statuses),
            errors=",".join(str(c) for c in batch.errors[:10]),
            **{f"skipped_{kind}": count for kind, count in batch.skipped.items()},
        )
        return PlainTextResponse("EVENT_RECEIVED")

    async def _statuses(self, batch: Batch) -> None:
        for status in batch.statuses:
            STATUSES.labels(status.status).inc()
            if status.status == "failed":
                await self._failed(status)

    async def _failed(self, status: Status) -> None:
        """A message we sent failed: the contact is unreachable unless the error passes or the window
        closed. Statuses for messages this instance does not know are ignored."""
        what = self.client.sent.get(status.message_id)
        code = status.codes[0] if status.codes else 0
        if what is None or status.recipient is None:
            logs.event(log, "whatsapp_status_ignored", status="failed", code=code)
            return
        if code in RATE_LIMITS or code in TEMPORARY:
            logs.event(log, "whatsapp_send_failed", what=what, code=code, outcome="passing")
            return
        if code == REENGAGEMENT:
            logs.event(log, "whatsapp_send_failed", what=what, code=code, outcome="window_closed")
            return
        saved = await self.pipeline.reachable(CHANNEL, status.recipient, False)
        logs.event(log, "whatsapp_unreachable", what=what, code=code, saved=saved)

    async def stop(self) -> None:
        await self.dispatcher.close()
        await self.client.aclose()
        if self.media is not None:
            await self.media.aclose()

    def channel(self) -> ChannelSetup:
        return ChannelSetup(CHANNEL, self.routes(), self.sender, None, self.stop)


def configured(settings: Settings) -> bool:
    return bool(
        settings.whatsapp_token
        and settings.whatsapp_app_secret
        and settings.whatsapp_verify_token
        and settings.whatsapp_phone_number_id
    )


def setup(
    settings: Settings,
    pipeline: Pipeline,
    evidence: EvidenceStore | None = None,
    last_inbound: LastInbound | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ChannelSetup | None:
    """The WhatsApp channel when its token, number id, app secret and verify token are all set, else None.
    `last_inbound`: when a conversation's citizen last wrote (the 24-hour window), from the app."""
    if not configured(settings):
        return None
    return WhatsApp(
        settings, pipeline, evidence=evidence, last_inbound=last_inbound, transport=transport
    ).channel()


async def check(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> tuple[bool, str]:
    """`raabta whatsapp check`: ask the Graph API for the number with the token; (ok, what to print)."""
    if not configured(settings):
        missing = [
            name
            for name, value in (
                ("RAABTA_WHATSAPP_TOKEN", settings.whatsapp_token),
                ("RAABTA_WHATSAPP_PHONE_NUMBER_ID", settings.whatsapp_phone_number_id),
                ("RAABTA_WHATSAPP_APP_SECRET", settings.whatsapp_app_secret),
                ("RAABTA_WHATSAPP_VERIFY_TOKEN", settings.whatsapp_verify_token),
            )
            if not value
        ]
        return False, "not configured: set " + ", ".join(missing)
    assert settings.whatsapp_token and settings.whatsapp_phone_number_id
    async with httpx.AsyncClient(
        base_url=settings.graph_api_url.rstrip("/") + "/",
        transport=transport,
        timeout=10.0,
        headers={"Authorization": f"Bearer {settings.whatsapp_token.get_secret_value()}"},
        trust_env=False,
    ) as http:
        try:
            response = await http.get(
                settings.whatsapp_phone_number_id,
                params={"fields": "display_phone_number,verified_name,quality_rating"},
            )
        except httpx.HTTPError as exc:
            return False, f"the Graph API could not be reached ({type(exc).__name__})"
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code != 200 or not isinstance(data, dict):
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return False, f"the Graph API refused the token or number (HTTP {response.status_code}, code {code})"
    name = data.get("verified_name") or "?"
    quality = data.get("quality_rating") or "?"
    return True, f"WhatsApp number OK: {data.get('display_phone_number', '?')} ({name}), quality {quality}"
