"""How a channel plugs into the app: its routes, its sender for notifications, its start and stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.routing import BaseRoute

from bot.shared.delivery import Sender


@dataclass
class ChannelSetup:
    name: str
    routes: list[BaseRoute] = field(default_factory=list)
    sender: Sender | None = None  # pushes notifications from the outbox
    start: Callable[[], Awaitable[None]] | None = None  # e.g. setWebhook, or start long polling
    stop: Callable[[], Awaitable[None]] | None = None
