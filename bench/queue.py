"""The analysts' queue under load: claims per second with 1, 4 and 8 concurrent consumers.

Usage: .venv/bin/python -m bench.queue [--cases 10000] [--backends sqlite,postgres]

For each backend, consumer count and batch size (`limit=1`, then `limit=10`) the queue is seeded with
`--cases` fresh cases (bulk inserted with SQLAlchemy Core; the bench, not the product, does that), then N
asyncio tasks sharing one Storage (the app's real engines and pools) call `Queue.claim` in a loop until
the queue is empty. Reported: wall time, cases claimed per second, claim calls per second, p50/p99 latency
of one `claim()` call, the share of the wall time this Python process spent on CPU, and double claims (a
case id returned by two claims; must be 0). After each run the database is checked too: every case
`in_review` exactly once, one `case.claimed` audit event per case, and an unbroken audit chain.

PostgreSQL runs in a database of its own (`raabta_bench_<random>`) created on the server of
`--postgres-url` and dropped at the end; SQLite in a temporary file.

Each run also reports how many claim calls a group served (storage.claimgroup) and, on PostgreSQL, how
many groups the function of migration 0020 turned down (claimed again in a transaction; 0 when this
process is the only claimer).

`--diagnose` adds runs with `storage.audit.append_by` replaced by a no-op (a ceiling, not a product
option) and prints, for 8 consumers, where a claim call's time goes, statement by statement. Both see only
the claims made in a transaction through SQLAlchemy: SQLite's, and on PostgreSQL those the function
turned down; PostgreSQL's other groups are two statements on the driver's connection, which neither sees.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select, text

from storage import audit
from storage.queue import Queue, claim_groups
from storage.repository import Storage
from storage.schema import audit_events, cases
from tests.pgdb import scratch_database

DEFAULT_PG = os.environ.get("RAABTA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
CATEGORIES = ("violent_threat", "recruitment", "propaganda", "hate_speech", "financing", "other")
PLATFORMS = ("telegram", "facebook", "x", "youtube", "tiktok", "whatsapp", "web")
TARGET_PG_8 = 2_000.0  # claims/s with 8 consumers on PostgreSQL (issue 6)


@contextlib.contextmanager
def audit_disabled() -> Iterator[None]:
    """Diagnosis only: claims write no audit event, to see what the audit append costs."""
    original = audit.append_by

    async def nothing(*_args: Any, **_kwargs: Any) -> None:
        return None

    audit.append_by = nothing
    try:
        yield
    finally:
        audit.append_by = original


@dataclass(frozen=True)
class Variant:
    name: str
    about: str
    audited: bool = True


VARIANTS = (
    Variant("shipped", "storage.queue.Queue.claim as it is"),
    Variant("no-audit", "shipped, with the audit append a no-op: a ceiling, not an option", audited=False),
)


# --- databases -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(backend: str, pg_url: str) -> AsyncIterator[str]:
    """The URL of an empty database for `backend`, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="raabta_bench_") as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/queue.db"
        return
    async with scratch_database(pg_url, "raabta_bench") as url:
        yield url


def case_rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(count):
        first = base + timedelta(minutes=rng.randrange(60 * 24 * 90))
        reports = rng.randint(1, 12)
        rows.append(
            {
                "canonical_url": f"https://t.me/bench_{i}",
                "platform": rng.choice(PLATFORMS),
                "status": "new",
                "urgent": rng.random() < 0.05,
                "priority": round(rng.uniform(0, 100), 3),
                "categories": rng.sample(CATEGORIES, rng.randint(1, 2)),
                "report_count": reports,
                "reporter_count": rng.randint(1, reports),
                "first_seen": first,
                "last_seen": first + timedelta(minutes=rng.randrange(60 * 24 * 7)),
                "updated_at": first,
            }
        )
    return rows


async def reseed(storage: Storage, count: int) -> None:
    """An empty audit log and `count` new cases, statistics fresh."""
    async with storage.writer.begin() as conn:
        if storage.dialect == "postgresql":
            await conn.execute(text("TRUNCATE cases, audit_events RESTART IDENTITY CASCADE"))
        else:
            await conn.execute(audit_events.delete())
            await conn.execute(cases.delete())
        rows = case_rows(count, seed=count)
        for start in range(0, count, 2_000):
            await conn.execute(cases.insert(), rows[start : start + 2_000])
    async with storage.writer.connect() as conn:
        if storage.dialect == "postgresql":
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM ANALYZE cases"))
            await auto.execute(text("VACUUM ANALYZE audit_events"))
        else:
            await conn.execute(text("ANALYZE"))
            await conn.commit()


