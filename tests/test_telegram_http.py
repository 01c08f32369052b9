"""Bot API calls on our own keep-alive connections (bot/channels/telegram_http.py): the answer reader, the
connection pool against a bare HTTP/1.1 server scripted per test (over TLS too), and the library's calls
through it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut

from bot.channels.telegram_http import Answer, BotAPIRequest, ProtocolError
from tests.fakes.telegram_api import FakeBotAPI

OK = b'{"ok":true,"result":true}'


def ok(extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(OK), extra, OK)


def read_all(data: bytes, step: int) -> Answer:
    """Feed `data` in pieces of `step` bytes; the answer once complete (the connection's end counts)."""
    answer = Answer()
    for at in range(0, len(data), step):
        if answer.feed(data[at : at + step]):
            return answer
    assert answer.end(), "incomplete"
    return answer


@pytest.mark.parametrize("step", [1, 3, 7, 1000])
def test_an_answer_is_read_however_its_bytes_arrive(step: int) -> None:
    answer = read_all(ok(b"Content-Type: application/json\r\n"), step)
    assert (answer.status, answer.body, answer.close) == (200, OK, False)
    chunked = (
        b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"ok"\r\n15\r\n:false,"error_code":4\r\n3\r\n29}\r\n0\r\nX-Trailer: y\r\n\r\n'
    )
    answer = read_all(chunked, step)
    assert (answer.status, answer.body) == (429, b'{"ok":false,"error_code":429}')
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + ok()
    assert read_all(interim, step).body == OK


def test_an_answer_that_says_so_or_has_no_length_closes_the_connection() -> None:
    assert read_all(ok(b"Connection: close\r\n"), 1000).close
    assert read_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nab", 1000).close
    assert not read_all(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nab", 1000
    ).close
    beyond = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokand more", 1000)
    assert (beyond.body, beyond.close) == (b"ok", True)  # what follows the answer: the connection goes
    until_closed = read_all(b"HTTP/1.1 200 OK\r\n\r\nbody to the end", 4)
    assert (until_closed.body, until_closed.close) == (b"body to the end", True)


@pytest.mark.parametrize(
    "data",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
    ],
)
def test_what_is_not_http_is_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        Answer().feed(data)


# --- against a bare server -------------------------------------------------------------------------

Script = Callable[["Seen"], Awaitable[bytes | None]]  # the bytes to answer with; None: close, answer nothing


@dataclass
class Seen:
    connection: int  # which connection (counted from 0) carried the request
    head: str
    body: bytes


@dataclass
class Server:
    script: Script
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    close_after: set[int] = field(default_factory=set)  # requests (from 1) after whose answer it closes
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number, self.connections = self.connections, self.connections + 1
        self.writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                length = next(
                    int(line.split(":", 1)[1])
                    for line in head.split("\r\n")
                    if line.lower().startswith("content-length")
                )
                seen = Seen(number, head, await reader.readexactly(length))
                self.seen.append(seen)
                answer = await self.script(seen)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if len(self.seen) in self.close_after:
                    break
        writer.close()


@contextlib.asynccontextmanager
async def serving(script: Script) -> AsyncIterator[Server]:
    server = Server(script)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        await closed(listener, server.writers)


async def closed(listener: asyncio.Server, writers: list[asyncio.StreamWriter]) -> None:
    """Stop listening and close the server's side of every connection."""
    listener.close()
    for writer in writers:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    await listener.wait_closed()


@contextlib.asynccontextmanager
async def bot_on(server: Server, **options: float | int | None) -> AsyncIterator[Bot]:
    request = BotAPIRequest(**options)  # type: ignore[arg-type]
    bot = Bot("1:x", base_url=f"http://127.0.0.1:{server.port}/bot", request=request)
    await request.initialize()
    try:
        yield bot
    finally:
        await request.shutdown()


async def answer_ok(_seen: Seen) -> bytes:
    return ok()


async def test_calls_one_after_another_share_one_connection_and_carry_json() -> None:
    async with serving(answer_ok) as server, bot_on(server) as bot:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
        for _ in range(3):
            assert await bot._post("sendMessage", {"chat_id": 5, "text": "héllo", "reply_markup": markup})
    assert server.connections == 1 and len(server.seen) == 3
    head = server.seen[0].head
    assert head.startswith("POST /bot1:x/sendMessage HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in head and "Content-Type: application/json\r\n" in head
    sent = json.loads(server.seen[0].body)
    assert sent == {
        "chat_id": 5,
        "text": "héllo",
        "reply_markup": {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]},
    }


async def test_a_connection_the_server_closes_is_not_used_again() -> None:
    async def close_every_other(seen: Seen) -> bytes:
        return ok(b"Connection: close\r\n") if len(server.seen) % 2 else ok()

    async with serving(close_every_other) as server, bot_on(server) as bot:
        for _ in range(4):
            assert await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
    assert [s.connection for s in server.seen] == [0, 1, 1, 2]


