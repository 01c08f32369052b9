"""CPU per turn of the dialogue engine alone: `bot.dialogue.handle` over the benchmark conversations.

Usage: .venv/bin/python -m bench.engine [--rounds 20] [--profile] [--tree PATH]

The conversations are those of `bench/turns.py` (SCRIPT) and of the load generator (`bench/loadgen.py`:
reports with "Add details", greetings and Learn cards, family pages, reference-code look-ups, in three
languages), 200 of them from a fixed seed. A first pass records every turn as the pipeline would run it:
the message parsed, the stored state as a dict (with `recent` where the checkout's state still keeps the
web chat's last messages, as its web chat did) and the context.
The measured passes then only build each turn's `State.from_dict` (untimed, as the pipeline builds it
fresh from storage) and time the engine's entry point with `time.process_time`, so parsing and storage are
left out and the engine's own CPU shows. Entry points measured: `handle` (copies the state, for callers
that keep theirs) and, where the engine has it, `handle_owned` (takes the state over, as the pipeline
does). Beside them, the two other parts of a turn the pipeline asks of the dialogue and the NLU: `needs`
(`REGISTRY.needs`, what the flows need looked up) and `parse` (`nlu.parse` of the turn's text; "" for a
button press, as the pipeline parses it). `--profile` prints the heaviest functions of one pass of each
under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.turns import use_tree

SEED = 23
CONVERSATIONS = 200


@dataclass(frozen=True)
class Recorded:
    inbound: Any
    parse: Any
    state: dict[str, Any]
    context: Any


def _conversations() -> list[list[tuple[str | None, str | None]]]:
    from bench.loadgen import SCRIPTS
    from bench.turns import SCRIPT

    rng = random.Random(SEED)
    scripts, weights = zip(*SCRIPTS, strict=True)
    found: list[list[tuple[str | None, str | None]]] = []
    for n in range(CONVERSATIONS):
        if n % 4 == 0:
            found.append([(t.format(n=n) if t else None, c) for t, c in SCRIPT])
            continue
        script = rng.choices(scripts, weights)[0]
        found.append([(v, None) if kind == "text" else (None, v) for kind, v in script(rng)])
    return found


def record() -> list[Recorded]:
    """Every turn of the conversations with the state it starts from, stored as the pipeline stores it."""
    from bot.dialogue import Context, Inbound, State, handle, types
    from nlu import parse

    # A checkout from before the transcript moved beside the state keeps it in `State.recent`.
    kept: int = getattr(types, "MAX_RECENT", 0)

    turns: list[Recorded] = []
    for n, steps in enumerate(_conversations()):
        stored: dict[str, Any] = {}
        for k, (text, choice) in enumerate(steps):
            inbound = Inbound("webchat", f"u{n}", f"{n}-{k}", text, choice)
            understood = parse(text or "")
            context = Context(f"BNCH-{n:04d}")
            turns.append(Recorded(inbound, understood, stored, context))
            outcome = handle(inbound, understood, State.from_dict(stored), context)
            after: Any = outcome.state
            if kept:
                said = [*after.recent, *(r.to_dict() for r in outcome.replies)]
                after.recent = said[-kept:]
            stored = after.to_dict()
    return turns


def run(entry: Callable[..., Any], turns: list[Recorded]) -> float:
    """CPU seconds `entry` takes over all `turns` (the states are built before the clock starts)."""
    from bot.dialogue import State

    states = [State.from_dict(t.state) for t in turns]
    started = time.process_time()
    for t, state in zip(turns, states, strict=True):
        entry(t.inbound, t.parse, state, t.context)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20, help="measured passes over all turns")
    parser.add_argument("--profile", action="store_true", help="cProfile one pass of each entry point")
    parser.add_argument("--tree", help="the checkout whose code to measure (default: this one)")
    args = parser.parse_args()
    use_tree(args.tree)
    import nlu
    from bot.dialogue import REGISTRY, engine

    turns = record()
    entries: dict[str, Callable[..., Any]] = {"handle": engine.handle}
    if hasattr(engine, "handle_owned"):
        entries["handle_owned"] = engine.handle_owned
    entries["needs"] = lambda inbound, parse, state, context: REGISTRY.needs(state, parse, inbound)
    entries["parse"] = lambda inbound, parse, state, context: nlu.parse(inbound.text or "")
    for entry in entries.values():
        run(entry, turns)  # warm-up
    for name, entry in entries.items():
        if args.profile:
            profiler = cProfile.Profile(time.process_time)
            from bot.dialogue import State

            states = [State.from_dict(t.state) for t in turns]
            profiler.enable()
            for t, state in zip(turns, states, strict=True):
                entry(t.inbound, t.parse, state, t.context)
            profiler.disable()
            print(f"--- {name}: {len(turns)} turns")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            continue
        per_turn = [run(entry, turns) / len(turns) for _ in range(args.rounds)]
        print(
            f"{name}: {len(turns)} turns x {args.rounds}: median {1e6 * statistics.median(per_turn):.1f} µs"
            f" CPU a turn (min {1e6 * min(per_turn):.1f})"
        )


if __name__ == "__main__":
    main()
