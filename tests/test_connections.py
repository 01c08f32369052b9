"""The connection guard's three rules (bot.shared.connections), for both of `raabta serve`'s protocols.

`raabta serve` parses with httptools (GuardedHttpToolsProtocol) and falls back to h11 (GuardedH11Protocol)
where httptools is not installed: each rule is checked on each, through a real socket to uvicorn serving a
small ASGI app in the test's own loop, with the head's time limit cut to HEAD_TIMEOUT below so that no test
waits long. tests/test_real_server_attacks.py attacks a real `raabta serve` (the protocol it picks, on
uvloop) with hundreds of slow clients; this file shows each rule and what it must leave alone (a head that
arrives in parts but in time, a slow body, keep-alive, pipelined requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from bot import cli
from bot.shared import connections
from bot.shared.connections import GuardedH11Protocol, GuardedHttpToolsProtocol, serve_protocol
from tests.conftest import SECRET

HEAD_TIMEOUT = 1.0  # seconds: the guard's HEAD_TIMEOUT for these tests
PATIENCE = 10.0  # seconds a client waits for what must come (far beyond every timer here)
LIMIT = 3  # limit_concurrency
PROTOCOLS = [GuardedHttpToolsProtocol, GuardedH11Protocol]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """GET /ok: 200. POST /echo: reads the body in full, answers its length. POST /refuse: 413 at once,
    body unread, as bot.shared.body does with one too large or too slow."""
    assert scope["type"] == "http"
    status, body = 200, b"ok"
    if scope["path"] == "/echo":
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = str(size).encode()
    elif scope["path"] == "/refuse":
        status, body = 413, b"too large"
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=PROTOCOLS, ids=lambda protocol: protocol.__name__)
async def port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    """A port served by uvicorn with the protocol of the parameter, as `raabta serve` configures it."""
    quick = type(request.param.__name__, (request.param,), {"head_timeout": HEAD_TIMEOUT})
    config = uvicorn.Config(
        app,
        http=quick,
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        limit_concurrency=LIMIT,
        timeout_keep_alive=30,  # beyond every wait here: only the guard closes an idle connection
    )
    server = uvicorn.Server(config)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            async with asyncio.timeout(PATIENCE):
                while not server.started:
                    assert not serving.done(), serving
                    await asyncio.sleep(0.01)
            yield int(sock.getsockname()[1])
        finally:
            server.should_exit = True
            await serving


class Client:
    """One raw connection: what it sends, what it has received, and whether the server closed it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.received = b""

    @classmethod
    async def open(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def statuses(self) -> list[int]:
        """The status of each whole answer received so far."""
        found, rest = [], self.received
        while b"\r\n\r\n" in rest:
            head, rest = rest.split(b"\r\n\r\n", 1)
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            size = int(length[1]) if length else 0
            if len(rest) < size:
                break
            found.append(int(head.split(b" ", 2)[1]))
            rest = rest[size:]
        return found

    async def until_statuses(self, count: int) -> list[int]:
        """Read until `count` whole answers have come; their statuses."""
        async with asyncio.timeout(PATIENCE):
            while len(self.statuses()) < count:
                data = await self.reader.read(4096)
                assert data, f"closed after {self.received!r}"
                self.received += data
        return self.statuses()

    async def until_closed(self, patience: float = PATIENCE) -> bool:
        """Read until the server closes (True) or `patience` runs out (False)."""
        try:
            async with asyncio.timeout(patience):
                while data := await self.reader.read(4096):
                    self.received += data
        except TimeoutError:
            return False
        except ConnectionError:  # a reset: closed with our data unread
            pass
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def clients(port: int, count: int) -> AsyncIterator[list[Client]]:
    opened = [await Client.open(port) for _ in range(count)]
    try:
        yield opened
    finally:
        for client in opened:
            await client.close()


GET = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"


def post(path: str, length: int) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()


# --- which protocol `raabta serve` runs --------------------------------------------------------------


def serve_kwargs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("RAABTA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/data/raabta.db")
    monkeypatch.setenv("RAABTA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAABTA_SECRET_KEY", SECRET)
    assert cli.main(["serve", "--port", "8099"]) == 0
    return seen


def test_serve_parses_with_httptools_and_falls_back_to_h11(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert serve_kwargs(tmp_path, monkeypatch)["http"] is GuardedHttpToolsProtocol
    monkeypatch.setattr(connections, "HTTPTOOLS", False)  # as where httptools is not installed
    assert serve_protocol() is GuardedH11Protocol
    assert serve_kwargs(tmp_path, monkeypatch)["http"] is GuardedH11Protocol


def test_serve_hands_no_upgrade_to_a_websocket_protocol(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With websockets installed (a dependency of a dependency, some day), uvicorn's default `ws="auto"`
    would hand an Upgrade request to its WebSocket protocol, which has none of the guard's rules."""
    assert serve_kwargs(tmp_path, monkeypatch)["ws"] == "none"


# --- rule 1: no more than limit_concurrency connections open -------------------------------------------


async def test_a_connection_beyond_the_limit_is_refused_as_it_is_accepted(port: int) -> None:
    async with clients(port, LIMIT) as held:
        async with clients(port, 1) as (extra,):
            assert await extra.until_closed()  # without having sent a byte
            assert extra.statuses() == [503]
        for client in held[1:]:
            await client.close()
        # Room again. (uvicorn itself answers 503 to a request while LIMIT connections are open.)
        async with asyncio.timeout(PATIENCE):
            while True:
                async with clients(port, 1) as (again,):
                    await again.send(GET)
                    if await again.until_statuses(1) == [200]:
                        break
                await asyncio.sleep(0.05)  # the server has not yet seen the closes


# --- rule 2: a request's head within HEAD_TIMEOUT ---------------------------------------------------


async def test_a_trickled_head_is_answered_408_and_closed(port: int) -> None:
    async with clients(port, 1) as (slow,):
        await slow.send(GET[:10])
        assert await slow.until_closed()
        assert slow.statuses() == [408]


async def test_a_silent_connection_is_closed_without_an_answer(port: int) -> None:
    async with clients(port, 1) as (silent,):
        assert await silent.until_closed()
        assert silent.received == b""


async def test_the_next_head_is_timed_from_the_previous_response(port: int) -> None:
    async with clients(port, 1) as (client,):
        await client.send(GET)
        assert await client.until_statuses(1) == [200]
        await client.send(GET[:10])
        assert await client.until_closed()
        assert client.statuses() == [200, 408]


async def test_a_head_in_parts_within_the_limit_and_a_body_slower_than_it_are_served(port: int) -> None:
    async with clients(port, 1) as (client,):
        head = post("/echo", 4)
        await client.send(head[:10])
        await asyncio.sleep(HEAD_TIMEOUT / 5)
        await client.send(head[10:])  # the whole head within the limit
        await asyncio.sleep(HEAD_TIMEOUT * 1.5)  # the body is not the head's timer's business
        await client.send(b"abcd")
        assert await client.until_statuses(1) == [200]
        assert client.received.endswith(b"\r\n\r\n4")  # the body in full
        await client.send(GET)  # kept alive
        assert await client.until_statuses(2) == [200, 200]


# --- rule 3: an answer before the body was read closes ------------------------------------------------


async def test_an_answer_before_the_body_was_read_closes_the_connection(port: int) -> None:
    async with clients(port, 1) as (client,):
        await client.send(post("/refuse", 1_000_000) + b"a" * 1000)
        assert await client.until_statuses(1) == [413]
        with contextlib.suppress(ConnectionError):  # more of the body: read by nobody
            await client.send(b"a" * 1000)
        assert await client.until_closed()  # not kept alive (timeout_keep_alive is 30 s) to read the rest
        assert client.statuses() == [413]


async def test_a_body_read_in_full_keeps_the_connection_and_pipelining_works(port: int) -> None:
    async with clients(port, 1) as (client,):
        await client.send(post("/echo", 3) + b"abc" + GET + post("/refuse", 0) + GET)  # one packet
        assert await client.until_statuses(4) == [200, 200, 413, 200]
        await client.send(GET[:10])  # after the last answer, the head's timer runs again
        assert await client.until_closed()
        assert client.statuses() == [200, 200, 413, 200, 408]
