"""One citizen's report over the web chat API, end to end (HTTP -> NLU -> engine -> SQLite commit).

Usage: .venv/bin/python -m bench.report_roundtrip [reports]
Prints the median and p95 time of one whole report (9 requests) and of one request.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bot.app import create_app
from bot.shared.config import load_settings
from nlu.refcode import ALPHABET
from storage.repository import Storage

CODE = re.compile(rf"\b[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}\b")
STEPS = (
    {"text": "/start"},
    {"choice": "lang:ur-Latn"},
    {"choice": "menu:report"},
    {"text": "bhai ye page dekho https://m.facebook.com/Bad.Page?ref=share"},
    {"choice": "cat:recruitment"},
    {"choice": "confirm:details"},  # the summary's "Add details": a description, then screenshots
    {"text": "Naujawanon ko camp mein bula rahe hain"},
    {"choice": "evidence:done"},
    {"choice": "confirm:submit"},
)


async def main(reports: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        settings = load_settings(
            database_url=url,
            secret_key="b" * 40,
            data_dir=Path(tmp),
            webchat_ip_limit=0,
            webchat_new_sessions_per_hour=0,
        )
        storage = Storage(url)
        await storage.upgrade()
        app = create_app(settings, storage)
        per_report, per_request = [], []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            for _ in range(reports):
                session = uuid.uuid4().hex
                began = time.perf_counter()
                for step in STEPS:
                    t0 = time.perf_counter()
                    response = await http.post("/webchat/api/messages", json={"session": session, **step})
                    per_request.append(time.perf_counter() - t0)
                    assert response.status_code == 200
                per_report.append(time.perf_counter() - began)
                assert CODE.search(response.json()["messages"][0]["text"]), response.text  # a report made
        await storage.close()

    def ms(values: list[float], q: float) -> float:
        return 1000 * statistics.quantiles(values, n=100)[int(q) - 1] if q < 100 else 1000 * max(values)

    print(f"reports: {reports}, requests: {len(per_request)} (SQLite, in-process ASGI, one client)")
    for name, values in (("one report (9 requests)", per_report), ("one request", per_request)):
        median = 1000 * statistics.median(values)
        print(f"{name:24} median {median:7.2f} ms   p95 {ms(values, 95):7.2f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
