"""The Bot API's `getFile` answer is not trusted: only a plain relative path is fetched, and only over the
API's file URL.

A penetration test answered `getFile` with a path on the bot's own machine, and python-telegram-bot's
download copied that file (the secret key) into the evidence folder, where analysts can open it. Here the
fake Bot API (real HTTP) answers with paths an attacker or a broken server could give: the citizen's report
is still kept with each photo's file id (no copy, no hash, as for any download that fails), nothing but the
good path is asked for, and the refusal is logged by reason alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from bot.app import StoredEvidence, make_pipeline
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_files import file_path_ok
from bot.shared.config import Settings
from storage.repository import Storage
from tests.fakes.telegram_api import Citizen, FakeBotAPI, serving
from tests.test_telegram import CODE, fast, telegram_settings

GOOD = "photos/file_1.jpg"
SECRET_BYTES = b"-----RAABTA SECRET KEY----- do not copy"
# Paths that name something other than a file under the API's file URL.
BAD = [
    "../../etc/passwd",  # relative to the server's working directory: /etc/passwd from /work/main
    "documents/../../x",
    "file:///etc/passwd",
    "C:\\x",
    "photos/\x00file.jpg",
    "https://evil.example.org/file.jpg",
]


def photo(citizen: Citizen, n: int) -> dict[str, object]:
    size = {"file_id": f"AgACAgQAAxkBAAML_{n}", "file_unique_id": f"AQADfile{n}", "width": 800, "height": 600}
    return citizen.update(message=citizen.message(photo=[size]))


async def test_only_a_relative_path_is_fetched_and_only_over_the_file_url(
    settings: Settings, storage: Storage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    secret = tmp_path / "secret.key"
    secret.write_bytes(SECRET_BYTES)
    paths = [str(secret), *BAD, GOOD]
    async with FakeBotAPI() as api:
        for n, path in enumerate(paths):
            # Each bad path is also served by the fake, so a download that followed it would succeed.
            api.add_file(f"AgACAgQAAxkBAAML_{n}", b"served " + path.encode(), path)
        on = telegram_settings(settings, api, "webhook", telegram_download_files=True)
        evidence = StoredEvidence(storage, on.data_dir)
        channel = TelegramChannel(on, make_pipeline(settings, storage), pacer=fast(), evidence=evidence)
        async with serving(channel, api) as deliver:
            citizen = Citizen(api, deliver)
            await citizen.say("/start")
            await citizen.press("lang:en")
            await citizen.press("menu:report")
            await citizen.say("https://www.facebook.com/Bad.Page/")
            await citizen.press("cat:recruitment")
            await citizen.press("confirm:details")
            await citizen.say("They post training videos.")
            for n in range(len(paths)):
                await citizen.send(photo(citizen, n))
            await citizen.press("evidence:done")
            await citizen.press("confirm:submit")
            match = CODE.search(citizen.said)
            assert match, citizen.said
        # The channel has stopped: every download it started has ended.

    good = len(paths) - 1
    kept = on.data_dir / "evidence" / "telegram"
    assert api.downloads == [GOOD]  # nothing else was asked of the file URL
    assert sorted(p.name for p in kept.iterdir()) == [f"AQADfile{good}"]
    assert (kept / f"AQADfile{good}").read_bytes() == b"served " + GOOD.encode()
    rows = await storage.reports.evidence_of(match.group(1))
    photos = {r["fingerprint"]: r["sha256"] for r in rows if r["kind"] == "photo"}
    assert set(photos) == {f"AQADfile{n}" for n in range(len(paths))}  # the report keeps every photo
    served = hashlib.sha256(b"served " + GOOD.encode()).hexdigest()
    assert {k: v for k, v in photos.items() if v is not None} == {f"AQADfile{good}": served}

    refused = [r for r in caplog.records if r.getMessage() == "telegram_file_refused"]
    assert [r.fields for r in refused] == [{"reason": "path"}] * (len(paths) - 1)  # type: ignore[attr-defined]
    logged = " ".join(r.getMessage() + json.dumps(getattr(r, "fields", {})) for r in caplog.records)
    for leak in (str(tmp_path), "passwd", "evil.example.org", str(citizen.chat_id), "AgACAgQAAxkBAAML"):
        assert leak not in logged


@pytest.mark.parametrize(
    "path",
    [
        GOOD,
        "documents/file_12.pdf",
        "photos/file_0.jpg",
        "stickers/file_3.webp",
    ],
)
def test_telegrams_own_paths_are_accepted(path: str) -> None:
    assert file_path_ok(path)


@pytest.mark.parametrize(
    "path",
    [
        *BAD,
        "/etc/passwd",
        "",
        ".",
        "photos/./file.jpg",
        "photos//file.jpg",
        "photos/",
        "photos\\file.jpg",
        "photos/file.jpg?x=1",
        "photos/file.jpg#x",
        "photos/%2e%2e/x",
        "~/secret",
        "photos/file 1.jpg",
        "photos/" + "a" * 300,
        "a/" * 20 + "x",
        "фото/file.jpg",
    ],
)
def test_other_paths_are_refused(path: str) -> None:
    assert not file_path_ok(path)
