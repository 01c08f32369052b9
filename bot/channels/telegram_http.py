"""Bot API calls on keep-alive HTTP/1.1 connections of our own, under python-telegram-bot's request API.

Why: through httpx every call cost about as much CPU as handling the update that caused it (issue 23's
Telegram profile: httpx, httpcore and anyio were over half of the server's CPU a handled update). Thousands
of Python calls a request, among them a failing `import sniffio` (httpcore looks for it on every lock it
makes; anyio 4 no longer installs it, and a failed import is searched for on disk again each time) and a
pool that walks every connection, for every idle one, each time a request starts or ends.

`BotAPIRequest` is the library's `HTTPXRequest` with one method changed, `do_request` (the library's point
for a request class to carry a call): a POST without files (every Bot API method the bot calls: sendMessage,
editMessageText, answerCallbackQuery, setWebhook, ...) goes out as a JSON body (the Bot API takes
`application/json` for any method without an upload) on a connection of `Connections`, and the answer comes
back to the library as (status, body), so it reads it, maps errors (`RetryAfter`, `Forbidden`, ...) and
applies the rate limiter as for httpx. Everything else (file downloads, uploads) and every call when a
proxy is configured in the environment (httpx honours HTTP(S)_PROXY; this path would not) goes to httpx.

The connections: at most `size` to the Bot API's origin, reused most recent first; one whose server closed
it, sent something unasked, or answered with `Connection: close` is dropped. A request is never sent twice
here: a failure after it was written is a NetworkError (the library's and our senders' retry rules apply,
as with httpx). TLS as httpx does it (`httpx.create_ssl_context`: certifi, SSL_CERT_FILE).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import urllib.request
from collections import deque
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import orjson
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

MAX_HEAD = 64 * 1024  # bytes of status line and headers
MAX_BODY = 16 * 1024 * 1024  # bytes of an answer (a Bot API answer is a few KB)
PROXY_SCHEMES = ("http", "https", "all")
DEFAULT = type(BaseRequest.DEFAULT_NONE)  # a timeout the call left to the request's own


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 we can read."""


