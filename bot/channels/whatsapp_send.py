"""The Cloud API client: `POST /{phone-number-id}/messages` with retries, the number's send rate, and the
outbox's Sender with WhatsApp's 24-hour customer-service window.

Every call carries the token as a bearer header (never in the URL, so it cannot reach an access log).
Answers are classified once, in `classify`:
- sent (the wamid is remembered, so that a later `failed` status for it can be told from noise);
- retry with backoff: HTTP 5xx or 429, timeouts, network errors, temporary errors (1, 2, 131000, 131016)
  and rate limits (4, 80007, 130429 throughput, 131048 spam rate, 131056 pair rate); an invalid token
  (190) is retried slowly: it is the operator's to fix, and no citizen is marked unreachable for it;
- gone (the contact is marked unreachable): undeliverable (131026), the citizen's own number (131021),
  not in the test number's allowed list (131030), stopped (131050);
- expired (not sent, not retried): re-engagement required (131047: the window closed), template problems
  (132000-132016), and any other rejection of the message itself.
Logs carry codes and outcomes only: never the token, the number, or the text.

The 24-hour window: a notification goes free-form when the citizen last wrote less than 24 hours ago
(`last_inbound`, given by the app), otherwise as the approved status template in the citizen's language
(`whatsapp_templates`). Without an approved template for that language it expires in the outbox with the
log line `whatsapp_notification_expired reason=outside_24h_window_no_template`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot import logs
from bot.channels import whatsapp_render
from bot.channels.meta import error_code, graph_call, json_of, with_retries
from bot.channels.whatsapp_templates import Templates
from bot.dialogue import Reply, State
from bot.shared.delivery import DeliveryResult, Outcome
from nlu import parse
from responses import LANGUAGES, Catalog

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
WINDOW = timedelta(hours=24)
RATE_LIMITS = frozenset({4, 80007, 130429, 131048, 131056})
TEMPORARY = frozenset({1, 2, 131000, 131016})
GONE = {131026: "undeliverable", 131021: "own_number", 131030: "not_allowed_recipient", 131050: "stopped"}
REENGAGEMENT = 131047
TEMPLATE_CODES = range(132000, 132100)
RATE_LIMIT_WAIT = 60.0
BAD_TOKEN_WAIT = 600.0
REPLY_ATTEMPTS = 4
NOTIFY_ATTEMPTS = 2
REMEMBERED = 20_000  # wamids of what we sent, per instance


@dataclass(frozen=True, slots=True)
class CloudAnswer:
    outcome: Outcome
    reason: str = ""
    retry_after: float | None = None
    message_id: str | None = None

    def result(self) -> DeliveryResult:
        return DeliveryResult(self.outcome, self.retry_after, self.reason)


def classify(status: int, data: object) -> CloudAnswer:
    """What a Cloud API answer means for delivery (see the module docstring)."""
    if 200 <= status < 300:
        messages = data.get("messages") if isinstance(data, dict) else None
        first = messages[0] if isinstance(messages, list) and messages else {}
        wamid = first.get("id") if isinstance(first, dict) else None
        return CloudAnswer(Outcome.SENT, message_id=wamid if isinstance(wamid, str) else None)
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error_code(error.get("code"))
    if code in GONE:
        return CloudAnswer(Outcome.GONE, f"{GONE[code]}_{code}")
    if code == REENGAGEMENT:
        return CloudAnswer(Outcome.EXPIRED, f"outside_24h_window_{code}")
    if code is not None and code in TEMPLATE_CODES:
        return CloudAnswer(Outcome.EXPIRED, f"template_{code}")
    if code in RATE_LIMITS:
        return CloudAnswer(Outcome.RETRY, f"rate_limit_{code}", RATE_LIMIT_WAIT)
    if code == 190:
        return CloudAnswer(Outcome.RETRY, "invalid_token", BAD_TOKEN_WAIT)
    if code in TEMPORARY:
        return CloudAnswer(Outcome.RETRY, f"temporary_{code}")
    if status >= 500 or status == 429:
        return CloudAnswer(Outcome.RETRY, f"http_{status}")
    return CloudAnswer(Outcome.EXPIRED, f"rejected_{code if code is not None else status}")


class Pace:
    """At most `rate` sends a second from this instance (the number's throughput), spaced evenly."""

    def __init__(self, rate: int) -> None:
        self.gap = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.gap
        if delay > 0:
            await asyncio.sleep(delay)


class CloudClient:
    """Calls to the Cloud API at `base_url` (RAABTA_GRAPH_API_URL) as the business phone number."""

    def __init__(
        self,
        base_url: str,
        token: str,
        phone_number_id: str,
        texts: Catalog,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.5,
        rate: int = 50,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            transport=transport,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
        )
        self.phone_number_id = phone_number_id
        self.texts = texts
        self.backoff = backoff
        self.pace = Pace(rate)
        self.sent: OrderedDict[str, str] = OrderedDict()  # wamid -> what it was (reply, notification)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, object]:
        """A GET on the Graph API (the number's details, a media object): status and JSON body."""
        response = await self._http.get(path, params=params)
        return response.status_code, json_of(response)

    async def post(self, body: dict[str, Any], attempts: int = 1) -> CloudAnswer:
        """POST one message, retrying passing failures up to `attempts` times in all."""
        return await with_retries(
            lambda: self._post_once(body),
            CloudAnswer(Outcome.RETRY, "not_tried"),
            attempts,
            self.backoff,
            log,
            "whatsapp_call_failed",
        )

    async def _post_once(self, body: dict[str, Any]) -> CloudAnswer:
        await self.pace.wait()
        got = await graph_call(self._http.post(f"{self.phone_number_id}/messages", json=body))
        if isinstance(got, str):
            return CloudAnswer(Outcome.RETRY, got)
        status, data = got
        answer = classify(status, data)
        if answer.outcome is not Outcome.SENT:
            logs.event(log, "whatsapp_answer", status=status, reason=answer.reason)
        return answer

    def remember(self, wamid: str | None, what: str) -> None:
        if wamid is None:
            return
        self.sent[wamid] = what
        self.sent.move_to_end(wamid)
        while len(self.sent) > REMEMBERED:
            self.sent.popitem(last=False)

    async def send_objects(
        self, to: str, objects: Sequence[dict[str, Any]], attempts: int, what: str
    ) -> DeliveryResult:
        """Send message objects to one citizen in order; stop at the first that cannot be delivered."""
        for message in objects:
            body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **message}
            answer = await self.post(body, attempts)
            if answer.outcome is not Outcome.SENT:
                return answer.result()
            self.remember(answer.message_id, what)
        return DeliveryResult(Outcome.SENT)

    async def send(
        self, to: str, replies: Sequence[Reply], attempts: int, lang: str = "", what: str = "reply"
    ) -> DeliveryResult:
        """Send `replies` (free-form: inside the window) to one citizen in order."""
        objects = [m for reply in replies for m in whatsapp_render.messages(reply, self.texts, lang)]
        return await self.send_objects(to, objects, attempts, what)


