"""glibc's heap in the server process: one arena for every thread (issue 23's memory target, RSS <= 200 MB
after 100,000 web chat messages).

glibc gives each thread that allocates an arena of its own (up to 8 per core): the database connections'
threads, the turn writer's, asyncio.to_thread's workers. Memory freed in one arena serves no other thread,
and each arena keeps its own slack. One arena for all, set by `mallopt(M_ARENA_MAX, 1)` before the server
starts its threads, measured with bench/pipeline.py's memory part: 4 MB less at start and 6 MB less after
100,000 messages (190.3 -> 184.6 MB), the throughput unchanged (814 and 807 messages/s); the GIL already
serialises most allocations, and SQLite's, made outside it, are few. Set here in the process rather than
asked of deployers (MALLOC_ARENA_MAX in the environment), which a deployer's own MALLOC_ARENA_MAX still
overrides.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8  # mallopt's parameter (glibc's malloc.h)


def one_arena() -> bool:
    """Every thread started from now on allocates from glibc's main heap; call before starting threads.
    False (nothing done) with MALLOC_ARENA_MAX in the environment, or elsewhere than glibc."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):
        return False
