"""`raabta serve` with a CPU profiler in every thread, for `python -m bench.pipeline --profile`.

Usage: RAABTA_BENCH_PROFILE=OUT.json .venv/bin/python -m bench.profiled_serve serve [--host H] [--port P]

The arguments go to `raabta` (bot.cli.main) unchanged, so the server is the real one: the same app, the
same uvicorn protocol, loop and options. Before it starts, every thread gets a cProfile profiler timed by
its own CPU clock (`time.thread_time`): the main thread at once, every later thread (the database's
threads: asyncio.to_thread's executor, aiosqlite's) on its first call, through `threading.setprofile`.
SIGUSR1 takes a snapshot of every profiler and of every thread's CPU clock (`pthread_getcpuclockid`);
SIGUSR2 takes another and writes the difference to OUT.json:

- `parts`: CPU seconds by part of the code (PARTS below), from each function's own time. Built-ins are
  named by their module (sqlite3's `execute` is the database driver, `_json` is json); the rest of the
  standard library (re, typing, enum, hmac, ...), unlisted libraries and other built-ins are charged to
  their callers, in proportion to the time each caller spent in them.
- `outside`: per thread, its CPU clock's advance less what the profiler saw. Nearly all of it is the
  event loop's own C code between Python callbacks (uvloop) and the loops of threads that were already
  running when the snapshot was taken (a profiler sees a call only from its start).
- `functions`: the functions with the most own time; `calls`: Python and built-in calls made.

The times are CPU, not wall-clock: waiting (epoll, a queue, a lock, the GIL, fsync) costs no CPU and is
charged nothing. The profiler adds a cost to every call (two reads of the thread's CPU clock), so code that
makes many small calls looks heavier than it is; bench.pipeline prints the shares next to the CPU per
message of an unprofiled server.
"""

from __future__ import annotations

import contextlib
import cProfile
import json
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STDLIB = Path(os.__file__).resolve().parent
DRIVER = "db driver: sqlite3/aiosqlite/asyncpg"
LOOP = "asyncio/uvloop/threads"
OTHER = "other"
OUTSIDE = "outside any call (uvloop's C loop, ...)"
# (part, path fragments): the first part whose fragment occurs in a function's file names it.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sqlalchemy", ("/sqlalchemy/",)),
    (DRIVER, ("/aiosqlite/", f"{STDLIB}/sqlite3/", "/asyncpg/")),
    (
        LOOP,
        tuple(
            f"{STDLIB}/{m}" for m in ("asyncio/", "selectors.py", "threading.py", "queue.py", "concurrent/")
        ),
    ),
    ("python-telegram-bot/aiolimiter", ("/telegram/", "/aiolimiter/")),
    ("httpx/httpcore/h11 (client)", ("/httpx/", "/httpcore/", "/h11/")),  # uvicorn runs on httptools
    ("uvicorn/httptools", ("/uvicorn/", "/httptools/")),
    ("starlette", ("/starlette/", "/anyio/")),
    ("json/orjson", (f"{STDLIB}/json/", "/orjson/")),
    ("logging/metrics", (f"{STDLIB}/logging/", f"{ROOT}/bot/logs.py", f"{ROOT}/bot/metrics.py")),
    ("nlu", (f"{ROOT}/nlu/",)),
    ("bot.dialogue", (f"{ROOT}/bot/dialogue/",)),
    ("bot.pipeline", (f"{ROOT}/bot/pipeline.py",)),
    ("bot.channels", (f"{ROOT}/bot/channels/",)),
    ("storage", (f"{ROOT}/storage/",)),
    ("responses", (f"{ROOT}/responses/",)),
    ("raabta, other", (f"{ROOT}/bot/", f"{ROOT}/cyberunit/")),
)
# Built-ins (cProfile names them "<method 'execute' of 'sqlite3.Cursor' objects>", "<built-in method
# _json.encode_basestring_ascii>", ...), by a fragment of that name.
BUILTIN_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (DRIVER, ("sqlite3.", "asyncpg")),
    (LOOP, ("uvloop", "_asyncio", "_thread.", "select.", "_queue", "_contextvars")),
    ("json/orjson", ("_json", "orjson")),
    ("uvicorn/httptools", ("httptools",)),
)