LastInbound = Callable[[str], Awaitable[datetime | None]]  # conversation id -> when the citizen last wrote
Pseudonym = Callable[[str], str]  # wa_id -> conversation id
StateOf = Callable[[str], Awaitable[State]]  # conversation id -> its state


class WhatsAppSender:
    """Notifications from the outbox: free-form inside the 24-hour window, the approved template after it.

    No `window` attribute: the outbox worker hands every notification over and the sender decides."""

    channel = CHANNEL

    def __init__(
        self,
        client: CloudClient,
        templates: Templates,
        pseudonym: Pseudonym,
        last_inbound: LastInbound | None,
        state_of: StateOf | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.templates = templates
        self.pseudonym = pseudonym
        self.last_inbound = last_inbound
        self.state_of = state_of
        self.now = now

    async def _lang(self, conversation: str, replies: Sequence[Reply]) -> str:
        lang = next((r.lang for r in replies if r.lang in LANGUAGES), "")
        if not lang and self.state_of is not None:
            try:
                lang = (await self.state_of(conversation)).lang or ""
            except Exception:  # unreadable state: the text itself tells
                lang = ""
        if lang not in LANGUAGES:
            text = " ".join(r.text for r in replies)
            lang = parse(text).language if text.strip() else "en"
        return lang if lang in LANGUAGES else "en"

    async def deliver(self, address: str, replies: Sequence[Reply]) -> DeliveryResult:
        conversation = self.pseudonym(address)
        last = await self.last_inbound(conversation) if self.last_inbound is not None else None
        lang = await self._lang(conversation, replies)
        if last is not None and self.now() - last < WINDOW:
            return await self.client.send(address, replies, NOTIFY_ATTEMPTS, lang, "notification")
        template = self.templates.message(lang, "\n".join(r.text for r in replies))
        if template is None:
            logs.event(
                log,
                "whatsapp_notification_expired",
                reason="outside_24h_window_no_template",
                language=lang,
                hint="submit `raabta whatsapp templates` to Meta and set RAABTA_WHATSAPP_TEMPLATE_LANGUAGES",
            )
            return DeliveryResult(Outcome.EXPIRED, reason="outside_24h_window_no_template")
        logs.event(log, "whatsapp_template_used", language=lang)
        return await self.client.send_objects(address, [template], NOTIFY_ATTEMPTS, "notification")
