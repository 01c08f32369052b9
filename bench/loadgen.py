"""A load generator light enough not to be the bottleneck: raw keep-alive HTTP/1.1 from worker processes.

Used by bench.pipeline. Standard library only, so that the worker processes carry nothing else.

- Each worker process runs one asyncio event loop with `asyncio.Protocol` connections (no streams, no
  HTTP library): a request is pre-built bytes (a fixed head per path, then Content-Length and the JSON
  body); of an answer only the status line and Content-Length are parsed, and the body is kept only to
  count the reference codes in it. Connections are kept alive and reused; one request at a time on each
  (no pipelining), as a browser or Telegram does.
- Open loop: the total arrival rate is split across the workers (arrival i goes to worker i mod W, at
  start + i / rate), each request is sent at its scheduled time whatever the answers so far, and its
  latency runs from that scheduled time to the end of the answer: time spent waiting for a free
  connection or in the server's queue counts (no coordinated omission). At most `connections` are open
  (shared by the workers); a request waits for one when all are busy.
- Closed loop: `concurrency` clients (shared by the workers), each on its own connection sending back to
  back, for a duration or until a number of answers.
- Conversations: the requests are steps of conversations (reports with links, greetings and the learn
  cards, the family pages, reference-code look-ups) over many sessions; a session sends its next step only
  after the answer to its previous one, and new sessions open whenever none is waiting. Each worker keeps
  its sessions between runs that name the same mix (a warm-up and the run after it).
- Clocks: `time.monotonic()` is one clock for all processes (CLOCK_MONOTONIC), so the parent sets the start
  time of a run and every worker schedules against it.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import heapq
import itertools
import json
import math
import multiprocessing
import random
import re
import signal
import statistics
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection as Pipe
from types import TracebackType
from typing import Any

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
SESSION_POOL = 300  # conversations in progress at the start of a run (all workers together)


@dataclass
class Session:
    id: str
    chat_id: int
    steps: list[Step]
    at: int = 0
    ready: float = 0.0  # loop time from which it sends its next step (after its think time)


class Mix:
    """Sessions waiting to send their next step, the first ready first; a new one is opened whenever none
    is ready. Chat ids (Telegram) are `chat_base` + a counter, so that the workers' chats never collide.

    `think`: seconds every session waits after an answer; `wander`: the mean of a random wait on top
    (exponential), as people read at their own pace. Why it matters: with no random wait the sessions
    opened together move in step, one step each per round of the pool, so the report sessions among the
    first 300 all send "Submit" within the same second and a 200 msg/s run carries a burst of 100 reports
    a second (issue 23's p99 spikes). With it their steps drift apart within a few rounds, as a day's
    citizens do; `bench.pipeline --wander 0` still runs the steps in lock-step."""

    def __init__(self, seed: int, pool: int, chat_base: int, think: float = 0.0, wander: float = 0.0) -> None:
        self.think = think  # seconds a person takes to read an answer before the next step
        self.wander = wander
        self.rng = random.Random(seed)
        self.idle: list[tuple[float, int, Session]] = []  # a heap by (ready, order)
        self.order = itertools.count()
        self.chat_base = chat_base
        self.opened = 0
        self.finished = 0
        for _ in range(pool):
            self.idle.append((0.0, next(self.order), self._new()))

    def _new(self) -> Session:
        make = self.rng.choices([s for s, _ in SCRIPTS], weights=[w for _, w in SCRIPTS])[0]
        self.opened += 1
        session_id = f"{self.rng.getrandbits(128):032x}"
        return Session(session_id, self.chat_base + self.opened, make(self.rng))

    def take(self, now: float = 0.0) -> tuple[Session, Step]:
        ready = self.idle and self.idle[0][0] <= now
        session = heapq.heappop(self.idle)[2] if ready else self._new()
        step = session.steps[session.at]
        session.at += 1
        return session, step

    def back(self, session: Session, now: float = 0.0) -> None:
        session.ready = now + self.think
        if self.wander:
            session.ready += self.rng.expovariate(1.0 / self.wander)
        if session.at >= len(session.steps):
            self.finished += 1
            session = self._new()  # in its place, ready at once: a new citizen
            session.ready = now
        heapq.heappush(self.idle, (session.ready, next(self.order), session))


# --- requests --------------------------------------------------------------------------------------


def request_head(path: str, port: int, headers: dict[str, str]) -> bytes:
    """Everything of a POST up to the Content-Length value: fixed for a path, built once."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")


