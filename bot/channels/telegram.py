"""The Telegram channel (python-telegram-bot v22), inside `raabta serve`.

Modes: long polling when RAABTA_TELEGRAM_TOKEN is set and RAABTA_TELEGRAM_WEBHOOK_URL is not (one instance
only: Telegram allows one poller); otherwise webhook mode: `setWebhook` at start and
`POST /webhooks/telegram` in the app, checked against RAABTA_TELEGRAM_WEBHOOK_SECRET. Both modes put
updates on the library's update queue; `ChatOrderProcessor` handles one chat's updates in order and
different chats concurrently.

One update: private message or button press -> `Inbound` (channel "telegram", user = chat id, event id =
update_id) -> `Pipeline.handle` (one transaction: event id + state + report) -> replies sent. A button
press is answered at once (`answerCallbackQuery`) and the pressed message is edited to show the choice.
Groups get one pointer to a private chat per process run and are never read. The photos of an album
are each handled and stored at once and answered once (bot/channels/telegram_album.py). An edited
message is answered once, "I used the first version, send it again" (the engine already acted on the
first). `my_chat_member` in a private chat marks the citizen's contact unreachable when they block the
bot and reachable again when they unblock it (any message of theirs does too, in the pipeline's
transaction). Other kinds (channel posts, group member changes) are ignored; stickers, voice notes and
the like get the engine's polite answer.

Delivery: the webhook route answers 200 as soon as the update is queued. An update the library cannot
read (a shape from an older or newer Bot API server) is answered 200 too, logged with its top-level keys
only and counted (`raabta_updates_unreadable`): a non-2xx answer makes Telegram send it again for a day.
In polling mode the same update is replaced by a bare `{"update_id": n}` before the library reads the
batch (`UpdatesRequest`), so the offset moves past it: the library would fail the whole batch, log it at
CRITICAL with its JSON, and fetch it again forever. The library's own log records keep their template and
lose their arguments (bot.logs.withhold_arguments): those carry updates, parameters and answers.
If the database is down, the pipeline stores nothing and replies "please send it again" (no reference
code can be shown unstored); that reply is sent and Telegram is not asked to redeliver: in polling mode
the offset has moved on, and in webhook mode the 200 has gone. A redelivered update (same update_id)
changes nothing; its stored replies are sent again only if no instance recorded sending them within
REDELIVERY_GRACE seconds of its commit (a crash between commit and sending), so a redelivery that reaches
another instance while the first is still sending is not answered twice (the records of updates answered
at the same moment are written together: storage/replied.py).

Cost (issue 23): Bot API calls go through the library's methods, rate limiter and error mapping, but over
connections of our own (telegram_http.py) and, for the sends whose answer nothing reads, without turning
that answer into the library's objects (telegram_send.call).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot import logs, metrics
from bot.channels.base import ChannelSetup
from bot.channels.evidence import EvidenceStore
from bot.channels.fallback import handle_or_fallback
from bot.channels.http import BODY_TIMEOUT, Unread, body_json, read_body, secret_ok
from bot.channels.telegram_album import WAIT, AlbumReplies
from bot.channels.telegram_files import EvidenceFiles
from bot.channels.telegram_http import BotAPIRequest
from bot.channels.telegram_send import (
    MAX_TEXT,
    NO_PREVIEW,
    NO_PREVIEW_JSON,
    ChatOrderProcessor,
    ChatPacer,
    PacedRateLimiter,
    TelegramSender,
    call,
    send_replies,
)
from bot.channels.telegram_updates import (
    int_of,
    kind_of,
    message_inbound,
    press_inbound,
    pressed_label,
    text_of,
    unsupported_kind,
)
from bot.dialogue import Inbound, Reply
from bot.pipeline import Handled, Pipeline
from bot.shared.config import ConfigError, Settings
from bot.shared.delivery import Outcome
from responses import LANGUAGES

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
MAX_LOGGED_KEYS = 20  # of an unreadable update's top-level keys, each cut to 40 characters
MAX_BODY = 1024 * 1024
POLL_TIMEOUT = timedelta(seconds=30)
REMEMBERED = 10_000  # update ids whose replies this process sent
CHANNEL = "telegram"
# A redelivered update whose replies no instance recorded as sent waits this long after its commit for
# the record (the first instance may still be sending) before sending them itself; checked this often.
REDELIVERY_GRACE = 30.0
REDELIVERY_POLL = 0.5
COMMAND_LANGUAGES = (("en", None), ("ur", "ur"))  # (our language, Telegram's language_code)


def file_url(api_url: str) -> str:
    """The file download base matching a Bot API base (`.../bot` -> `.../file/bot`)."""
    if api_url.endswith("/bot"):
        return api_url[: -len("/bot")] + "/file/bot"
    return api_url.rstrip("/") + "/file/bot"


def language_of(message: Message | CallbackQuery | None) -> str:
    """The citizen's language as Telegram reports it (Urdu or English), for texts said before any state."""
    user = message.from_user if message is not None else None
    code = text_of(user.language_code) if user is not None else None
    return "ur" if code and code.startswith("ur") else "en"


