"""Whose address a web chat message counts against, behind a reverse proxy (issue 21): a real `raabta serve`.

The per-address limit (RAABTA_WEBCHAT_IP_LIMIT, here 3 a minute) keys on the client address uvicorn hands
the app. uvicorn puts an address from X-Forwarded-For there only when the connection itself comes from an
address in FORWARDED_ALLOW_IPS, and then the right-most one that is not itself trusted: the one the proxy
appended, which the citizen cannot choose. Everything left of it is whatever the citizen sent.

- Trusting a proxy that is not this client (docker-compose's default, its network's gateway): the header
  is ignored and the limit keys on the connection, whatever the header says.
- Trusting this client as the proxy (127.0.0.1, as a reverse proxy on the same host): "forged, real" keys
  on "real", so varying the forged part gets nothing, while another real address has its own allowance.
- `*` (docker-compose before issue 21): uvicorn takes the left-most entry, so every forged value is a new
  citizen with a fresh allowance; shown so that the reason for the compose default stays visible.

The addresses in the headers are documentation ranges (RFC 5737): nothing is ever sent to them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.servers import Server
from tests.test_cli import env_for
from tests.test_compose import DOT_ENV, container_env, load_compose, services

LIMIT = 3
REAL = "203.0.113.7"  # the citizen's address, as the proxy appends it


def compose_default() -> str:
    """FORWARDED_ALLOW_IPS as docker-compose.yml gives it when .env does not set it."""
    return container_env(services(load_compose())["app"], DOT_ENV)["FORWARDED_ALLOW_IPS"]


@asynccontextmanager
async def serving(tmp_path: Path, name: str, trusted: str) -> AsyncIterator[str]:
    """`raabta serve` on a free local port with FORWARDED_ALLOW_IPS=trusted; yields its base URL."""
    env = env_for(
        tmp_path,
        RAABTA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/{name}.db",
        RAABTA_DATA_DIR=str(tmp_path / name),
        RAABTA_WEBCHAT_IP_LIMIT=str(LIMIT),
        FORWARDED_ALLOW_IPS=trusted,
    )
    server = Server(name, env, tmp_path / f"{name}.log")
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


async def one_window() -> None:
    """The limit counts in fixed one-minute windows of the monotonic clock (the server's is the same
    clock): start a round of requests early enough in a window that it ends in the same one."""
    into = time.monotonic() % 60
    if into > 50:
        await asyncio.sleep(60 - into + 0.2)


async def send(http: httpx.AsyncClient, base: str, forwarded: str | None = None) -> int:
    """One message from a new chat session (the session's own limit never counts), optionally with the
    X-Forwarded-For a proxy would pass on; the status code."""
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
    body = {"session": f"proxy{uuid.uuid4().hex}", "text": "salam"}
    response = await http.post(f"{base}/webchat/api/messages", json=body, headers=headers, timeout=30)
    assert response.status_code in (200, 429), response.text
    return response.status_code


async def test_an_untrusted_connection_s_forwarded_for_is_ignored(tmp_path: Path) -> None:
    trusted = compose_default()
    assert trusted != "*" and "127.0.0.1" not in trusted
    async with serving(tmp_path, "untrusted", trusted) as base, httpx.AsyncClient() as http:
        await one_window()
        window = time.monotonic() // 60
        allowed = [await send(http, base, f"198.51.100.{i}") for i in range(1, LIMIT + 1)]
        over = [
            await send(http, base, "198.51.100.99"),
            await send(http, base, f"198.51.100.98, {REAL}"),
            await send(http, base),
        ]
        assert time.monotonic() // 60 == window, "the round crossed a minute window"
    assert allowed == [200] * LIMIT
    assert over == [429, 429, 429]  # one allowance for the connection, whatever the header names


async def test_behind_a_trusted_proxy_forged_left_most_addresses_buy_nothing(tmp_path: Path) -> None:
    async with serving(tmp_path, "trusted", "127.0.0.1") as base, httpx.AsyncClient() as http:
        await one_window()
        window = time.monotonic() // 60
        # What nginx's $proxy_add_x_forwarded_for passes on: the citizen's header, then the address it saw.
        allowed = [await send(http, base, f"198.51.100.{i}, {REAL}") for i in range(1, LIMIT + 1)]
        over = [
            await send(http, base, f"198.51.100.99, {REAL}"),
            await send(http, base, f"10.0.0.1, 198.51.100.98, {REAL}"),
            await send(http, base, REAL),
            await send(http, base, f"{REAL}, 127.0.0.1"),  # the proxy itself listed last: still the citizen
        ]
        others = [
            await send(http, base, f"{REAL}, 203.0.113.8"),  # another citizen, who forged the first's address
            await send(http, base),  # the proxy's own requests count against the proxy
        ]
        assert time.monotonic() // 60 == window, "the round crossed a minute window"
    assert allowed == [200] * LIMIT
    assert over == [429] * 4
    assert others == [200, 200]


async def test_trusting_any_address_lets_each_forged_value_start_afresh(tmp_path: Path) -> None:
    """Why docker-compose no longer sets `*`: uvicorn then believes the left-most entry, the citizen's."""
    async with serving(tmp_path, "anyone", "*") as base, httpx.AsyncClient() as http:
        await one_window()
        statuses = [await send(http, base, f"198.51.100.{i}, {REAL}") for i in range(1, 3 * LIMIT + 1)]
    assert statuses == [200] * (3 * LIMIT)  # three times the limit, from one citizen
