"""What one report costs as its case grows: a viral page reported by thousands within the hour.

Usage: .venv/bin/python -m bench.case_growth [reports] [--pg URL]
Commits `reports` reports of one page, each by a new citizen and each with two links (the page and a post
of it, so every report joins two cases), straight through `Storage.commit_turn` (no HTTP, no NLU), and
prints the median commit time per block of reports: a case's counts, priority, lifecycle and "needs care"
weighing are recomputed on every report, so the time grows with the case. SQLite by default; `--pg` adds
a PostgreSQL database (created and dropped by the run) for the same figures side by side.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid

from storage.records import EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage
from tests.pgdb import scratch_database

PAGE = "https://facebook.com/viral.page"
POST = "https://facebook.com/viral.page/posts/pfbid0ViralPost"
BLOCK = 250


async def run(url: str, reports: int) -> list[tuple[int, float]]:
    storage = Storage(url, b"bench-secret-" * 3)
    await storage.upgrade()
    times: list[float] = []
    links = tuple(EvidenceRecord("link", u, u, "facebook") for u in (PAGE, POST))
    for n in range(reports):
        citizen = uuid.uuid4().hex
        code = f"{n // 10000:04d}-{n % 10000:04d}"
        report = NewReport(code, citizen, "webchat", "en", "violent_threat", "attack", n % 7 == 0, links)
        turn = TurnRecord("webchat", uuid.uuid4().hex, citizen, 0, {}, [], (report,))
        began = time.perf_counter()
        result = await storage.commit_turn(turn)
        times.append(time.perf_counter() - began)
        assert result.status.value == "ok", result
    await storage.close()
    return [
        (start + BLOCK, 1000 * statistics.median(times[start : start + BLOCK]))
        for start in range(0, reports, BLOCK)
    ]


async def main(reports: int, pg: str | None) -> None:
    results: dict[str, list[tuple[int, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = await run(f"sqlite+aiosqlite:///{tmp}/bench.db", reports)
    if pg:
        async with scratch_database(pg, "raabta_bench") as url:
            results["PostgreSQL"] = await run(url, reports)
    print(f"one report commit (two links, so two cases), median ms per block of {BLOCK}, as the case grows")
    print(f"{'reports so far':>15}" + "".join(f"{backend:>12}" for backend in results))
    for i, (upto, _) in enumerate(next(iter(results.values()))):
        print(f"{upto:>15}" + "".join(f"{rows[i][1]:>12.2f}" for rows in results.values()))


if __name__ == "__main__":
    args = sys.argv[1:]
    pg_url = args[args.index("--pg") + 1] if "--pg" in args else None
    count = next((int(a) for a in args if a.isdigit()), 2000)
    asyncio.run(main(count, pg_url))
