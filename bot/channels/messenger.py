"""Facebook Messenger: a verified webhook in, the Send API out.

`GET /webhooks/messenger` answers Meta's subscription check. `POST /webhooks/messenger` reads at most
MAX_BODY bytes (413 beyond, 408 when the body does not arrive in time), verifies `X-Hub-Signature-256`
(HMAC-SHA256 of the raw bytes with the app secret, compared in constant time; 403 when missing or wrong),
parses every event of every entry (400 when the body is not JSON) and hands them to the dispatcher (the
body reader and the checks are the ones every channel shares: `bot.channels.http`, put together for
Meta's two channels in `bot.channels.meta`). The dispatcher handles the events of one sender in order
and different senders concurrently (`bot.channels.order`);
the webhook answers 200 as soon as every event of the body is stored (the pipeline's one transaction) or
after ACK_DEADLINE seconds, whichever comes first, so Meta is answered fast and, normally, only once the
events are safe. Replies are sent afterwards.

A handling that fails unexpectedly is answered by the shared crash fallback (`bot.channels.fallback`):
"please send it again" in the citizen's language, as far as the message tells it.

Redeliveries: the message `mid` (a postback's `mid`, or a hash of sender, time and payload) is the
idempotency key; a redelivered event changes nothing and its replies are not sent again.

Beyond messages and taps (the choices are explained in the README's Messenger section):
- the like button is a yes where the last question was a yes or no (the `...:yes` button on offer), else
  a thumbs-up back;
- an edited message (`message_edit`) brings its new links into a report being written (handled as a
  message holding only those links); otherwise the citizen is told we used the first version and asked to
  send the change again (`messenger.edit_used_first`). Each edit is answered once per instance;
- events on the standby channel (another app, such as the Page Inbox, holds the thread) are counted by
  kind on /metrics and logged as held: a person is answering there, and the bot must not talk over them
  (nor may it: the thread is not ours until it is passed back). Nothing of them is stored;
- a policy enforcement notice (Meta warned, blocked or unblocked the page) is logged at error and raises
  an operator alert through the alert webhook (RAABTA_ALERT_WEBHOOK_URL, via the outbox);
- an m.me `ref` is counted per campaign on /metrics (`bot.channels.messenger_metrics`), never kept with
  the conversation;
- photos and files are copied from Meta's CDN at once (`bot.channels.messenger_files`).

Shutdown: the webhook answers 503 (Meta delivers again later, to this or another instance) and the
dispatcher gets GRACE seconds to finish what it holds. Events still not stored then are cancelled and
counted in the `messenger_shutdown` log line: only those, acknowledged after the deadline and not finished
within the grace period, can be lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot import logs
from bot.channels import messenger_metrics, meta
from bot.channels.base import ChannelSetup
from bot.channels.evidence import EvidenceStore
from bot.channels.fallback import handle_or_fallback, language_of
from bot.channels.http import BODY_TIMEOUT
from bot.channels.messenger_events import CHANNEL, LIKE_TEXT, Batch, Event, parse_body, postbacks
from bot.channels.messenger_files import MessengerFiles
from bot.channels.messenger_send import REPLY_ATTEMPTS, GraphClient, MessengerSender
from bot.channels.order import InOrder
from bot.dialogue import Inbound, Reply, State
from bot.pipeline import Pipeline
from bot.shared.config import Settings
from nlu.urls import canonicalize, find_urls
from responses import LANGUAGES

log = logging.getLogger(__name__)
PATH = "/webhooks/messenger"
MAX_BODY = 2 * 1024 * 1024  # Meta batches up to 1,000 events of well under 2 KB each
ACK_DEADLINE = 3.0  # seconds; Meta expects an answer within a few seconds
GRACE = meta.GRACE  # seconds to finish held events on shutdown
LIKE_COOLDOWN = 10.0  # seconds: one thumbs-up back per person in this time, however many likes come
REMEMBERED = 10_000  # edits answered and thumbs-ups sent, remembered per instance
EDIT_KEY = "messenger.edit_used_first"


@dataclass
class Dispatcher(meta.Dispatching[Event]):
    """Messenger's events through the shared machinery (`bot.channels.meta.Dispatching`): likes and edits
    are read against the conversation's state first."""

    channel: ClassVar[str] = CHANNEL
    logger: ClassVar[logging.Logger] = log
    pipeline: Pipeline
    client: GraphClient
    files: MessengerFiles | None = None
    order: InOrder[str] = field(default_factory=InOrder)
    _jobs: dict[asyncio.Task[None], meta.Job[Event]] = field(default_factory=dict)
    closing: bool = False
    _edits: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _likes: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def copies(self) -> MessengerFiles | None:
        return self.files

    async def _handle(self, job: meta.Job[Event]) -> None:
        """Store the event through the pipeline, then send its replies (unless it was a redelivery). A bug
        must not stop this sender's queue: the crash fallback asks the citizen to send it again."""
        event = job.event
        inbound = event.inbound
        if event.kind in ("like", "edit"):
            try:
                state = await self._state(event.sender)
            except Exception:  # the database is down or the state unreadable: answer as for a new chat
                log.warning("messenger_state_unread", exc_info=True)
                state = State()
            turned = self._like(event, state) if event.kind == "like" else self._edit(event, state)
            if isinstance(turned, Reply):
                job.stored.set_result(None)
                await self._say(event, turned)
                return
            if turned is None:
                job.stored.set_result(None)
                return
            inbound = turned
        handled = await handle_or_fallback(self.pipeline, inbound)
        job.stored.set_result(None)
        if handled.duplicate:
            return
        if self.files is not None and handled.saved:
            self.files.keep(inbound.attachments)  # Meta's URLs expire: copy the citizen's files now
        result = await self.client.send(event.sender, handled.replies, "RESPONSE", REPLY_ATTEMPTS)
        logs.event(log, "messenger_replied", outcome=result.outcome.value, reason=result.reason)

    async def _state(self, sender: str) -> State:
        """The conversation's state as stored (read, never written, here)."""
        conversation = self.pipeline.pseudonyms.of(CHANNEL, sender)
        stored = await self.pipeline.storage.load_conversation(conversation)
        return State.from_dict(stored.state)

    async def _say(self, event: Event, reply: Reply) -> None:
        result = await self.client.send(event.sender, [reply], "RESPONSE", REPLY_ATTEMPTS)
        logs.event(
            log, "messenger_replied", outcome=result.outcome.value, reason=result.reason, kind=event.kind
        )

    def _like(self, event: Event, state: State) -> Inbound | Reply | None:
        """The like button: the yes on offer when the last question was a yes or no (handled as that tap);
        else a thumbs-up back, at most one per LIKE_COOLDOWN seconds for a person (None: stay quiet)."""
        yes = next((c for c in state.offered if c.endswith(":yes")), None)
        if yes is not None and any(c == yes[:-4] + ":no" for c in state.offered):
            logs.event(log, "messenger_like", read_as="yes")
            return replace(event.inbound, text=None, choice=yes)
        now = time.monotonic()
        last = self._likes.get(event.sender)
        if last is not None and now - last < LIKE_COOLDOWN:
            return None
        _remember(self._likes, event.sender, now)
        logs.event(log, "messenger_like", read_as="thumbs_up")
        return Reply(LIKE_TEXT, lang=state.lang or "")

    def _edit(self, event: Event, state: State) -> Inbound | Reply | None:
        """An edited message: its links not yet in the report being written go into it (handled as a
        message with only those links); otherwise "I used your first version: send the change again"."""
        key = event.inbound.event_id
        if key in self._edits:
            return None  # Meta delivered this edit again
        _remember(self._edits, key, None)
        text = event.inbound.text or ""
        draft = state.draft
        links = getattr(draft, "links", None)
        if state.step.startswith("report.") and isinstance(links, list):
            known = {getattr(link, "canonical", None) for link in links}
            new = [u.raw for u in find_urls(text) if canonicalize(u.raw) not in known]
            if new:
                logs.event(log, "messenger_edit", outcome="links_added", links=len(new))
                return replace(event.inbound, text=None, links=tuple(new))
        lang = state.lang if state.lang in LANGUAGES else language_of(event.inbound)
        logs.event(log, "messenger_edit", outcome="first_version_used")
        return Reply(self.pipeline.texts.text(EDIT_KEY, lang), kind="notice", lang=lang)


