"""The whole message path under load, side by side with a bare echo app on the same server stack.

Usage: .venv/bin/python -m bench.pipeline [--rates 100,200] [--duration 20] [--concurrency 32]
                                          [--memory-messages 100000] [--skip telegram,memory]

What runs (each server is a process of its own; the load generator is asyncio + httpx in this process):
- `raabta serve` on SQLite in a temporary directory, the web chat open to load (RAABTA_WEBCHAT_IP_LIMIT=0,
  per-citizen limits raised), and `python -m bench.echo_app`: Starlette + uvicorn started the same way,
  one POST endpoint that answers the web chat's JSON shape.
- Web chat, open loop: `POST /webchat/api/messages` at fixed arrival rates (after a warm-up at the same
  rate that is not counted). The requests are a mix of conversations over many sessions: full reports
  (link, category, "Add details" on the summary, description, evidence, send, updates), greetings and
  the learn cards, the family pages, and reference-code look-ups. A session sends its next step only
  after the answer to its previous one (a person reads before pressing), so the pool of sessions grows
  when answers are slow.
  Latency is measured from the scheduled arrival time (no coordinated omission).
- Web chat, closed loop: `--concurrency` clients sending back to back for `--closed-duration` seconds:
  the most each server can take from this generator.
- Telegram webhook mode: a fresh `raabta serve` per rate with RAABTA_TELEGRAM_WEBHOOK_URL/SECRET and
  RAABTA_TELEGRAM_API_URL pointing at the fake Bot API (tests/fakes/telegram_api.py) served in this
  process. The same conversations as updates (messages and button presses) are posted to
  `/webhooks/telegram` with the secret header at fixed rates; the echo app gets the same bytes. The
  webhook answers once the update is queued, so its latency is what Telegram sees; handling happens
  behind it and is measured from the server's /metrics (handled updates, handling-time histogram) and
  the Bot API calls the fake received, until the backlog drains or `--drain` seconds pass.
- Memory: a fresh `raabta serve`, `--memory-messages` web chat messages (closed loop), RSS of the server
  process (/proc/PID/status VmRSS) at start and at 10%, 50% and 100% of the messages.

Prints one table per part and the ratios raabta/echo. Nothing here asserts: figures go to
docs/benchmarks.md ("Pipeline vs echo").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.channels.telegram import SECRET_HEADER, WEBHOOK_PATH
from tests.fakes.telegram_api import FakeBotAPI

WEBCHAT_PATH = "/webchat/api/messages"
SECRET_KEY = "bench-secret-key-0123456789abcdefghijklmnop"
WEBHOOK_SECRET = "bench-webhook-secret"
LIMITS_OFF = {
    "RAABTA_WEBCHAT_IP_LIMIT": "0",
    "RAABTA_WEBCHAT_NEW_SESSIONS_PER_HOUR": "0",
    "RAABTA_MESSAGES_PER_MINUTE": "1000000",
    "RAABTA_REPORTS_PER_HOUR": "1000000",
    "RAABTA_REPORTS_PER_DAY": "1000000",
}
SESSION_POOL = 300  # conversations in progress at the start of an open-loop run
CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")

# --- conversations ---------------------------------------------------------------------------------

Step = tuple[str, str]  # ("text" | "choice", value)
PAGES = [f"https://www.facebook.com/recruit.page.{i}" for i in range(40)]
DESCRIPTIONS = (
    "They invite young men to a training camp and ask for donations.",
    "یہ پیج نوجوانوں کو بھرتی کرتا ہے اور چندہ مانگتا ہے",
    "ye log naujawanon ko camp mein bula rahe hain, bohat khatarnak",
    "Posting videos praising attacks, every day new ones 😡",
)
LINK_TEXTS = (
    "{url}",
    "bhai ye page dekho {url}",
    "اس پیج کو دیکھیں {url}",
    "Please check this page {url} it is spreading hate",
)
GREETINGS = ("hello", "Assalam o alaikum", "السلام علیکم", "salam bhai", "hi there")


def report_script(rng: random.Random) -> list[Step]:
    lang = rng.choice(("en", "ur", "ur-Latn"))
    url = rng.choice(PAGES) if rng.random() < 0.6 else f"https://t.me/s/channel_{uuid.uuid4().hex[:10]}"
    return [
        ("text", "/start"),
        ("choice", f"lang:{lang}"),
        ("choice", "menu:report"),
        ("text", rng.choice(LINK_TEXTS).format(url=url)),
        ("choice", rng.choice(("cat:recruitment", "cat:propaganda", "cat:hate_speech", "cat:financing"))),
        ("choice", "confirm:details"),  # the summary's "Add details": a description, then screenshots
        ("text", rng.choice(DESCRIPTIONS)),
        ("choice", "evidence:done"),
        ("choice", "confirm:submit"),
        ("choice", rng.choice(("updates:no", "updates:yes"))),
    ]


def greeting_script(rng: random.Random) -> list[Step]:
    return [
        ("text", rng.choice(GREETINGS)),
        ("choice", f"lang:{rng.choice(('en', 'ur', 'ur-Latn'))}"),
        ("text", rng.choice(("shukriya", "thanks", "شکریہ", "what can you do?"))),
        ("choice", "menu:learn"),
        ("choice", f"learn:{rng.choice(('paigham', 'recruiters', 'propaganda'))}"),
    ]


def family_script(rng: random.Random) -> list[Step]:
    return [
        ("text", "/start"),
        ("choice", f"lang:{rng.choice(('en', 'ur', 'ur-Latn'))}"),
        ("choice", "menu:family"),
        ("choice", f"family:{rng.choice(('signs', 'talk', 'professional'))}"),
    ]


def status_script(rng: random.Random) -> list[Step]:
    code = "".join(rng.choice("23456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(8))
    return [
        ("text", "/start"),
        ("choice", "lang:en"),
        ("choice", "menu:status"),
        ("text", f"{code[:4]}-{code[4:]}"),
    ]


SCRIPTS: tuple[tuple[Callable[[random.Random], list[Step]], float], ...] = (
    (report_script, 0.5),
    (greeting_script, 0.25),
    (family_script, 0.15),
    (status_script, 0.10),
)


@dataclass
class Session:
    id: str
    chat_id: int
    steps: list[Step]
    at: int = 0


class Mix:
    """Sessions waiting to send their next step; new ones are opened whenever none is waiting."""

    def __init__(self, seed: int, pool: int = SESSION_POOL) -> None:
        self.rng = random.Random(seed)
        self.idle: deque[Session] = deque()
        self.opened = 0
        self.finished = 0
        for _ in range(pool):
            self.idle.append(self._new())

    def _new(self) -> Session:
        make = self.rng.choices([s for s, _ in SCRIPTS], weights=[w for _, w in SCRIPTS])[0]
        self.opened += 1
        return Session(uuid.uuid4().hex, 500_000_000 + self.rng.randrange(400_000_000), make(self.rng))

    def take(self) -> tuple[Session, Step]:
        session = self.idle.popleft() if self.idle else self._new()
        step = session.steps[session.at]
        session.at += 1
        return session, step

    def back(self, session: Session) -> None:
        if session.at < len(session.steps):
            self.idle.append(session)
        else:
            self.finished += 1
            self.idle.append(self._new())


# --- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


def webchat_request(session: Session, step: Step) -> Request:
    kind, value = step
    body = json.dumps({"session": session.id, kind: value}, ensure_ascii=False).encode()
    return Request(WEBCHAT_PATH, body, {"content-type": "application/json"})


class TelegramUpdates:
    """The same steps as Bot API updates: text as a private message, a choice as a button press."""

    def __init__(self) -> None:
        self.update_id = 800_000_000
        self.message_id = 10

    def __call__(self, session: Session, step: Step) -> Request:
        self.update_id += 1
        self.message_id += 1
        kind, value = step
        user = {"id": session.chat_id, "is_bot": False, "first_name": "Ali", "language_code": "en"}
        chat = {"id": session.chat_id, "first_name": "Ali", "type": "private"}
        now = int(time.time())
        update: dict[str, Any] = {"update_id": self.update_id}
        if kind == "text":
            message: dict[str, Any] = {
                "message_id": self.message_id,
                "from": user,
                "chat": chat,
                "date": now,
                "text": value,
            }
            if value.startswith("/"):
                message["entities"] = [{"offset": 0, "length": len(value), "type": "bot_command"}]
            update["message"] = message
        else:
            shown = {
                "message_id": self.message_id,
                "from": {"id": 222222222, "is_bot": True, "first_name": "Raabta", "username": "raabta_bot"},
                "chat": chat,
                "date": now,
                "text": "…",
                "reply_markup": {"inline_keyboard": [[{"text": value, "callback_data": value}]]},
            }
            update["callback_query"] = {
                "id": str(self.update_id),
                "from": user,
                "message": shown,
                "chat_instance": "-5476321098765432101",
                "data": value,
            }
        body = json.dumps(update, ensure_ascii=False).encode()
        headers = {"content-type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}
        return Request(WEBHOOK_PATH, body, headers)


Build = Callable[[Session, Step], Request]

# --- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raabta_command() -> list[str]:
    script = Path(sys.executable).with_name("raabta")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "--host", "127.0.0.1", "--port", str(self.port)],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=log,
            )
        return self.process

    async def start(self) -> None:
        """Launch the server and wait until /healthz answers 200."""
        process = self.launch()
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"{self.name} exited with {process.returncode}; see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise SystemExit(f"{self.name} did not answer /healthz within 60 s; see {self.log}")
                await asyncio.sleep(0.1)

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def rss_mb(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raabta_env(tmp: Path, name: str, **extra: str) -> dict[str, str]:
    data = tmp / name
    data.mkdir(parents=True, exist_ok=True)
    return {
        "RAABTA_DATABASE_URL": f"sqlite+aiosqlite:///{data}/raabta.db",
        "RAABTA_SECRET_KEY": SECRET_KEY,
        "RAABTA_DATA_DIR": str(data),
        "RAABTA_ENV": "development",
        **LIMITS_OFF,
        **extra,
    }


# --- load ------------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0  # exceptions: timeouts, refused connections
    elapsed: float = 0.0
    offered: float | None = None  # messages/s asked for (open loop)
    server_cpu: float = 0.0  # seconds of server CPU during the run
    client_cpu: float = 0.0  # seconds of this process's CPU during the run
    codes: int = 0  # reference codes seen in answers

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return self.failures + sum(n for status, n in self.statuses.items() if status >= 400)

    def explain_errors(self) -> str:
        parts = [f"{n} x HTTP {status}" for status, n in sorted(self.statuses.items()) if status >= 400]
        if self.failures:
            parts.append(f"{self.failures} client timeouts or refused connections")
        return ", ".join(parts)

    @property
    def throughput(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return 1000 * statistics.quantiles(self.latencies, n=1000, method="inclusive")[int(q * 10) - 1]


CONNECTIONS = 256
# Requests wait for a connection here rather than in httpx's pool, whose bookkeeping grows with the square
# of the requests waiting in it: with a server falling behind, the generator would become the bottleneck.
_GATES: dict[int, asyncio.Semaphore] = {}


async def _send(http: httpx.AsyncClient, base: str, request: Request) -> httpx.Response:
    gate = _GATES.setdefault(id(http), asyncio.Semaphore(CONNECTIONS))
    async with gate:
        return await http.post(base + request.path, content=request.body, headers=request.headers)


def _record(result: Result, response: httpx.Response, latency: float) -> None:
    result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1
    if response.status_code < 400:
        result.latencies.append(latency)
        if b"-" in response.content and CODE.search(response.text):
            result.codes += 1


async def open_loop(
    http: httpx.AsyncClient,
    server: Server,
    label: str,
    rate: float,
    duration: float,
    mix: Mix,
    build: Build,
) -> Result:
    """`rate` requests a second for `duration` seconds, each at its scheduled time whatever the answers."""
    loop = asyncio.get_running_loop()
    result = Result(label, offered=rate)
    count = int(rate * duration)
    pending: set[asyncio.Task[None]] = set()

    async def one(session: Session, request: Request, due: float) -> None:
        try:
            response = await _send(http, server.url, request)
        except httpx.HTTPError:
            result.failures += 1
        else:
            _record(result, response, loop.time() - due)
        finally:
            mix.back(session)

    cpu0, server0 = time.process_time(), server.cpu_seconds()
    began = loop.time() + 0.01
    for i in range(count):
        due = began + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        session, step = mix.take()
        task = asyncio.create_task(one(session, build(session, step), due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)
    result.elapsed = loop.time() - began
    result.client_cpu = time.process_time() - cpu0
    result.server_cpu = server.cpu_seconds() - server0
    return result


async def closed_loop(
    http: httpx.AsyncClient,
    server: Server,
    label: str,
    concurrency: int,
    mix: Mix,
    build: Build,
    duration: float | None = None,
    total: int | None = None,
    every: Callable[[int], Awaitable[None]] | None = None,
) -> Result:
    """`concurrency` clients back to back, for `duration` seconds or until `total` requests are answered."""
    loop = asyncio.get_running_loop()
    result = Result(label)
    began = loop.time()
    stop_at = began + duration if duration is not None else float("inf")
    sent = 0

    async def client() -> None:
        nonlocal sent
        while loop.time() < stop_at and (total is None or sent < total):
            sent += 1
            session, step = mix.take()
            t0 = loop.time()
            try:
                response = await _send(http, server.url, build(session, step))
            except httpx.HTTPError:
                result.failures += 1
            else:
                _record(result, response, loop.time() - t0)
                if every is not None:
                    await every(result.done)
            finally:
                mix.back(session)

    cpu0, server0 = time.process_time(), server.cpu_seconds()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.elapsed = loop.time() - began
    result.client_cpu = time.process_time() - cpu0
    result.server_cpu = server.cpu_seconds() - server0
    return result


def client(concurrency: int = CONNECTIONS) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0))


# --- metrics of the server -------------------------------------------------------------------------

METRIC = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>[-+0-9.eE]+|\+Inf|NaN)$")


async def scrape(http: httpx.AsyncClient, server: Server) -> dict[tuple[str, str], float]:
    """/metrics as {(name, labels): value}."""
    text = (await http.get(server.url + "/metrics")).text
    values: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = METRIC.match(line)
        if match:
            values[(match["name"], match["labels"] or "")] = float(match["value"])
    return values


def handled(values: dict[tuple[str, str], float], channel: str) -> float:
    return values.get(("raabta_handling_seconds_count", f'channel="{channel}"'), 0.0)


def histogram_quantile(
    after: dict[tuple[str, str], float], before: dict[tuple[str, str], float], channel: str, q: float
) -> float:
    """Upper bound (ms) of the bucket holding quantile q of what was handled between the two scrapes."""
    buckets: list[tuple[float, float]] = []
    for (name, labels), value in after.items():
        if name != "raabta_handling_seconds_bucket" or f'channel="{channel}"' not in labels:
            continue
        le = re.search(r'le="([^"]+)"', labels)
        assert le is not None
        bound = float("inf") if le[1] == "+Inf" else float(le[1])
        buckets.append((bound, value - before.get((name, labels), 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    target = q * buckets[-1][1]
    for bound, count in buckets:
        if count >= target:
            return 1000 * bound
    return float("inf")


# --- reporting -------------------------------------------------------------------------------------


def row(result: Result) -> str:
    offered = f"{result.offered:6.0f}" if result.offered is not None else "closed"
    cpu_ms = 1000 * result.server_cpu / result.done if result.done else float("nan")
    return (
        f"{result.label:28} {offered:>7} {result.throughput:9.1f} "
        f"{result.pct(50):8.2f} {result.pct(99):8.2f} "
        f"{max(result.latencies, default=0) * 1000:8.1f} {result.errors:6d} {cpu_ms:8.2f} "
        f"{100 * result.client_cpu / result.elapsed if result.elapsed else 0:6.0f}%"
    ) + (f"  ({result.explain_errors()})" if result.errors else "")


HEADER = (
    f"{'run':28} {'offered':>7} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6} "
    f"{'srv ms/msg':>8} {'gen cpu':>7}"
)


def ratio(raabta: Result, echo: Result) -> str:
    return (
        f"  ratio raabta/echo: throughput {raabta.throughput / echo.throughput:.2f}, "
        f"p50 {raabta.pct(50) / echo.pct(50):.1f}x, p99 {raabta.pct(99) / echo.pct(99):.1f}x"
    )


def load() -> str:
    """The machine's load averages: other processes on the machine skew every figure."""
    with contextlib.suppress(OSError):
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "load average ?"


