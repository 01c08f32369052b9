"""Copies of the photos and files citizens send on Messenger, taken at once from Meta's CDN.

Meta's attachment URLs expire (the `oe=` parameter of a CDN URL is its end of life, a few days on), and they
are the only copy of a citizen's screenshot. So each photo or document of a message that was stored is
fetched in the background (RAABTA_MESSENGER_DOWNLOAD_FILES, on by default), at most
RAABTA_MESSENGER_MAX_FILE_MB, and written to `<data_dir>/evidence/messenger/<fingerprint>` (the hash of the
URL's path, the evidence row's fingerprint); its sha256 goes to the database like Telegram's copies
(`bot.channels.telegram_files`), so it outlives both the CDN link and, after retention, the copy.

Only the citizen's own attachment is fetched, and only from Meta's media hosts (RAABTA_MESSENGER_MEDIA_HOSTS:
`fbcdn.net` and `fbsbx.com` and their subdomains, over https): a URL elsewhere is never requested, a
redirect is followed only to another allowed URL (at most MAX_REDIRECTS), and the body is read in chunks and
dropped beyond the size limit. Reported links are never fetched: they are not attachments. No cookies, no
credentials, timeouts on every step. Failures are logged (kind and reason, never the URL) and never stop
the conversation: the evidence row keeps the URL and fingerprint as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from bot import logs
from bot.channels.evidence import EvidenceStore, EvidenceUnavailable, write_copy
from bot.dialogue import Attachment

log = logging.getLogger(__name__)
CHANNEL = "messenger"
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_REDIRECTS = 3
TIMEOUT = httpx.Timeout(10.0, read=20.0)
DEADLINE = 120.0  # seconds for one whole download
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class MediaHosts:
    """Where attachments may be fetched from: domains (themselves and their subdomains, https, default
    port) and exact origins (`http://127.0.0.1:8099`, for a test CDN)."""

    domains: tuple[str, ...]
    origins: tuple[tuple[str, str, int], ...]

    @staticmethod
    def parse(setting: str) -> MediaHosts:
        domains: list[str] = []
        origins: list[tuple[str, str, int]] = []
        for entry in (e.strip() for e in setting.split(",")):
            if not entry:
                continue
            if "://" in entry:
                parts = urlsplit(entry)
                if parts.scheme in ("http", "https") and parts.hostname:
                    origins.append((parts.scheme, parts.hostname.lower(), _port(parts.scheme, parts.port)))
            else:
                domains.append(entry.lower().strip("."))
        return MediaHosts(tuple(domains), tuple(origins))

    def allows(self, url: str) -> bool:
        """Whether `url` is on one of Meta's media hosts (or a listed origin), with no credentials in it."""
        try:
            parts = urlsplit(url)
            port = parts.port
            host = (parts.hostname or "").lower().rstrip(".")
        except ValueError:
            return False
        if not host or parts.username is not None or parts.password is not None:
            return False
        scheme = parts.scheme.lower()
        if (scheme, host, _port(scheme, port)) in self.origins:
            return True
        if scheme != "https" or port not in (None, 443):
            return False
        return any(host == d or host.endswith("." + d) for d in self.domains)


def _port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


class Refused(Exception):
    """The download was not made or not kept; `reason` says why (for the log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessengerFiles:
    """Downloads citizens' attachments in the background, a few at a time, each once."""

    def __init__(
        self,
        store: EvidenceStore,
        max_bytes: int,
        hosts: MediaHosts,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        parallel: int = 4,
    ) -> None:
        self.store = store
        self.directory = store.directory(CHANNEL)
        self.max_bytes = max_bytes
        self.hosts = hosts
        self.client = httpx.AsyncClient(
            transport=transport, timeout=TIMEOUT, follow_redirects=False, trust_env=False
        )
        self._slots = asyncio.Semaphore(parallel)
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()

    def keep(self, attachments: tuple[Attachment, ...]) -> None:
        """Start downloading the photos and documents among `attachments` that are not kept yet."""
        for item in attachments:
            name = item.fingerprint or ""
            if (
                not self.store.keeps(item.kind)
                or not SAFE_NAME.match(name)
                or name in self._busy
                or (self.directory / name).exists()
            ):
                continue
            if not self.hosts.allows(item.ref):
                logs.event(log, "messenger_file_skipped", reason="host_not_allowed")
                continue
            self._busy.add(name)
            task = asyncio.create_task(self._download(item.ref, name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for the downloads in progress."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.wait()
        await self.client.aclose()

    async def _download(self, url: str, name: str) -> None:
        try:
            async with self._slots:
                data = await asyncio.wait_for(self.fetch(url), DEADLINE)
                digest = hashlib.sha256(data).hexdigest()
                await asyncio.to_thread(write_copy, self.directory, name, data)
                try:
                    await self.store.record(CHANNEL, name, digest, len(data))
                except EvidenceUnavailable:  # the next retention purge finds the file and records it
                    logs.event(log, "messenger_file_unrecorded")
                logs.event(log, "messenger_file_kept", bytes=len(data))
        except Refused as exc:
            logs.event(log, "messenger_file_skipped", reason=exc.reason)
        except (httpx.HTTPError, TimeoutError) as exc:
            logs.event(log, "messenger_file_failed", error=type(exc).__name__)
        except OSError as exc:
            log.warning("messenger_file_not_written", extra={"fields": {"error": type(exc).__name__}})
        finally:
            self._busy.discard(name)

    async def fetch(self, url: str) -> bytes:
        """The body at `url`, following at most MAX_REDIRECTS redirects, each to an allowed URL; Refused
        when a hop leaves Meta's hosts, the answer is not 200, or the body is over the limit."""
        for _ in range(MAX_REDIRECTS + 1):
            if not self.hosts.allows(url):
                raise Refused("host_not_allowed")
            async with self.client.stream("GET", url) as response:
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
                size = 0
                async for chunk in response.aiter_bytes(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise Refused("too_large")
                    chunks.append(chunk)
                return b"".join(chunks)
        raise Refused("too_many_redirects")
