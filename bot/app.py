"""The one ASGI app: web chat, health, and (as they arrive) webhooks, API and console."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import itertools
import logging
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot import logs, metrics
from bot.channels import messenger, webchat, webchat_upload, whatsapp
from bot.channels.base import ChannelSetup
from bot.channels.evidence import EvidenceUnavailable
from bot.dialogue import REGISTRY, Context, Inbound, Registry, State, handle
from bot.limits import Limits
from bot.outbox import OutboxWorker
from bot.pipeline import Pipeline
from bot.shared.config import Settings, agency_names, secret_key
from bot.shared.delivery import Sender
from bot.shared.designated import load as load_designated
from bot.shared.identity import Pseudonyms
from bot.shared.sealing import AddressBox
from cyberunit import api, console, taxii
from cyberunit.alerts import AlertSender
from cyberunit.problems import problem
from nlu import model as nlu_model
from nlu.parser import configure as configure_nlu
from responses import LANGUAGES, Catalog, catalog
from storage import audit
from storage.evidence_files import KeptFiles, evidence_dir
from storage.queue import Queue
from storage.repository import FILE_KINDS, Storage, StorageUnavailable
from storage.safety import Safety
from storage.schema import conversations

log = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds a client is asked to wait while the database is unreachable


class StoredEvidence:
    """The evidence store the app gives channels (`bot.channels.evidence.EvidenceStore`): copies under
    `<data_dir>/evidence/<channel>/`, their hashes in the database; the database being down reaches the
    channel as `EvidenceUnavailable`, so channels never import storage."""

    def __init__(self, storage: Storage, data_dir: Path) -> None:
        self.kept = KeptFiles(storage)
        self.data_dir = data_dir

    def keeps(self, kind: str) -> bool:
        return kind in FILE_KINDS

    def directory(self, channel: str) -> Path:
        return evidence_dir(self.data_dir, channel)

    async def record(self, channel: str, name: str, sha256: str, size: int) -> None:
        try:
            await self.kept.record(channel, name, sha256, size)
        except StorageUnavailable as exc:
            raise EvidenceUnavailable(str(exc)) from exc


class LastInbound:
    """When a conversation's citizen last wrote (its last turn), for WhatsApp's 24-hour window; given to
    the channel so that it never imports storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def __call__(self, conversation_id: str) -> datetime | None:
        async with self.storage.db.read(single_statement=True) as conn:
            value = await conn.scalar(
                select(conversations.c.updated_at).where(conversations.c.id == conversation_id)
            )
        return audit.as_utc(value) if value is not None else None


class StoredConversations:
    """Whether a conversation is stored, for the web chat's limit on new sessions (a session with none is
    new); given to the channel so that it never imports storage. None while the database is unreachable:
    the message goes on to the pipeline, which answers that."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def __call__(self, conversation_id: str) -> bool | None:
        try:
            async with self.storage.db.read(single_statement=True) as conn:
                found = await conn.scalar(
                    select(conversations.c.version).where(conversations.c.id == conversation_id)
                )
        except StorageUnavailable:
            return None
        return found is not None


def channel_setups(settings: Settings, pipeline: Pipeline, storage: Storage) -> list[ChannelSetup]:
    """The configured channels: each channel module offers `setup(settings, pipeline, ...) -> ChannelSetup |
    None` (None: not configured), given here what it needs from the app."""
    found = [
        telegram_setup(settings, pipeline, storage),
        messenger.setup(settings, pipeline, StoredEvidence(storage, settings.data_dir)),
        whatsapp.setup(settings, pipeline, StoredEvidence(storage, settings.data_dir), LastInbound(storage)),
    ]
    return [c for c in found if c is not None]


def telegram_setup(settings: Settings, pipeline: Pipeline, storage: Storage) -> ChannelSetup | None:
    """The Telegram channel, its module imported only when RAABTA_TELEGRAM_TOKEN is set: it loads
    python-telegram-bot, 9.5 MB of a server's memory that a deployment without Telegram never uses (issue
    23's memory target)."""
    if settings.telegram_token is None:
        return None
    from bot.channels import telegram

    return telegram.setup(settings, pipeline, StoredEvidence(storage, settings.data_dir))


async def reap_leases(storage: Storage, interval: float = 30.0, rescore_every: int = 20) -> None:
    """Return cases whose lease ran out to the queue, every `interval` seconds; score open cases again
    every `rescore_every` rounds (ten minutes), so recency keeps decaying in the queue order."""
    queue = Queue(storage)
    for round_ in itertools.count():
        try:
            returned = await queue.reap_expired()
            if returned:
                logs.event(log, "leases_expired", cases=returned)
            if round_ % rescore_every == 0:
                logs.event(log, "cases_rescored", cases=await queue.rescore())
        except StorageUnavailable:
            log.warning("reaper_storage_unavailable")
        await asyncio.sleep(interval)


