"""Kept copies of evidence files: their sha256 in the database, and their removal after retention.

A channel that downloads evidence (Telegram, with RAABTA_TELEGRAM_DOWNLOAD_FILES) writes each file to
`<data_dir>/evidence/<channel>/<name>`, the name being the evidence fingerprint, and records it here: its
sha256, size and when it was stored. The hash is copied onto every evidence row naming the file, whether
the report arrives before the download ends or after, so it outlives the copy.

The retention purge deletes copies stored more than RAABTA_RETENTION_DAYS ago and marks them purged (the
console and API then say the copy was removed under the retention policy; the hash stays). It also sweeps
the directories: a file older than the cutoff that the database does not hold as kept is deleted, a newer
one (downloaded before migration 0007, with its hash in a `<name>.sha256` side file, or whose recording
failed) is recorded, and side files are removed once the database has the hash. Files already gone are
fine.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.locking import lock_file, upsert
from storage.repository import FILE_KINDS, Storage, utcnow
from storage.schema import evidence, evidence_files, reports

log = logging.getLogger(__name__)
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
SIDE = ".sha256"  # the hash beside the file, `sha256sum -c` format: written before migration 0007
PART = ".part"  # a download being written
HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 500  # names per IN (...) list


def evidence_dir(data_dir: Path, channel: str) -> Path:
    """Where a channel keeps its copies of evidence files."""
    return data_dir / "evidence" / channel


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Found:
    """A copy on disk the database does not hold as kept, recent enough to keep."""

    channel: str
    name: str
    sha256: str
    size: int
    stored_at: datetime


@dataclass(slots=True)
class Sweep:
    removed: int = 0  # old files deleted
    found: list[Found] = field(default_factory=list)  # recent files to record


class KeptFiles:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @asynccontextmanager
    async def _db(self, writing: bool) -> AsyncIterator[AsyncConnection]:
        if writing:
            async with self.storage.db.transaction() as conn:
                yield conn
        else:
            async with self.storage.db.read() as conn:
                yield conn

    async def record(
        self, channel: str, name: str, sha256: str, size: int, stored_at: datetime | None = None
    ) -> None:
        """A copy was written: remember its hash, and put the hash on the evidence rows naming it."""
        at = stored_at or utcnow()
        of_channel = select(reports.c.id).where(reports.c.channel == channel)
        async with self._db(writing=True) as conn:
            await lock_file(conn, channel, name, shared=False)  # after a report naming it that reads
            stmt = upsert(conn, evidence_files).values(
                channel=channel, name=name, sha256=sha256, size=size, stored_at=at, purged_at=None
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[evidence_files.c.channel, evidence_files.c.name],
                    set_={"sha256": sha256, "size": size, "stored_at": at, "purged_at": None},
                )
            )
            await conn.execute(
                update(evidence)
                .where(
                    evidence.c.fingerprint == name,
                    evidence.c.kind.in_(FILE_KINDS),
                    evidence.c.sha256.is_(None),
                    evidence.c.report_id.in_(of_channel),
                )
                .values(sha256=sha256)
            )

    async def purge(self, data_dir: Path, cutoff: datetime) -> int:
        """Delete the copies stored before `cutoff`; how many files were removed from disk."""
        async with self._db(writing=False) as conn:
            due = (
                await conn.execute(
                    select(evidence_files.c.channel, evidence_files.c.name).where(
                        evidence_files.c.purged_at.is_(None), evidence_files.c.stored_at < cutoff
                    )
                )
            ).all()
        removed, gone = await asyncio.to_thread(_remove, data_dir, [(r.channel, r.name) for r in due])
        now = utcnow()
        for channel, names in _by_channel(gone):
            async with self._db(writing=True) as conn:
                await conn.execute(
                    update(evidence_files)
                    .where(
                        evidence_files.c.channel == channel,
                        evidence_files.c.name.in_(names),
                        evidence_files.c.purged_at.is_(None),
                        evidence_files.c.stored_at < cutoff,
                    )
                    .values(purged_at=now)
                )
        async with self._db(writing=False) as conn:
            kept = {
                (r.channel, r.name)
                for r in await conn.execute(
                    select(evidence_files.c.channel, evidence_files.c.name).where(
                        evidence_files.c.purged_at.is_(None)
                    )
                )
            }
        sweep = await asyncio.to_thread(_sweep, data_dir, kept, cutoff)
        for item in sweep.found:
            await self.record(item.channel, item.name, item.sha256, item.size, item.stored_at)
            side = evidence_dir(data_dir, item.channel) / (item.name + SIDE)
            await asyncio.to_thread(_unlink, side)  # the database has the hash now
        return removed + sweep.removed


def _by_channel(items: Iterable[tuple[str, str]]) -> Iterable[tuple[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for channel, name in items:
        grouped.setdefault(channel, []).append(name)
    for channel, names in grouped.items():
        for start in range(0, len(names), CHUNK):
            yield channel, names[start : start + CHUNK]


def _unlink(path: Path) -> bool | None:
    """True: deleted; False: was not there; None: could not be deleted."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("evidence_file_not_removed", extra={"fields": {"error": type(exc).__name__}})
        return None
    return True


def _remove(data_dir: Path, due: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
    """Delete these copies and their side files: (files deleted, the (channel, name) no longer on disk)."""
    removed, gone = 0, []
    for channel, name in due:
        if not (SAFE_NAME.match(channel) and SAFE_NAME.match(name)):
            gone.append((channel, name))  # could never have been written
            continue
        path = evidence_dir(data_dir, channel) / name
        done = _unlink(path)
        if done is None:
            continue
        removed += done
        gone.append((channel, name))
        _unlink(path.with_name(name + SIDE))
    return removed, gone


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


def _side_hash(path: Path) -> str | None:
    """The hash a pre-0007 side file recorded at download time, if it reads as one."""
    try:
        words = path.read_text(errors="replace").split()
    except OSError:
        return None
    return words[0] if words and HEX64.match(words[0]) else None


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir()) if folder.is_dir() else []
    except OSError as exc:
        log.warning("evidence_dir_unreadable", extra={"fields": {"error": type(exc).__name__}})
        return []


def _sweep(data_dir: Path, kept: set[tuple[str, str]], cutoff: datetime) -> Sweep:
    """Delete old copies the database does not hold as kept; list the recent ones to record."""
    sweep = Sweep()
    for folder in _listing(data_dir / "evidence"):
        channel = folder.name
        if not SAFE_NAME.match(channel):
            continue
        for path in _listing(folder):
            name = path.name
            if name.endswith(PART):
                stamp = _mtime(path)
                if stamp is not None and stamp < cutoff:
                    _unlink(path)
                continue
            if name.endswith(SIDE):
                if not path.with_name(name[: -len(SIDE)]).exists():
                    _unlink(path)  # its file is gone
                continue
            if not SAFE_NAME.match(name) or not path.is_file():
                continue  # not ours
            side = path.with_name(name + SIDE)
            if (channel, name) in kept:
                _unlink(side)  # the database has the hash
                continue
            stamp = _mtime(path)
            if stamp is None:
                continue
            if stamp < cutoff:
                if _unlink(path):
                    sweep.removed += 1
                _unlink(side)
                continue
            try:
                actual, size = file_sha256(path), path.stat().st_size
            except OSError:
                continue
            recorded = _side_hash(side)  # taken at download time: the one to keep
            if recorded is not None and recorded != actual:
                log.warning("evidence_file_changed_since_download", extra={"fields": {"channel": channel}})
            sweep.found.append(Found(channel, name, recorded or actual, size, stamp))
    return sweep