def machine() -> str:
    mem = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"machine: {os.cpu_count()} CPUs ({cpu}), {mem} RAM, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )


# --- the runs --------------------------------------------------------------------------------------


async def webchat_part(args: argparse.Namespace, tmp: Path, echo: Server) -> None:
    env = raabta_env(tmp, "webchat")
    server = Server("raabta (web chat)", [*raabta_command(), "serve"], env, tmp / "webchat.log")
    await server.start()
    print(f"\n## Web chat: POST {WEBCHAT_PATH} (SQLite), mixed conversations ({load()})", flush=True)
    print(HEADER)
    try:
        async with client() as http:
            for rate in args.rates:
                pair: dict[str, Result] = {}
                for name, target in (("raabta", server), ("echo", echo)):
                    mix = Mix(seed=rate)
                    await open_loop(http, target, "warm-up", rate, args.warmup, mix, webchat_request)
                    result = await open_loop(
                        http,
                        target,
                        f"{name} web chat @{rate:g}/s",
                        rate,
                        args.duration,
                        mix,
                        webchat_request,
                    )
                    pair[name] = result
                    print(row(result), flush=True)
                print(ratio(pair["raabta"], pair["echo"]))
                print(f"  reference codes in raabta's answers: {pair['raabta'].codes}")
            pair = {}
            for name, target in (("raabta", server), ("echo", echo)):
                result = await closed_loop(
                    http,
                    target,
                    f"{name} web chat c={args.concurrency}",
                    args.concurrency,
                    Mix(seed=7),
                    webchat_request,
                    duration=args.closed_duration,
                )
                pair[name] = result
                print(row(result), flush=True)
            print(ratio(pair["raabta"], pair["echo"]))
    finally:
        server.stop()


