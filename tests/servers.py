"""`raabta` as an operator runs it, for tests that need real processes: CLI commands, and `raabta serve` on
a free port of 127.0.0.1 with its log in a file.

Real processes rather than the ASGI app in the test's own loop, because what is under test is what only
separate processes have: their own memory (per-process locks, caches and remembered ids are not shared),
their own connection pools to one database, and their own background workers racing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

_SCRIPT = Path(sys.executable).with_name("raabta")
# The console script `make install` puts beside the interpreter (what an operator types), else the module.
RAABTA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "bot.cli"]
START_PATIENCE = 90.0  # seconds for a server to answer /healthz: CI machines are shared and slow
CLI_PATIENCE = 120.0  # seconds for a command such as `raabta db upgrade`
STOP_PATIENCE = 15.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL = 150  # lines of a server's log shown when a test fails


def free_port() -> int:
    """A port of 127.0.0.1 that was free a moment ago (a server that loses the race is started again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_cli(args: list[str], env: Mapping[str, str]) -> str:
    """Run `raabta <args>`; its standard output. A failure names the command and shows what it said."""
    process = await asyncio.create_subprocess_exec(
        *RAABTA, *args, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        async with asyncio.timeout(CLI_PATIENCE):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"`raabta {' '.join(args)}` did not finish in {CLI_PATIENCE:.0f} s") from None
    assert process.returncode == 0, f"`raabta {' '.join(args)}` exited {process.returncode}: {err.decode()}"
    return out.decode()


class Server:
    """One `raabta serve` process; stdout and stderr go to `log` (read it with `tail`)."""

    def __init__(self, name: str, env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.env = dict(env)
        self.log = log
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, attempts: int = 3) -> None:
        """Start and wait until /healthz answers 200. A process that exits while starting (its port taken
        by someone else in the meantime) is started again on another port."""
        for _ in range(attempts):
            self.port = free_port()
            with self.log.open("ab") as sink:
                self.process = await asyncio.create_subprocess_exec(
                    *RAABTA,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=sink,
                )
            if await self._healthy():
                return
            if self.process.returncode is None:
                raise AssertionError(f"{self.name} did not answer /healthz in {START_PATIENCE:.0f} s")
            await self.process.wait()
        raise AssertionError(f"{self.name} exited while starting:\n{self.tail()}")

    async def _healthy(self) -> bool:
        """True once /healthz answers 200; False if the process exited first or the patience ran out."""
        assert self.process is not None
        deadline = time.monotonic() + START_PATIENCE
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    return False
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return True
                await asyncio.sleep(0.05)
        return False

    async def stop(self) -> int | None:
        """SIGTERM (uvicorn's graceful stop: workers cancelled, channels drained), SIGKILL if it hangs;
        the exit status (None if it was never started). Safe to call twice."""
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_PATIENCE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        return process.returncode

    def tail(self, lines: int = LOG_TAIL) -> str:
        """The last `lines` lines of the server's log."""
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def errors(self) -> list[str]:
        """Log lines at error level and tracebacks (the log is JSON lines; uvicorn's own lines too)."""
        if not self.log.exists():
            return []
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [
            line
            for line in text.splitlines()
            if '"level": "error"' in line or '"level": "critical"' in line or line.startswith("Traceback")
        ]


def server_env(base: Mapping[str, str] | None = None, **settings: str) -> dict[str, str]:
    """The environment of a server: this process's, without any RAABTA_* of the developer's shell, plus
    `settings` (RAABTA_* names and values)."""
    env = {k: v for k, v in (base if base is not None else os.environ).items() if not k.startswith("RAABTA_")}
    env.update(settings)
    return env