Key = str  # "file:line:function" or a built-in's name
PROFILER = "bench/profiled_serve.py"  # this module: its snapshots are not the server's work


def key_of(code: CodeType | str) -> Key:
    if isinstance(code, str):
        return code
    return f"{code.co_filename}:{code.co_firstlineno}:{code.co_name}"


def part_of(key: Key) -> str | None:
    """The named part a function belongs to, or None: charged to its callers."""
    if key.startswith("<"):
        table = BUILTIN_PARTS
    else:
        table = PARTS
        key = key.rsplit(":", 2)[0]
    for part, fragments in table:
        if any(fragment in key for fragment in fragments):
            return part
    return None


def short(key: Key) -> str:
    if key.startswith("<"):
        return key
    filename, _line, name = key.rsplit(":", 2)
    for prefix in ("site-packages/", f"{ROOT}/", f"{STDLIB}/"):
        at = filename.find(prefix)
        if at >= 0:
            return f"{filename[at + len(prefix) :]}:{name}"
    return f"{filename}:{name}"


class Snapshot:
    """One profiler's totals by function: own time, calls received, calls made, and the time of each
    (caller, callee) pair."""

    def __init__(self, profiler: cProfile.Profile | None) -> None:
        self.own: dict[Key, float] = {}
        self.calls: dict[Key, int] = {}
        self.made: dict[Key, int] = {}
        self.edges: dict[tuple[Key, Key], float] = {}
        for entry in profiler.getstats() if profiler is not None else ():
            caller = key_of(entry.code)
            self.own[caller] = entry.inlinetime
            self.calls[caller] = entry.callcount
            made = 0
            for sub in entry.calls or ():
                self.edges[(caller, key_of(sub.code))] = sub.totaltime
                made += sub.callcount
            self.made[caller] = made


def thread_cpu(ident: int) -> float | None:
    with contextlib.suppress(OSError):
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    return None


def label(thread: threading.Thread) -> str:
    if thread is threading.main_thread():
        return "event loop (main thread)"
    target = getattr(thread, "_target", None)
    module = getattr(target, "__module__", "") or ""
    if "aiosqlite" in module:
        return "aiosqlite worker threads"
    if module == "concurrent.futures.thread":
        return "executor threads (asyncio.to_thread)"
    return f"other threads ({thread.name.rstrip('0123456789_-() ') or thread.name})"


