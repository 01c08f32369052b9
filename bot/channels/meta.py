"""What Meta's two channels (Messenger and WhatsApp) share, kept once so that a fix reaches both.

- The webhook: the subscription check (`verify`) and the signed JSON body (`signed_json`): capped and
  timed by `bot.channels.http.read_body`, `X-Hub-Signature-256` checked in constant time, then parsed.
  Any body that does not parse is a 400, whatever the reason: bad UTF-8, bad JSON, nesting deep enough for
  a RecursionError, or a number too long for Python's int conversion (a ValueError, not a JSONDecodeError).
  The caller passes its logger and channel name, so each channel's log lines keep their names.
- The Graph API call: one POST and what came back (`graph_call`), retries with backoff (`with_retries`)
  and error codes as Meta writes them (`error_code`). What an answer means stays with each channel: the
  codes differ.
- Copies of citizens' files (`MediaCopies`): only from Meta's media hosts (`MediaHosts`), redirects only to
  another allowed URL, the size checked as declared and as read, a few at a time, each once. Each channel
  says how a file is found (`fetch`) and checked (`check`).
- The dispatcher's machinery (`Dispatching`): one task per event in its sender's turn, the webhook's
  "stored" future, waiting for idleness and the graceful shutdown. What an event means stays with each
  channel (`_handle`).
- The small readers of untrusted JSON (`as_dict`, `as_list`, `short_str`) both event parsers use.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot import logs
from bot.channels.evidence import EvidenceStore, EvidenceUnavailable, write_copy
from bot.channels.http import Unread, body_json, read_body, secret_ok, signature_ok
from bot.channels.order import InOrder
from bot.shared.delivery import Outcome

MAX_CHALLENGE = 256
MAX_REDIRECTS = 3
TIMEOUT = httpx.Timeout(10.0, read=20.0)
DEADLINE = 120.0  # seconds for one whole download
CHUNK = 64 * 1024
GRACE = 20.0  # seconds to finish held events on shutdown


# --- the webhook ---------------------------------------------------------------------------------------


def verify(request: Request, verify_token: bytes, log: logging.Logger, channel: str) -> Response:
    """Meta's subscription check: echo hub.challenge when the mode and verify token are right."""
    query = request.query_params
    challenge = query.get("hub.challenge", "")
    if (
        query.get("hub.mode") != "subscribe"
        or not secret_ok(verify_token, query.get("hub.verify_token"))
        or not 0 < len(challenge) <= MAX_CHALLENGE
    ):
        logs.event(log, f"{channel}_verify_refused")
        return PlainTextResponse("forbidden", status_code=403)
    return PlainTextResponse(challenge)


async def signed_json(
    request: Request,
    max_body: int,
    seconds: float,
    app_secret: bytes,
    log: logging.Logger,
    channel: str,
) -> dict[str, Any] | Response:
    """The webhook body as a JSON object, or the answer to give instead: 413/408 from the reader, 403 when
    the signature is missing or wrong, 400 when the body is not a JSON object."""
    body = await read_body(request, max_body, seconds)
    if isinstance(body, Unread):
        return PlainTextResponse(body.reason, status_code=body.status)
    if not signature_ok(app_secret, body, request.headers.get("x-hub-signature-256")):
        logs.event(log, f"{channel}_signature_refused", bytes=len(body))
        return PlainTextResponse("forbidden", status_code=403)
    try:
        data = body_json(body)
    except ValueError:  # bad UTF-8, bad JSON, too deep, too-long integers (bot.shared.body.body_json)
        return PlainTextResponse("body must be JSON", status_code=400)
    if not isinstance(data, dict):
        return PlainTextResponse("body must be a JSON object", status_code=400)
    return data


# --- the dispatcher ---------------------------------------------------------------------------------------


class Sent(Protocol):
    """What the dispatcher needs of an event: whose turn it takes."""

    @property
    def sender(self) -> str: ...


E = TypeVar("E", bound=Sent)


@dataclass
class Job(Generic[E]):
    """An event and the future the webhook waits on: resolved once the event is stored (or given up)."""

    event: E
    stored: asyncio.Future[None]