def webchat_body(session: Session, step: Step) -> bytes:
    """A step as the chat page posts it: with an id of its own, which the page makes for every message (and
    sends again on a retry) so that the server handles it once. Unique: the session's random id and the
    step's number in it."""
    kind, value = step
    body = {"session": session.id, kind: value, "id": f"{session.id}-{session.at}"}
    return json.dumps(body, ensure_ascii=False).encode()


class TelegramUpdates:
    """The same steps as Bot API updates: text as a private message, a choice as a button press. Update ids
    are `base` + a counter: each worker has a base of its own, so ids never collide."""

    def __init__(self, base: int) -> None:
        self.update_id = base
        self.message_id = 10

    def __call__(self, session: Session, step: Step) -> bytes:
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
        return json.dumps(update, ensure_ascii=False).encode()


# --- raw HTTP/1.1 ----------------------------------------------------------------------------------


class ProtocolError(Exception):
    """An answer this generator does not read (no Content-Length: chunked, or not HTTP)."""


class Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time; parses the status line and Content-Length."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.used = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if not head.startswith(b"http/1.") or at < 0:
            self._fail(ProtocolError(head[:200].decode("latin-1", "replace")))
            return
        stop = head.find(b"\r\n", at + 2)
        total = end + 4 + int(head[at + 17 : stop if stop >= 0 else len(head)])
        if len(buffer) < total:
            return
        body = bytes(buffer[end + 4 : total])
        del buffer[:total]
        if b"\r\nconnection: close" in head:
            self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("connection closed by the server"))

    def _fail(self, exc: Exception) -> None:
        self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self.waiter is None
        self.waiter = self.loop.create_future()
        self.transport.write(data)
        return self.waiter


class Pool:
    """At most `limit` connections to one server; a request waits (FIFO) for one when all are busy."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port: int, limit: int) -> None:
        self.loop = loop
        self.port = port
        self.limit = max(1, limit)
        self.idle: list[Connection] = []
        self.count = 0
        self.waiters: deque[asyncio.Future[Connection | None]] = deque()
        self.all: set[Connection] = set()

    async def _open(self) -> Connection:
        try:
            _, conn = await self.loop.create_connection(lambda: Connection(self.loop), "127.0.0.1", self.port)
        except BaseException:
            self.count -= 1  # the slot taken for it
            self._freed()
            raise
        self.all.add(conn)
        return conn

    async def acquire(self) -> Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self._drop(conn)
        if self.count < self.limit:
            self.count += 1
            return await self._open()
        waiter: asyncio.Future[Connection | None] = self.loop.create_future()
        self.waiters.append(waiter)
        given = await waiter
        return given if given is not None else await self._open()  # None: a slot to open one in

    def release(self, conn: Connection) -> None:
        if conn.closed:
            self._drop(conn)
            self._freed()
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    def _drop(self, conn: Connection) -> None:
        conn.close()
        self.all.discard(conn)
        self.count -= 1

    def _freed(self) -> None:
        """A slot is free: hand it to the first waiter (which opens a connection), else count it free."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.count += 1
                waiter.set_result(None)
                return

    def close(self) -> None:
        for conn in self.all:
            conn.close()
        self.all.clear()
        self.idle.clear()


async def exchange(pool: Pool, data: bytes) -> tuple[int, bytes]:
    """One request and its answer. A kept-alive connection the server closed while idle is retried once."""
    for attempt in (1, 2):
        conn = await pool.acquire()
        reused = conn.used
        try:
            answer = await conn.send(data)
        except ConnectionError:
            pool.release(conn)
            if reused and attempt == 1:
                continue
            raise
        except BaseException:
            conn.close()
            pool.release(conn)
            raise
        conn.used = True
        pool.release(conn)
        return answer
    raise AssertionError("unreachable")