async def telegram_part(args: argparse.Namespace, tmp: Path, echo: Server) -> None:
    print(f"\n## Telegram webhook: POST /webhooks/telegram, secret header, SQLite, fake Bot API ({load()})")
    print("   latency = until the webhook's 200 (the update is queued; handling and replies follow)")
    print(HEADER, flush=True)
    async with FakeBotAPI() as api, client() as http:
        for rate in args.rates:
            env = raabta_env(
                tmp,
                f"telegram{rate:g}",
                RAABTA_TELEGRAM_TOKEN=api.token,
                RAABTA_TELEGRAM_API_URL=api.base_url,
                RAABTA_TELEGRAM_WEBHOOK_URL="https://bench.invalid/webhooks/telegram",
                RAABTA_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            )
            server = Server(
                f"raabta (telegram {rate:g}/s)", [*raabta_command(), "serve"], env, tmp / "tg.log"
            )
            await server.start()
            try:
                updates = TelegramUpdates()
                mix = Mix(seed=rate)
                await open_loop(http, server, "warm-up", 10, 2, mix, updates)
                await _drain(http, server, 20, 60)
                calls0 = len(api.calls)
                before = await scrape(http, server)
                began = time.monotonic()
                result = await open_loop(
                    http, server, f"raabta telegram @{rate:g}/s", rate, args.duration, mix, updates
                )
                print(row(result), flush=True)
                posted = handled(before, "telegram") + result.done
                after, drained = await _drain(http, server, posted, args.drain)
                took = time.monotonic() - began
                done = handled(after, "telegram") - handled(before, "telegram")
                sends = [c for c in api.calls[calls0:] if c.method in ("sendMessage", "editMessageText")]
                p50 = histogram_quantile(after, before, "telegram", 0.5)
                p99 = histogram_quantile(after, before, "telegram", 0.99)
                state = (
                    "all handled" if drained else f"{posted - handled(after, 'telegram'):.0f} still queued"
                )
                print(
                    f"  behind the webhook: {done:.0f} of {result.done} updates handled in {took:.1f} s "
                    f"({done / took:.1f}/s, {state}); pipeline time p50 <= {p50:g} ms, p99 <= {p99:g} ms "
                    f"(histogram buckets); {len(sends)} sendMessage/editMessageText calls at "
                    f"{len(sends) / took:.1f}/s"
                )
            finally:
                server.stop(kill=True)
            mix = Mix(seed=rate)
            await open_loop(http, echo, "warm-up", rate, args.warmup, mix, TelegramUpdates())
            echoed = await open_loop(
                http, echo, f"echo telegram @{rate:g}/s", rate, args.duration, mix, TelegramUpdates()
            )
            print(row(echoed))
            print(ratio(result, echoed), flush=True)