class Answer:
    """Reads one HTTP/1.1 response from bytes as they arrive: status, then a Content-Length or chunked
    body, or one that ends with the connection."""

    __slots__ = ("body", "buffer", "chunked", "chunks", "close", "length", "status")

    def __init__(self) -> None:
        self.buffer = bytearray()  # received and not yet consumed
        self.status = 0
        self.length: int | None = None  # body bytes expected; None: until the connection closes
        self.chunked = False
        self.chunks = bytearray()  # a chunked body's data so far
        self.close = False
        self.body: bytes | None = None  # set when complete

    def feed(self, data: bytes) -> bool:
        """Take bytes; True once the response is complete."""
        self.buffer += data
        return self._parse(eof=False)

    def end(self) -> bool:
        """The connection closed: True if that completes the response (a body read to the end)."""
        return self._parse(eof=True)

    def _parse(self, eof: bool) -> bool:
        while not self.status:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise ProtocolError("head too long")
                return False
            self._head(bytes(self.buffer[:head_end]).decode("latin-1"))
            del self.buffer[: head_end + 4]
        if self.chunked:
            return self._chunks()
        if self.length is not None:
            if len(self.buffer) < self.length:
                return False
            if len(self.buffer) > self.length:
                self.close = True  # bytes beyond the answer: this connection's next answer is unknowable
            self.body = bytes(self.buffer[: self.length])
            return True
        if len(self.buffer) > MAX_BODY:
            raise ProtocolError("body too long")
        if eof:
            self.body = bytes(self.buffer)
        return eof

    def _head(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError("no status line")
        status = int(parts[1])
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            return
        self.close = parts[0] == "HTTP/1.0"
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError("malformed header")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                if not value.isdigit() or int(value) > MAX_BODY:
                    raise ProtocolError("bad content-length")
                self.length = int(value)
            elif name == "transfer-encoding":
                self.chunked = value.lower().endswith("chunked")
            elif name == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                self.close = "close" in tokens or (self.close and "keep-alive" not in tokens)
        if status in (204, 304):
            self.length = 0
        if self.length is None and not self.chunked:
            self.close = True  # the body ends with the connection
        self.status = status

    def _chunks(self) -> bool:
        """Consume whole chunks from the buffer; True after the last one and its (usually no) trailers."""
        while True:
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise ProtocolError("chunk size line too long")
                return False
            size_text = bytes(self.buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            start = line_end + 2
            if size == 0:  # the last chunk; then trailer lines (usually none) and an empty line
                rest = self.buffer[start:]
                if not rest.startswith(b"\r\n") and b"\r\n\r\n" not in rest:
                    if len(rest) > MAX_HEAD:
                        raise ProtocolError("trailers too long")
                    return False
                self.body = bytes(self.chunks)
                return True
            if len(self.chunks) + size > MAX_BODY:
                raise ProtocolError("body too long")
            if len(self.buffer) < start + size + 2:
                return False
            if self.buffer[start + size : start + size + 2] != b"\r\n":
                raise ProtocolError("chunk longer than announced")
            self.chunks += self.buffer[start : start + size]
            del self.buffer[: start + size + 2]


class Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.answer: Answer | None = None
        self.done: asyncio.Future[Answer] | None = None
        self.usable = True  # False once closed, broken, or told to close

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is none of asyncio's classes

    def data_received(self, data: bytes) -> None:
        if self.answer is None or self.done is None or self.done.done():
            self.usable = False  # bytes nobody asked for (a 408 before closing, say): not reused
            self.close()
            return
        try:
            complete = self.answer.feed(data)
        except ProtocolError as exc:
            self._fail(exc)
            return
        if complete:
            self.done.set_result(self.answer)

    def eof_received(self) -> bool | None:
        self.usable = False
        if self.answer is not None and self.done is not None and not self.done.done():
            try:
                complete = self.answer.end()
            except ProtocolError as exc:
                self._fail(exc)
                return None
            if complete:
                self.done.set_result(self.answer)
            else:
                self._fail(ConnectionResetError("the server closed the connection mid-answer"))
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc or ConnectionResetError("the connection closed"))

    def _fail(self, exc: Exception) -> None:
        self.usable = False
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: bytes, within: float | None) -> Answer:
        """Write the request, wait for its whole answer (at most `within` seconds)."""
        assert self.transport is not None
        self.answer = Answer()
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            async with asyncio.timeout(within):
                answer = await self.done
        except BaseException:
            self.close()  # an answer may still come: this connection cannot carry another request
            raise
        finally:
            self.done = None
            self.answer = None
        if answer.close:
            self.close()
        return answer