async def warm(storage: Storage, consumers: int) -> None:
    """Open as many pooled connections as there are consumers, so the timing leaves out connecting."""

    async def ping() -> None:
        async with storage.writer.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(ping() for _ in range(consumers)))


async def check_database(storage: Storage, expected: int, audited: bool) -> list[str]:
    """What the database says after a run; empty when it agrees with the claims."""
    problems = []
    async with storage.reader.connect() as conn:
        grouped = select(cases.c.status, func.count()).group_by(cases.c.status)
        by_status: dict[str, int] = {s: n for s, n in (await conn.execute(grouped)).all()}
        claimed_events = await conn.scalar(
            select(func.count()).select_from(audit_events).where(audit_events.c.action == "case.claimed")
        )
        subjects = await conn.scalar(
            select(func.count(func.distinct(audit_events.c.subject))).where(
                audit_events.c.action == "case.claimed"
            )
        )
        broken = await audit.first_broken(conn)
    if by_status != {"in_review": expected}:
        problems.append(f"statuses after the run: {by_status}")
    events = expected if audited else 0
    if claimed_events != events or subjects != events:
        problems.append(f"{claimed_events} case.claimed events for {subjects} cases (expected {events})")
    if broken is not None:
        problems.append(f"audit chain broken at id {broken}")
    return problems


# --- the run ---------------------------------------------------------------------------------------

STATEMENTS = (  # (what, how the SQL starts), to sum time per kind of statement
    ("BEGIN IMMEDIATE (SQLite: waits for the writer)", "BEGIN IMMEDIATE"),
    ("pick ids (two index-ordered arms)", "WITH expired AS"),
    ("UPDATE cases ... RETURNING", "UPDATE cases"),
    ("advisory lock (waits for other appends)", "SELECT pg_advisory_xact_lock"),
    ("audit head read", "SELECT audit_events.hash"),
    ("audit INSERT", "INSERT INTO audit_events"),
)


class StatementClock:
    """Wall time per kind of statement on the writer engine (includes waiting for locks)."""

    def __init__(self, storage: Storage) -> None:
        self.totals: dict[str, list[float]] = {}
        engine = storage.writer.sync_engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, _sql: str, *_args: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        elapsed = time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())
        flat = " ".join(sql.split())
        kind = next((what for what, start in STATEMENTS if flat.startswith(start)), "other: " + flat[:40])
        total = self.totals.setdefault(kind, [0.0, 0.0])
        total[0] += 1
        total[1] += elapsed

    def take(self) -> dict[str, list[float]]:
        totals, self.totals = self.totals, {}
        return totals


@dataclass
class Result:
    backend: str
    variant: str
    consumers: int
    limit: int
    claimed: int
    calls: int
    wall: float
    cpu: float
    latencies: list[float]
    doubles: int
    problems: list[str]
    statements: dict[str, list[float]]
    load: float  # the 1-minute load average when the run ended: other work on the machine
    server_cpu: float | None  # seconds of PostgreSQL backend CPU during the run (None: not measured)
    groups: int  # claim groups run (storage.claimgroup)
    fallbacks: int  # groups the function (migration 0020) turned down, claimed again in a transaction

    @property
    def per_second(self) -> float:
        return self.claimed / self.wall

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.wall

    @property
    def cpu_ms(self) -> float:
        """This process's CPU (with SQLite: the database's too) per claim call."""
        return 1000 * self.cpu / max(1, self.calls)

    @property
    def server_ms(self) -> float | None:
        """PostgreSQL's backend CPU per claim call."""
        return None if self.server_cpu is None else 1000 * self.server_cpu / max(1, self.calls)

    def ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def server_pids(storage: Storage) -> list[int]:
    """The PostgreSQL backends serving the bench database (the pool's connections)."""
    if storage.dialect != "postgresql":
        return []
    query = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    async with storage.reader.connect() as conn:
        return [int(pid) for pid in (await conn.scalars(query)).all()]


