"""Copies of the screenshots and PDFs citizens send on WhatsApp, fetched at once through the Cloud API.

A WhatsApp media id is good for a limited time (Meta keeps media for days, and the URL it hands out for
minutes), and it is the only copy of a citizen's screenshot. So each image or document of a message that
was stored is fetched in the background (RAABTA_WHATSAPP_DOWNLOAD_FILES, on by default):
`GET /{media-id}` on the Graph API gives the file's URL, size and sha256; the URL is then fetched with the
bearer token, only from Meta's media hosts (RAABTA_WHATSAPP_MEDIA_HOSTS: `fbsbx.com`, `whatsapp.net`,
`fbcdn.net` and their subdomains, over https) — the token is never sent anywhere else, a redirect is
followed only to another allowed URL — and at most RAABTA_WHATSAPP_MAX_FILE_MB (declared size, announced
length and bytes read are each checked). The copy is written to `<data_dir>/evidence/whatsapp/<fingerprint>`
(the file's sha256, which Meta sends with the message, so the bytes are checked against it) and its hash
recorded like Telegram's copies; the retention purge deletes it after RAABTA_RETENTION_DAYS. Failures are
logged (reason, never the URL or the number) and never stop the conversation.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from urllib.parse import urljoin

import httpx

from bot import logs
from bot.channels.evidence import EvidenceStore, EvidenceUnavailable, write_copy
from bot.channels.messenger_files import MediaHosts, Refused
from bot.channels.whatsapp_send import CloudClient
from bot.dialogue import Attachment

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
SAFE_NAME = re.compile(r"^[0-9a-f]{64}$")
MEDIA_ID = re.compile(r"^[0-9]{1,64}$")
MAX_REDIRECTS = 3
TIMEOUT = httpx.Timeout(10.0, read=20.0)
DEADLINE = 120.0
CHUNK = 64 * 1024


class WhatsAppMedia:
    """Downloads citizens' images and documents in the background, a few at a time, each once."""

    def __init__(
        self,
        store: EvidenceStore,
        client: CloudClient,
        token: str,
        max_bytes: int,
        hosts: MediaHosts,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        parallel: int = 4,
    ) -> None:
        self.store = store
        self.cloud = client
        self.directory = store.directory(CHANNEL)
        self.max_bytes = max_bytes
        self.hosts = hosts
        self._auth = {"Authorization": f"Bearer {token}"}
        self.http = httpx.AsyncClient(
            transport=transport, timeout=TIMEOUT, follow_redirects=False, trust_env=False
        )
        self._slots = asyncio.Semaphore(parallel)
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()

    def keep(self, attachments: tuple[Attachment, ...]) -> None:
        """Start fetching the images and documents among `attachments` that are not kept yet."""
        for item in attachments:
            name = item.fingerprint or ""
            if (
                not self.store.keeps(item.kind)
                or not SAFE_NAME.match(name)
                or not MEDIA_ID.match(item.ref)
                or name in self._busy
                or (self.directory / name).exists()
            ):
                continue
            self._busy.add(name)
            task = asyncio.create_task(self._download(item.ref, name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.wait()
        await self.http.aclose()

    async def _download(self, media_id: str, name: str) -> None:
        try:
            async with self._slots:
                data = await asyncio.wait_for(self.fetch(media_id), DEADLINE)
                digest = hashlib.sha256(data).hexdigest()
                if digest != name and name != _id_name(media_id):
                    raise Refused("hash_mismatch")
                await asyncio.to_thread(write_copy, self.directory, name, data)
                try:
                    await self.store.record(CHANNEL, name, digest, len(data))
                except EvidenceUnavailable:  # the next retention purge finds the file and records it
                    logs.event(log, "whatsapp_file_unrecorded")
                logs.event(log, "whatsapp_file_kept", bytes=len(data))
        except Refused as exc:
            logs.event(log, "whatsapp_file_skipped", reason=exc.reason)
        except (httpx.HTTPError, TimeoutError) as exc:
            logs.event(log, "whatsapp_file_failed", error=type(exc).__name__)
        except OSError as exc:
            log.warning("whatsapp_file_not_written", extra={"fields": {"error": type(exc).__name__}})
        finally:
            self._busy.discard(name)

    async def fetch(self, media_id: str) -> bytes:
        """The media's bytes: its URL from `GET /{media-id}`, then the URL itself (see the docstring)."""
        status, meta = await self.cloud.get(media_id)
        if status != 200 or not isinstance(meta, dict):
            raise Refused(f"media_status_{status}")
        size = meta.get("file_size")
        if isinstance(size, int | str) and str(size).isdigit() and int(size) > self.max_bytes:
            raise Refused("too_large")
        url = meta.get("url")
        if not isinstance(url, str):
            raise Refused("media_without_url")
        for _ in range(MAX_REDIRECTS + 1):
            if not self.hosts.allows(url):
                raise Refused("host_not_allowed")
            async with self.http.stream("GET", url, headers=self._auth) as response:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise Refused("redirect_without_location")
                    url = urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise Refused(f"status_{response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise Refused("too_large")
                chunks: list[bytes] = []
                read = 0
                async for chunk in response.aiter_bytes(CHUNK):
                    read += len(chunk)
                    if read > self.max_bytes:
                        raise Refused("too_large")
                    chunks.append(chunk)
                return b"".join(chunks)
        raise Refused("too_many_redirects")


def _id_name(media_id: str) -> str:
    """The fingerprint of a file Meta sent no sha256 for (bot.channels.whatsapp_events.media_fingerprint)."""
    return hashlib.sha256(f"whatsapp-media:{media_id}".encode()).hexdigest()
