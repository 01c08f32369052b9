"""How long one Telegram update takes to handle: webhook POST -> pipeline -> replies sent to the Bot API.

The real python-telegram-bot talks over localhost HTTP to the in-process fake Bot API (tests/fakes); the
database is SQLite in a temporary directory. Each citizen goes from /start to a reference code with a
screenshot (11 updates). Citizens take turns, one update each, so that no chat sends faster than the
one-message-a-second pace. Two runs: with a pause between updates (a quiet bot: the figure is handling
time), and back to back (then PTB's overall limit of 30 requests a second that carry a chat id, shared by
sendMessage and editMessageText, sets the pace).

Usage: .venv/bin/python -m bench.telegram_update [citizens] [pause seconds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.app import make_pipeline
from bot.channels.telegram import TelegramChannel
from bot.shared.config import load_settings
from storage.repository import Storage
from tests.fakes.telegram_api import Citizen, FakeBotAPI, serving

Step = tuple[str, Callable[[Citizen], dict[str, Any]]]
STEPS: list[Step] = [
    ("text", lambda c: c.update(message=c.message(text="/start"))),
    ("press", lambda c: c.press_update("lang:ur-Latn")),
    ("press", lambda c: c.press_update("menu:report")),
    (
        "text",
        lambda c: c.update(message=c.message(text="ye page dekho https://m.facebook.com/Bad.Page?ref=x")),
    ),
    ("press", lambda c: c.press_update("cat:recruitment")),
    ("press", lambda c: c.press_update("confirm:details")),  # the summary's "Add details"
    ("press", lambda c: c.press_update("desc:skip")),
    ("photo", lambda c: c.fixture("photo")),
    ("press", lambda c: c.press_update("evidence:done")),
    ("press", lambda c: c.press_update("confirm:submit")),
    ("press", lambda c: c.press_update("updates:no")),
]


async def run(citizens: int, pause: float) -> None:
    """One run: every citizen reports once; prints the time per update."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        storage = Storage(url)
        await storage.upgrade()
        async with FakeBotAPI() as api:
            settings = load_settings(
                database_url=url,
                secret_key="b" * 40,
                data_dir=Path(tmp),
                telegram_token=api.token,
                telegram_api_url=api.base_url,
                telegram_webhook_url="https://bot.example.org/webhooks/telegram",
                telegram_webhook_secret="bench-secret",
            )
            channel = TelegramChannel(settings, make_pipeline(settings, storage))
            timings: dict[str, list[float]] = defaultdict(list)
            async with serving(channel, api) as deliver:
                people = [Citizen(api, deliver, chat_id=600_000_000 + i) for i in range(citizens)]
                for kind, make in STEPS:
                    for person in people:
                        update = make(person)
                        began = time.perf_counter()
                        await person.send(update)
                        timings[kind].append(time.perf_counter() - began)
                        await asyncio.sleep(pause)
            codes = await storage.reports.codes()
        await storage.close()

    every = [t for values in timings.values() for t in values]
    print(f"\ncitizens: {citizens}, updates: {len(every)}, reports stored: {len(codes)}, pause {pause} s")
    print("webhook POST -> handled -> replies sent to the Bot API (SQLite, localhost HTTP, one at a time)")
    for name, values in (("every update", every), *sorted(timings.items())):
        median = 1000 * statistics.median(values)
        p95 = 1000 * statistics.quantiles(values, n=20)[-1]
        print(f"{name:14} n={len(values):5}  median {median:7.2f} ms   p95 {p95:7.2f} ms")


async def main(citizens: int, pause: float) -> None:
    await run(citizens, pause)
    await run(citizens, 0.0)


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 30, float(sys.argv[2]) if len(sys.argv) > 2 else 0.25)
    )
