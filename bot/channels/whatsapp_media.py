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

import hashlib
import logging
import re

import httpx

from bot.channels.evidence import EvidenceStore
from bot.channels.meta import MediaCopies, MediaHosts, Refused
from bot.channels.whatsapp_send import CloudClient
from bot.dialogue import Attachment

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
SAFE_NAME = re.compile(r"^[0-9a-f]{64}$")
MEDIA_ID = re.compile(r"^[0-9]{1,64}$")


class WhatsAppMedia(MediaCopies):
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
        super().__init__(store, CHANNEL, log, max_bytes, hosts, transport=transport, parallel=parallel)
        self.cloud = client
        self._auth = {"Authorization": f"Bearer {token}"}

    def keep(self, attachments: tuple[Attachment, ...]) -> None:
        """Start fetching the images and documents among `attachments` that are not kept yet."""
        for item in attachments:
            name = item.fingerprint or ""
            if SAFE_NAME.match(name) and MEDIA_ID.match(item.ref) and self._new(item.kind, name):
                self._start(item.ref, name)

    def check(self, ref: str, name: str, digest: str) -> None:
        """The bytes must hash to the sha256 Meta sent, unless Meta sent none (the name is then the id's)."""
        if digest != name and name != _id_name(ref):
            raise Refused("hash_mismatch")

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
        return await self.get(url, self._auth)


def _id_name(media_id: str) -> str:
    """The fingerprint of a file Meta sent no sha256 for (bot.channels.whatsapp_events.media_fingerprint)."""
    return hashlib.sha256(f"whatsapp-media:{media_id}".encode()).hexdigest()