class TelegramChannel:
    """The python-telegram-bot application, its handlers, and the webhook route."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        poll_timeout: timedelta = POLL_TIMEOUT,
        pacer: ChatPacer | None = None,
        evidence: EvidenceStore | None = None,
        body_timeout: float = BODY_TIMEOUT,
        album_wait: float = WAIT,
        redelivery_grace: float = REDELIVERY_GRACE,
    ) -> None:
        assert settings.telegram_token is not None
        self.pipeline = pipeline
        self.texts = pipeline.texts
        self.api_url = settings.telegram_api_url
        self.webhook_url = settings.telegram_webhook_url
        secret = settings.telegram_webhook_secret
        self.secret = secret.get_secret_value() if secret is not None else None
        if self.webhook_url and not self.secret:
            raise ConfigError("RAABTA_TELEGRAM_WEBHOOK_SECRET is required with RAABTA_TELEGRAM_WEBHOOK_URL")
        if self.secret is not None and not SECRET_FORMAT.match(self.secret):
            raise ConfigError("RAABTA_TELEGRAM_WEBHOOK_SECRET: 1 to 256 characters among A-Z a-z 0-9 _ -")
        self.poll_timeout = poll_timeout
        self.max_bytes = settings.telegram_max_file_mb * 1024 * 1024
        if settings.telegram_download_files and evidence is None:
            raise ConfigError("RAABTA_TELEGRAM_DOWNLOAD_FILES needs the evidence store the app passes in")
        self.files = (
            EvidenceFiles(evidence, self.max_bytes)
            if settings.telegram_download_files and evidence is not None
            else None
        )
        self.body_timeout = body_timeout
        self.redelivery_grace = redelivery_grace
        self.pacer = pacer or ChatPacer()
        self.processor = ChatOrderProcessor()
        self.max_backlog = settings.telegram_max_backlog
        self._requests: list[HTTPXRequest] = [
            BotAPIRequest(connection_pool_size=64, read_timeout=15.0, write_timeout=15.0)
        ]
        builder = (
            Application.builder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(self.api_url)
            .base_file_url(file_url(self.api_url))
            .request(self._requests[0])
            .rate_limiter(PacedRateLimiter(self.pacer))
            .concurrent_updates(self.processor)
        )
        if self.webhook_url:
            builder = builder.updater(None)
        else:
            self._requests.append(UpdatesRequest(connection_pool_size=1))
            builder = builder.get_updates_request(self._requests[1])
        self.application = builder.build()
        self.bot = self.application.bot
        self._stale = {self.texts.text("common.stale_button", lang) for lang in LANGUAGES}
        self._groups_told: set[int] = set()
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._edits_answered: OrderedDict[tuple[int, int], None] = OrderedDict()
        self.albums = AlbumReplies(self._send_held, album_wait)
        private, groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
        self.application.add_handlers(
            [
                CallbackQueryHandler(self.on_press),
                MessageHandler(filters.UpdateType.MESSAGE & private, self.on_message),
                MessageHandler(filters.UpdateType.MESSAGE & groups, self.on_group),
                MessageHandler(filters.UpdateType.EDITED_MESSAGE & private, self.on_edit),
                ChatMemberHandler(self.on_member, ChatMemberHandler.MY_CHAT_MEMBER),
                TypeHandler(Update, self.on_other),
            ]
        )
        self.application.add_error_handler(self.on_error)
        logs.withhold_arguments("telegram")

    @property
    def mode(self) -> str:
        return "webhook" if self.webhook_url else "polling"

    def channel_setup(self) -> ChannelSetup:
        """What the app mounts and runs for this channel."""
        routes = [Route(WEBHOOK_PATH, self.webhook, methods=["POST"])] if self.webhook_url else []
        return ChannelSetup(
            "telegram", routes=list(routes), sender=TelegramSender(self.bot), start=self.start, stop=self.stop
        )

    async def start(self) -> None:
        """Check the token (getMe), register the commands, then set the webhook or start long polling."""
        try:
            await self.application.initialize()
        except InvalidToken:
            await self._close_requests()
            raise SystemExit(
                f"raabta: the Telegram Bot API at {self.api_url} refused RAABTA_TELEGRAM_TOKEN: "
                "check the token"
            ) from None
        except TelegramError as exc:
            await self._close_requests()
            raise SystemExit(
                f"raabta: could not reach the Telegram Bot API at {self.api_url} ({type(exc).__name__}): "
                "check RAABTA_TELEGRAM_API_URL and the network"
            ) from None
        await self._set_commands()
        await self.application.start()
        try:
            if self.webhook_url:
                await self.bot.set_webhook(
                    self.webhook_url, secret_token=self.secret, allowed_updates=list(ALLOWED_UPDATES)
                )
            else:
                assert self.application.updater is not None
                await self.application.updater.start_polling(
                    timeout=self.poll_timeout, allowed_updates=list(ALLOWED_UPDATES)
                )
        except TelegramError as exc:
            await self.stop()
            raise SystemExit(f"raabta: Telegram refused to start {self.mode} mode: {exc.message}") from None
        logs.event(log, "telegram_started", mode=self.mode)

    async def stop(self) -> None:
        """Stop fetching, finish the updates already received, then close the connections."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.albums.close()
        if self.files is not None:
            await self.files.wait()
        await self.application.shutdown()
        logs.event(log, "telegram_stopped", mode=self.mode)

    async def drain(self) -> None:
        """Wait until every update received so far has been handled and answered (an album's answer
        after its wait)."""
        await self.application.update_queue.join()
        await self.albums.wait()

    async def _close_requests(self) -> None:
        for request in self._requests:
            await request.shutdown()

    async def _set_commands(self) -> None:
        """The command menu in English (the default) and Urdu; a failure is logged, not fatal."""
        names = " · ".join(self.texts.text(f"buttons.lang_{x.replace('-', '_')}", "en") for x in LANGUAGES)
        for lang, code in COMMAND_LANGUAGES:
            commands = [  # as the flows declare them, described by button labels ("": the language names)
                BotCommand(c.name, self.texts.text(c.describe, lang) if c.describe else names)
                for c in self.pipeline.flows.commands()
                if c.describe is not None
            ]
            try:
                await self.bot.set_my_commands(commands, language_code=code)
            except TelegramError as exc:
                logs.event(log, "telegram_commands_failed", error=type(exc).__name__)

    async def webhook(self, request: Request) -> Response:
        """POST /webhooks/telegram: 403 without the secret, 413 for a body over MAX_BODY bytes, 408 for one
        that does not arrive in time, 400 for a body that is not an update (not a JSON object with an
        integer update_id), 503 while starting or with `telegram_max_backlog` updates waiting (Telegram
        sends it again later), else 200 (also for an update the library cannot read: logged and counted)."""
        if not secret_ok(self.secret, request.headers.get(SECRET_HEADER)):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await read_body(request, MAX_BODY, self.body_timeout)
        if isinstance(body, Unread):
            return JSONResponse({"error": body.reason}, status_code=body.status)
        update = self._read_update(body)
        if update is None:
            return JSONResponse({"error": "the body is not a Telegram update"}, status_code=400)
        if isinstance(update, Unreadable):
            unreadable(update)
            return Response(status_code=200)  # sending it again would not make it readable
        if not self.application.running:
            return JSONResponse({"error": "not ready"}, status_code=503)
        if self.application.update_queue.qsize() + self.processor.in_flight >= self.max_backlog:
            # Telegram delivers the update again later; the backlog does not grow without bound in memory.
            metrics.REFUSED.labels("telegram", "backlog_full").inc()
            busy = {"error": "busy, send again later"}
            return JSONResponse(busy, status_code=503, headers={"Retry-After": "5"})
        await self.application.update_queue.put(update)
        return Response(status_code=200)

    def _read_update(self, body: bytes) -> Update | Unreadable | None:
        """The update; Unreadable for a Telegram update the library cannot read; None for a body that is
        no update at all."""
        try:
            data = body_json(body)
        except ValueError:
            return None
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            return None
        return read_update(data, self.bot)

    async def on_message(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A message in a private chat."""
        message = update.message
        assert message is not None
        inbound = message_inbound(message, str(update.update_id), self.max_bytes)
        if inbound is None:
            logs.event(log, "telegram_ignored", kind="service")
            return
        unusable = unsupported_kind(message)
        if unusable and not inbound.attachments:
            logs.event(log, "telegram_unsupported", kind=unusable)
        album = text_of(message.media_group_id) if message.media_group_id is not None else None
        await self._converse(inbound, int(inbound.user), language_of(message), None, album or None)

    async def on_edit(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """An edited message: the engine acted on the first version, so the citizen is asked, once per
        message, to send the correction again. A live location moving is no edit of theirs: ignored."""
        message = update.edited_message
        assert message is not None
        chat, message_id = int_of(message.chat.id), int_of(message.message_id)
        words = text_of(message.text) if message.text is not None else text_of(message.caption)
        if chat is None or message_id is None or message.location is not None or words is None:
            logs.event(log, "telegram_ignored", kind="edited_message")
            return
        await self.pipeline.reachable("telegram", str(chat), True)  # they wrote: the chat works
        if (chat, message_id) in self._edits_answered:
            logs.event(log, "telegram_edit_answered_before")
            return
        self._edits_answered[(chat, message_id)] = None
        if len(self._edits_answered) > REMEMBERED:
            self._edits_answered.popitem(last=False)
        inbound = Inbound("telegram", str(chat), f"edit:{update.update_id}", text=words)
        conversation = self.pipeline.pseudonyms.of("telegram", str(chat))
        lang = await self.pipeline.language(conversation, inbound)
        reply = Reply(self.texts.text("telegram.edit_used_first", lang), kind="notice", lang=lang)
        await self.albums.flush(chat)
        result = await send_replies(self.bot, chat, [reply], attempts=3)
        logs.event(log, "telegram_edit_answered", outcome=result.outcome.value)

    async def on_member(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """The citizen blocked (kicked) or unblocked the bot in their private chat: the contact's
        reachability follows. Member changes in groups are ignored."""
        change = update.my_chat_member
        where = getattr(change, "chat", None)  # a malformed update may lack its chat or member
        member = getattr(change, "new_chat_member", None)
        chat = int_of(getattr(where, "id", None))
        status = text_of(getattr(member, "status", None))
        if chat is None or getattr(where, "type", None) != ChatType.PRIVATE or status is None:
            logs.event(log, "telegram_ignored", kind="my_chat_member")
            return
        if status == ChatMember.BANNED:  # "kicked": the citizen blocked the bot
            await self.pipeline.reachable("telegram", str(chat), False)
        elif status == ChatMember.MEMBER:  # unblocked (or started again)
            await self.pipeline.reachable("telegram", str(chat), True)
        else:
            logs.event(log, "telegram_ignored", kind="my_chat_member")

    async def on_press(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: answered at once, whatever it is, then handled as a choice."""
        query = update.callback_query
        assert query is not None
        try:
            await query.answer()
        except TelegramError as exc:  # e.g. "query is too old": the press is still handled
            logs.event(log, "telegram_answer_failed", error=type(exc).__name__)
        chat = query.message.chat if query.message is not None else None
        inbound = press_inbound(query, str(update.update_id))
        if chat is None or chat.type != ChatType.PRIVATE or inbound is None:
            logs.event(log, "telegram_ignored", kind="callback_query")
            return
        await self._converse(inbound, int(inbound.user), language_of(query), query)

    async def on_group(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group message: point to a private chat, once per group, and read nothing."""
        message = update.message
        assert message is not None
        group = int_of(message.chat.id)
        if group is None or group in self._groups_told:
            return
        if len(self._groups_told) > REMEMBERED:
            self._groups_told.clear()
        self._groups_told.add(group)
        lang = language_of(message)
        key = "telegram.private_only" if self.texts.has("telegram.private_only") else "welcome.hello"
        link = InlineKeyboardButton(
            self.texts.text("buttons.report_it", lang), url=f"https://t.me/{self.bot.username}?start=group"
        )
        try:
            await self.bot.send_message(
                group,
                self.texts.text(key, lang),
                reply_markup=InlineKeyboardMarkup([[link]]),
                link_preview_options=NO_PREVIEW,
            )
        except TelegramError as exc:
            logs.event(log, "telegram_group_reply_failed", error=type(exc).__name__)
        logs.event(log, "telegram_group_pointed")

    async def on_other(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Kinds we do not handle (channel posts, group member changes, ...): ignored quietly."""
        logs.event(log, "telegram_ignored", kind=kind_of(update))

    async def on_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """One place for handler errors: logged (the type, never the text), the next update goes on."""
        error = context.error
        exc_info = (type(error), error, error.__traceback__) if error is not None else None
        log.error("telegram_handler_error", exc_info=exc_info)

    async def _converse(
        self, inbound: Inbound, chat_id: int, lang: str, query: CallbackQuery | None, album: str | None = None
    ) -> None:
        """Handle one event through the pipeline (or the crash fallback, in `lang` when the citizen's
        Telegram says it) and send its replies (a photo of `album`: held, see telegram_album.py)."""
        handled = await handle_or_fallback(self.pipeline, inbound, lang)
        if handled.duplicate and inbound.event_id in self._sent:
            logs.event(log, "telegram_redelivery_ignored")
            return
        if handled.duplicate and not await self._unanswered(inbound.event_id):
            logs.event(log, "telegram_redelivery_answered_elsewhere")
            return
        if album is not None:
            # One answer for the album: this photo's replies replace those held for the earlier ones.
            noted = handled.replies and (inbound.unsupported or not handled.saved)
            note = handled.replies[0] if noted else None
            await self.albums.hold(chat_id, album, handled.replies, note)
            if handled.saved:
                await self._remember(inbound.event_id)
        else:
            await self.albums.flush(chat_id)  # an album's answer goes before the answer to what followed
            if query is not None:
                await self._show_choice(query, handled)
            result = await send_replies(self.bot, chat_id, handled.replies, attempts=3)
            if result.outcome is not Outcome.SENT:
                logs.event(log, "telegram_reply_failed", reason=result.reason, saved=handled.saved)
            elif handled.saved:
                await self._remember(inbound.event_id)
        if not handled.saved:
            logs.event(log, "telegram_update_not_saved")
        elif self.files is not None and not handled.duplicate:
            self.files.keep(self.bot, inbound.attachments)

    async def _show_choice(self, query: CallbackQuery, handled: Handled) -> None:
        """Edit the pressed message: its keyboard goes, the choice is shown (a stale press shows nothing)."""
        message = query.message
        if not isinstance(message, Message) or not isinstance(message.text, str):
            return
        label = pressed_label(query)
        stale = bool(handled.replies) and handled.replies[0].text in self._stale
        text = f"{message.text}\n\n✓ {label}"
        where: dict[str, object] = {"chat_id": message.chat_id, "message_id": message.message_id}
        try:
            if stale or label is None or len(text) > MAX_TEXT:
                await call(self.bot, "editMessageReplyMarkup", where)  # no reply_markup: the keyboard goes
            else:
                edit = {"text": text, "link_preview_options": NO_PREVIEW_JSON}
                await call(self.bot, "editMessageText", {**where, **edit})
        except TelegramError as exc:  # too old to edit, or already edited
            logs.event(log, "telegram_edit_failed", error=type(exc).__name__)

    async def _send_held(self, chat_id: int, replies: list[Reply]) -> None:
        """Send an album's held answer."""
        result = await send_replies(self.bot, chat_id, replies, attempts=3)
        if result.outcome is not Outcome.SENT:
            logs.event(log, "telegram_reply_failed", reason=result.reason, saved=True)

    async def _unanswered(self, event_id: str) -> bool:
        """A redelivered update this process did not answer: were its replies never sent?

        Another instance may be sending them right now (Telegram redelivers when our 200 was slow to
        arrive), or may have died between its commit and its sending. Wait, within the grace period
        counted from the event's commit, for a record that they went; none by then: send them.
        """
        while True:
            replied, age = await self.pipeline.replied(CHANNEL, event_id)
            if replied:
                return False
            if age >= self.redelivery_grace:
                return True
            await asyncio.sleep(min(REDELIVERY_POLL, self.redelivery_grace - age))

    async def _remember(self, event_id: str) -> None:
        """This process sent the event's replies: kept in memory, and recorded for other instances."""
        self._sent[event_id] = None
        await self.pipeline.mark_replied(CHANNEL, event_id)
        if len(self._sent) > REMEMBERED:
            self._sent.popitem(last=False)


class Unreadable:
    """An update the library could not read: only its top-level keys are kept, for the log."""

    __slots__ = ("keys",)

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    @classmethod
    def of(cls, data: Mapping[Any, object]) -> Unreadable:
        return cls(sorted(str(k)[:40] for k in data)[:MAX_LOGGED_KEYS])


def read_update(data: dict[str, Any], bot: Bot | None) -> Update | Unreadable:
    """An update (a JSON object with an integer update_id) as the library reads it, or Unreadable."""
    try:
        with warnings.catch_warnings():  # a field the library calls deprecated is Telegram's, not ours
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            update = Update.de_json(data, bot)
        # The library reads without checking JSON types, and keys sets by chat and user id.
        chat, user = update.effective_chat, update.effective_user
        if (chat and int_of(chat.id) is None) or (user and int_of(user.id) is None):
            return Unreadable.of(data)
        return update
    except Exception:  # any shape the library cannot read: not a server error, and never retried
        return Unreadable.of(data)


def unreadable(update: Unreadable) -> None:
    """Count and log an unreadable update, by its top-level keys only."""
    metrics.UNREADABLE.labels("telegram").inc()
    logs.event(log, "telegram_update_unreadable", keys=update.keys)


class UpdatesRequest(HTTPXRequest):
    """The long-polling connection: a `getUpdates` answer is checked before the library reads it.

    The library reads a batch all at once; one update it cannot read fails the batch, and the updater,
    logging the batch's JSON at CRITICAL, asks again from the same offset: the same update comes back at
    once, for ever, and no one else's message is read. Here each unreadable update becomes a bare
    `{"update_id": n}` (handled as an update of no kind we take: ignored), counted and logged by its keys
    like one received by webhook, so the offset moves past it. An element without an integer update_id
    (no Bot API sends one) is dropped: it has no offset to move past. This is `do_request`, the library's
    point for a request class to fetch the raw answer (`post`, which reads it, is final).
    """

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)
        try:
            answer = json.loads(payload) if status == 200 else None
        except ValueError:  # the library answers that itself
            return status, payload
        if not isinstance(answer, dict) or not isinstance(answer.get("result"), list):
            return status, payload
        answer["result"] = [checked for item in answer["result"] if (checked := readable(item))]
        return status, json.dumps(answer).encode()


def readable(item: object) -> dict[str, Any] | None:
    """A `getUpdates` element the library can read: the update itself, a bare `{"update_id": n}` in place
    of one it cannot read, or None for no update at all (counted and logged as unreadable)."""
    if not isinstance(item, dict) or type(item.get("update_id")) is not int:
        unreadable(Unreadable.of(item if isinstance(item, dict) else {}))
        return None
    if isinstance(update := read_update(item, None), Unreadable):
        unreadable(update)
        return {"update_id": item["update_id"]}
    return item


def setup(
    settings: Settings, pipeline: Pipeline, evidence: EvidenceStore | None = None
) -> ChannelSetup | None:
    """The Telegram channel when RAABTA_TELEGRAM_TOKEN is set; `evidence` keeps the copies of evidence
    files when RAABTA_TELEGRAM_DOWNLOAD_FILES is on."""
    if settings.telegram_token is None:
        return None
    return TelegramChannel(settings, pipeline, evidence=evidence).channel_setup()
