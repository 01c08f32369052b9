"""Instructions a turn of the message path in one process, counted by valgrind's callgrind: a figure that
repeats to 0.2% whatever else the machine is doing (16 conversations at a time; one at a time, to about
3%: whether a group commits in the loop's thread or the worker's follows the COMMITs' measured
time, storage.groupcommit).

Usage: .venv/bin/python -m bench.instructions [--rounds 4] [--concurrency 16] [--tree PATH]
                                              [--out FILE]

Why beside bench.turns and bench.threads: the CPU time of one version varied by 15% between runs of the
same sitting (issue 23, seventh sitting: 1.45 to 1.94 ms a message at 100 msg/s), so a change of a few
per cent cannot be told from the machine's drift by timing. Instructions are not time (a cache miss or a
system call costs more than its instructions say, and the kernel is not counted), but the same code on the
same inputs executes the same instructions, so two versions compare exactly.

What is counted: bench.turns' conversations (SCRIPT: language, report, a link, a category, send, a
greeting, Learn, a question) through the Pipeline on a fresh SQLite file, `--concurrency` conversations at
a time for `--rounds` passes, in every thread of the process (the turn writer's included), after a
warm-up, with the collector settled and the logs set up as `raabta serve` does (a JSON line a message,
written here to /dev/null). The process runs under
`valgrind --tool=callgrind --instr-atstart=no`, and switches the counting on and off around the measured
turns with `callgrind_control`; PYTHONHASHSEED is fixed so that sets and dicts iterate alike. `--tree`
runs another checkout's code (as bench.turns). `--out` keeps callgrind's file for `callgrind_annotate`.
A run takes about 40 seconds.

Nothing here asserts: figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bench.turns as turns

INNER = "RAABTA_BENCH_INSTRUCTIONS_INNER"


def server_logs() -> None:
    """Logging as `raabta serve` sets it up (bot.logs.setup: a JSON line a message at INFO), written to
    /dev/null line by line as to a terminal or a pipe: the line a message is part of its cost."""
    import logging

    from bot import logs

    logs.setup()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w", buffering=1))  # noqa: SIM115 (open for the process's life)


async def counted(rounds: int, concurrency: int) -> None:
    """The inner run, under callgrind: counting on only around the measured turns."""
    server_logs()
    pipeline, storage = await turns.open_pipeline("raabta-instructions-")
    citizen = turns.citizens(pipeline)
    await asyncio.gather(*(citizen(u, 1) for u in range(4)))  # warm-up: models, caches, statements
    turns.settle()
    control = ["callgrind_control", "-i"]
    # Blocking on purpose: nothing else of the process may run while the counting is switched.
    subprocess.run([*control, "on", str(os.getpid())], check=True, capture_output=True)  # noqa: ASYNC221
    await asyncio.gather(*(citizen(u, rounds) for u in range(10, 10 + concurrency)))
    subprocess.run([*control, "off", str(os.getpid())], check=True, capture_output=True)  # noqa: ASYNC221
    await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=4, help="passes of SCRIPT per conversation")
    parser.add_argument("--concurrency", type=int, default=16, help="conversations at a time")
    parser.add_argument("--tree", help="the checkout whose code to measure (default: this one)")
    parser.add_argument("--out", type=Path, help="keep callgrind's output file here")
    args = parser.parse_args()
    if os.environ.get(INNER):
        turns.use_tree(args.tree)
        asyncio.run(counted(args.rounds, args.concurrency))
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench.instructions: valgrind (with callgrind_control) is not installed")
    out = args.out or Path(tempfile.mkdtemp(prefix="raabta-callgrind-")) / "callgrind.out"
    here = str(Path(__file__).resolve().parent.parent)  # this checkout's bench package, whatever --tree
    env = {**os.environ, INNER: "1", "PYTHONHASHSEED": "0", "PYTHONPATH": here}
    inner = [sys.executable, "-m", "bench.instructions", *sys.argv[1:]]
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", *inner]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    print(done.stdout, end="")
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"bench.instructions: the counted run failed:\n{done.stderr[-2000:]}")
    measured = args.rounds * args.concurrency * len(turns.SCRIPT)
    per_turn = int(found.group(1)) / measured
    print(
        f"{measured} turns, {args.concurrency} at a time: {per_turn:,.0f} instructions a turn "
        f"(callgrind, every thread; {out})"
    )


if __name__ == "__main__":
    main()
