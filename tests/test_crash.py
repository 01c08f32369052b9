"""Crash safety: citizens report while the server is killed with SIGKILL; nothing acknowledged is lost.

Each cycle starts `raabta serve` on the same database, lets several citizens report concurrently, and kills
the process at a random moment. Clients retry a failed request with the same message id, as the web chat
page does. After the last cycle every reference code a citizen was shown answers its status, and no
report exists twice. RAABTA_SOAK_CYCLES sets the number of cycles (`make soak` runs many).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bot.shared.identity import Pseudonyms
from storage.repository import Storage
from storage.schema import reports
from tests.conftest import SECRET
from tests.test_cli import CODE, RAABTA, env_for, free_port

CYCLES = int(os.environ.get("RAABTA_SOAK_CYCLES", "3"))
CITIZENS = 4
FLOW = (
    {"text": "/start"},
    {"choice": "lang:en"},
    {"choice": "menu:report"},
    None,
    {"choice": "cat:propaganda"},
    {"choice": "confirm:details"},
    {"text": "Praises attacks"},
    {"choice": "evidence:done"},
    {"choice": "confirm:submit"},
)


class Server:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: httpx.AsyncClient) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *RAABTA,
            "serve",
            "--port",
            str(self.port),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                if (await http.get(f"{self.url}/healthz", timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.returncode is None, "server exited during start"
            await asyncio.sleep(0.1)
        raise AssertionError("server did not start")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()


async def citizen(
    server: Server, http: httpx.AsyncClient, session: str, shown: list[str], stop: asyncio.Event
) -> None:
    """Report pages one after another; retry each message with its id until the server answers."""
    n = 0
    while not stop.is_set():
        n += 1
        for step in FLOW:
            body = step or {"text": f"https://t.me/crash_{session[:8]}_{n}"}
            message = {"session": session, "id": uuid.uuid4().hex, **body}
            while True:
                try:
                    response = await http.post(f"{server.url}/webchat/api/messages", json=message, timeout=5)
                    if response.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            if step == FLOW[-1]:
                code = CODE.search(response.json()["messages"][0]["text"])
                assert code, response.text
                shown.append(code.group(1))


async def test_reports_survive_sigkill(tmp_path: Path, db_url: str) -> None:
    unlimited = {
        f"RAABTA_{name}": "100000" for name in ("MESSAGES_PER_MINUTE", "REPORTS_PER_HOUR", "REPORTS_PER_DAY")
    }
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url, RAABTA_WEBCHAT_IP_LIMIT="0", **unlimited)
    server = Server(env)
    rng = random.Random(20261129)
    sessions = [uuid.uuid4().hex for _ in range(CITIZENS)]
    shown: dict[str, list[str]] = {s: [] for s in sessions}
    stop = asyncio.Event()
    async with httpx.AsyncClient() as http:
        await server.start(http)
        workers = [asyncio.create_task(citizen(server, http, s, shown[s], stop)) for s in sessions]
        for _ in range(CYCLES):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await server.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            await server.start(http)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=120)
        await server.kill()

    storage = Storage(db_url)
    try:
        codes = [code for s in sessions for code in shown[s]]
        assert codes, "no report completed"
        statuses = await storage.reports.statuses(codes) if len(codes) <= 10 else {}
        for start in range(0, len(codes), 10):
            statuses.update(await storage.reports.statuses(codes[start : start + 10]))
        assert set(statuses) == set(codes), "a code shown to a citizen does not answer"
        pseudonyms = Pseudonyms(SECRET.encode())
        async with storage.reader.connect() as conn:
            for session in sessions:
                stored = await conn.scalar(
                    select(func.count()).where(reports.c.reporter_id == pseudonyms.of("webchat", session))
                )
                assert stored == len(shown[session]), "a report exists twice, or one was lost"
    finally:
        await storage.close()