class Dispatching(Generic[E]):
    """One task per event, taking its sender's turn (`InOrder`): a sender's events in arrival order,
    different senders concurrently; nothing is held for a sender with no work. A channel's dispatcher
    (a dataclass) declares `order`, `_jobs` and `closing` with their defaults and handles a job in
    `_handle`, resolving `job.stored` as soon as the event is stored."""

    channel: ClassVar[str]
    logger: ClassVar[logging.Logger]
    order: InOrder[str]
    _jobs: dict[asyncio.Task[None], Job[E]]
    closing: bool

    def copies(self) -> MediaCopies | None:
        """The channel's file downloads, which `idle` waits for too (none by default)."""
        return None

    async def _handle(self, job: Job[E]) -> None:
        raise NotImplementedError

    def submit(self, event: E) -> asyncio.Future[None]:
        """Queue `event` behind its sender's earlier ones; the future resolves once it is stored."""
        job = Job(event, asyncio.get_running_loop().create_future())
        task = asyncio.create_task(self._run(job))
        self._jobs[task] = job
        task.add_done_callback(self._jobs.pop)
        return job.stored

    async def store(self, events: list[E], deadline: float) -> int:
        """Submit a webhook body's events and wait until all are stored or `deadline` seconds pass, so
        Meta is answered fast and, normally, only once the events are safe; how many were stored."""
        stored = [self.submit(event) for event in events]
        if stored:
            await asyncio.wait(stored, timeout=deadline)
        return sum(f.done() for f in stored)

    async def _run(self, job: Job[E]) -> None:
        try:
            async with self.order.turn(job.event.sender):
                await self._handle(job)
        finally:
            if not job.stored.done():
                job.stored.set_result(None)

    async def idle(self) -> None:
        """Wait until every queued event is handled, its replies sent and its files copied."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)
        copies = self.copies()
        if copies is not None:
            await copies.wait()

    async def close(self, grace: float = GRACE) -> None:
        """Stop taking events; finish held ones for up to `grace` seconds, then cancel the rest. The
        `<channel>_shutdown` line counts the events cancelled before they were stored."""
        self.closing = True
        if self._jobs:
            await asyncio.wait(list(self._jobs), timeout=grace)
        unfinished = sum(not job.stored.done() for job in self._jobs.values())
        for task in list(self._jobs):
            task.cancel()
        await asyncio.gather(*list(self._jobs), return_exceptions=True)
        logs.event(self.logger, f"{self.channel}_shutdown", unfinished=unfinished)


# --- the Graph API call --------------------------------------------------------------------------------


class Answer(Protocol):
    """What both channels' classified answers have: retries look at nothing else."""

    @property
    def outcome(self) -> Outcome: ...

    @property
    def reason(self) -> str: ...


A = TypeVar("A", bound=Answer)


def error_code(value: object) -> int | None:
    """An error code as Meta sends it (a number, sometimes a string of digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def json_of(response: httpx.Response) -> object:
    """The answer's JSON, or None when it is not JSON (an HTML error page from a proxy)."""
    try:
        return response.json()
    except ValueError:
        return None


async def graph_call(request: Awaitable[httpx.Response]) -> tuple[int, object] | str:
    """Make one call: its status and JSON, or why it did not arrive ("timeout", "network"), which the
    channels retry."""
    try:
        response = await request
    except httpx.TimeoutException:
        return "timeout"
    except httpx.TransportError:
        return "network"
    return response.status_code, json_of(response)


async def with_retries(
    once: Callable[[], Awaitable[A]],
    not_tried: A,
    attempts: int,
    backoff: float,
    log: logging.Logger,
    event: str,
    **fields: Any,
) -> A:
    """Call `once` up to `attempts` times while it says retry, backing off exponentially (four times
    slower after a rate limit). A failure is logged as `event`, at error for an invalid token: that one is
    the operator's to fix."""
    answer = not_tried
    for attempt in range(attempts):
        answer = await once()
        if answer.outcome is not Outcome.RETRY or attempt == attempts - 1:
            break
        slower = 4 if answer.reason.startswith("rate_limit") else 1
        await asyncio.sleep(backoff * slower * 2**attempt)
    if answer.outcome is not Outcome.SENT:
        level = logging.ERROR if answer.reason == "invalid_token" else logging.WARNING
        log.log(level, event, extra={"fields": {**fields, "reason": answer.reason}})
    return answer