async def test_an_idle_connection_the_server_dropped_gives_way_to_a_new_one() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(ok())

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    request = BotAPIRequest()
    bot = Bot("1:x", base_url=f"http://127.0.0.1:{port}/bot", request=request)
    try:
        assert await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
        writers[0].close()  # the server's keep-alive timeout
        await asyncio.sleep(0.05)
        assert await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
        assert len(writers) == 2
    finally:
        await request.shutdown()
        await closed(listener, writers)


async def test_at_most_size_connections_and_a_pool_timeout_sends_nothing() -> None:
    release = asyncio.Event()

    async def held(_seen: Seen) -> bytes:
        await release.wait()
        return ok()

    async with serving(held) as server, bot_on(server, connection_pool_size=2, pool_timeout=0.2) as bot:
        first = [asyncio.create_task(bot._post("sendMessage", {"chat_id": i, "text": "x"})) for i in (1, 2)]
        await asyncio.sleep(0.05)
        with pytest.raises(TimedOut, match="not sent"):
            await bot._post("sendMessage", {"chat_id": 3, "text": "x"})
        waiting = asyncio.create_task(bot._post("sendMessage", {"chat_id": 4, "text": "x"}))
        await asyncio.sleep(0.05)
        assert len(server.seen) == 2  # the third was never sent, the fourth waits for a connection
        release.set()
        assert all(await asyncio.gather(*first, waiting))
    assert server.connections == 2
    assert [json.loads(s.body)["chat_id"] for s in server.seen] == [1, 2, 4]


async def test_a_late_answer_times_out_and_its_connection_is_not_reused() -> None:
    async def late_once(seen: Seen) -> bytes:
        if len(server.seen) == 1:
            await asyncio.sleep(0.5)
        return ok()

    async with serving(late_once) as server, bot_on(server, read_timeout=0.1, write_timeout=0.0) as bot:
        with pytest.raises(TimedOut):
            await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
        assert await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
    assert [s.connection for s in server.seen] == [0, 1]


async def test_a_connection_cut_before_or_in_the_answer_is_a_network_error() -> None:
    async def cut(seen: Seen) -> bytes | None:
        if len(server.seen) == 1:
            return None  # closes without a word
        if len(server.seen) == 2:
            return b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok"'  # then closes (close_after)
        return ok()

    async with serving(cut) as server, bot_on(server) as bot:
        server.close_after = {2}
        for _ in range(2):
            with pytest.raises(NetworkError):
                await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
        assert await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
    assert [s.connection for s in server.seen] == [0, 1, 2]


async def test_the_library_reads_refusals_from_our_connections() -> None:
    async with FakeBotAPI() as api:
        request = BotAPIRequest()
        bot = Bot(api.token, base_url=api.base_url, request=request)
        await bot.initialize()
        try:
            api.fail("sendMessage", 429, retry_after=7)
            with pytest.raises(RetryAfter) as too_many:
                await bot.send_message(5, "x")
            assert too_many.value.retry_after.total_seconds() == 7  # type: ignore[union-attr]
            api.block(6)
            with pytest.raises(Forbidden, match="blocked"):
                await bot.send_message(6, "x")
            message = await bot.send_message(5, "y")
            assert message.text == "y" and api.sent(5)[-1].params == {"chat_id": 5, "text": "y"}
        finally:
            await bot.shutdown()


async def test_with_a_proxy_in_the_environment_httpx_carries_the_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with serving(answer_ok) as server:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        async with bot_on(server) as bot:
            with pytest.raises(NetworkError):
                await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
        assert server.seen == []  # it went to the proxy, as httpx sends it


# --- TLS, as api.telegram.org is reached -----------------------------------------------------------


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


async def test_calls_go_over_tls_and_a_certificate_nobody_vouches_for_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, key_file = certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    server = Server(answer_ok)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    try:
        untrusted = BotAPIRequest()  # the usual trust store (certifi): it does not know this certificate
        bot = Bot("1:x", base_url=f"https://127.0.0.1:{port}/bot", request=untrusted)
        with pytest.raises(NetworkError):
            await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
        await untrusted.shutdown()
        assert server.seen == []
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # as httpx reads it
        trusted = BotAPIRequest()
        bot = Bot("1:x", base_url=f"https://127.0.0.1:{port}/bot", request=trusted)
        for _ in range(2):
            assert await bot._post("sendMessage", {"chat_id": 5, "text": "x"})
        await trusted.shutdown()
        assert server.connections == 1 and [s.connection for s in server.seen] == [
            0,
            0,
        ]  # a failed handshake: no handler
        assert f"Host: 127.0.0.1:{port}\r\n" in server.seen[0].head
    finally:
        await closed(listener, server.writers)
