"""Where a server's CPU goes by thread, at one load: the event loop's thread against the others.

Usage: .venv/bin/python -m bench.threads [--load 100,closed,closed1] [--repeat 4] [--tree CHECKOUT]
                                         [--duration 15] [--warmup 5]

For each load (an open-loop rate in messages a second, `closed` for 32 clients back to back, `closedN` for
N clients) and each repeat, in turn: `raabta serve` with the code of `--tree` (when given), `raabta serve`
with this checkout's, and the floor app (bench/floor_app.py), each started fresh on SQLite and sent the
same mixed web chat conversations as bench.pipeline (bench.loadgen), a warm-up first. Printed for each
run, for every thread of the server that ran (from /proc/PID/task before and after the measured part):
user and system CPU a message, and voluntary and involuntary context switches a message; then the total
CPU a message, and at the end the medians and each run's ratio to the floor app's.

Why beside bench.pipeline: an idle server's message costs about twice a busy one's, and the total alone
does not say whether that is the event loop's own work, the writer's thread, or the hops between them
(issue 23, sixth sitting: the loop's thread spent 0.71 ms a message at 100 msg/s and 0.36 ms closed loop;
docs/benchmarks.md). Alternating the trees within one run is what makes two versions comparable on a
machine whose speed drifts during a sitting.

Nothing here asserts: figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import bench.pipeline as pipeline
from bench.loadgen import Generator, Job

CLOCK = 1000.0 / 100  # ms a /proc clock tick (USER_HZ is 100 on Linux)


@dataclass(frozen=True)
class ThreadTimes:
    name: str
    user: int  # clock ticks
    system: int
    voluntary: int  # context switches
    involuntary: int


def threads(pid: int) -> dict[str, ThreadTimes]:
    """Every thread of `pid` now, by thread id."""
    found: dict[str, ThreadTimes] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text()
            name = (task / "comm").read_text().strip()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        switches = {
            key: int(value)
            for key, _, value in (line.partition(":") for line in status.splitlines())
            if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
        }
        found[task.name] = ThreadTimes(
            name,
            int(fields[11]),
            int(fields[12]),
            switches["voluntary_ctxt_switches"],
            switches["nonvoluntary_ctxt_switches"],
        )
    return found


def job(server: pipeline.Server, load: str, duration: float) -> Job:
    if load.startswith("closed"):
        clients = int(load.removeprefix("closed") or 32)
        return pipeline.webchat_job(server, "closed", load, seed=7, concurrency=clients, duration=duration)
    rate = float(load)
    name = f"x@{rate:g}"
    return pipeline.webchat_job(
        server, "open", name, seed=int(rate), rate=rate, connections=256, duration=duration, wander=2.0
    )


async def run(gen: Generator, who: str, tree: str | None, load: str, args: argparse.Namespace) -> float:
    """One server, one load: its threads printed; its CPU a message (ms) returned."""
    tmp = Path(tempfile.mkdtemp(prefix="raabta-threads-"))
    if who == "floor":
        command = [sys.executable, "-m", "bench.floor_app", "--db", str(tmp / "floor.db")]
        server = pipeline.Server("floor", command, {}, tmp / "floor.log")
    else:
        pipeline.TREE = tree
        env = pipeline.raabta_env(tmp, "threads")
        server = pipeline.Server(who, [*pipeline.raabta_command(), "serve"], env, tmp / "raabta.log")
    await server.start()
    try:
        measured = job(server, load, args.duration)
        await gen.run(replace(measured, duration=args.warmup), "warm-up")
        assert server.process is not None
        before = threads(server.process.pid)
        result = await gen.run(measured, who)
        after = threads(server.process.pid)
    finally:
        server.stop()
    n = max(1, result.done)
    total = 0.0
    print(f"  {who} @{load}: {result.done} messages answered, {result.errors} errors")
    for tid, now in sorted(after.items()):
        then = before.get(tid, ThreadTimes(now.name, 0, 0, 0, 0))
        user, system = (now.user - then.user) * CLOCK, (now.system - then.system) * CLOCK
        voluntary, involuntary = now.voluntary - then.voluntary, now.involuntary - then.involuntary
        total += user + system
        if user or system or voluntary:
            print(
                f"    thread {now.name:18} user {1000 * user / n:7.1f} µs  system {1000 * system / n:7.1f} µs"
                f"  switches {voluntary / n:5.2f} voluntary, {involuntary / n:5.2f} involuntary  (a message)"
            )
    print(f"    CPU a message: {total / n:.3f} ms", flush=True)
    return total / n


async def main(args: argparse.Namespace, gen: Generator) -> None:
    print(pipeline.machine())
    print(f"loads: {', '.join(args.load)}; {args.repeat} repeats", end="; ")
    print(f"{args.duration:g} s measured after {args.warmup:g} s of warm-up")
    servers = [*([("start", args.tree)] if args.tree else []), ("now", None), ("floor", None)]
    figures: dict[tuple[str, str], list[float]] = {}
    for load in args.load:
        for repeat in range(args.repeat):
            print(f"\n## {load}, repeat {repeat + 1} ({pipeline.load()})")
            for who, tree in servers:
                cpu = await run(gen, who, tree, load, args)
                figures.setdefault((load, who), []).append(cpu)
    print("\n## Medians (ms of server CPU a message) and each run's ratio to the floor app's")
    for load in args.load:
        floor = figures[(load, "floor")]
        for who, _ in servers:
            mine = figures[(load, who)]
            ratios = ", ".join(f"{a / b:.2f}x" for a, b in zip(mine, floor, strict=True))
            line = f"  {load:>8} {who:>5}: median {statistics.median(mine):.3f}"
            print(line + ("" if who == "floor" else f"  ratio to the floor per run: {ratios}"))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.threads", description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", type=lambda s: s.split(","), default=["100", "closed"])
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--tree", help="also run the code of this checkout, before this one's, each repeat")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured a run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up a run")
    return parser.parse_args()


if __name__ == "__main__":
    options = arguments()
    with Generator(2) as generator:  # forked before anything else runs in this process
        asyncio.run(main(options, generator))