# --- runs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One run, as the parent describes it; each worker takes its share (`index` of `workers`)."""

    mode: str  # "open" | "closed"
    port: int
    path: str
    headers: tuple[tuple[str, str], ...]
    traffic: str  # "webchat" | "telegram": how a step becomes a body
    mix: str  # sessions are kept per name across runs
    seed: int
    rate: float = 0.0  # open loop: arrivals a second, all workers together
    duration: float | None = None
    concurrency: int = 32  # closed loop: clients, all workers together
    total: int | None = None  # closed loop: stop after this many requests (all workers together)
    connections: int = 256  # open loop: connections, all workers together
    timeout: float = 30.0  # seconds to wait for what is still in flight after the last arrival
    # Open loop: seconds a session waits after an answer before its next step (new sessions fill in),
    # and the mean of a random wait on top (Mix).
    think: float = 0.0
    wander: float = 0.0
    start_at: float = 0.0  # time.monotonic() of the first arrival
    index: int = 0
    workers: int = 1

    def share(self, n: int) -> int:
        return n // self.workers + (1 if self.index < n % self.workers else 0)


CODE = re.compile(rb"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")
ERRORS = (OSError, ConnectionError, ProtocolError)


@dataclass
class Outcome:
    """What one worker saw in one run."""

    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))  # s, answers < 400
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0  # refused or closed connections, unreadable answers, still waiting at the end
    codes: int = 0  # answers with a reference code in them
    last: float = 0.0  # time.monotonic() of the last answer
    cpu: float = 0.0  # seconds of this worker's CPU during the run
    sessions: int = 0  # sessions this worker's mix has opened so far
    error: str = ""  # the run failed in the worker: why

    def record(self, status: int, body: bytes, latency: float, now: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.last = now
        if status < 400:
            self.latencies.append(latency)
            if b"-" in body and CODE.search(body):
                self.codes += 1


async def _sleep_until(loop: asyncio.AbstractEventLoop, at: float) -> None:
    delay = at - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def open_loop(job: Job, mix: Mix, build: Callable[[Session, Step], bytes], out: Outcome) -> None:
    loop = asyncio.get_running_loop()
    pool = Pool(loop, job.port, job.share(job.connections))
    head = request_head(job.path, job.port, dict(job.headers))
    pending: set[asyncio.Task[None]] = set()

    async def one(session: Session, step: Step, due: float) -> None:
        body = build(session, step)
        try:
            status, answer = await exchange(pool, head + str(len(body)).encode() + b"\r\n\r\n" + body)
        except ERRORS:
            out.failures += 1
        else:
            now = loop.time()
            out.record(status, answer, now - due, now)
        finally:
            mix.back(session, loop.time())

    assert job.duration is not None
    count = int(job.rate * job.duration)
    await _sleep_until(loop, job.start_at)
    for i in range(job.index, count, job.workers):
        due = job.start_at + i / job.rate
        await _sleep_until(loop, due)
        session, step = mix.take(loop.time())
        task = loop.create_task(one(session, step, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        _, late = await asyncio.wait(pending, timeout=job.timeout)
        for task in late:
            task.cancel()
        out.failures += len(late)
        await asyncio.gather(*late, return_exceptions=True)
    pool.close()


async def closed_loop(job: Job, mix: Mix, build: Callable[[Session, Step], bytes], out: Outcome) -> None:
    loop = asyncio.get_running_loop()
    clients = job.share(job.concurrency)
    if clients == 0:
        return
    pool = Pool(loop, job.port, clients)
    head = request_head(job.path, job.port, dict(job.headers))
    stop_at = job.start_at + job.duration if job.duration is not None else math.inf
    budget = job.share(job.total) if job.total is not None else None
    sent = 0
    in_flight = 0

    async def client() -> None:
        nonlocal sent, in_flight
        while loop.time() < stop_at and (budget is None or sent < budget):
            sent += 1
            session, step = mix.take()
            body = build(session, step)
            start = loop.time()
            in_flight += 1
            try:
                status, answer = await exchange(pool, head + str(len(body)).encode() + b"\r\n\r\n" + body)
            except ERRORS:
                out.failures += 1
                await asyncio.sleep(0.01)  # a refused connection is not a request answered
            else:
                now = loop.time()
                out.record(status, answer, now - start, now)
            finally:
                in_flight -= 1
                mix.back(session)

    opened: list[Connection] = []
    with contextlib.suppress(*ERRORS):  # connect before the clock starts (the clients count refusals)
        for _ in range(clients):
            opened.append(await pool.acquire())
    for conn in opened:
        pool.release(conn)
    await _sleep_until(loop, job.start_at)
    tasks = [loop.create_task(client()) for _ in range(clients)]
    patience = (stop_at - loop.time() if job.duration is not None else 86_400.0) + job.timeout
    _, late = await asyncio.wait(tasks, timeout=patience)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    out.failures += in_flight
    pool.close()


def worker_main(pipe: Pipe, index: int, workers: int) -> None:
    """A worker process: runs the jobs the parent sends (None ends it), answers each with an Outcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mixes: dict[str, Mix] = {}
    updates = TelegramUpdates(800_000_000 + index * 50_000_000)
    while True:
        job: Job | None = pipe.recv()
        if job is None:
            break
        mix = mixes.get(job.mix)
        if mix is None:
            base = 500_000_000 + index * 20_000_000
            mix = Mix(job.seed * 1009 + index, SESSION_POOL // workers, base, job.think, job.wander)
            mixes[job.mix] = mix
        build: Callable[[Session, Step], bytes] = updates if job.traffic == "telegram" else webchat_body
        out = Outcome()
        cpu = time.process_time()
        run = open_loop if job.mode == "open" else closed_loop
        try:
            loop.run_until_complete(run(job, mix, build, out))
        except Exception as exc:  # reported by the parent rather than lost with this process
            out.error = f"{type(exc).__name__}: {exc}"
        out.cpu = time.process_time() - cpu
        out.sessions = mix.opened
        pipe.send(out)
    loop.close()


# --- the parent's side -----------------------------------------------------------------------------


@dataclass
class Result:
    """One run, all workers together."""

    label: str
    offered: float | None = None  # arrivals a second (open loop)
    latencies: list[float] = field(default_factory=list)  # seconds, answers < 400
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0
    codes: int = 0
    elapsed: float = 0.0  # from the first scheduled arrival to the last answer
    client_cpu: float = 0.0  # seconds of CPU of all the workers
    server_cpu: float = 0.0  # seconds of CPU of the server process (all threads), set by the caller
    sessions: int = 0

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return self.failures + sum(n for status, n in self.statuses.items() if status >= 400)

    def explain_errors(self) -> str:
        parts = [f"{n} x HTTP {status}" for status, n in sorted(self.statuses.items()) if status >= 400]
        if self.failures:
            parts.append(f"{self.failures} refused, closed or timed out")
        return ", ".join(parts)

    @property
    def throughput(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms(self) -> float:
        """Server CPU per answered message, in ms."""
        return 1000 * self.server_cpu / self.done if self.done else math.nan

    def pct(self, q: float) -> float:
        """The q-th percentile of latency in ms."""
        if len(self.latencies) < 2:
            return math.nan
        return 1000 * statistics.quantiles(self.latencies, n=1000, method="inclusive")[int(q * 10) - 1]


class Generator:
    """`workers` processes, started (forked) before anything else runs in the parent: no threads yet."""

    LEAD = 0.25  # seconds between sending a job and its first arrival

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("fork")
        self.workers = workers
        self.pipes: list[Pipe] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for index in range(workers):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=worker_main, args=(theirs, index, workers), name=f"loadgen-{index}", daemon=True
            )
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)

    def __enter__(self) -> Generator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()

    async def run(self, job: Job, label: str) -> Result:
        loop = asyncio.get_running_loop()
        start_at = time.monotonic() + self.LEAD
        for index, pipe in enumerate(self.pipes):
            pipe.send(replace(job, start_at=start_at, index=index, workers=self.workers))
        outcomes: list[Outcome] = await asyncio.gather(
            *(loop.run_in_executor(None, pipe.recv) for pipe in self.pipes)
        )
        failed = [out.error for out in outcomes if out.error]
        if failed:
            raise RuntimeError(f"load generator ({label}): {failed[0]}")
        result = Result(label, offered=job.rate if job.mode == "open" else None)
        for out in outcomes:
            result.latencies.extend(out.latencies)
            for status, n in out.statuses.items():
                result.statuses[status] = result.statuses.get(status, 0) + n
            result.failures += out.failures
            result.codes += out.codes
            result.client_cpu += out.cpu
            result.sessions += out.sessions
        last = max((out.last for out in outcomes), default=start_at)
        result.elapsed = max(last - start_at, job.duration or 0.0) if job.mode == "open" else last - start_at
        return result
