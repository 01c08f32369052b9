"""The whole message path under load, side by side with a floor app and a bare echo app on the same stack.

Usage: .venv/bin/python -m bench.pipeline [--rates 100,200] [--duration 20] [--concurrency 32]
                                          [--telegram-rates 100,200,300] [--memory-messages 100000]
                                          [--workers 2] [--pg URL] [--skip webchat,telegram,memory]
                                          [--tree CHECKOUT]
       .venv/bin/python -m bench.pipeline --profile [--profile-messages 5000] [--pg URL]

The servers, each a process of its own on Starlette + uvicorn (`uvicorn.run`, no access log; uvloop, as
`raabta serve` uses, when it is installed):
- `raabta serve` on SQLite in a temporary directory, the web chat open to load (RAABTA_WEBCHAT_IP_LIMIT=0,
  per-citizen limits raised); with `--pg URL` also on PostgreSQL, in a database of its own created on
  that server (named raabta_bench_<random>) and dropped at the end;
- the floor app (`python -m bench.floor_app`): per message only JSON parsing, the keyed pseudonym, one
  SQLite transaction (WAL, synchronous=FULL) writing the event id row and the conversation's state row,
  and a fixed reply in the web chat's shape: the least any implementation keeping Raabta's promises does;
- the echo app (`python -m bench.echo_app`): parses the JSON and answers in the web chat's shape.

The load generator (bench/loadgen.py) is `--workers` processes of raw keep-alive HTTP/1.1 (pre-built
request bytes, only the status line and Content-Length of answers parsed; at most `--connections` open in
the open loop), light enough that the echo app, not the generator, is the limit; each table shows its CPU
(`gen cpu`, % of one core, all workers together).
The requests are a mix of conversations over many sessions: full reports (link, category, "Add details" on
the summary, description, evidence, send, updates), greetings and the learn cards, the family pages, and
reference-code look-ups. A session sends its next step only after the answer to its previous one and,
in the web chat's open loop, a random reading time (`--wander`, mean 2 s), so that the sessions do not
move in lock-step (bench.loadgen.Mix).

What runs:
- Web chat, open loop: `POST /webchat/api/messages` at fixed arrival rates (`--rates`, after a warm-up at
  the same rate that is not counted), against each server in turn; latency from the scheduled arrival time
  (no coordinated omission): p50, p95, p99, max.
- Web chat, closed loop: `--concurrency` clients sending back to back for `--closed-duration` seconds, each
  server in turn: the most each server answers.
- Server CPU per answered message for every run: utime + stime of the server process (all its threads,
  /proc/PID/stat) read before and after the run, over the messages answered. The side-by-side table at
  the end has it for each server, the closed-loop throughput, the p99 at each offered rate, and the ratios
  pipeline/floor and pipeline/echo.
- Telegram webhook mode: a fresh `raabta serve` per rate (`--telegram-rates`) with
  RAABTA_TELEGRAM_WEBHOOK_URL/SECRET and RAABTA_TELEGRAM_API_URL pointing at the fake Bot API
  (tests/fakes/telegram_api.py) served in this process. The same conversations as updates (messages and
  button presses) are posted to `/webhooks/telegram` with the secret header; the echo app gets the same
  bytes. The webhook answers once the update is queued, so its latency is what Telegram sees; the
  handling behind it (paced per chat by the server) is read from the server's /metrics (handled updates,
  handling-time histogram) and the replies the fake Bot API received, until the backlog drains or
  `--drain` seconds pass. With `--telegram-profile` each of these servers runs under
  bench/profiled_serve.py (see `--profile`), and where its CPU went over the run and the drain is printed
  after the run (shares of the profiled CPU, which the profiler inflates).
- Memory: a fresh `raabta serve` on SQLite, `--memory-messages` web chat messages (closed loop), RSS of the
  server process (/proc/PID/status VmRSS) at start and after 10%, 50% and 100% of them.
- `--profile` (and nothing else): where the pipeline's CPU goes. The same `--profile-messages` mixed web
  chat messages (closed loop, after a warm-up) go first to a plain `raabta serve` (its CPU per message),
  then to one under bench/profiled_serve.py: a cProfile profiler timed by the thread's own CPU clock in
  every thread of the server (the event loop, the database's threads), read on signals around the run.
  Printed: the share of the profiled CPU by part (sqlalchemy; db driver: sqlite3/aiosqlite/asyncpg;
  asyncio/uvloop/threads; python-telegram-bot/aiolimiter; httpx/httpcore/h11 (client); uvicorn/httptools;
  starlette; json/orjson; logging/metrics; nlu; bot.dialogue; bot.pipeline; bot.channels; storage;
  responses; raabta, other; other; and the loop's C code outside any call), that share of the plain
  server's CPU per message, each part's calls a message (the profiler costs about the same per call, so
  parts of many small calls are overstated), the CPU by thread and the heaviest functions. On SQLite,
  and on PostgreSQL as well with `--pg`.

Nothing here asserts: figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import Generator, Job, Result
from bot.channels.telegram import SECRET_HEADER, WEBHOOK_PATH
from tests.fakes.telegram_api import FakeBotAPI
from tests.pgdb import create_database, drop_database, scratch_database

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
JSON_HEADERS = (("Content-Type", "application/json"),)
TELEGRAM_HEADERS = (*JSON_HEADERS, (SECRET_HEADER, WEBHOOK_SECRET))

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
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient() as http:
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"{self.name} exited with {process.returncode}; see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise SystemExit(f"{self.name} did not answer /healthz within 90 s; see {self.log}")
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

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def rss_mb(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return math.nan

    def cpu_seconds(self) -> float:
        """utime + stime of the process: all its threads (/proc/PID/stat fields 14 and 15)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# `--tree`: the checkout whose code the raabta servers run (None: this one)
