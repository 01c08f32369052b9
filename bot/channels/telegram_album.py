"""Albums answered once: the replies to the photos of one album are held briefly and sent once.

Telegram sends an album (photos sent together) as one message per photo, sharing a `media_group_id`,
and gives no sign of which is the last. Each photo is still handled at once, through the pipeline like
any message: it is stored in its own transaction as it arrives, so no photo is lost if the process stops,
and several app instances behind a load balancer need nothing shared. Only the answers wait: the replies
to a photo of an album replace those held for the album's earlier photos (the engine's answer to the last
photo already counts them all: "3 screenshots kept"), and are sent when no photo of that album has come
for `wait` seconds, or at once when the chat's next other update is answered, or when the channel stops.

Why not collect the photos first and handle them as one message: that would keep unstored evidence in
one process's memory (lost on a crash, and split when an album's photos reach different instances).
Holding answers costs at worst an answer sent twice, never a photo.

An answer that must not be lost among the held ones, a photo we could not use or could not store now
("please send it again"), is kept as a note and sent first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue import Reply

WAIT = 1.0  # seconds without a new photo of the album before its answer is sent

Send = Callable[[int, list[Reply]], Coroutine[Any, Any, None]]


@dataclass
class _Held:
    group: str
    replies: list[Reply] = field(default_factory=list)
    notes: list[Reply] = field(default_factory=list)
    timer: asyncio.Task[None] | None = None

    def messages(self) -> list[Reply]:
        shown = {r.text for r in self.replies}
        return [n for n in self.notes if n.text not in shown] + self.replies


class AlbumReplies:
    """The held answers, one album per chat at a time."""

    def __init__(self, send: Send, wait: float = WAIT) -> None:
        self._send = send
        self.wait_seconds = wait
        self._held: dict[int, _Held] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def holding(self, chat_id: int) -> bool:
        return chat_id in self._held

    async def hold(self, chat_id: int, group: str, replies: list[Reply], note: Reply | None = None) -> None:
        """Hold the answer to one photo of album `group` in `chat_id` (another album's is sent first)."""
        held = self._held.get(chat_id)
        if held is not None and held.group != group:
            await self.flush(chat_id)
            held = None
        if held is None:
            held = self._held[chat_id] = _Held(group)
        held.replies = list(replies)
        if note is not None and note.text not in {n.text for n in held.notes}:
            held.notes.append(note)
        if held.timer is not None:
            held.timer.cancel()
        held.timer = asyncio.create_task(self._later(chat_id, held))

    async def flush(self, chat_id: int) -> None:
        """Send the chat's held answer now (before the answer to its next update)."""
        held = self._held.pop(chat_id, None)
        if held is None:
            return
        if held.timer is not None:
            held.timer.cancel()
        await self._send(chat_id, held.messages())

    async def _later(self, chat_id: int, held: _Held) -> None:
        await asyncio.sleep(self.wait_seconds)
        if self._held.get(chat_id) is held:
            del self._held[chat_id]
            # Sent in its own task: cancelling this timer (a new photo came) must never cut a send short.
            task = asyncio.create_task(self._send(chat_id, held.messages()))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
            await asyncio.shield(task)

    async def wait(self) -> None:
        """Until every held answer has been sent (each after its wait)."""
        while self._held or self._sending:
            timers = [h.timer for h in self._held.values() if h.timer is not None]
            pending = [*timers, *self._sending]
            if not pending:
                return
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Send every held answer now (the channel is stopping)."""
        for chat_id in list(self._held):
            await self.flush(chat_id)
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