def cpu_seconds(pids: list[int]) -> dict[int, float] | None:
    """User + system CPU of each process from /proc (the server must run on this machine), or None."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone, or not ours to read
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick
    return seconds if seconds or not pids else None


async def run_once(
    storage: Storage,
    clock: StatementClock,
    backend: str,
    variant: Variant,
    consumers: int,
    limit: int,
    count: int,
) -> Result:
    await reseed(storage, count)
    await warm(storage, consumers)
    queue = Queue(storage)
    grouping = claim_groups(storage)
    groups0, fallbacks0 = grouping.groups, grouping.fallbacks
    got: list[list[int]] = [[] for _ in range(consumers)]
    latencies: list[list[float]] = [[] for _ in range(consumers)]

    async def consumer(n: int) -> None:
        name = f"analyst-{n}"
        while True:
            t0 = time.perf_counter()
            items = await queue.claim(name, limit=limit)
            latencies[n].append(time.perf_counter() - t0)
            if not items:
                return
            got[n].extend(int(item["id"]) for item in items)

    guard = contextlib.nullcontext() if variant.audited else audit_disabled()
    with guard:
        server0 = cpu_seconds(await server_pids(storage))
        clock.take()
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(consumer(n) for n in range(consumers)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        statements = clock.take()
        server1 = cpu_seconds(await server_pids(storage))
    server = None
    if server0 is not None and server1 is not None and storage.dialect == "postgresql":
        server = sum(after - server0.get(pid, 0.0) for pid, after in server1.items())
    counts = Counter(case_id for ids in got for case_id in ids)
    doubles = sum(c - 1 for c in counts.values() if c > 1)
    problems = await check_database(storage, count, audited=variant.audited)
    if len(counts) != count:
        problems.append(f"{len(counts)} distinct cases claimed of {count}")
    return Result(
        backend,
        variant.name,
        consumers,
        limit,
        claimed=sum(counts.values()),
        calls=sum(len(lat) for lat in latencies) - consumers,  # the last, empty call of each consumer
        wall=wall,
        cpu=cpu,
        latencies=[x for lat in latencies for x in lat],
        doubles=doubles,
        problems=problems,
        statements=statements,
        load=os.getloadavg()[0],
        server_cpu=server,
        groups=grouping.groups - groups0,
        fallbacks=grouping.fallbacks - fallbacks0,
    )


async def server_facts(storage: Storage) -> str:
    async with storage.reader.connect() as conn:
        if storage.dialect == "postgresql":
            version = await conn.scalar(text("SHOW server_version"))
            settings = []
            for name in ("fsync", "synchronous_commit", "wal_sync_method", "shared_buffers"):
                settings.append(f"{name}={await conn.scalar(text(f'SHOW {name}'))}")
            return f"PostgreSQL {version} ({', '.join(settings)}; pool 10+10, no pre-ping; claims grouped)"
        version = await conn.scalar(text("SELECT sqlite_version()"))
        mode = await conn.scalar(text("PRAGMA journal_mode"))
        level = await conn.scalar(text("PRAGMA synchronous"))
        sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, level)
        return f"SQLite {version} (journal_mode={mode}, synchronous={sync}, one writer; claims grouped)"


async def calibrate(storage: Storage, rounds: int = 500) -> str:
    """The floor under any claim on this machine: an empty write transaction through the app's engine."""
    async with storage.writer.begin() as conn:
        await conn.execute(text("SELECT 1"))
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        async with storage.writer.begin() as conn:
            await conn.execute(text("SELECT 1"))
    wall, cpu = (time.perf_counter() - t0) / rounds, (time.process_time() - cpu0) / rounds
    return (
        f"empty write transaction (checkout, BEGIN, SELECT 1, COMMIT), one at a time: "
        f"{1000 * wall:.2f} ms wall, {1000 * cpu:.2f} ms of this process's CPU"
    )


async def bench_backend(
    backend: str,
    pg_url: str,
    count: int,
    consumer_counts: list[int],
    limits: list[int],
    variants: list[Variant],
    on_result: Callable[[Result], Awaitable[None]],
) -> str:
    async with database(backend, pg_url) as url:
        storage = Storage(url)
        try:
            await storage.upgrade()
            facts = f"{await server_facts(storage)}\n    {await calibrate(storage)}"
            clock = StatementClock(storage)
            for variant in variants:
                for limit in limits:
                    for consumers in consumer_counts:
                        result = await run_once(storage, clock, backend, variant, consumers, limit, count)
                        await on_result(result)
        finally:
            await storage.close()
    return facts


