"""Where a channel keeps copies of evidence files, as the channel sees it.

Channels never import storage: the app builds the storage-backed store (`bot.app.StoredEvidence`) and
passes it in. A store says which evidence kinds name a file worth a copy, which folder a channel writes
its copies to, and records each copy written (its sha256 and size), raising `EvidenceUnavailable` when it
cannot record now (the database is unreachable): the copy stays on disk and the next retention sweep
finds and records it. `write_copy` writes a copy safely (atomically, readable by the owner only).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
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


def write_copy(directory: Path, name: str, data: bytes) -> bool:
    """Keep `data` as the copy `name` in `directory`: written to a fresh `<name>.<random>.part` file
    (mode 0600, in a folder made 0700) and renamed into place, so a reader never sees half a file and two
    writers of the same name never share a partial file. False when a copy of that name is there already
    (copies named by their content's hash are equal); True when written. OSError when it cannot be."""
    target = directory / name
    if target.exists():
        return False
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=directory, prefix=f"{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    return True
