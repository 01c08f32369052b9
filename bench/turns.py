"""CPU per turn of the message path in one process: the Pipeline on SQLite, no HTTP, no load generator.

Usage: .venv/bin/python -m bench.turns [--turns 2000] [--concurrency 16] [--tree PATH]

`--tree PATH` runs the code of another checkout (e.g. `git worktree add /tmp/base <commit>`) with this
script, so the same turns measure a version before and after a change on the same machine in one sitting.
Conversations of eight steps (language, report, a link, a category, send, a greeting, Learn, a question)
run `--concurrency` at a time; the process's CPU time over the measured turns (after a warm-up) is divided
by the turns. With the turn writer of issue 23 it also prints turns per committed group.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

SECRET = "bench-secret-key-0123456789abcdefghijklmnopqrstu"
SCRIPT: list[tuple[str | None, str | None]] = [
    (None, "lang:en"),
    (None, "menu:report"),
    ("https://www.facebook.com/recruit.page.{n}", None),
    (None, "cat:propaganda"),
    (None, "confirm:submit"),
    ("hello", None),
    (None, "menu:learn"),
    ("what is this", None),
]


async def open_pipeline(prefix: str) -> tuple[Any, Any]:
    """A Pipeline and its Storage on a fresh SQLite file, with every limit out of the way (the code of
    `--tree`'s checkout when given: imported here, after `use_tree`)."""
    from bot.app import make_pipeline
    from bot.shared.config import load_settings
    from storage.repository import Storage

    tmp = tempfile.mkdtemp(prefix=prefix)
    url = f"sqlite+aiosqlite:///{tmp}/r.db"
    settings = load_settings(
        database_url=url,
        secret_key=SECRET,
        data_dir=f"{tmp}/data",
        webchat_ip_limit=0,
        webchat_new_sessions_per_hour=0,
        messages_per_minute=10**6,
        reports_per_hour=10**6,
        reports_per_day=10**6,
    )
    storage = Storage(url, SECRET.encode())
    await storage.upgrade()
    return make_pipeline(settings, storage), storage


def citizens(pipeline: Any) -> Callable[[int, int], Awaitable[None]]:
    """`citizen(user, rounds)`: that many passes of SCRIPT through the pipeline, one step after another."""
    from bot.dialogue import Inbound

    async def citizen(user: int, rounds: int) -> None:
        for k in range(rounds):
            for step, (text, choice) in enumerate(SCRIPT):
                said = text.format(n=user * 100_000 + k) if text else None
                await pipeline.handle(Inbound("webchat", f"u{user}", f"{user}-{k}-{step}", said, choice))

    return citizen


def settle() -> None:
    """The garbage collector as `raabta serve` leaves it after start-up (bot.app.settle_collector), or as
    the checkout's server did before it had that function (start-up's objects frozen)."""
    import gc

    import bot.app

    settle_collector = getattr(bot.app, "settle_collector", None)
    if settle_collector is not None:
        settle_collector()
    else:
        gc.collect()
        gc.freeze()


def use_tree(tree: str | None) -> None:
    """Measure the code of another checkout (`--tree`), and say whose code runs."""
    if tree:
        sys.path.insert(0, os.path.abspath(tree))
        os.chdir(tree)
    import bot

    print(f"code: {os.path.dirname(os.path.dirname(bot.__file__))}; load average {os.getloadavg()[0]:.2f}")


async def measure(turns: int, concurrency: int) -> None:
    pipeline, storage = await open_pipeline("raabta-turns-")
    rounds = max(1, turns // concurrency // len(SCRIPT))
    citizen = citizens(pipeline)

    await asyncio.gather(*(citizen(u, 1) for u in range(2)))  # warm-up: models, caches, statements
    settle()
    group: Any = getattr(storage.db, "group", None)
    groups_before, turns_before = (group.groups, group.turns) if group is not None else (0, 0)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(citizen(u, rounds) for u in range(10, 10 + concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = rounds * len(SCRIPT) * concurrency
    line = f"{done} turns, {concurrency} at a time: {1000 * cpu / done:.3f} ms CPU a turn"
    line += f", {done / wall:.0f} turns/s"
    if group is not None and group.groups > groups_before:
        line += f", {(group.turns - turns_before) / (group.groups - groups_before):.1f} turns a group"
    print(line)
    await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tree", help="the checkout whose code to measure (default: this one)")
    args = parser.parse_args()
    use_tree(args.tree)
    asyncio.run(measure(args.turns, args.concurrency))


if __name__ == "__main__":
    main()
