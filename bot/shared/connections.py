"""The connections `raabta serve` keeps: at most `limit_concurrency` open, none waiting for ever.

uvicorn (0.55 with h11) bounds neither, as measured against a real `raabta serve` with
RAABTA_LIMIT_CONCURRENCY=100 (tests/test_real_server_attacks.py):

- `limit_concurrency` answers 503 to a request whose head arrives while that many connections are open,
  but it accepts every connection, and nothing times out a connection whose request head never ends:
  300 clients trickling their headers a byte at a time held 300 file descriptors, and every other
  request got 503, for as long as they kept trickling (`timeout_keep_alive` starts only after a
  response, and any byte stops it).
- After a response to a request whose body was not read in full (413 too large, 408 too slow: see
  bot.shared.body), it kept the connection open, reading and discarding whatever the client still sent:
  90 slow senders answered 408 still held 90 file descriptors.

`raabta serve` adds three rules, to uvicorn's httptools protocol (`GuardedHttpToolsProtocol`: its parser
is C, where h11's is Python, which cost about 14% of the server's CPU a web chat message: issue 23) or,
where httptools is not installed, to its h11 protocol (`GuardedH11Protocol`); `serve_protocol` picks:

- a connection accepted beyond `limit_concurrency` open ones is answered 503 and closed at once, so the
  open sockets never exceed `limit_concurrency` (plus those being closed);
- a request's head (request line and headers) must be complete within HEAD_TIMEOUT seconds of the
  connection opening or of the previous response, else 408 (or nothing, if nothing of it came) and the
  connection closes;
- a response sent before the request's body was read in full closes the connection.

uvicorn's httptools protocol has the same two gaps as its h11 one (every byte cancels its keep-alive timer;
after a response it parses and discards the rest of the body), so both need the same rules.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # no httptools: `raabta serve` parses with h11 (serve_protocol)
    HTTPTOOLS = False
else:
    HTTPTOOLS = True

HEAD_TIMEOUT = 10.0  # seconds for a request line and headers: a browser sends them in one packet
REFUSED = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def serve_protocol() -> type[asyncio.Protocol]:
    """The protocol `raabta serve` runs (and bench/floor_app.py and bench/echo_app.py, so that the
    side-by-side compares like with like): httptools' when it is installed, h11's otherwise."""
    return GuardedHttpToolsProtocol if HTTPTOOLS else GuardedH11Protocol


class _Guard(asyncio.Protocol):
    """What the rules need of a connection whatever parses it: the cap at accept and the head's timer.
    The parser-specific part (whether a head has begun, is complete, whether a body is unread) is in each
    protocol. Mixed in before uvicorn's protocol, which sets the attributes declared here."""

    head_timeout: float = HEAD_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    connections: set[Any]
    limit_concurrency: int | None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self._refuse_beyond_limit():
            self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def _refuse_beyond_limit(self) -> bool:
        """503 and close a connection just accepted beyond the limit (the caller has counted it in)."""
        limit = self.limit_concurrency
        if limit is not None and len(self.connections) > limit:
            self.transport.write(REFUSED)
            self.transport.close()
            return True
        return False

    def _wait_for_head(self) -> None:
        self._head_arrived()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_begun():  # part of a head came: say why it is closed (a silent idle one just closes)
            self.transport.write(TOO_SLOW)
        self.transport.close()

    def _head_begun(self) -> bool:
        """Whether part of the awaited head has come (the timer only runs while one is awaited)."""
        raise NotImplementedError


class GuardedH11Protocol(_Guard, H11Protocol):
    """uvicorn's h11 protocol with a cap on open connections, a request-head time limit, and no reading
    of a body the application has already answered (see the module's docstring): `raabta serve`'s
    protocol where httptools is not installed."""

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._head_arrived()

    def on_response_complete(self) -> None:
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            # The rest of the body would only be read to be thrown away, for as long as the client likes.
            with contextlib.suppress(h11.LocalProtocolError):
                self.conn.send(h11.ConnectionClosed())
            self.transport.close()
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._wait_for_head()

    def _head_begun(self) -> bool:
        started, _closed = self.conn.trailing_data
        return bool(started)

    def _head_too_slow(self) -> None:
        if self.conn.their_state is not h11.IDLE:  # a request is under way: its head came in time
            self._head_timer = None
            return
        super()._head_too_slow()


if HTTPTOOLS:

    class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
        """uvicorn's httptools protocol (a C parser: llhttp) with the same three rules as
        GuardedH11Protocol (see the module's docstring): `raabta serve`'s protocol.

        llhttp calls on_message_begin at a request's first byte and on_headers_complete at the end of its
        head, which bound the head's timer; the request's cycle keeps `more_body` true until
        on_message_complete, which uvicorn skips once the response is complete, so a response complete
        with `more_body` still true was sent before the body was read in full."""

        _in_head: bool = False  # on_message_begin came, and on_headers_complete not yet

        def on_message_begin(self) -> None:
            self._in_head = True
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._head_arrived()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            # self.cycle is the last request whose head came: if its response is the one complete, no later
            # request is queued behind it, and its unread body would only be read to be thrown away.
            cycle = self.cycle
            if cycle.response_complete and cycle.more_body and not self.transport.is_closing():
                self.transport.close()
            super().on_response_complete()
            if not self.transport.is_closing() and self.cycle.response_complete:
                self._wait_for_head()  # no queued request started: the next head is awaited

        def _head_begun(self) -> bool:
            return self._in_head
