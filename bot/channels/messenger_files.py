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

import logging
import re

import httpx

from bot import logs
from bot.channels.evidence import EvidenceStore
from bot.channels.meta import MediaCopies, MediaHosts, Refused
from bot.dialogue import Attachment

__all__ = ["MediaHosts", "MessengerFiles", "Refused"]  # the hosts and the refusal live in bot.channels.meta

log = logging.getLogger(__name__)
CHANNEL = "messenger"
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class MessengerFiles(MediaCopies):
    """Downloads citizens' attachments in the background, a few at a time, each once: the URL is the
    attachment's own (no token is sent), checked against the hosts before the first request."""

    def __init__(
        self,
        store: EvidenceStore,
        max_bytes: int,
        hosts: MediaHosts,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        parallel: int = 4,
    ) -> None:
        super().__init__(store, CHANNEL, log, max_bytes, hosts, transport=transport, parallel=parallel)

    def keep(self, attachments: tuple[Attachment, ...]) -> None:
        """Start downloading the photos and documents among `attachments` that are not kept yet."""
        for item in attachments:
            name = item.fingerprint or ""
            if not SAFE_NAME.match(name) or not self._new(item.kind, name):
                continue
            if not self.hosts.allows(item.ref):
                logs.event(log, "messenger_file_skipped", reason="host_not_allowed")
                continue
            self._start(item.ref, name)

    async def fetch(self, url: str) -> bytes:
        """The attachment at `url` (see `MediaCopies.get`)."""
        return await self.get(url)
