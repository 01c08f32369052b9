"""Sending to Telegram: replies as messages with inline keyboards, pacing per chat, delivery outcomes.

Pacing: PTB's `AIORateLimiter` keeps the per-group limits and, with retries on, waits out a 429's
`retry_after`. It has no limit for private chats, so `PacedRateLimiter` adds one: on average one message a
second to a chat, with short bursts of `BURST` (a reply of two or three messages goes out at once; Telegram
tolerates short bursts, then answers 429). Telegram's 30 messages a second is guidance for bulk
notifications, so that overall limit applies to what the bot sends on its own (outbox notifications,
digests, sends to groups), not to the replies to a citizen who just wrote: with it, a campaign's thousands
of citizens would wait behind each other at about 16 handled updates a second (docs/benchmarks.md). A
reply is a send made while an update is handled (`REPLYING`, set by `ChatOrderProcessor`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import FloodLimit, InlineKeyboardButtonLimit, MessageLimit
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, BaseUpdateProcessor

from bot import logs
from bot.channels.order import InOrder
from bot.channels.telegram_updates import chat_key
from bot.dialogue import Button, Reply
from bot.shared.delivery import DeliveryResult, Outcome

# Opt in to the library's coming time-period type now: otherwise every 429 (RetryAfter) warns that
# `retry_after` will become a timedelta. Only python-telegram-bot reads this variable.
os.environ.setdefault("PTB_TIMEDELTA", "true")
log = logging.getLogger(__name__)
BURST = 3
PER_SECOND = 1.0
MAX_CALLBACK_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # 64
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # never make Telegram fetch a reported page
NO_PREVIEW_JSON = NO_PREVIEW.to_dict()  # the same, as sent (serialised once)
Keyboard = dict[str, Any]  # an inline keyboard as the Bot API's JSON
JSONResult = bool | dict[str, Any] | list[dict[str, Any]]
# True while an update is handled: what is sent then answers the citizen who wrote.
REPLYING: contextvars.ContextVar[bool] = contextvars.ContextVar("raabta_telegram_replying", default=False)


class ChatPacer:
    """At most `rate` messages a second to one chat on average, with bursts of `burst` (GCRA)."""

    def __init__(
        self, rate: float = PER_SECOND, burst: int = BURST, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.clock = clock
        self._due: dict[int, float] = {}  # chat -> theoretical arrival time of its next message

    def reserve(self, chat_id: int) -> float:
        """Reserve the chat's next slot; seconds to wait before sending in it."""
        now = self.clock()
        if len(self._due) > 10_000:
            self._due = {chat: due for chat, due in self._due.items() if due > now}
        due = max(self._due.get(chat_id, now), now)
        self._due[chat_id] = due + self.interval
        return max(0.0, due - self.tolerance - now)


class PacedRateLimiter(AIORateLimiter):
    """`AIORateLimiter` plus a per-chat pace for private chats, and the overall limit for broadcasts only."""

    def __init__(
        self,
        pacer: ChatPacer | None = None,
        max_retries: int = 3,
        broadcast: AsyncLimiter | None = None,
    ) -> None:
        super().__init__(overall_max_rate=0, max_retries=max_retries)  # the overall limit is below
        self.pacer = pacer or ChatPacer()
        self.broadcast = broadcast or AsyncLimiter(FloodLimit.MESSAGES_PER_SECOND, 1)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSONResult:
        """Wait for the chat's slot when sending to a private chat, then apply the library's limits."""
        chat_id = data.get("chat_id")
        private = isinstance(chat_id, int) and chat_id > 0
        if endpoint.startswith("send") and isinstance(chat_id, int) and private:
            delay = self.pacer.reserve(chat_id)
            if delay > 0:
                await asyncio.sleep(delay)
        if chat_id is not None and not (private and REPLYING.get()):
            await self.broadcast.acquire()
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


class ChatOrderProcessor(BaseUpdateProcessor):
    """One chat's updates one after another, in arrival order; different chats concurrently.

    The library's own semaphore is sized to be no limit: an update waits for its chat first and only
    then for one of `workers` slots, so a chat that sends a hundred forwards holds one slot, not a hundred.
    """

    def __init__(self, workers: int = 64) -> None:
        super().__init__(max_concurrent_updates=1_000_000)
        self._working = asyncio.Semaphore(workers)
        self._chats: InOrder[int] = InOrder()
        self.in_flight = 0  # updates taken from the update queue and not yet handled

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        """Run the update's handling once its chat's earlier updates are done."""
        self.in_flight += 1
        replying = REPLYING.set(True)
        try:
            await self._in_order(update, coroutine)
        finally:
            REPLYING.reset(replying)
            self.in_flight -= 1

    async def _in_order(self, update: object, coroutine: Any) -> None:
        key = chat_key(update)
        if key is None:
            async with self._working:
                await coroutine
            return
        async with self._chats.turn(key), self._working:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