def _remember(seen: OrderedDict[str, Any], key: str, value: Any) -> None:
    seen[key] = value
    seen.move_to_end(key)
    while len(seen) > REMEMBERED:
        seen.popitem(last=False)


class Messenger:
    """The channel: webhook routes, the dispatcher behind them, and the Sender for notifications."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        *,
        evidence: EvidenceStore | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        media_transport: httpx.AsyncBaseTransport | None = None,
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
        self.files = (
            MessengerFiles(
                evidence,
                settings.messenger_max_file_mb * 1024 * 1024,
                meta.MediaHosts.parse(settings.messenger_media_hosts),
                transport=media_transport,
            )
            if settings.messenger_download_files and evidence is not None
            else None
        )
        self.pipeline = pipeline
        self.alert_webhook = bool(settings.alert_webhook_url)
        self.dispatcher = Dispatcher(pipeline, self.client, self.files)
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
        """Meta's subscription check (`bot.channels.meta.verify`)."""
        return meta.verify(request, self.verify_token, log, CHANNEL)

    async def receive(self, request: Request) -> Response:
        """Webhook events: capped, verified, acknowledged once stored (or after the deadline)."""
        if self.dispatcher.closing:
            return PlainTextResponse("shutting down", status_code=503)
        data = await meta.signed_json(request, MAX_BODY, self.body_timeout, self.app_secret, log, CHANNEL)
        if isinstance(data, Response):
            return data
        batch = parse_body(data, self.postbacks)
        if self.dispatcher.closing:  # shutdown began while the body was read: Meta will deliver it again
            return PlainTextResponse("shutting down", status_code=503)
        await self._notices(batch)
        stored = await self.dispatcher.store(batch.events, self.ack_deadline)
        logs.event(
            log,
            "messenger_webhook",
            events=len(batch.events),
            stored=stored,
            **{f"skipped_{kind}": count for kind, count in batch.skipped.items()},
            **{f"standby_{kind}": count for kind, count in batch.standby.items()},
        )
        return PlainTextResponse("EVENT_RECEIVED")

    async def _notices(self, batch: Batch) -> None:
        """What a body said besides events to handle: referrals counted, standby events counted and
        logged as held, policy enforcement logged at error and sent to the operators' alert webhook."""
        for ref in batch.referrals:
            messenger_metrics.count_referral(ref)
        for kind, count in batch.standby.items():
            for _ in range(count):
                messenger_metrics.count_standby(kind)
        if batch.standby:
            logs.event(log, "messenger_standby_held", events=sum(batch.standby.values()))
        for action, reason in batch.policy:
            messenger_metrics.count_policy(action)
            level = logging.INFO if action == "unblock" else logging.ERROR
            log.log(
                level, "messenger_policy_enforcement", extra={"fields": {"action": action, "reason": reason}}
            )
            await self._alert(action, reason)

    async def _alert(self, action: str, reason: str) -> None:
        """An operator alert through the outbox (retried until the alert webhook takes it)."""
        if not self.alert_webhook:
            log.error("messenger_policy_alert_not_sent", extra={"fields": {"why": "no alert webhook"}})
            return
        body = {
            "kind": "messenger_policy_enforcement",
            "channel": CHANNEL,
            "action": action,
            "reason": reason,
            "at": datetime.now(UTC).isoformat(),
        }
        try:
            await self.pipeline.storage.enqueue_notification(
                "alert",
                "alert",
                "messenger_policy",
                {"text": json.dumps(body, ensure_ascii=False), "buttons": []},
            )
        except Exception:  # the database is down: the error line above is the alert of last resort
            log.error("messenger_policy_alert_not_queued", exc_info=True)

    async def stop(self) -> None:
        """Drain the dispatcher (see the module docstring), then close the HTTP client."""
        await self.dispatcher.close()
        await self.client.aclose()
        if self.files is not None:
            await self.files.aclose()

    def channel(self) -> ChannelSetup:
        """What the app mounts and starts: routes, the notification sender, and the stop hook."""
        return ChannelSetup(CHANNEL, self.routes(), self.sender, None, self.stop)


def setup(
    settings: Settings,
    pipeline: Pipeline,
    evidence: EvidenceStore | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ChannelSetup | None:
    """The Messenger channel when its page token, app secret and verify token are all set, else None.
    `evidence`: where copies of citizens' files go (none: they are not downloaded)."""
    if not (
        settings.messenger_page_token and settings.messenger_app_secret and settings.messenger_verify_token
    ):
        return None
    return Messenger(settings, pipeline, evidence=evidence, transport=transport).channel()