TREE: str | None = None


def raabta_env(tmp: Path, name: str, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The raabta server's environment; with `--tree`, PYTHONPATH names that checkout, whose modules then
    come before this checkout's (the editable install's finder comes after the path's)."""
    data = tmp / name
    data.mkdir(parents=True, exist_ok=True)
    return {
        "RAABTA_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{data}/raabta.db",
        "RAABTA_SECRET_KEY": SECRET_KEY,
        "RAABTA_DATA_DIR": str(data),
        "RAABTA_ENV": "development",
        **LIMITS_OFF,
        **({"PYTHONPATH": TREE} if TREE else {}),
        **extra,
    }


@contextlib.asynccontextmanager
async def pg_database(url: str | None) -> AsyncIterator[str | None]:
    """A database of its own on the server of `url` (None without one), dropped afterwards."""
    if url is None:
        yield None
        return
    async with scratch_database(url, "raabta_bench") as created:
        yield created


# --- runs ------------------------------------------------------------------------------------------


def webchat_job(server: Server, mode: str, mix: str, seed: int, **options: float | int | None) -> Job:
    return Job(
        mode=mode,
        port=server.port,
        path=WEBCHAT_PATH,
        headers=JSON_HEADERS,
        traffic="webchat",
        mix=mix,
        seed=seed,
        **options,  # type: ignore[arg-type]
    )


TELEGRAM_THINK = 4.0  # seconds between a chat's answer and its next update


def telegram_job(server: Server, mix: str, seed: int, rate: float, duration: float, connections: int) -> Job:
    return Job(
        mode="open",
        port=server.port,
        path=WEBHOOK_PATH,
        headers=TELEGRAM_HEADERS,
        traffic="telegram",
        mix=mix,
        seed=seed,
        rate=rate,
        duration=duration,
        connections=connections,
        # A person reads the bot's answer before replying. Without a pause each chat would send faster
        # than Telegram lets a bot answer one chat (about one message a second), and the server's
        # per-chat pacing, not its handling, would set the rate.
        think=TELEGRAM_THINK,
    )


async def measure(gen: Generator, server: Server, job: Job, label: str) -> Result:
    """Run `job` against `server`, with the server's CPU time over the run."""
    before = server.cpu_seconds()
    result = await gen.run(job, label)
    result.server_cpu = server.cpu_seconds() - before
    return result


# --- metrics of the server -------------------------------------------------------------------------

METRIC = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>[-+0-9.eE]+|\+Inf|NaN)$")
Metrics = dict[tuple[str, str], float]