async def _drain(
    http: httpx.AsyncClient, server: Server, expected: float, patience: float
) -> tuple[dict[tuple[str, str], float], bool]:
    """Scrape /metrics until `expected` updates were handled or `patience` seconds passed."""
    deadline = time.monotonic() + patience
    while True:
        values = await scrape(http, server)
        if handled(values, "telegram") >= expected:
            return values, True
        if time.monotonic() > deadline:
            return values, False
        await asyncio.sleep(0.5)


async def memory_part(args: argparse.Namespace, tmp: Path) -> None:
    total = args.memory_messages
    marks = sorted({total // 10, total // 2, total})
    server = Server(
        "raabta (memory)", [*raabta_command(), "serve"], raabta_env(tmp, "memory"), tmp / "mem.log"
    )
    await server.start()
    print(f"\n## Memory: RSS of the raabta server over {total:,} web chat messages (closed loop) ({load()})")
    samples: list[tuple[int, float]] = [(0, server.rss_mb())]
    print(f"  at start: {samples[0][1]:.1f} MB", flush=True)

    async def sample(done: int) -> None:
        if marks and done >= marks[0]:
            marks.pop(0)
            samples.append((done, server.rss_mb()))
            print(f"  after {done:>7,} messages: {samples[-1][1]:.1f} MB", flush=True)

    try:
        async with client() as http:
            mix = Mix(seed=1)
            result = await closed_loop(
                http, server, "memory", args.concurrency, mix, webchat_request, total=total, every=sample
            )
            print(
                f"  {result.done:,} answered in {result.elapsed:.0f} s ({result.throughput:.0f}/s), "
                f"{result.errors} errors, {mix.opened:,} sessions"
            )
    finally:
        server.stop()
    by_mark = dict(samples)
    half, full = by_mark.get(total // 2), by_mark.get(total)
    if half and full:
        print(
            f"  peak {max(v for _, v in samples):.1f} MB; growth {total // 2:,} -> {total:,}: "
            f"{full - half:+.1f} MB ({100 * (full - half) / half:+.1f}%)"
        )


async def main(args: argparse.Namespace) -> None:
    print(machine())
    print(f"command: {' '.join([Path(sys.executable).name, '-m', 'bench.pipeline', *sys.argv[1:]])}")
    tmp = Path(tempfile.mkdtemp(prefix="raabta-bench-"))
    echo = Server("echo", [sys.executable, "-m", "bench.echo_app"], {}, tmp / "echo.log")
    try:
        await echo.start()
        if "webchat" not in args.skip:
            await webchat_part(args, tmp, echo)
        if "telegram" not in args.skip:
            await telegram_part(args, tmp, echo)
        if "memory" not in args.skip:
            await memory_part(args, tmp)
    finally:
        echo.stop()
        print(f"\nat the end: {load()}")
        if args.keep:
            print(f"\nserver logs and databases kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,200", help="open-loop arrival rates, messages/s")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per open-loop run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each run")
    parser.add_argument("--concurrency", type=int, default=32, help="clients in the closed-loop runs")
    parser.add_argument("--closed-duration", type=float, default=15.0, help="seconds per closed-loop run")
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for Telegram's backlog")
    parser.add_argument("--memory-messages", type=int, default=100_000)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: webchat,telegram,memory")
    parser.add_argument("--keep", action="store_true", help="keep the server logs and databases")
    args = parser.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",") if r]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


if __name__ == "__main__":
    asyncio.run(main(arguments()))
