"""Reads of reports for the citizen side: what became of a code, whether a link has a case, what a
report's case and evidence look like (without the reporter's identity)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import lifecycle
from storage.cases import tell, told_query
from storage.database import Database
from storage.records import ReportTold
from storage.schema import case_reports, cases, evidence, reports, support_requests


class Reports:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def statuses(self, codes: Iterable[str]) -> dict[str, str]:
        """The case status behind each known code (for a report on several cases, the most telling one:
        storage.lifecycle.report_status); unknown codes are absent. At most 10 codes are read."""
        wanted = sorted(set(codes))[:10]
        if not wanted:
            return {}
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(reports.c.code, cases.c.status)
                    .join(case_reports, case_reports.c.report_id == reports.c.id)
                    .join(cases, cases.c.id == case_reports.c.case_id)
                    .where(reports.c.code.in_(wanted))
                )
            ).all()
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.code, []).append(row.status)
        return {code: lifecycle.report_status(statuses) for code, statuses in found.items()}

    async def told(self, codes: Iterable[str]) -> dict[str, ReportTold]:
        """What each known code's reporter is told of it: its status in their words, when it was received,
        came under review and was decided, and why (storage.cases.tell); unknown codes are absent. At most
        10 codes are read."""
        wanted = sorted(set(codes))[:10]
        if not wanted:
            return {}

        async def read(conn: AsyncConnection) -> Any:
            return (await conn.execute(told_query(reports.c.code.in_(wanted)))).all()

        if self.db.fixed is not None:  # SQLite: fixed SQL (storage.fixedreads)
            rows = await self.db.fetch_sqlite(functools.partial(self.db.fixed.told, codes=wanted))
        else:
            rows = await self.db.fetch(read)
        return {told.code: told for told in tell(rows).values()}

    async def requests_told(self, codes: Iterable[str]) -> dict[str, ReportTold]:
        """What the holder of a counsellor request's code is told of it (a family, someone at risk or in
        crisis asked for a call): received when, with a counsellor since when, closed when. Words
        `callback_new`, `callback_in_progress`, `callback_done`; nothing of the note, the phone or who
        handled it. Unknown codes are absent; at most 10 codes are read."""
        wanted = sorted(set(codes))[:10]
        if not wanted:
            return {}
        sr = support_requests.c
        query = select(sr.code, sr.language, sr.status, sr.created_at, sr.handled_at)
        query = query.where(sr.code.in_(wanted))

        async def read(conn: AsyncConnection) -> Any:
            return (await conn.execute(query)).all()

        if self.db.fixed is not None:  # SQLite: fixed SQL (storage.fixedreads)
            rows = await self.db.fetch_sqlite(functools.partial(self.db.fixed.requests_told, codes=wanted))
        else:
            rows = await self.db.fetch(read)
        found: dict[str, ReportTold] = {}
        for row in rows:
            word = {"new": "callback_new", "done": "callback_done"}.get(row.status, "callback_in_progress")
            handled = row.handled_at if word != "callback_new" else None
            found[row.code] = ReportTold(
                row.code,
                row.language,
                word,
                row.created_at,
                reviewed=handled,
                decided=handled if word == "callback_done" else None,
            )
        return found

    async def case_exists(self, canonical_url: str) -> bool:
        if self.db.fixed is not None:  # SQLite: fixed SQL (storage.fixedreads)
            read = functools.partial(self.db.fixed.case_exists, canonical_url=canonical_url)
            return await self.db.fetch_sqlite(read)

        async def find(conn: AsyncConnection) -> Any:
            return await conn.scalar(select(cases.c.id).where(cases.c.canonical_url == canonical_url))

        return await self.db.fetch(find) is not None

    async def codes(self) -> list[str]:
        """Every report's code, oldest first."""
        async with self.db.read() as conn:
            return list((await conn.scalars(select(reports.c.code).order_by(reports.c.id))).all())

    async def case_of(self, code: str) -> dict[str, Any] | None:
        """The case a report belongs to, as analysts will see it (no reporter identity)."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(cases).join(reports, reports.c.case_id == cases.c.id).where(reports.c.code == code)
                )
            ).first()
        return dict(row._mapping) if row else None

    async def evidence_of(self, code: str) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(
                    evidence.c.kind,
                    evidence.c.value,
                    evidence.c.platform,
                    evidence.c.fingerprint,
                    evidence.c.sha256,
                )
                .join(reports, reports.c.id == evidence.c.report_id)
                .where(reports.c.code == code)
                .order_by(evidence.c.id)
            )
            return [dict(r._mapping) for r in rows]