class Connections:
    """At most `size` connections to one origin (scheme, host, port), reused most recent first."""

    def __init__(self, scheme: str, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.tls: ssl.SSLContext | None = httpx.create_ssl_context() if scheme == "https" else None
        default = 443 if scheme == "https" else 80
        named = f"[{host}]" if ":" in host else host  # an IPv6 address
        self.host_header = named if port == default else f"{named}:{port}"
        self.closed = False
        self._idle: list[Connection] = []
        self._open = 0  # connections counted against `size`: idle, busy, or being opened
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def request(
        self,
        target: str,
        body: bytes,
        user_agent: str,
        timeouts: tuple[float | None, float | None, float | None],
    ) -> tuple[int, bytes]:
        """POST `body` (JSON) to `target` (path and query); the answer's status and body."""
        connect_timeout, read_timeout, pool_timeout = timeouts
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {self.host_header}\r\nUser-Agent: {user_agent}\r\n"
            f"Accept: */*\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        connection = await self._acquire(connect_timeout, pool_timeout)
        try:
            answer = await connection.exchange(head.encode("latin-1") + body, read_timeout)
        except TimeoutError:
            raise TimedOut("Timed out waiting for the Bot API's answer") from None
        except (OSError, ProtocolError) as exc:
            raise NetworkError(f"Bot API connection: {type(exc).__name__}") from exc
        finally:
            self._release(connection)
        assert answer.body is not None
        return answer.status, answer.body

    async def _acquire(self, connect_timeout: float | None, pool_timeout: float | None) -> Connection:
        """An idle connection, else a new one if fewer than `size` are open, else the first of either to
        come free within `pool_timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if pool_timeout is None else loop.time() + pool_timeout
        while True:
            while self._idle:
                connection = self._idle.pop()
                if connection.usable:
                    return connection
                self._open -= 1  # closed while idle
            if self._open < self.size:
                break
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiting.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, but leaving: the next waiter gets the turn
                if isinstance(exc, TimeoutError):
                    raise TimedOut(
                        "Pool timeout: every Bot API connection is busy; the request was not sent"
                    ) from None
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
        self._open += 1
        try:
            return await self._connect(connect_timeout)
        except BaseException:
            self._open -= 1
            self._wake()
            raise

    async def _connect(self, within: float | None) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                _, connection = await loop.create_connection(
                    Connection,
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.host if self.tls is not None else None,
                )
        except TimeoutError:
            raise TimedOut("Timed out connecting to the Bot API") from None
        except OSError as exc:
            raise NetworkError(f"Bot API connection: {type(exc).__name__}") from exc
        return connection

    def _release(self, connection: Connection) -> None:
        if self.closed:
            connection.close()  # a call that finished after the shutdown
        if connection.usable:
            self._idle.append(connection)
        else:
            self._open -= 1
        self._wake()

    def _wake(self) -> None:
        """A connection came free (or room for one): the longest waiter looks again."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Close the idle connections now, the busy ones when their call ends."""
        self.closed = True
        for connection in self._idle:
            connection.close()
        self._open -= len(self._idle)
        self._idle.clear()


def proxied() -> bool:
    """Whether the environment names a proxy for HTTP(S): httpx would use it, so httpx carries the calls."""
    return any(scheme in PROXY_SCHEMES for scheme in urllib.request.getproxies())


def json_body(request_data: RequestData) -> bytes:
    """The call's parameters as one JSON object (nested values as JSON, not as JSON-encoded strings)."""
    return orjson.dumps(request_data.parameters)


class BotAPIRequest(HTTPXRequest):
    """`HTTPXRequest` whose POSTs without files go over `Connections` (see the module docstring)."""

    def __init__(
        self,
        connection_pool_size: int = 64,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        super().__init__(
            connection_pool_size=connection_pool_size,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        self._size = connection_pool_size
        self._timeouts = (connect_timeout, read_timeout, write_timeout, pool_timeout)
        self._origins: dict[tuple[str, str, int], Connections] = {}
        self._direct = not proxied()

    async def shutdown(self) -> None:
        for origin in self._origins.values():
            origin.close()
        self._origins.clear()
        await super().shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """A POST without files on our connections; anything else through httpx."""
        parts = urlsplit(url)
        if (
            not self._direct
            or method != "POST"
            or request_data is None
            or request_data.contains_files
            or parts.scheme not in ("http", "https")
            or not parts.hostname
        ):
            return await super().do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, parts.hostname, port)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = Connections(parts.scheme, parts.hostname, port, self._size)
        connect, read, write, pool = self._timeouts
        chosen = (
            connect if isinstance(connect_timeout, DEFAULT) else connect_timeout,
            _sum(
                read if isinstance(read_timeout, DEFAULT) else read_timeout,
                write if isinstance(write_timeout, DEFAULT) else write_timeout,
            ),
            pool if isinstance(pool_timeout, DEFAULT) else pool_timeout,
        )
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return await origin.request(target, json_body(request_data), self.USER_AGENT, chosen)


def _sum(read: float | None, write: float | None) -> float | None:
    """Writing and reading the answer share one deadline (a request is a few KB, written at once)."""
    return None if read is None or write is None else read + write