# --- copies of citizens' files -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaHosts:
    """Where attachments may be fetched from: domains (themselves and their subdomains, https, default
    port) and exact origins (`http://127.0.0.1:8099`, for a test CDN)."""

    domains: tuple[str, ...]
    origins: tuple[tuple[str, str, int], ...]

    @staticmethod
    def parse(setting: str) -> MediaHosts:
        domains: list[str] = []
        origins: list[tuple[str, str, int]] = []
        for entry in (e.strip() for e in setting.split(",")):
            if not entry:
                continue
            if "://" in entry:
                parts = urlsplit(entry)
                if parts.scheme in ("http", "https") and parts.hostname:
                    origins.append((parts.scheme, parts.hostname.lower(), _port(parts.scheme, parts.port)))
            else:
                domains.append(entry.lower().strip("."))
        return MediaHosts(tuple(domains), tuple(origins))

    def allows(self, url: str) -> bool:
        """Whether `url` is on one of Meta's media hosts (or a listed origin), with no credentials in it."""
        try:
            parts = urlsplit(url)
            port = parts.port
            host = (parts.hostname or "").lower().rstrip(".")
        except ValueError:
            return False
        if not host or parts.username is not None or parts.password is not None:
            return False
        scheme = parts.scheme.lower()
        if (scheme, host, _port(scheme, port)) in self.origins:
            return True
        if scheme != "https" or port not in (None, 443):
            return False
        return any(host == d or host.endswith("." + d) for d in self.domains)


def _port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


class Refused(Exception):
    """The download was not made or not kept; `reason` says why (for the log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MediaCopies:
    """Downloads citizens' files in the background, a few at a time, each once, into the channel's
    evidence directory. Log lines are `<channel>_file_*` on the channel's logger."""

    def __init__(
        self,
        store: EvidenceStore,
        channel: str,
        log: logging.Logger,
        max_bytes: int,
        hosts: MediaHosts,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        parallel: int = 4,
    ) -> None:
        self.store = store
        self.channel = channel
        self.log = log
        self.directory = store.directory(channel)
        self.max_bytes = max_bytes
        self.hosts = hosts
        self.http = httpx.AsyncClient(
            transport=transport, timeout=TIMEOUT, follow_redirects=False, trust_env=False
        )
        self._slots = asyncio.Semaphore(parallel)
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()

    def _new(self, kind: str, name: str) -> bool:
        """Whether a file of `kind` named `name` is kept at all and neither kept nor on its way yet."""
        return self.store.keeps(kind) and name not in self._busy and not (self.directory / name).exists()

    def _start(self, ref: str, name: str) -> None:
        self._busy.add(name)
        task = asyncio.create_task(self._download(ref, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for the downloads in progress."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.wait()
        await self.http.aclose()

    async def fetch(self, ref: str) -> bytes:
        """The file's bytes; Refused when it cannot or may not be had."""
        raise NotImplementedError

    def check(self, ref: str, name: str, digest: str) -> None:
        """Raise Refused when the bytes are not the file the message named (nothing to check by default)."""

    async def _download(self, ref: str, name: str) -> None:
        try:
            async with self._slots:
                data = await asyncio.wait_for(self.fetch(ref), DEADLINE)
                digest = hashlib.sha256(data).hexdigest()
                self.check(ref, name, digest)
                await asyncio.to_thread(write_copy, self.directory, name, data)
                try:
                    await self.store.record(self.channel, name, digest, len(data))
                except EvidenceUnavailable:  # the next retention purge finds the file and records it
                    logs.event(self.log, f"{self.channel}_file_unrecorded")
                logs.event(self.log, f"{self.channel}_file_kept", bytes=len(data))
        except Refused as exc:
            logs.event(self.log, f"{self.channel}_file_skipped", reason=exc.reason)
        except (httpx.HTTPError, TimeoutError) as exc:
            logs.event(self.log, f"{self.channel}_file_failed", error=type(exc).__name__)
        except OSError as exc:
            self.log.warning(
                f"{self.channel}_file_not_written", extra={"fields": {"error": type(exc).__name__}}
            )
        finally:
            self._busy.discard(name)

    async def get(self, url: str, headers: dict[str, str] | None = None) -> bytes:
        """The body at `url`, following at most MAX_REDIRECTS redirects, each to an allowed URL; Refused
        when a hop leaves Meta's hosts, the answer is not 200, or the body is over the limit. `headers`
        (a bearer token) therefore only ever reach Meta's hosts."""
        for _ in range(MAX_REDIRECTS + 1):
            if not self.hosts.allows(url):
                raise Refused("host_not_allowed")
            async with self.http.stream("GET", url, headers=headers) as response:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise Refused("redirect_without_location")
                    url = urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise Refused(f"status_{response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise Refused("too_large")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise Refused("too_large")
                    chunks.append(chunk)
                return b"".join(chunks)
        raise Refused("too_many_redirects")


# --- readers of untrusted JSON -------------------------------------------------------------------------


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def short_str(value: object, limit: int) -> str | None:
    """A non-empty string of at most `limit` characters (ids may come as numbers), else None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if 0 < len(text) <= limit else None
