"""Optional copies of evidence files (RAABTA_TELEGRAM_DOWNLOAD_FILES): downloaded once, hashed, kept.

Reports always keep Telegram's file id and `file_unique_id` (the fingerprint). With downloads switched on,
each photo or document is also fetched through the Bot API, at most RAABTA_TELEGRAM_MAX_FILE_MB, and
written to `<data_dir>/evidence/telegram/<file_unique_id>`; its sha256 goes to the database (table
`evidence_files`, and the `sha256` of every evidence row naming the file), so a file can be found from
its evidence row and checked. Equal files are fetched once. The retention purge deletes the copy after
RAABTA_RETENTION_DAYS (storage.evidence_files); the hash stays. `getFile`'s path is not trusted: only a
relative path of plain segments is fetched, and only over the API's file URL (`file_url_of`), so no answer
can make the bot copy a file of its own machine into evidence. Failures and refusals are logged (by
reason, never the path) and never stop the conversation: the report keeps the file id without a copy.
The folder and the recording come from the evidence store the app passes in (`bot.channels.evidence`):
this module knows nothing of the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from pathlib import Path

from telegram import Bot
from telegram.error import TelegramError

from bot import logs
from bot.channels.evidence import EvidenceStore, EvidenceUnavailable
from bot.channels.telegram_updates import CHANNEL
from bot.dialogue import Attachment

log = logging.getLogger(__name__)
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# A path as the Bot API gives it ("photos/file_0.jpg"): a few plain segments, nothing else.
PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MAX_SEGMENTS = 8


def file_path_ok(path: object) -> bool:
    """Whether a `file_path` from `getFile` is one the bot may fetch: relative, a few segments of letters,
    digits, `_ . -`, none of them `.` or `..` (a segment may not start with a dot), so nothing can name a
    file on this machine, a parent folder, another scheme or host, a query or a drive."""
    if not isinstance(path, str):
        return False
    segments = path.split("/")
    return 0 < len(segments) <= MAX_SEGMENTS and all(PATH_SEGMENT.match(s) for s in segments)


def file_url_of(bot: Bot, given: str | None) -> str | None:
    """The URL to fetch a file from: `{base file URL}/{file_path}`, or None when `getFile` gave no path
    the bot may fetch.

    python-telegram-bot keeps a `file_path` naming a file on this machine as it is (for a local Bot API
    server) and its `File.download_*` then copy that file: a path from a compromised or impostor API
    server, or a lucky relative one such as `../../etc/passwd`, would put the secret key or any readable
    file into the evidence folder. It prefixes every other path with the base file URL, so the path the
    API gave is what follows that prefix; one without the prefix was taken as local and is refused, and
    the download goes through the library's HTTP client, never through `File`.
    """
    prefix = bot.base_file_url + "/"
    if given is None or not given.startswith(prefix):
        return None
    path = given[len(prefix) :]
    return prefix + path if file_path_ok(path) else None


class EvidenceFiles:
    """Downloads evidence files in the background, a few at a time."""

    def __init__(self, store: EvidenceStore, max_bytes: int, parallel: int = 4) -> None:
        self.store = store
        self.directory = store.directory(CHANNEL)
        self.max_bytes = max_bytes
        self._slots = asyncio.Semaphore(parallel)
        self._tasks: set[asyncio.Task[None]] = set()

    def path_of(self, unique_id: str) -> Path:
        return self.directory / unique_id

    def keep(self, bot: Bot, attachments: tuple[Attachment, ...]) -> None:
        """Start downloading the photos and documents among `attachments` that are not kept yet."""
        for item in attachments:
            name = item.fingerprint or ""
            if self.store.keeps(item.kind) and SAFE_NAME.match(name) and not self.path_of(name).exists():
                task = asyncio.create_task(self._download(bot, item.ref, name))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for the downloads in progress (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _download(self, bot: Bot, file_id: str, unique_id: str) -> None:
        async with self._slots:
            try:
                remote = await bot.get_file(file_id)
                if remote.file_size is not None and remote.file_size > self.max_bytes:
                    logs.event(log, "telegram_file_skipped", reason="too_large")
                    return
                url = file_url_of(bot, remote.file_path)
                if url is None:  # by reason alone: the path could name the file or the citizen
                    logs.event(log, "telegram_file_refused", reason="path")
                    return
                data = await bot.request.retrieve(url)
            except TelegramError as exc:
                logs.event(log, "telegram_file_failed", error=type(exc).__name__)
                return
            if len(data) > self.max_bytes:
                logs.event(log, "telegram_file_skipped", reason="too_large")
                return
            digest = hashlib.sha256(data).hexdigest()
            await asyncio.to_thread(self._write, unique_id, data)
            try:
                await self.store.record(CHANNEL, unique_id, digest, len(data))
            except EvidenceUnavailable:  # the next retention purge finds the file and records it
                logs.event(log, "telegram_file_unrecorded")
            logs.event(log, "telegram_file_kept", bytes=len(data))

    def _write(self, unique_id: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_of(unique_id)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, target)
