"""Where a channel keeps copies of evidence files, as the channel sees it.

Channels never import storage: the app builds the storage-backed store (`bot.app.StoredEvidence`) and
passes it in. A store says which evidence kinds name a file worth a copy, which folder a channel writes
its copies to, and records each copy written (its sha256 and size), raising `EvidenceUnavailable` when it
cannot record now (the database is unreachable): the copy stays on disk and the next retention sweep
finds and records it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class EvidenceUnavailable(Exception):
    """The store could not record a copy now; nothing is lost, the retention sweep records it later."""


class EvidenceStore(Protocol):
    def keeps(self, kind: str) -> bool:
        """Whether evidence of this kind (an `Attachment.kind`) names a file a channel may keep a copy of."""
        ...

    def directory(self, channel: str) -> Path:
        """The folder `channel` writes its copies to, each named by the evidence fingerprint."""
        ...

    async def record(self, channel: str, name: str, sha256: str, size: int) -> None:
        """A copy was written: keep its hash (and put it on the evidence rows naming it).
        Raises EvidenceUnavailable when that cannot be done now."""
        ...
