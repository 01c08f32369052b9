"""Long polling past an update the library cannot read, without its content in any log.

python-telegram-bot reads a `getUpdates` batch whole: one update it cannot read (an older Bot API
server's poll, a malformed entity) fails the batch, is logged at CRITICAL with the batch's full JSON
(the citizens' messages), and, the offset never moving, is fetched again and again: polling stops for
everyone. Here the fake Bot API (real HTTP, real long polling) hands out such updates, then a good one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bot import metrics
from bot.app import make_pipeline
from bot.channels.telegram import TelegramChannel
from bot.shared.config import Settings
from storage.repository import Storage
from tests.fakes.telegram_api import Citizen, FakeBotAPI, serving
from tests.test_telegram import fast, telegram_settings

FIXTURE = Path(__file__).parent / "fixtures" / "telegram" / "real" / "poll_old_server.json"
PRIVATE = "Rashid from Gujranwala, 0300-1234567"  # what a citizen might write: never in a log line
GOOD_WORDS = "hello from Lahore"


def old_server_poll(citizen: Citizen) -> dict[str, Any]:
    """A real-shaped poll from an older Bot API server (PollOption without persistent_id)."""
    update: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))["update"]
    message = citizen.message(poll=update["message"]["poll"])
    return citizen.update(message=message)


def bad_entity(citizen: Citizen) -> dict[str, Any]:
    """A text whose entity lacks its offset and length: the library cannot build it."""
    return citizen.update(message=citizen.message(text=PRIVATE, entities=[{"type": "bold"}]))


async def test_an_unreadable_update_is_skipped_counted_and_kept_out_of_the_logs(
    settings: Settings, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every level: the library's debug lines are where data hides
    counter = metrics.UNREADABLE.labels("telegram")
    before = counter._value.get()
    async with FakeBotAPI() as api:
        channel = TelegramChannel(
            telegram_settings(settings, api, "polling"), make_pipeline(settings, storage), pacer=fast()
        )
        async with serving(channel, api) as deliver:
            citizen = Citizen(api, deliver)
            await citizen.say("/start")
            await citizen.press("lang:en")
            # Alone in its batch, so nothing after it could move the offset past it.
            for update in (bad_entity(citizen), old_server_poll(citizen)):
                assert await citizen.send(update) == []  # fetched, confirmed (offset past it), no answer
            await citizen.say(GOOD_WORDS)
            assert citizen.last, "the bot answers the next good update"
    assert counter._value.get() == before + 2
    logged = [r for r in caplog.records if r.getMessage() == "telegram_update_unreadable"]
    assert [r.fields["keys"] for r in logged] == [["message", "update_id"]] * 2  # type: ignore[attr-defined]
    everything = " ".join(
        r.getMessage() + json.dumps(getattr(r, "fields", {})) + str(r.exc_info and r.exc_info[1])
        for r in caplog.records
    )
    for said in (PRIVATE, "0300-1234567", "jihad", "Haan", GOOD_WORDS, "Ali"):
        assert said not in everything
    assert not [r for r in caplog.records if r.levelno >= logging.CRITICAL]
