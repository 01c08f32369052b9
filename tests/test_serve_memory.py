"""What the server holds in memory (issue 23's target: RSS <= 200 MB after 100,000 web chat messages).

- The server loads no library it does not use: no SciPy (the claims matcher's sparse rows are numpy's,
  tests/test_claims_rows.py), no scikit-learn (training only), no python-telegram-bot without
  RAABTA_TELEGRAM_TOKEN (with it, tests/test_telegram.py runs the channel in the app's lifespan).
- Every thread allocates from glibc's one main heap (bot/shared/heap.py), not from an arena of its own.
- What the state cache keeps is as big as its length says: orjson's output is the buffer it wrote into,
  4 KB at least and doubled as it fills, so the cache held 2.3 times its byte budget.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from storage.engine import json_bytes, json_text

SERVE_WITHOUT_TELEGRAM = """
import json, sys
from bot.app import create_app, warm
from bot.shared.config import load_settings

settings = load_settings(database_url=sys.argv[1], secret_key="s" * 40, data_dir=sys.argv[2])
assert settings.telegram_token is None
app = create_app(settings)
warm(app.state.pipeline)  # the models, the language detector, the claims matcher: all start-up builds
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_a_server_without_telegram_loads_no_scipy_sklearn_or_telegram(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAABTA_")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE_WITHOUT_TELEGRAM,
            f"sqlite+aiosqlite:///{tmp_path / 'raabta.db'}",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "bot" in loaded  # the app was built
    assert not loaded & {"scipy", "sklearn", "telegram"}


STARTED = """
import gc, json, sys
from starlette.testclient import TestClient
from bot.app import create_app
from bot.shared.config import load_settings

settings = load_settings(database_url=sys.argv[1], secret_key="s" * 40, data_dir=sys.argv[2])
before = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
with TestClient(create_app(settings)) as client:
    assert client.get("/healthz").status_code == 200
    after = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
print(json.dumps({"before": before, "after": after, "switch": sys.getswitchinterval()}))
"""


def test_a_started_server_freezes_what_start_up_built_and_collects_young_objects_less_often(
    tmp_path: Path,
) -> None:
    """The app's lifespan, run as `raabta serve` runs it: the models and the catalog are out of the
    collector's way, the youngest generation is collected every YOUNG_THRESHOLD objects (not Python's 700:
    several collections a message), and the GIL is handed over sooner than Python's 5 ms."""
    from bot.app import SWITCH_INTERVAL, YOUNG_THRESHOLD

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAABTA_")}
    args = [f"sqlite+aiosqlite:///{tmp_path / 'raabta.db'}", str(tmp_path / "data")]
    done = subprocess.run(
        [sys.executable, "-c", STARTED, *args], capture_output=True, text=True, env=env, check=True
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["before"]["threshold"][0] < YOUNG_THRESHOLD and seen["before"]["frozen"] == 0
    assert seen["after"]["threshold"] == [YOUNG_THRESHOLD, *seen["before"]["threshold"][1:]]
    assert seen["after"]["frozen"] > 100_000  # the models, the catalog, the compiled statements
    assert seen["switch"] == SWITCH_INTERVAL


def test_json_bytes_weighs_its_length() -> None:
    state = {
        "lang": "ur",
        "history": [{"text": "یہ پیج نوجوانوں کو بھرتی کرتا ہے " * 3, "n": n} for n in range(20)],
    }
    for value in (state, {"lang": "en"}, ["x" * 5000]):
        tracemalloc.start()
        try:
            encoded = json_bytes(value)
            held = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert encoded == json_text(value).encode()
        assert held <= len(encoded) + 512, (len(encoded), held)


ARENAS = """
import ctypes, os, sys, tempfile, threading
from bot.shared.heap import one_arena

if sys.argv[1] == "one":
    assert one_arena()
together = threading.Barrier(4)

def work() -> None:
    kept = [b"x" * 1000 for _ in range(2000)]  # over 512 bytes: glibc's malloc, not Python's own
    together.wait()  # all four alive at once, so none takes over an arena another left
    del kept

threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL("libc.so.6")
libc.fdopen.restype = ctypes.c_void_p
fd, path = tempfile.mkstemp()
stream = ctypes.c_void_p(libc.fdopen(fd, b"w"))
libc.malloc_info(0, stream)
libc.fclose(stream)
print(open(path).read().count("<heap nr="))
os.unlink(path)
"""


def arenas(setting: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", ARENAS, setting], capture_output=True, text=True, env=env, check=True
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_the_servers_threads_share_one_heap() -> None:
    assert arenas("default") > 1  # each thread its own arena, unless told
    assert arenas("one") == 1
