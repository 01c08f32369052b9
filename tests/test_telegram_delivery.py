"""Sending to Telegram: 429s and other refusals, notifications through the outbox, pacing, keyboards,
start-up checks and the optional evidence downloads."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.app import StoredEvidence, make_pipeline
from bot.channels.telegram import TelegramChannel, file_url, setup
from bot.channels.telegram_send import ChatPacer, TelegramSender, button_rows, render
from bot.dialogue import Button, Reply
from bot.dialogue.types import CATEGORIES
from bot.outbox import OutboxWorker
from bot.shared.config import ConfigError, Settings, load_settings
from bot.shared.delivery import DeliveryResult, Outcome
from responses import HERE, catalog
from storage.repository import Storage
from storage.schema import evidence_files
from tests.conftest import SECRET
from tests.fakes.telegram_api import Citizen, FakeBotAPI, serving
from tests.test_telegram import CODE, fast, telegram_settings

NOTE = [Reply("Report ABCD-1234: action taken.", (Button("menu:status", "Check a report"),))]


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


def offline_settings(tmp_path: Path, api: FakeBotAPI, **extra: object) -> Settings:
    """Settings for tests that need the Bot API but no database."""
    values: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/unused.db",
        "secret_key": SECRET,
        "data_dir": tmp_path / "data",
        "telegram_token": api.token,
        "telegram_api_url": api.base_url,
    }
    return load_settings(**(values | extra))


@pytest.fixture
async def sender(tmp_path: Path, api: FakeBotAPI) -> AsyncIterator[TelegramSender]:
    settings = offline_settings(
        tmp_path, api, telegram_webhook_url="https://bot.example.org/h", telegram_webhook_secret="s"
    )
    storage = Storage(settings.database_url)
    channel = TelegramChannel(settings, make_pipeline(settings, storage), pacer=fast())
    await channel.start()
    try:
        out = channel.channel_setup().sender
        assert isinstance(out, TelegramSender)
        yield out
    finally:
        await channel.stop()
        await storage.close()


async def test_a_notification_is_sent_with_its_buttons(sender: TelegramSender, api: FakeBotAPI) -> None:
    assert await sender.deliver("555", NOTE) == DeliveryResult(Outcome.SENT)
    [call] = api.sent(555)
    assert call.params["text"] == NOTE[0].text
    assert call.buttons == ["menu:status"]
    assert call.params["link_preview_options"] == {"is_disabled": True}


@pytest.mark.parametrize(
    ("status", "description", "expected"),
    [
        (500, "Internal Server Error", DeliveryResult(Outcome.RETRY, reason="network")),
        (502, "Bad Gateway", DeliveryResult(Outcome.RETRY, reason="network")),
        (403, "Forbidden: bot was blocked by the user", DeliveryResult(Outcome.GONE, reason="blocked")),
        (403, "Forbidden: user is deactivated", DeliveryResult(Outcome.GONE, reason="deactivated")),
        (400, "Bad Request: chat not found", DeliveryResult(Outcome.GONE, reason="chat_not_found")),
        (400, "Bad Request: message is too long", DeliveryResult(Outcome.EXPIRED, reason="rejected")),
    ],
)
async def test_refusals_map_to_retry_gone_or_expired(
    sender: TelegramSender, api: FakeBotAPI, status: int, description: str, expected: DeliveryResult
) -> None:
    api.fail("sendMessage", status, description)
    assert await sender.deliver("555", NOTE) == expected


async def test_a_429_waits_and_retries_then_gives_the_wait_to_the_outbox(
    sender: TelegramSender, api: FakeBotAPI
) -> None:
    api.fail("sendMessage", 429, retry_after=1)
    assert await sender.deliver("555", NOTE) == DeliveryResult(Outcome.SENT)
    first, second = api.sent(555)
    assert second.at - first.at >= 1.0  # waited retry_after before trying again
    api.fail("sendMessage", 429, retry_after=1, times=4)  # more than the retries: the outbox waits
    assert await sender.deliver("555", NOTE) == DeliveryResult(Outcome.RETRY, 1.0, "429")


async def test_a_429_while_answering_still_delivers_the_reply(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    channel = TelegramChannel(telegram_settings(settings, api, "polling"), make_pipeline(settings, storage))
    async with serving(channel, api) as deliver:
        api.fail("sendMessage", 429, retry_after=1)
        citizen = Citizen(api, deliver)
        await citizen.say("/start")
        assert citizen.buttons == ["lang:en", "lang:ur", "lang:ur-Latn"]
        assert len(citizen.last) == 3  # the refused first try, then both messages


async def test_a_blocked_citizen_is_marked_unreachable_and_not_tried_again(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    pipeline = make_pipeline(settings, storage)
    channel = TelegramChannel(telegram_settings(settings, api, "webhook"), pipeline, pacer=fast())
    async with serving(channel, api) as deliver:
        citizen = Citizen(api, deliver, chat_id=424242)
        await citizen.say("/start")
        await citizen.press("lang:en")
        await citizen.press("menu:report")
        await citizen.say("https://facebook.com/Bad.Page")
        await citizen.press("cat:financing")
        await citizen.press("confirm:submit")
        assert CODE.search(citizen.said)
        await citizen.press("updates:yes")
        reporter = pipeline.pseudonyms.of("telegram", "424242")
        assert await storage.outbox.contact_of(reporter, "telegram") is not None
        sender = channel.channel_setup().sender
        assert sender is not None
        worker = OutboxWorker(storage, pipeline.box, {"telegram": sender})
        sent = await storage.outbox.enqueue_now(reporter, "telegram", "status", {"text": "Reviewed."})
        await worker.run_once()
        assert await storage.outbox.status_of(sent) == ("sent", 1, None)
        assert api.sent(424242)[-1].params["text"] == "Reviewed."
        api.block(424242)
        first = await storage.outbox.enqueue_now(reporter, "telegram", "status", {"text": "one"})
        second = await storage.outbox.enqueue_now(reporter, "telegram", "status", {"text": "two"})
        tries = len(api.sent(424242))
        await worker.run_once()
        assert await storage.outbox.status_of(first) == ("failed", 1, "blocked")
        assert await storage.outbox.status_of(second) == ("failed", 1, "unreachable")
        assert len(api.sent(424242)) == tries + 1
        assert await storage.outbox.contact_of(reporter, "telegram") is None


def test_the_pacer_allows_a_short_burst_then_one_a_second() -> None:
    now = [100.0]
    pacer = ChatPacer(rate=1.0, burst=3, clock=lambda: now[0])
    assert [pacer.reserve(7) for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert pacer.reserve(8) == 0.0  # another chat has its own budget
    now[0] += 10  # a quiet chat gets its burst back
    assert [pacer.reserve(7) for _ in range(3)] == [0.0, 0.0, 0.0]


class RecordingPacer(ChatPacer):
    """The pacer the real bot uses, on a clock that stands still, noting the wait it gives each send."""

    def __init__(self) -> None:
        super().__init__(rate=20, burst=2, clock=lambda: 0.0)
        self.waits: list[tuple[int, float]] = []

    def reserve(self, chat_id: int) -> float:
        wait = super().reserve(chat_id)
        self.waits.append((chat_id, round(wait, 3)))
        return wait


async def test_messages_to_one_chat_are_paced(tmp_path: Path, api: FakeBotAPI) -> None:
    """Every send through the real bot asks the pacer for its chat's slot and waits for it (the waits,
    not wall-clock arrival times, are checked: a busy machine stretches those either way)."""
    settings = offline_settings(tmp_path, api)
    storage = Storage(settings.database_url)
    pacer = RecordingPacer()
    channel = TelegramChannel(settings, make_pipeline(settings, storage), pacer=pacer)
    await channel.start()
    try:
        await asyncio.gather(*(channel.bot.send_message(31337, f"m{i}") for i in range(6)))
        await channel.bot.send_message(31338, "another chat")
    finally:
        await channel.stop()
        await storage.close()
    assert len(api.sent(31337)) == 6 and len(api.sent(31338)) == 1
    one_chat = sorted(wait for chat, wait in pacer.waits if chat == 31337)
    assert one_chat == [0.0, 0.0, 0.05, 0.1, 0.15, 0.2]  # a burst of two, then one every 50 ms
    assert [wait for chat, wait in pacer.waits if chat == 31338] == [0.0]  # another chat does not wait


def every_button_id() -> list[str]:
    """Every button id the engine can offer: one per label in responses/buttons.yaml, and the categories."""
    labels = yaml.safe_load((HERE / "buttons.yaml").read_text(encoding="utf-8"))
    # Label keys are ids with ':' and '-' written as '_': the same length in bytes.
    return [*labels, *(f"cat:{c}" for c in CATEGORIES)]


def test_every_button_id_fits_telegrams_callback_data() -> None:
    ids = every_button_id()
    assert len(ids) > 30
    assert max(len(i.encode()) for i in ids) <= 64


def test_keyboards_are_laid_out_and_never_carry_oversized_data() -> None:
    texts = catalog()
    categories = [Button(f"cat:{c}", texts.text(f"categories.{c}", "ur")) for c in CATEGORIES]
    rows = button_rows([*categories, Button("nav:back", "Back"), Button("nav:cancel", "Cancel")])
    assert [b.callback_data for b in rows[-1]] == ["nav:back", "nav:cancel"]
    assert sorted(str(b.callback_data) for row in rows[:-1] for b in row) == sorted(b.id for b in categories)
    languages = button_rows(
        [Button("lang:en", "English"), Button("lang:ur", "اردو"), Button("lang:ur-Latn", "R")]
    )
    assert len(languages) == 1
    odd = button_rows([Button("x" * 65, "too long"), Button("ok:1", "fine")])
    assert [[b.callback_data for b in row] for row in odd] == [["ok:1"]]


def test_a_reply_longer_than_a_message_is_split_with_the_keyboard_last() -> None:
    parts = render(Reply("a" * 5000, (Button("nav:menu", "Menu"),)))
    assert [len(text) for text, _ in parts] == [4096, 904]
    assert parts[0][1] is None and parts[1][1] is not None
    assert render(Reply(""))[0][0].strip() == ""


async def test_a_bad_token_stops_the_start_with_a_clear_message(tmp_path: Path, api: FakeBotAPI) -> None:
    settings = offline_settings(tmp_path, api, telegram_token="999:WRONG")
    storage = Storage(settings.database_url)
    try:
        with pytest.raises(SystemExit, match="refused RAABTA_TELEGRAM_TOKEN"):
            await TelegramChannel(settings, make_pipeline(settings, storage)).start()
    finally:
        await storage.close()


async def test_an_unreachable_bot_api_stops_the_start(tmp_path: Path, api: FakeBotAPI) -> None:
    settings = offline_settings(tmp_path, api, telegram_api_url="http://127.0.0.1:9/bot")
    storage = Storage(settings.database_url)
    try:
        with pytest.raises(SystemExit, match="RAABTA_TELEGRAM_API_URL"):
            await TelegramChannel(settings, make_pipeline(settings, storage)).start()
    finally:
        await storage.close()


async def test_webhook_mode_needs_a_well_formed_secret(tmp_path: Path) -> None:
    base = {"telegram_token": "1:x", "telegram_webhook_url": "https://bot.example.org/webhooks/telegram"}
    settings = load_settings(data_dir=tmp_path, secret_key=SECRET, **base)
    storage = Storage(f"sqlite+aiosqlite:///{tmp_path}/unused.db")
    pipeline = make_pipeline(settings, storage)
    with pytest.raises(ConfigError, match="RAABTA_TELEGRAM_WEBHOOK_SECRET"):
        setup(settings, pipeline)
    bad = load_settings(data_dir=tmp_path, secret_key=SECRET, telegram_webhook_secret="has spaces", **base)
    with pytest.raises(ConfigError, match="RAABTA_TELEGRAM_WEBHOOK_SECRET"):
        setup(bad, pipeline)
    assert setup(load_settings(data_dir=tmp_path, secret_key=SECRET), pipeline) is None
    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    await storage.close()


async def test_downloads_need_the_evidence_store_the_app_passes_in(tmp_path: Path) -> None:
    """Channels never import storage: the copies of evidence files go through the app's store."""
    settings = load_settings(
        data_dir=tmp_path,
        secret_key=SECRET,
        telegram_token="1:x",
        telegram_webhook_url="https://bot.example.org/webhooks/telegram",
        telegram_webhook_secret="hook-secret",
        telegram_download_files=True,
    )
    storage = Storage(f"sqlite+aiosqlite:///{tmp_path}/unused.db")
    pipeline = make_pipeline(settings, storage)
    with pytest.raises(ConfigError, match="evidence store"):
        setup(settings, pipeline)
    assert setup(settings, pipeline, StoredEvidence(storage, tmp_path)) is not None
    await storage.close()