class Profiles:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.threads: dict[int, tuple[str, cProfile.Profile]] = {}
        self.start: dict[int, tuple[Snapshot | None, float | None]] = {}
        self.began = 0.0

    def install(self) -> None:
        threading.setprofile(self._hook)
        self._add(threading.main_thread())

    def _add(self, thread: threading.Thread) -> None:
        profiler = cProfile.Profile(time.thread_time)
        assert thread.ident is not None
        self.threads[thread.ident] = (label(thread), profiler)
        profiler.enable()  # in the calling thread: replaces this hook there

    def _hook(self, _frame: FrameType, _event: str, _arg: Any) -> None:
        self._add(threading.current_thread())

    def begin(self) -> None:
        self.began = time.monotonic()
        self.start = {
            ident: (Snapshot(profiler), thread_cpu(ident)) for ident, (_, profiler) in self.threads.items()
        }

    def end(self) -> None:
        own: defaultdict[Key, float] = defaultdict(float)
        events: defaultdict[Key, float] = defaultdict(float)  # calls received and made, halved
        edges: defaultdict[tuple[Key, Key], float] = defaultdict(float)
        threads: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # [cpu, profiled]
        outside = 0.0
        for ident, (name, profiler) in list(self.threads.items()):
            before, cpu0 = self.start.get(ident, (None, 0.0))  # a thread born since: everything
            after, cpu1 = Snapshot(profiler), thread_cpu(ident)
            old = before or Snapshot(None)
            profiled = 0.0
            for key, seconds in after.own.items():
                delta = seconds - old.own.get(key, 0.0)
                profiled += delta
                if PROFILER in key or "_lsprof" in key:  # the snapshots themselves
                    continue
                own[key] += delta
                calls = after.calls[key] - old.calls.get(key, 0) + after.made[key] - old.made.get(key, 0)
                events[key] += calls / 2
            for edge, seconds in after.edges.items():
                edges[edge] += seconds - old.edges.get(edge, 0.0)
            threads[name][1] += profiled
            if cpu1 is not None and cpu0 is not None:
                threads[name][0] += cpu1 - cpu0
                outside += max(0.0, cpu1 - cpu0 - profiled)
            else:
                threads[name][0] += profiled  # ended meanwhile: its clock is gone
        charger = Charger(edges)
        parts = {part: [seconds, 0.0] for part, seconds in charger.charge(own).items()}
        for part, count in charger.charge(events).items():
            parts.setdefault(part, [0.0, 0.0])[1] = count
        top = sorted(own, key=lambda key: own[key], reverse=True)[:40]
        data = {
            "seconds": time.monotonic() - self.began,
            "parts": parts,  # part: [own CPU seconds, call events]
            "outside": outside,
            "functions": [[short(key), charger.main_part(key), own[key], events[key]] for key in top],
            "threads": dict(threads),
            "events": sum(events.values()),
        }
        partial = self.out.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=1))
        partial.replace(self.out)


class Charger:
    """Charges what a function of no part used to its callers' parts (recursively), in proportion to the
    time each caller spent in it."""

    def __init__(self, edges: dict[tuple[Key, Key], float]) -> None:
        self.callers: defaultdict[Key, list[tuple[Key, float]]] = defaultdict(list)
        for (caller, callee), seconds in edges.items():
            if seconds > 0 and caller != callee:
                self.callers[callee].append((caller, seconds))
        self.memo: dict[Key, dict[str, float]] = {}

    def shares(self, key: Key, seen: frozenset[Key] = frozenset()) -> dict[str, float]:
        """{part: share} for `key`; empty when every caller is already on the path (a cycle)."""
        part = part_of(key)
        if part is not None:
            return {part: 1.0}
        if key in self.memo:
            return self.memo[key]
        result: defaultdict[str, float] = defaultdict(float)
        total = 0.0
        for caller, seconds in self.callers.get(key, ()):
            if caller in seen:
                continue
            found = self.shares(caller, seen | {key})
            if found:
                total += seconds
                for name, share in found.items():
                    result[name] += share * seconds
        shares = {name: value / total for name, value in result.items()} if total else {}
        if shares or not self.callers.get(key):
            self.memo[key] = shares or {OTHER: 1.0}
            return self.memo[key]
        return shares

    def charge(self, values: dict[Key, float]) -> dict[str, float]:
        parts: defaultdict[str, float] = defaultdict(float)
        for key, value in values.items():
            for name, share in (self.shares(key) or {OTHER: 1.0}).items():
                parts[name] += value * share
        return dict(parts)

    def main_part(self, key: Key) -> str:
        part = part_of(key)
        if part is not None:
            return part
        found = self.shares(key) or {OTHER: 1.0}
        return max(found.items(), key=lambda kv: kv[1])[0] + " (caller)"


def main() -> int:
    out = os.environ.get("RAABTA_BENCH_PROFILE")
    if out:
        profiles = Profiles(Path(out))
        signal.signal(signal.SIGUSR1, lambda _signum, _frame: profiles.begin())
        signal.signal(signal.SIGUSR2, lambda _signum, _frame: profiles.end())
        profiles.install()
    from bot.cli import main as raabta

    with contextlib.suppress(KeyboardInterrupt):
        return raabta(sys.argv[1:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