WIDTH = max(len(v.name) for v in VARIANTS)


def header() -> str:
    return (
        f"{'backend':9} {'variant':{WIDTH}} {'limit':>5} {'consumers':>9} {'cases/s':>8} {'calls/s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'wall s':>7} {'py CPU':>6} {'py ms':>6} {'db ms':>6} {'load':>5} "
        f"{'/group':>6} {'fallbk':>6} {'double':>6}  check"
    )


def line(r: Result) -> str:
    db = "-" if r.server_ms is None else f"{r.server_ms:.2f}"
    return (
        f"{r.backend:9} {r.variant:{WIDTH}} {r.limit:>5} {r.consumers:>9} {r.per_second:>8.0f} "
        f"{r.calls_per_second:>8.0f} {r.ms(50):>7.2f} {r.ms(99):>7.2f} {r.wall:>7.2f} "
        f"{r.cpu / r.wall:>6.0%} {r.cpu_ms:>6.2f} {db:>6} {r.load:>5.1f} "
        f"{(r.calls + r.consumers) / max(1, r.groups):>6.1f} {r.fallbacks:>6} "
        f"{r.doubles:>6}  {'; '.join(r.problems) or 'ok'}"
    )


def breakdown(r: Result) -> list[str]:
    """Where one claim call's time goes: wall time per statement kind, per call."""
    calls = r.calls + r.consumers
    lines = [f"{r.backend}, {r.variant}, limit={r.limit}, {r.consumers} consumers: ms per claim call"]
    accounted = 0.0
    for kind, (n, seconds) in sorted(r.statements.items(), key=lambda kv: -kv[1][1]):
        accounted += seconds
        lines.append(f"  {1000 * seconds / calls:7.2f}  {kind} (x{n / calls:.1f})")
    rest = sum(r.latencies) - accounted
    lines.append(f"  {1000 * rest / calls:7.2f}  the rest: pool checkout, COMMIT, Python")
    return lines


def machine() -> str:
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        ram = f"{kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        ram = "RAM unknown"
    cpus = f"nproc {len(os.sched_getaffinity(0))} ({os.cpu_count()} CPUs)"
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return f"{cpus}, {ram}, Python {sys.version.split()[0]}{load}"


def ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


async def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.queue", description=doc.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument("--consumers", type=ints, default=[1, 4, 8], help="comma-separated, e.g. 1,4,8")
    parser.add_argument("--limits", type=ints, default=[1, 10], help="claim batch sizes, e.g. 1,10")
    parser.add_argument("--postgres-url", default=DEFAULT_PG, help="a database on the server to use")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also run the bench-local variants: " + "; ".join(f"{v.name}: {v.about}" for v in VARIANTS[1:]),
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := [b for b in backends if b not in ("sqlite", "postgres")]:
        parser.error(f"unknown backend {unknown[0]!r}")
    variants = list(VARIANTS) if args.diagnose else [VARIANTS[0]]

    print(f"{args.cases} cases per run; {machine()}")
    print(header(), flush=True)
    results: list[Result] = []

    async def show(result: Result) -> None:
        results.append(result)
        print(line(result), flush=True)

    facts = [
        await bench_backend(b, args.postgres_url, args.cases, args.consumers, args.limits, variants, show)
        for b in backends
    ]
    for fact in facts:
        print(f"  {fact}")
    print(f"  after the runs: {machine().rsplit(', ', 1)[-1]}")
    if args.diagnose:
        for r in results:
            if r.consumers == max(args.consumers):
                print("\n".join(breakdown(r)))

    shipped = [r for r in results if r.variant == VARIANTS[0].name]
    print(f"double claims, all runs: {sum(r.doubles for r in results)}")
    for r in shipped:
        if r.backend == "postgres" and r.consumers == 8:
            verdict = "meets" if r.per_second >= TARGET_PG_8 else "misses"
            target = f"the {TARGET_PG_8:.0f}/s target"
            print(
                f"PostgreSQL, 8 consumers, limit={r.limit}: {r.per_second:.0f} cases claimed/s "
                f"({r.calls_per_second:.0f} claim calls/s) {verdict} {target}"
            )
    return 1 if any(r.doubles or r.problems for r in results) else 0


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # so `kill` still drops the PostgreSQL database and the SQLite directory


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(asyncio.run(main()))