async def test_serve_with_a_bad_token_exits_naming_the_token(tmp_path: Path, api: FakeBotAPI) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAABTA_")}
    env.update(
        RAABTA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/serve.db",
        RAABTA_DATA_DIR=str(tmp_path / "data"),
        RAABTA_SECRET_KEY=SECRET,
        RAABTA_TELEGRAM_TOKEN="999:WRONG",
        RAABTA_TELEGRAM_API_URL=api.base_url,
    )
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--port", "0", env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(server.communicate(), timeout=60)
    assert server.returncode != 0
    assert "refused RAABTA_TELEGRAM_TOKEN" in err.decode()
    assert "999:WRONG" not in err.decode()


async def test_evidence_files_are_kept_with_their_sha256_in_the_database_when_switched_on(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    content = b"\x89PNG fake screenshot bytes"
    api.add_file("AgACAgQAAxkBAAML_large", content)
    on = telegram_settings(settings, api, "webhook", telegram_download_files=True)
    evidence = StoredEvidence(storage, on.data_dir)
    channel = TelegramChannel(on, make_pipeline(settings, storage), pacer=fast(), evidence=evidence)
    async with serving(channel, api) as deliver:
        citizen = Citizen(api, deliver)
        await citizen.say("/start")
        await citizen.press("lang:en")
        await citizen.send_fixture("photo")
        await citizen.send_fixture("document_pdf")  # not on the server: logged, the chat goes on
    kept = settings.data_dir / "evidence" / "telegram"
    assert (kept / "AQADlarge").read_bytes() == content
    assert [p.name for p in kept.iterdir()] == ["AQADlarge"]  # the hash is in the database, not beside
    async with storage.reader.connect() as conn:
        [row] = (await conn.execute(select(evidence_files))).all()
    assert (row.channel, row.name, row.size) == ("telegram", "AQADlarge", len(content))
    assert row.sha256 == hashlib.sha256(content).hexdigest() and row.purged_at is None
    assert not (kept / "AgADdoc").exists()
    assert api.called("getFile")
