"""Issue 21's findings, each one a test: bodies read through one capped reader (size and time), the 500s
that became 4xx, private files, production's secret key, assignees, and bidi overrides at rest.

Nothing here asserts on wall-clock time: the body tests count the bytes the app pulled from the client and
the memory it grew by; the slow-body test only needs the time limit to be shorter than the client's pause.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot import cli
from bot.app import create_app
from bot.shared.config import ConfigError, Settings, key_weakness, load_settings, secret_key
from cyberunit import api
from cyberunit.console import web
from storage.queue import Queue
from storage.repository import Storage
from storage.tokens import Tokens
from tests.conftest import SECRET
from tests.test_api import add_report, auth
from tests.test_console import CSRF, sign_in

ATTACK = 400 * 1024 * 1024  # what the penetration test sent to /console/login
CHUNK = 64 * 1024
RSS_SLACK = 50 * 1024 * 1024
HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


# --- helpers -----------------------------------------------------------------------------------------


class Counted:
    """A chunked request body of `total` bytes that counts how much of it the server pulled; with
    `pause`, it stops for that long after the first chunk (a slow client)."""

    def __init__(self, total: int, pause: float = 0.0, chunk: int = CHUNK) -> None:
        self.total = total
        self.pause = pause
        self.chunk = chunk
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = b"a" * self.chunk  # one object, yielded again and again: the client itself holds nothing
        while self.read < self.total:
            self.read += self.chunk
            yield block
            if self.pause:
                await asyncio.sleep(self.pause)


def rss() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """The highest resident memory seen while the block runs, sampled every few milliseconds."""

    def __init__(self) -> None:
        self.base = self.peak = rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth(self) -> int:
        return self.peak - self.base


def client(app: Starlette) -> httpx.AsyncClient:
    # raise_app_exceptions=False: an unhandled error is seen as the server's bare 500, as a browser sees it
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def cursor(value: Any, case_id: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, case_id]).encode()).decode().rstrip("=")


@pytest.fixture
async def app(settings: Settings, storage: Storage) -> Starlette:
    return create_app(settings, storage)


@pytest.fixture
async def tokens(storage: Storage) -> dict[str, str]:
    store = Tokens(storage)
    made = {role: await store.create(role, role) for role in ("analyst", "supervisor", "counsellor")}
    made["gone"] = await store.create("gone", "analyst")
    await store.revoke("gone")
    return made


# --- 1. one capped, time-limited body reader ----------------------------------------------------------


async def test_a_chunked_400_mb_sign_in_form_is_refused_after_16_kb(app: Starlette) -> None:
    body = Counted(ATTACK)
    async with client(app) as http:
        page = await http.get("/console/login")
        [login_csrf] = CSRF.findall(page.text)
        with PeakRss() as memory:
            response = await http.post(
                "/console/login",
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
    print(f"chunked sign-in attack: {body.read} bytes read, RSS grew {memory.growth / 2**20:.1f} MB")
    assert login_csrf
    assert response.status_code == 413, response.text
    assert "too large" in response.text.lower()
    assert body.read <= web.MAX_FORM + CHUNK  # the reader stopped at the limit, not at the end
    assert memory.growth < RSS_SLACK
    assert all(name in response.headers for name in HEADERS)


async def test_a_chunked_oversized_api_body_is_refused_after_64_kb(
    app: Starlette, storage: Storage, tokens: dict[str, str]
) -> None:
    await add_report(storage, "https://facebook.com/big.body")
    body = Counted(ATTACK)
    async with client(app) as http:
        with PeakRss() as memory:
            response = await http.post("/api/v1/cases/1/notes", content=body, headers=auth(tokens["analyst"]))
    print(f"chunked API attack: {body.read} bytes read, RSS grew {memory.growth / 2**20:.1f} MB")
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body.read <= api.MAX_BODY + CHUNK
    assert memory.growth < RSS_SLACK


async def test_a_declared_oversized_body_is_refused_unread(app: Starlette, tokens: dict[str, str]) -> None:
    async with client(app) as http:
        response = await http.post(
            "/api/v1/queue/claim",
            content=b"{}" + b" " * (api.MAX_BODY + 10),
            headers=auth(tokens["analyst"]),
        )
    assert response.status_code == 413, response.text


async def test_a_slow_body_is_cut_off_with_408_on_the_console_and_the_api(
    app: Starlette, storage: Storage, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "BODY_TIMEOUT", 0.2)
    monkeypatch.setattr(api, "BODY_TIMEOUT", 0.2)
    await add_report(storage, "https://facebook.com/slow.body")
    async with client(app) as http:
        login = Counted(1000, pause=30, chunk=100)
        response = await http.post(
            "/console/login", content=login, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert response.status_code == 408, response.text
        assert all(name in response.headers for name in HEADERS)
        note = Counted(1000, pause=30, chunk=100)
        response = await http.post("/api/v1/cases/1/notes", content=note, headers=auth(tokens["analyst"]))
        assert response.status_code == 408, response.text
        assert "did not arrive" in response.json()["detail"]
    assert login.read == 100 and note.read == 100  # one chunk each, then the clients were dropped


def test_serve_passes_the_connection_cap_and_keep_alive_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    for name, value in {
        "RAABTA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/raabta.db",
        "RAABTA_DATA_DIR": str(tmp_path / "data"),
        "RAABTA_SECRET_KEY": SECRET,
        "RAABTA_LIMIT_CONCURRENCY": "77",
        "RAABTA_TIMEOUT_KEEP_ALIVE": "3",
    }.items():
        monkeypatch.setenv(name, value)
    before = os.umask(0o022)
    try:
        assert cli.main(["serve", "--port", "8099"]) == 0
    finally:
        os.umask(before)
    assert seen["limit_concurrency"] == 77 and seen["timeout_keep_alive"] == 3
    assert seen["port"] == 8099
    assert Settings.model_fields["limit_concurrency"].default == 1000
    assert Settings.model_fields["timeout_keep_alive"].default == 5


# --- 2. every 500 found is a 4xx now ------------------------------------------------------------------


async def test_a_web_chat_id_of_5000_digits_is_a_400(app: Starlette) -> None:
    raw = b'{"session": "hardening-1", "text": "hello", "id": ' + b"9" * 5000 + b"}"
    async with client(app) as http:
        response = await http.post("/webchat/api/messages", content=raw)
    assert response.status_code == 400, response.text
    assert "JSON" in response.json()["error"]


BAD_CURSORS = [
    ("priority", cursor(1.0, 10**30)),
    ("priority", cursor(10**30, 1)),
    ("priority", cursor(1e308 * 10, 1)),  # json.dumps writes Infinity
    ("report_count", cursor(2**40, 1)),
    ("report_count", cursor(1, -(2**63))),
    ("last_seen", cursor("0001-01-01T00:16+01:00", 1)),  # before year 1 in UTC
    ("first_seen", cursor("2024-01-01T00:00:00", 2**31)),
]


@pytest.mark.parametrize(("sort", "value"), BAD_CURSORS)
async def test_a_cursor_holding_a_huge_number_is_a_400_on_the_api_and_the_console(
    app: Starlette, storage: Storage, tokens: dict[str, str], sort: str, value: str
) -> None:
    await add_report(storage, "https://facebook.com/cursor.case")
    async with client(app) as http:
        response = await http.get(
            "/api/v1/cases", params={"cursor": value, "sort": sort}, headers=auth(tokens["analyst"])
        )
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "cursor is not one this API gave out"
    console = await sign_in(app, tokens["analyst"])
    console.http._transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        page = await console.get("/console/queue", params={"cursor": value, "sort": sort})
    finally:
        await console.aclose()
    assert page.status_code == 400, page.text[:300]
    assert "cursor is not one" in page.text
    assert all(name in page.headers for name in HEADERS)


async def test_a_cursor_we_gave_out_still_pages(storage: Storage) -> None:
    from storage.queue import CaseFilter

    for n in range(3):
        await add_report(storage, f"https://facebook.com/page.{n}")
    queue = Queue(storage)
    for sort in ("priority", "last_seen", "first_seen", "report_count"):
        first = await queue.list_cases(CaseFilter(sort=sort), 2)
        assert first.next is not None
        rest = await queue.list_cases(CaseFilter(sort=sort), 2, first.next)
        assert len(first.items) + len(rest.items) == 3
        assert {c["id"] for c in first.items}.isdisjoint(c["id"] for c in rest.items)


async def test_a_note_with_a_lone_surrogate_is_a_400_on_the_api_and_no_500_on_the_console(
    app: Starlette, storage: Storage, tokens: dict[str, str]
) -> None:
    await add_report(storage, "https://facebook.com/surrogate.case")
    async with client(app) as http:
        for body in (b'{"note": "a\\ud800b"}', b'{"note": "ok", "\\udfff": 1}'):
            response = await http.post("/api/v1/cases/1/notes", content=body, headers=auth(tokens["analyst"]))
            assert response.status_code == 400, response.text
            assert "surrogate" in response.json()["detail"]
        decision = await http.post(
            "/api/v1/cases/1/decision",
            content=b'{"status": "monitoring", "note": "\\udc00"}',
            headers=auth(tokens["supervisor"]),
        )
        assert decision.status_code == 400, decision.text
    console = await sign_in(app, tokens["analyst"])
    console.http._transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        for raw in (b"note=a%ED%A0%80b", b"note=a\xed\xa0\x80b", b"note=%F0%9F"):
            response = await console.http.post(
                "/console/cases/1/notes",
                content=b"csrf=" + console.csrf.encode() + b"&" + raw,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code in (303, 400), (raw, response.status_code, response.text[:300])
    finally:
        await console.aclose()
    for note in (await Queue(storage).get_case(1))["notes"]:
        note["note"].encode("utf-8")  # whatever was stored is valid text


async def test_the_consoles_500_page_carries_the_security_headers(
    app: Starlette, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_self: Queue) -> dict[str, Any]:
        raise RuntimeError("a bug")

    console = await sign_in(app, tokens["analyst"])
    console.http._transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    monkeypatch.setattr(Queue, "stats", broken)
    try:
        page = await console.get("/console/overview")
    finally:
        await console.aclose()
    assert page.status_code == 500
    assert all(name in page.headers for name in HEADERS), page.headers
    assert page.headers["cache-control"] == "no-store"
    assert "Something went wrong" in page.text and "a bug" not in page.text


# --- 3. private files ---------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_fresh_sqlite_database_its_wal_and_its_folder_are_private(tmp_path: Path) -> None:
    before = os.umask(0o022)  # a default umask: the files must be private anyway
    try:
        data = tmp_path / "fresh" / "data"
        store = Storage(f"sqlite+aiosqlite:///{data}/raabta.db", SECRET.encode())
        await store.upgrade()
        await add_report(store, "https://facebook.com/private.files")
        wal = data / "raabta.db-wal"
        assert wal.exists()  # WAL mode, a connection still open
        assert mode(data) == 0o700
        assert mode(data / "raabta.db") == 0o600
        assert mode(wal) == 0o600 and mode(data / "raabta.db-shm") == 0o600
        await store.close()
        key_dir = tmp_path / "keys"
        secret_key(load_settings(data_dir=key_dir, secret_key=None))
        assert mode(key_dir) == 0o700 and mode(key_dir / "secret.key") == 0o600
    finally:
        os.umask(before)


async def test_an_older_database_left_world_readable_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = Storage(f"sqlite+aiosqlite:///{path}", SECRET.encode())
    await store.upgrade()
    await store.close()
    path.chmod(0o644)
    again = Storage(f"sqlite+aiosqlite:///{path}", SECRET.encode())
    try:
        assert mode(path) == 0o600
    finally:
        await again.close()


def test_the_cli_creates_its_files_0600_in_0700_folders_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {
        **os.environ,
        "RAABTA_DATABASE_URL": f"sqlite+aiosqlite:///{data}/raabta.db",
        "RAABTA_DATA_DIR": str(data),
        "RAABTA_SECRET_KEY": SECRET,
    }
    script = (
        "import os, sys; from bot.cli import main; code = main(sys.argv[1:]); "
        "open(os.path.join(os.environ['RAABTA_DATA_DIR'], 'later.txt'), 'w').close(); "
        "os.makedirs(os.path.join(os.environ['RAABTA_DATA_DIR'], 'evidence', 'x')); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(0o022),  # the shell default: the CLI must narrow it itself
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700 and mode(data / "raabta.db") == 0o600
    assert mode(data / "later.txt") == 0o600  # anything the process creates afterwards too
    assert mode(data / "evidence") == 0o700 and mode(data / "evidence" / "x") == 0o700


# --- 4. production's secret key -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "weak",
    [
        "a" * 32,
        "ab" * 20,
        "abcdefgh" * 4,
        "0123456789abcdef" * 2,
        "0123456789" * 3 + "01",
        "abcdefg" * 4 + "gfedcba",  # 7 distinct characters
    ],
)
def test_production_refuses_a_weak_secret_key_and_says_how_to_make_one(tmp_path: Path, weak: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(data_dir=tmp_path, secret_key=weak, env="production")
    message = str(refused.value)
    assert "RAABTA_SECRET_KEY" in message and weak not in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(48))"' in message
    assert load_settings(data_dir=tmp_path, secret_key=weak).secret_key is not None  # development: fine


def test_strong_keys_pass_in_production(tmp_path: Path) -> None:
    import secrets

    for key in [
        SECRET,
        *(secrets.token_urlsafe(48) for _ in range(200)),
        *(secrets.token_hex(16) for _ in range(200)),
    ]:
        assert key_weakness(key) is None, key
        settings = load_settings(data_dir=tmp_path, secret_key=key, env="production")
        assert secret_key(settings) == key.encode()


# --- 5. assignees are existing token names ------------------------------------------------------------


async def test_the_api_assigns_only_to_an_active_analyst_or_supervisor(
    app: Starlette, storage: Storage, tokens: dict[str, str]
) -> None:
    await add_report(storage, "https://facebook.com/assign.case")
    boss = auth(tokens["supervisor"])
    async with client(app) as http:
        for nobody in ("<nobody>", "gone", "counsellor", "ANALYST"):
            response = await http.post("/api/v1/cases/1/assign", json={"assignee": nobody}, headers=boss)
            assert response.status_code == 400, (nobody, response.text)
            assert "active analyst or supervisor token" in response.json()["detail"]
        case = (await http.get("/api/v1/cases/1", headers=boss)).json()
        assert case["status"] == "new" and case["assignee"] is None  # not held by anyone
        done = await http.post("/api/v1/cases/1/assign", json={"assignee": "analyst"}, headers=boss)
    assert done.status_code == 200, done.text
    assert done.json()["assignee"] == "analyst"


# --- 6. bidi overrides are not stored -----------------------------------------------------------------

OVERRIDES = "\u202a\u202b\u202c\u202d\u202e"
ISOLATES = "\u2066\u2067\u2068\u2069"


async def test_bidi_overrides_in_a_description_are_dropped_before_storage_and_isolates_kept(
    app: Starlette, storage: Storage, tokens: dict[str, str]
) -> None:
    description = f"see the file \u202egpj.exe\u202c and \u2066٠٣٠٠١٢٣٤٥٦٧\u2069 {OVERRIDES}{ISOLATES}"
    await add_report(storage, "https://facebook.com/bidi.case", description=description)
    analyst = auth(tokens["analyst"])
    async with client(app) as http:
        case = (await http.get("/api/v1/cases/1", headers=analyst)).json()
        note = await http.post("/api/v1/cases/1/notes", json={"note": "x\u202ey"}, headers=analyst)
        export = await http.get("/api/v1/export", params={"format": "json"}, headers=analyst)
    [report] = case["reports"]
    stored = report["description"]
    assert not set(OVERRIDES) & set(stored), ascii(stored)
    assert stored == f"see the file gpj.exe and \u2066٠٣٠٠١٢٣٤٥٦٧\u2069 {ISOLATES}"
    assert note.status_code == 200 and note.json()["note"] == "xy"
    assert not set(OVERRIDES) & set(export.text)
