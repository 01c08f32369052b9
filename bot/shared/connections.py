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

`GuardedH11Protocol` is uvicorn's h11 protocol with three rules added:

- a connection accepted beyond `limit_concurrency` open ones is answered 503 and closed at once, so the
  open sockets never exceed `limit_concurrency` (plus those being closed);
- a request's head (request line and headers) must be complete within HEAD_TIMEOUT seconds of the
  connection opening or of the previous response, else 408 (or nothing, if nothing of it came) and the
  connection closes;
- a response sent before the request's body was read in full closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 10.0  # seconds for a request line and headers: a browser sends them in one packet
REFUSED = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a cap on open connections, a request-head time limit, and no reading
    of a body the application has already answered (see the module's docstring)."""

    head_timeout: float = HEAD_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limit = self.limit_concurrency
        if limit is not None and len(self.connections) > limit:
            transport.write(REFUSED)
            transport.close()
            return
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

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

    def _wait_for_head(self) -> None:
        self._head_arrived()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        started, _closed = self.conn.trailing_data
        if started:  # part of a head came: say why it is closed (a silent idle connection just closes)
            self.transport.write(TOO_SLOW)
        self.transport.close()
