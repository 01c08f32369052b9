"""Evidence rows of a report: what a report brought, or what a citizen's answer to an analysts' question
brought later, stored the same way (storage.repository for the report, storage.followups for the answer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.casekeys import FILE_KINDS
from storage.locking import lock_file
from storage.records import EvidenceRecord
from storage.schema import evidence, evidence_files


async def add_evidence(
    conn: AsyncConnection,
    report_id: int,
    channel: str,
    items: Sequence[EvidenceRecord],
    now: datetime,
    followup_id: int | None = None,
) -> None:
    """Store `items` on the report; a file that was downloaded already carries its sha256 at once, and an
    answer to a question names the question (`followup_id`)."""
    if not items:
        return
    hashes = await _kept_hashes(conn, channel, items)
    await conn.execute(
        _NEW,
        [
            {
                "report_id": report_id,
                "kind": e.kind,
                "value": e.value,
                "raw": e.raw,
                "platform": e.platform,
                "fingerprint": e.fingerprint,
                "created_at": now,
                "sha256": hashes.get(e.fingerprint or "") if e.kind in FILE_KINDS else None,
                "followup_id": followup_id,
            }
            for e in items
        ],
    )


# Built once: every report stores its evidence, and building a statement costs more than running it.
_NEW = evidence.insert()


async def _kept_hashes(
    conn: AsyncConnection, channel: str, items: Sequence[EvidenceRecord]
) -> dict[str, str]:
    """The sha256 of each of the items' files that was downloaded already (by file name)."""
    names = {e.fingerprint for e in items if e.kind in FILE_KINDS and e.fingerprint}
    if not names:
        return {}
    for name in sorted(names):  # a download recorded meanwhile waits for this transaction (lock_file)
        await lock_file(conn, channel, name, shared=True)
    rows = await conn.execute(
        select(evidence_files.c.name, evidence_files.c.sha256).where(
            evidence_files.c.channel == channel, evidence_files.c.name.in_(names)
        )
    )
    return {r.name: r.sha256 for r in rows}