def button_rows(buttons: Sequence[Button]) -> list[list[InlineKeyboardButton]]:
    """Content buttons two to a row (one when a label is long), navigation together on the last row."""
    usable = [b for b in buttons if 0 < len(b.id.encode()) <= MAX_CALLBACK_BYTES]
    if len(usable) < len(buttons):
        logs.event(log, "telegram_button_dropped", count=len(buttons) - len(usable))
    nav = [InlineKeyboardButton(b.label, callback_data=b.id) for b in usable if b.id.startswith("nav:")]
    main = [b for b in usable if not b.id.startswith("nav:")]
    rows: list[list[InlineKeyboardButton]] = []
    if main and all(b.id.startswith("lang:") for b in main):
        rows.append([InlineKeyboardButton(b.label, callback_data=b.id) for b in main])
        main = []
    row: list[InlineKeyboardButton] = []
    for b in main:
        button = InlineKeyboardButton(b.label, callback_data=b.id)
        if len(b.label) > 14:
            rows.extend([row, [button]] if row else [[button]])
            row = []
            continue
        row.append(button)
        if len(row) == 2:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    if nav:
        rows.append(nav)
    return rows


@functools.lru_cache(maxsize=1024)
def keyboard(buttons: tuple[Button, ...]) -> Keyboard | None:
    """The inline keyboard of `buttons` as the Bot API's JSON, made once for each distinct keyboard (a
    button dropped from it is logged then): the library's keyboard objects cost more CPU to build and to
    serialise on every send than the rest of a send (issue 23). Shared between sends: never changed."""
    rows = button_rows(buttons)
    return InlineKeyboardMarkup(rows).to_dict() if rows else None


def render(reply: Reply) -> list[tuple[str, Keyboard | None]]:
    """A reply as Telegram messages: text cut at 4096 characters, the keyboard on the last part."""
    text = reply.text or " "
    parts = [text[i : i + MAX_TEXT] for i in range(0, len(text), MAX_TEXT)]
    markup = keyboard(reply.buttons)
    return [(part, markup if i == len(parts) - 1 else None) for i, part in enumerate(parts)]


def seconds(value: int | float | timedelta) -> float:
    """A Bot API time period in seconds, whichever form the library gives."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def refusal(exc: TelegramError) -> DeliveryResult:
    """What a failed send means for delivery: retry later, or the citizen is unreachable."""
    message = exc.message.lower()
    if isinstance(exc, RetryAfter):
        return DeliveryResult(Outcome.RETRY, seconds(exc.retry_after), "429")
    if isinstance(exc, Forbidden):
        reason = (
            "blocked" if "blocked" in message else "deactivated" if "deactivated" in message else "forbidden"
        )
        return DeliveryResult(Outcome.GONE, reason=reason)
    if isinstance(exc, ChatMigrated):
        return DeliveryResult(Outcome.GONE, reason="migrated")
    if isinstance(exc, BadRequest):
        if "chat not found" in message or "user not found" in message:
            return DeliveryResult(Outcome.GONE, reason="chat_not_found")
        return DeliveryResult(Outcome.EXPIRED, reason="rejected")  # the same message would fail again
    if isinstance(exc, NetworkError):
        return DeliveryResult(Outcome.RETRY, reason="network")
    return DeliveryResult(Outcome.RETRY, reason="error")


async def call(bot: Bot, endpoint: str, data: dict[str, object]) -> None:
    """Call a Bot API method through the library's path (its defaults, the rate limiter, the request, the
    error mapping: `RetryAfter`, `Forbidden`, ...) without reading the answer into the library's objects.

    Why: `Bot.send_message` and `edit_message_text` turn the sent message Telegram echoes back into a
    `Message` (`Message.de_json`: about 300 attribute assignments, some 0.7 ms of CPU a call, issue 23), and
    nothing here reads it. `_post` is the method every one of the library's Bot API methods ends in."""
    await bot._post(endpoint, data)


async def send_replies(bot: Bot, chat_id: int, replies: Sequence[Reply], attempts: int = 1) -> DeliveryResult:
    """Send replies in order, stopping at the first that fails; network errors get `attempts` tries."""
    for reply in replies:
        for text, markup in render(reply):
            for attempt in range(attempts):
                try:
                    await call(
                        bot,
                        "sendMessage",
                        {
                            "chat_id": chat_id,
                            "text": text,
                            "reply_markup": markup,
                            "link_preview_options": NO_PREVIEW_JSON,
                        },
                    )
                    break
                except TelegramError as exc:
                    result = refusal(exc)
                    passing = result.outcome is Outcome.RETRY and result.reason == "network"
                    if not passing or attempt == attempts - 1:
                        return result
                    await asyncio.sleep(0.5 * 2**attempt)
    return DeliveryResult(Outcome.SENT)


class TelegramSender:
    """Pushes outbox notifications to a citizen's private chat (the address is the chat id)."""

    channel = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def deliver(self, address: str, replies: Sequence[Reply]) -> DeliveryResult:
        """Send and say how it went; the outbox worker retries, backs off or marks the contact unreachable."""
        try:
            chat_id = int(address)
        except ValueError:
            return DeliveryResult(Outcome.GONE, reason="bad_address")
        return await send_replies(self.bot, chat_id, replies)