async def purge_daily(settings: Settings, storage: Storage, interval: float = 3600.0) -> None:
    """Delete what is past retention (evidence files kept under the data directory too), handled-event
    records past the redelivery window and idle sessions that never reported (`Safety.purge`), every
    `interval` seconds."""
    safety = Safety(storage)
    while True:
        try:
            done = await safety.purge(
                settings.retention_days,
                settings.data_dir,
                redelivery_hours=settings.redelivery_hours,
                idle_session_days=settings.idle_session_days,
            )
            logs.event(
                log,
                "retention_purge",
                contacts=done.contacts,
                conversations=done.conversations,
                processed_events=done.processed_events,
                outbox=done.outbox,
                evidence_files=done.evidence_files,
                idle_sessions=done.idle_sessions,
            )
        except StorageUnavailable:
            log.warning("purge_storage_unavailable")
        await asyncio.sleep(interval)


async def log_anchor(storage: Storage) -> None:
    """Log the signed head of the audit chain (`raabta audit anchor`'s line: counts, an id, a hash, a time
    and a signature; nothing about anyone), so that a log kept elsewhere can prove later truncation."""
    try:
        async with storage.db.read() as conn:
            anchor = await audit.take_anchor(conn, storage.secret)
    except StorageUnavailable:
        log.warning("audit_anchor_storage_unavailable")
        return
    except Exception:  # never stop the hourly task or the shutdown over an anchor: log the type, go on
        log.warning("audit_anchor_failed", exc_info=True)
        return
    logs.event(log, audit.ANCHOR_EVENT, **anchor.fields())


async def anchor_hourly(storage: Storage, interval: float = 3600.0) -> None:
    """Log an audit anchor now and every `interval` seconds (and `lifespan` logs one more on shutdown)."""
    while True:
        await log_anchor(storage)
        await asyncio.sleep(interval)


def make_pipeline(
    settings: Settings, storage: Storage, flows: Registry = REGISTRY, texts: Catalog | None = None
) -> Pipeline:
    """The shared message path, keyed from the configured secret, running `flows` (the shipped ones)."""
    secret = secret_key(settings)
    configure_nlu(settings.nlu, settings.rasa_url)
    limits = Limits(
        settings.messages_per_minute,
        settings.reports_per_hour,
        settings.reports_per_day,
        settings.floods_before_block,
    )
    return Pipeline(
        storage,
        Pseudonyms(secret),
        AddressBox(secret),
        texts=texts or catalog(),
        retention_days=settings.retention_days,
        limits=limits,
        flows=flows,
        designated=load_designated(settings.designated_file),
        public_url=settings.public_url or "",
    )


SWITCH_INTERVAL = 0.0005  # seconds; see the lifespan

WARM_UP = (
    "is democracy kufr?",
    "کیا جمہوریت حرام ہے؟",
    "kya jamhooriyat kufr hai",
    "how do they recruit online",
    "ye page bharti kar raha hai https://www.facebook.com/warm.up",
)


def warm(pipeline: Pipeline) -> None:
    """Build now what a first use would build while a citizen waits (the language detector's models for
    each script, the recruiters' claims matcher: about 0.8 s): a few messages through the parser and the
    pure engine, nothing stored."""
    for text in WARM_UP:
        understood = pipeline.parse(text)
        lang = understood.language if understood.language in LANGUAGES else "en"
        inbound = Inbound("warm-up", "warm-up", "warm-up", text=text)
        handle(inbound, understood, State(lang=lang), Context("AAAA-0000"), pipeline.texts)


# Container objects made (less those freed) between two collections of the youngest generation; Python's
# default is 700. A message makes thousands and frees nearly all of them by reference counting, so at 700
# the collector ran several times a message, each time walking the objects of every message in flight:
# 4.2% of the server's CPU closed loop in `perf` (issue 23, seventh sitting), 0.1% at this threshold. Only
# cycles wait longer to be freed, a few MB at most.
YOUNG_THRESHOLD = 20_000