async def scrape(http: httpx.AsyncClient, server: Server) -> Metrics:
    """/metrics as {(name, labels): value}."""
    text = (await http.get(server.url + "/metrics")).text
    values: Metrics = {}
    for line in text.splitlines():
        match = METRIC.match(line)
        if match:
            values[(match["name"], match["labels"] or "")] = float(match["value"])
    return values


def handled(values: Metrics, channel: str) -> float:
    return values.get(("raabta_handling_seconds_count", f'channel="{channel}"'), 0.0)


def histogram_quantile(after: Metrics, before: Metrics, channel: str, q: float) -> float:
    """Upper bound (ms) of the bucket holding quantile q of what was handled between the two scrapes."""
    buckets: list[tuple[float, float]] = []
    for (name, labels), value in after.items():
        if name != "raabta_handling_seconds_bucket" or f'channel="{channel}"' not in labels:
            continue
        le = re.search(r'le="([^"]+)"', labels)
        assert le is not None
        bound = math.inf if le[1] == "+Inf" else float(le[1])
        buckets.append((bound, value - before.get((name, labels), 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    target = q * buckets[-1][1]
    for bound, count in buckets:
        if count >= target:
            return 1000 * bound
    return math.inf


# --- reporting -------------------------------------------------------------------------------------

HEADER = (
    f"{'run':30} {'offered':>7} {'msg/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
    f"{'errors':>6} {'srv ms/msg':>10} {'gen cpu':>7}"
)


def row(result: Result) -> str:
    offered = f"{result.offered:6.0f}" if result.offered is not None else "closed"
    gen = 100 * result.client_cpu / result.elapsed if result.elapsed else 0.0
    return (
        f"{result.label:30} {offered:>7} {result.throughput:8.1f} "
        f"{result.pct(50):8.2f} {result.pct(95):8.2f} {result.pct(99):8.2f} "
        f"{max(result.latencies, default=0) * 1000:8.1f} {result.errors:6d} "
        f"{result.cpu_ms:10.3f} {gen:6.0f}%"
    ) + (f"  ({result.explain_errors()})" if result.errors else "")


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


def times(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b and not math.isnan(a) and not math.isnan(b) else "?"


def fraction(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "?"


# --- web chat: every server side by side -----------------------------------------------------------


@dataclass
class Contender:
    name: str  # as printed: "raabta (SQLite)", "floor", "echo"
    server: Server
    pipeline: bool  # a real `raabta serve`
    runs: dict[float | str, Result] = field(default_factory=dict)  # by offered rate, and "closed"


async def webchat_part(args: argparse.Namespace, tmp: Path, gen: Generator) -> None:
    async with pg_database(args.pg) as pg_url:
        contenders = [
            Contender(
                "raabta (SQLite)",
                Server(
                    "raabta (SQLite)", [*raabta_command(), "serve"], raabta_env(tmp, "webchat"), tmp / "w.log"
                ),
                pipeline=True,
            )
        ]
        if pg_url is not None:
            env = raabta_env(tmp, "webchat-pg", database_url=pg_url)
            server = Server("raabta (PostgreSQL)", [*raabta_command(), "serve"], env, tmp / "w-pg.log")
            contenders.append(Contender("raabta (PostgreSQL)", server, pipeline=True))
        floor_cmd = [sys.executable, "-m", "bench.floor_app", "--db", str(tmp / "floor.db")]
        contenders.append(
            Contender("floor", Server("floor", floor_cmd, {}, tmp / "floor.log"), pipeline=False)
        )
        echo_cmd = [sys.executable, "-m", "bench.echo_app"]
        contenders.append(Contender("echo", Server("echo", echo_cmd, {}, tmp / "echo.log"), pipeline=False))
        try:
            for contender in contenders:
                await contender.server.start()
            await _webchat_runs(args, gen, contenders)
        finally:
            for contender in contenders:
                contender.server.stop()


async def _webchat_runs(args: argparse.Namespace, gen: Generator, contenders: list[Contender]) -> None:
    print(f"\n## Web chat: POST {WEBCHAT_PATH}, mixed conversations ({load()})", flush=True)
    print(HEADER)
    for rate in args.rates:
        for c in contenders:
            mix = f"{c.name}@{rate:g}"
            job = webchat_job(
                c.server,
                "open",
                mix,
                seed=int(rate),
                rate=rate,
                connections=args.connections,
                duration=0.0,
                wander=args.wander,
            )
            await gen.run(replace(job, duration=args.warmup), "warm-up")
            result = await measure(
                gen, c.server, replace(job, duration=args.duration), f"{c.name} @{rate:g}/s"
            )
            c.runs[rate] = result
            print(row(result), flush=True)
            if c.pipeline:
                print(f"  reference codes in the answers: {result.codes}")
    for c in contenders:
        job = webchat_job(
            c.server,
            "closed",
            f"{c.name} closed",
            seed=7,
            concurrency=args.concurrency,
            duration=args.closed_duration,
        )
        result = await measure(gen, c.server, job, f"{c.name} c={args.concurrency}")
        c.runs["closed"] = result
        print(row(result), flush=True)
    side_by_side(args, contenders)


def side_by_side(args: argparse.Namespace, contenders: list[Contender]) -> None:
    rates: list[float] = args.rates
    print(
        f"\n## Side by side: server CPU per answered message (ms, all threads, /proc/PID/stat), "
        f"closed-loop throughput (c={args.concurrency}), p99 at each offered rate ({load()})"
    )
    head = f"{'server':22} {'cpu closed':>10}"
    head += "".join(f" {f'cpu @{r:g}/s':>11}" for r in rates)
    head += f" {'closed msg/s':>12}"
    head += "".join(f" {f'p99 @{r:g}/s':>12}" for r in rates)
    print(head)
    for c in contenders:
        closed = c.runs["closed"]
        line = f"{c.name:22} {closed.cpu_ms:10.3f}"
        line += "".join(f" {c.runs[r].cpu_ms:11.3f}" for r in rates)
        line += f" {closed.throughput:12.1f}"
        line += "".join(f" {c.runs[r].pct(99):12.2f}" for r in rates)
        print(line)
    baselines = [c for c in contenders if not c.pipeline]
    for pipe in (c for c in contenders if c.pipeline):
        print(f"  {pipe.name}:")
        for base in baselines:
            cpu = times(pipe.runs["closed"].cpu_ms, base.runs["closed"].cpu_ms)
            at = ", ".join(f"{times(pipe.runs[r].cpu_ms, base.runs[r].cpu_ms)} @{r:g}/s" for r in rates)
            through = fraction(pipe.runs["closed"].throughput, base.runs["closed"].throughput)
            print(
                f"    pipeline/{base.name}: CPU per message {cpu} closed loop, {at}; "
                f"closed-loop throughput {through}"
            )


# --- Telegram webhook ------------------------------------------------------------------------------


async def telegram_part(args: argparse.Namespace, tmp: Path, gen: Generator) -> None:
    print(f"\n## Telegram webhook: POST {WEBHOOK_PATH}, secret header, SQLite, fake Bot API ({load()})")
    print("   latency = until the webhook's 200 (the update is queued; handling and paced replies follow)")
    print(HEADER, flush=True)
    echo = Server("echo", [sys.executable, "-m", "bench.echo_app"], {}, tmp / "echo-tg.log")
    await echo.start()
    try:
        async with FakeBotAPI() as api, httpx.AsyncClient(timeout=30) as http:
            # A server stopped with replies still being paced out leaves the fake's requests cut short:
            # not what is measured, and uvicorn would print a traceback for each.
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
            for rate in args.telegram_rates:
                await _telegram_rate(args, tmp, gen, api, http, echo, rate)
    finally:
        echo.stop()


async def _telegram_rate(
    args: argparse.Namespace,
    tmp: Path,
    gen: Generator,
    api: FakeBotAPI,
    http: httpx.AsyncClient,
    echo: Server,
    rate: float,
) -> None:
    env = raabta_env(
        tmp,
        f"telegram{rate:g}",
        RAABTA_TELEGRAM_TOKEN=api.token,
        RAABTA_TELEGRAM_API_URL=api.base_url,
        RAABTA_TELEGRAM_WEBHOOK_URL="https://bench.invalid/webhooks/telegram",
        RAABTA_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    command = [*raabta_command(), "serve"]
    out = tmp / f"profile-telegram{rate:g}.json"
    if args.telegram_profile:
        env["RAABTA_BENCH_PROFILE"] = str(out)
        command = [sys.executable, "-m", "bench.profiled_serve", "serve"]
    server = Server(f"raabta (telegram {rate:g}/s)", command, env, tmp / "tg.log")
    await server.start()
    try:
        mix = f"telegram@{rate:g}"
        await gen.run(telegram_job(server, mix, int(rate), 10, 2, args.connections), "warm-up")
        await _drain(http, server, 20, 60)
        if args.telegram_profile:
            server.signal(signal.SIGUSR1)
            await asyncio.sleep(0.3)
        calls0 = len(api.calls)
        before = await scrape(http, server)
        began, cpu0 = time.monotonic(), server.cpu_seconds()
        job = telegram_job(server, mix, int(rate), rate, args.duration, args.connections)
        result = await measure(gen, server, job, f"raabta telegram @{rate:g}/s")
        print(row(result), flush=True)
        posted = handled(before, "telegram") + result.done
        after, drained = await _drain(http, server, posted, args.drain)
        took, cpu = time.monotonic() - began, server.cpu_seconds() - cpu0
        done = handled(after, "telegram") - handled(before, "telegram")
        sends = [c for c in api.calls[calls0:] if c.method in ("sendMessage", "editMessageText")]
        p50 = histogram_quantile(after, before, "telegram", 0.5)
        p99 = histogram_quantile(after, before, "telegram", 0.99)
        state = "all handled" if drained else f"{posted - handled(after, 'telegram'):.0f} still queued"
        print(
            f"  behind the webhook: {done:.0f} of {result.done} updates handled in {took:.1f} s "
            f"({done / took:.1f}/s, {state}); pipeline time p50 <= {p50:g} ms, p99 <= {p99:g} ms "
            f"(histogram buckets); {len(sends)} sendMessage/editMessageText calls received by the fake "
            f"Bot API ({len(sends) / took:.1f}/s); server CPU {1000 * cpu / max(done, 1):.2f} ms a handled "
            "update (webhook, handling and replies)"
        )
        if args.telegram_profile:
            await _telegram_profile(server, out, max(int(done), 1), 1000 * cpu / max(done, 1))
    finally:
        server.stop(kill=True)
    mix = f"telegram-echo@{rate:g}"
    await gen.run(telegram_job(echo, mix, int(rate), rate, args.warmup, args.connections), "warm-up")
    echoed = await measure(
        gen,
        echo,
        telegram_job(echo, mix, int(rate), rate, args.duration, args.connections),
        f"echo telegram @{rate:g}/s",
    )
    print(row(echoed))
    print(
        f"  raabta/echo: webhook p99 {times(result.pct(99), echoed.pct(99))}, "
        f"CPU per update {times(result.cpu_ms, echoed.cpu_ms)} "
        "(raabta's: the handling done during the run included)",
        flush=True,
    )


def _written(out: Path) -> dict[str, Any] | None:
    """The profile profiled_serve wrote (it renames it into place when complete), or None yet."""
    return json.loads(out.read_text()) if out.exists() else None


async def _telegram_profile(server: Server, out: Path, done: int, cpu_ms: float) -> None:
    """Where the profiled server's CPU went over the run and its drain (`--telegram-profile`)."""
    server.signal(signal.SIGUSR2)
    deadline = time.monotonic() + 30
    while (data := await asyncio.to_thread(_written, out)) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"the profiled server wrote no profile; see {server.log}")
        await asyncio.sleep(0.1)
    print(
        f"  where the profiled server's CPU went ({cpu_ms:.2f} ms a handled update with the profiler; "
        f"{data['events'] / done:,.0f} Python and built-in calls an update; ms/upd: that share of the "
        f"profiled CPU, so overstated by the profiler's cost per call) ({load()})"
    )
    print_parts(data, done, cpu_ms, "upd", top=30)


async def _drain(
    http: httpx.AsyncClient, server: Server, expected: float, patience: float
) -> tuple[Metrics, bool]:
    """Scrape /metrics until `expected` updates were handled or `patience` seconds passed."""
    deadline = time.monotonic() + patience
    while True:
        values = await scrape(http, server)
        if handled(values, "telegram") >= expected:
            return values, True
        if time.monotonic() > deadline:
            return values, False
        await asyncio.sleep(0.5)


# --- memory ----------------------------------------------------------------------------------------


async def memory_part(args: argparse.Namespace, tmp: Path, gen: Generator) -> None:
    total = args.memory_messages
    marks = sorted({total // 10, total // 2, total} - {0})
    server = Server(
        "raabta (memory)", [*raabta_command(), "serve"], raabta_env(tmp, "memory"), tmp / "mem.log"
    )
    await server.start()
    print(f"\n## Memory: RSS of the raabta server over {total:,} web chat messages (closed loop) ({load()})")
    samples: list[tuple[int, float]] = [(0, server.rss_mb())]
    print(f"  at start: {samples[0][1]:.1f} MB", flush=True)
    answered = errors = 0
    elapsed = 0.0
    sessions = 0
    try:
        done = 0
        for mark in marks:
            job = webchat_job(
                server, "closed", "memory", seed=1, concurrency=args.concurrency, total=mark - done
            )
            result = await gen.run(job, "memory")
            done = mark
            answered += result.done
            errors += result.errors
            elapsed += result.elapsed
            sessions = result.sessions
            samples.append((answered, server.rss_mb()))
            print(f"  after {answered:>7,} messages: {samples[-1][1]:.1f} MB", flush=True)
    finally:
        server.stop()
    print(
        f"  {answered:,} answered in {elapsed:.0f} s ({answered / elapsed if elapsed else 0:.0f}/s), "
        f"{errors} errors, {sessions:,} sessions"
    )
    if len(samples) >= 3:
        (_, half), (_, full) = samples[-2], samples[-1]
        print(
            f"  peak {max(v for _, v in samples):.1f} MB; growth {samples[-2][0]:,} -> {samples[-1][0]:,} "
            f"messages: {full - half:+.1f} MB ({100 * (full - half) / half:+.1f}%)"
        )


# --- profile ---------------------------------------------------------------------------------------


async def profile_part(args: argparse.Namespace, tmp: Path, gen: Generator) -> None:
    async with pg_database(args.pg) as pg_url:
        databases = [("SQLite", None)] + ([("PostgreSQL", pg_url)] if pg_url else [])
        for name, url in databases:
            await _profile(args, tmp, gen, name, url)


async def _profile(args: argparse.Namespace, tmp: Path, gen: Generator, name: str, url: str | None) -> None:
    """The same messages to a plain `raabta serve` (the CPU per message without a profiler), then to one
    under bench/profiled_serve.py (where it goes)."""
    total = args.profile_messages
    warm_total = max(200, total // 5)
    plain_url = url
    if url is not None:  # each server gets a fresh database, as the SQLite ones do
        plain_url = await create_database(args.pg, "raabta_bench")
    try:
        env = raabta_env(tmp, f"plain-{name}", database_url=plain_url)
        plain = Server(f"raabta ({name})", [*raabta_command(), "serve"], env, tmp / f"plain-{name}.log")
        await plain.start()
        try:
            await gen.run(_closed(plain, "plain", warm_total, args.concurrency), "warm-up")
            baseline = await measure(gen, plain, _closed(plain, "plain", total, args.concurrency), "plain")
        finally:
            plain.stop()
    finally:
        if plain_url is not None and plain_url != url:
            await drop_database(args.pg, plain_url)
    out = tmp / f"profile-{name}.json"
    env = raabta_env(tmp, f"profile-{name}", database_url=url, RAABTA_BENCH_PROFILE=str(out))
    command = [sys.executable, "-m", "bench.profiled_serve", "serve"]
    server = Server(f"raabta (profiled, {name})", command, env, tmp / f"profile-{name}.log")
    await server.start()
    try:
        await gen.run(_closed(server, "profiled", warm_total, args.concurrency), "warm-up")
        server.signal(signal.SIGUSR1)
        await asyncio.sleep(0.3)
        result = await measure(gen, server, _closed(server, "profiled", total, args.concurrency), "profiled")
        server.signal(signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not out.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"the profiled server wrote no profile; see {server.log}")
            await asyncio.sleep(0.1)
        data = json.loads(out.read_text())
    finally:
        server.stop()
    print_profile(args, name, baseline, result, data)


def _closed(server: Server, mix: str, total: int, concurrency: int) -> Job:
    return webchat_job(server, "closed", mix, seed=3, concurrency=concurrency, total=total)


def print_profile(
    args: argparse.Namespace, name: str, baseline: Result, result: Result, data: dict[str, Any]
) -> None:
    """The profile by part: its share of the profiled server's CPU, that share of the plain server's CPU
    per message, and the calls a message (the profiler's cost is per call: parts of many calls a message
    are overstated, those of few understated)."""
    n = max(result.done, 1)
    plain = baseline.cpu_ms
    print(
        f"\n## Where the pipeline's CPU goes: raabta serve ({name}), {result.done:,} mixed web chat "
        f"messages, closed loop c={args.concurrency} ({load()})"
    )
    print(
        f"   server CPU a message: {plain:.3f} ms without the profiler ({baseline.throughput:.0f} msg/s, "
        f"{baseline.errors} errors), {result.cpu_ms:.3f} ms with it ({result.throughput:.0f} msg/s, "
        f"{result.errors} errors); {data['events'] / n:,.0f} Python and built-in calls a message"
    )
    print(
        "   share: of the profiled server's CPU; ms/msg: that share of the CPU a message without the "
        "profiler. The profiler costs about the same for every call: parts with many calls a message "
        "are overstated."
    )
    print_parts(data, n, plain, "msg")


def print_parts(data: dict[str, Any], n: int, per_unit_ms: float, unit: str, top: int = 15) -> None:
    """The table of parts (share, `per_unit_ms` split by share, calls per `unit`), the CPU by thread and
    the heaviest functions."""
    parts: dict[str, list[float]] = data["parts"]
    parts["outside any call (uvloop's C loop, ...)"] = [data["outside"], 0.0]
    measured = sum(own for own, _ in parts.values())
    print(f"{'part':42} {'share':>7} {f'ms/{unit}':>9} {f'calls/{unit}':>11}")
    for part, (own, events) in sorted(parts.items(), key=lambda kv: kv[1][0], reverse=True):
        share = own / measured if measured else math.nan
        print(f"{part:42} {100 * share:6.1f}% {share * per_unit_ms:9.3f} {events / n:11.0f}")
    print(
        "   by thread (CPU clock, with the profiler): "
        + ", ".join(
            f"{thread} {100 * cpu / measured:.0f}%"
            for thread, (cpu, _seen) in sorted(data["threads"].items(), key=lambda kv: kv[1][0], reverse=True)
            if cpu > 0
        )
    )
    print("   heaviest functions by own CPU (a part marked (caller): the part that called it):")
    for function, part, own, events in data["functions"][:top]:
        print(f"   {100 * own / measured:5.1f}% {events / n:7.0f} calls/{unit}  {part:42} {function}")


# --- main ------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace, gen: Generator) -> None:
    print(machine())
    print(f"command: {' '.join([Path(sys.executable).name, '-m', 'bench.pipeline', *sys.argv[1:]])}")
    print(f"raabta's code: {TREE or 'this checkout'}")
    print(
        f"load generator: {gen.workers} worker processes, raw keep-alive HTTP/1.1 "
        f"(open loop: at most {args.connections} connections)"
    )
    # Stopped (timeout, kill): cancel, so that the finally blocks stop the servers and drop the database.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    tmp = Path(tempfile.mkdtemp(prefix="raabta-bench-"))
    try:
        if args.profile:
            await profile_part(args, tmp, gen)
            return
        if "webchat" not in args.skip:
            await webchat_part(args, tmp, gen)
        if "telegram" not in args.skip:
            await telegram_part(args, tmp, gen)
        if "memory" not in args.skip:
            await memory_part(args, tmp, gen)
    finally:
        print(f"\nat the end: {load()}")
        if args.keep:
            print(f"\nserver logs and databases kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def rates(text: str) -> list[float]:
    return [float(r) for r in text.split(",") if r.strip()]


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.pipeline",
        description=__doc__.split("\n\n")[0],
        epilog="What each part measures: the module's docstring (bench/pipeline.py), docs/benchmarks.md.",
    )
    parser.add_argument(
        "--rates",
        type=rates,
        default=[100.0, 200.0],
        help="web chat open-loop arrival rates, messages/s (default 100,200)",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per open-loop run")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of warm-up before each open-loop run"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="clients in the closed-loop runs")
    parser.add_argument("--closed-duration", type=float, default=15.0, help="seconds per closed-loop run")
    parser.add_argument(
        "--connections", type=int, default=256, help="open loop: most connections to a server"
    )
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--wander",
        type=float,
        default=2.0,
        help="web chat open loop: mean seconds a person reads an answer before the next step "
        "(exponential; 0: the sessions move in lock-step, see bench.loadgen.Mix)",
    )
    parser.add_argument(
        "--telegram-rates",
        type=rates,
        default=[100.0, 200.0, 300.0],
        help="Telegram updates/s offered (default 100,200,300)",
    )
    parser.add_argument("--drain", type=float, default=30.0, help="seconds to wait for Telegram's backlog")
    parser.add_argument(
        "--telegram-profile",
        action="store_true",
        help="run the Telegram servers under bench/profiled_serve.py and print where their CPU went",
    )
    parser.add_argument(
        "--memory-messages", type=int, default=100_000, help="web chat messages of the memory part"
    )
    parser.add_argument(
        "--pg",
        metavar="URL",
        help="also run the pipeline on PostgreSQL (postgresql+asyncpg://...), in a database of its own "
        "created on that server and dropped after",
    )
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: webchat,telegram,memory")
    parser.add_argument(
        "--profile", action="store_true", help="only the CPU breakdown of the pipeline by part"
    )
    parser.add_argument(
        "--profile-messages", type=int, default=5000, help="web chat messages sampled by --profile"
    )
    parser.add_argument("--keep", action="store_true", help="keep the server logs and databases")
    parser.add_argument(
        "--tree",
        help="run the raabta servers on the code of another checkout (e.g. `git worktree add /tmp/base "
        "<commit>`), so a version before and after a change compare against the same floor app",
    )
    args = parser.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


if __name__ == "__main__":
    options = arguments()
    TREE = os.path.abspath(options.tree) if options.tree else None
    with Generator(options.workers) as generator:  # forked before anything else starts a thread
        try:
            asyncio.run(main(options, generator))
        except (KeyboardInterrupt, asyncio.CancelledError):
            sys.exit("bench.pipeline: stopped")