def settle_collector() -> None:
    """Once start-up is done: what it built (models, the catalog, compiled statements) lives as long as the
    process and goes out of the collector's way, so a full collection no longer walks it (one took 70-80
    ms, a stall of every message in flight, issue 23's p99 at 200 msg/s); and the youngest generation is
    collected every YOUNG_THRESHOLD objects instead of 700."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)


def give_back_memory() -> None:
    """Return the C heap's free pages to the system after start-up (glibc's `malloc_trim`): building the
    models and the claims matcher frees tens of MB that glibc would otherwise keep mapped for good (issue
    23's memory target). Elsewhere than glibc: nothing to do."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def create_app(settings: Settings, storage: Storage | None = None) -> Starlette:
    """Build the app. With `storage` given (tests), the caller owns its lifecycle."""
    owned = storage is None
    store = storage or Storage(settings.database_url, secret_key(settings))
    pipeline = make_pipeline(settings, store)
    channels = channel_setups(settings, pipeline, store)
    senders: dict[str, Sender] = {c.name: c.sender for c in channels if c.sender is not None}
    if settings.alert_webhook_url:
        store.alerts = True
        senders["alert"] = AlertSender(settings.alert_webhook_url, secret_key(settings))
    worker = OutboxWorker(store, pipeline.box, senders)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if not await store.is_current():
            if settings.env == "production":
                raise SystemExit("raabta: the database schema is not current: run `raabta db upgrade` first")
            await store.upgrade()
        await asyncio.to_thread(nlu_model.get)  # load (or train) before the first citizen waits for it
        await asyncio.to_thread(warm, pipeline)
        settle_collector()
        give_back_memory()
        # The turn writer's thread and the event loop share the GIL: a thread asking for it waits up to
        # the switch interval (5 ms by default) for the one holding it, on every hop back to the loop.
        sys.setswitchinterval(SWITCH_INTERVAL)
        for channel in channels:
            if channel.start is not None:
                await channel.start()
        logs.event(
            log,
            "started",
            database=store.dialect,
            env=settings.env,
            channels=",".join(["webchat", *(c.name for c in channels)]),
        )
        tasks = [
            asyncio.create_task(reap_leases(store)),
            asyncio.create_task(purge_daily(settings, store)),
            asyncio.create_task(anchor_hourly(store)),
        ]
        if senders:
            tasks.append(asyncio.create_task(worker.run_forever()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for channel in reversed(channels):
                if channel.stop is not None:
                    await channel.stop()
            await log_anchor(store)  # the head as the server leaves it
            if owned:
                await store.close()
            logs.event(log, "stopped")

    async def healthz(_request: Request) -> Response:
        ok = await store.ping()
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable"},
            status_code=200 if ok else 503,
        )

    async def prometheus(_request: Request) -> Response:
        by_status, pending = await store.gauges()
        size, rows = await store.footprint()
        return Response(
            metrics.render(by_status, pending, size, rows), media_type="text/plain; version=0.0.4"
        )

    async def home(_request: Request) -> Response:
        return RedirectResponse("/chat")

    async def unavailable(request: Request, _exc: Exception) -> Response:
        """The database is down: nothing was changed; the API answers in problem details like its other
        errors, and every answer says when to try again."""
        retry = {"Retry-After": str(RETRY_AFTER)}
        if request.url.path.startswith("/api/"):
            answer = problem(503, "the database is unreachable; nothing was changed: try again shortly")
            answer.headers.update(retry)
            return answer
        return JSONResponse(
            {"error": "the database is unavailable; try again shortly"}, status_code=503, headers=retry
        )

    app = Starlette(
        routes=[
            # The citizens' message paths first: Starlette tries routes in order, and a webhook at the end
            # of the list paid for matching every API and console route first (issue 23's Telegram
            # profile: 12% of an update's CPU). The web chat's message route leads its list. No route
            # below shares their paths.
            *webchat.routes(
                pipeline,
                settings.webchat_ip_limit,
                new_sessions_per_hour=settings.webchat_new_sessions_per_hour,
                stored=StoredConversations(store),
            ),
            *(route for channel in channels for route in channel.routes),
            *webchat_upload.routes(settings, pipeline, StoredEvidence(store, settings.data_dir)),
            Route("/", home),
            Route("/healthz", healthz),
            Route("/metrics", prometheus),
            *api.routes(
                store,
                pipeline.box,
                settings.support_reveals_per_hour,
                agency_names(settings),
                check_days=settings.takedown_check_days,
            ),
            *console.routes(store, settings, pipeline.box),
            *taxii.routes(store),  # /taxii2/: the partners' TAXII 2.1 feed
        ],
        lifespan=lifespan,
        exception_handlers={StorageUnavailable: unavailable},
    )
    app.state.pipeline = pipeline
    app.state.outbox = worker
    app.state.storage = store
    return app
