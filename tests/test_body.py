"""The shared body reader (bot.shared.body) against an ASGI server's `receive` that hands the body over in
pieces, at once or after waits: the cap (413) and the time limit (408) hold whichever piece is waited for,
a body that arrived with its headers is read whole, and a cancellation from outside is not taken for the
time limit. And the JSON answer of the web chat and the webhooks carries the headers Starlette gives one."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message

from bot.channels.http import JSONBody
from bot.shared.body import Unread, read_body

Piece = tuple[float, Message]  # seconds the server waits for it, then the ASGI message


def part(body: bytes, wait: float = 0.0, more: bool = True) -> Piece:
    return wait, {"type": "http.request", "body": body, "more_body": more}


class Sender:
    """An ASGI server's side of one request: each `receive` waits as long as the client took to send the
    piece (no wait: the piece had arrived already, as a small body does with its headers), then hands it
    over; after the last piece, the client is gone."""

    def __init__(self, pieces: list[Piece], length: int | None = None) -> None:
        self.pieces = pieces
        self.handed = 0
        headers = [] if length is None else [(b"content-length", str(length).encode())]
        self.request = Request({"type": "http", "method": "POST", "headers": headers}, self.receive)

    async def receive(self) -> Message:
        if self.handed >= len(self.pieces):
            await asyncio.sleep(3600)  # a client holding the connection open, sending nothing more
        wait, message = self.pieces[self.handed]
        if wait:
            await asyncio.sleep(wait)
        self.handed += 1
        return message


async def test_a_body_that_came_with_the_headers_is_read_whole() -> None:
    sender = Sender([part(b'{"a": 1}', more=False)], length=8)
    assert await read_body(sender.request, 100, 0.2) == b'{"a": 1}'
    sender = Sender([part(b'{"a"'), part(b": 1}"), part(b"", more=False)])
    assert await read_body(sender.request, 100, 0.2) == b'{"a": 1}'


async def test_a_body_whose_pieces_arrive_slowly_after_a_fast_first_one_gets_408() -> None:
    # every piece comes well within the limit, all of them together do not: the limit is the whole body's
    sender = Sender([part(b"x" * 10)] + [part(b"x", wait=0.05) for _ in range(40)] + [part(b"", more=False)])
    started = time.monotonic()
    refused = await read_body(sender.request, 1000, 0.3)
    assert refused == Unread(408, "the body did not arrive within 0.3 seconds")
    assert time.monotonic() - started < 1.0
    assert sender.handed < 10  # cut off at the limit, not read to the end


async def test_a_body_whose_first_piece_never_comes_gets_408() -> None:
    sender = Sender([part(b"{}", wait=30, more=False)])
    started = time.monotonic()
    assert isinstance(refused := await read_body(sender.request, 1000, 0.2), Unread)
    assert refused.status == 408
    assert time.monotonic() - started < 1.0


async def test_a_body_waited_for_in_pieces_within_the_limit_is_read_whole() -> None:
    pieces = [part(b"ab"), part(b"cd", wait=0.02), part(b"", wait=0.02), part(b"ef", wait=0.02, more=False)]
    assert await read_body(Sender(pieces).request, 100, 2.0) == b"abcdef"
    assert await read_body(Sender([part(b"abc", wait=0.02, more=False)]).request, 100, 2.0) == b"abc"


async def test_a_body_passing_the_cap_after_a_wait_gets_413_before_the_rest_is_read() -> None:
    sender = Sender([part(b"x" * 60), part(b"x" * 60, wait=0.02)] + [part(b"x" * 60) for _ in range(10)])
    assert await read_body(sender.request, 100, 2.0) == Unread(413, "body larger than 100 bytes")
    assert sender.handed == 2
    at_once = Sender([part(b"x" * 101, more=False)])
    assert await read_body(at_once.request, 100, 2.0) == Unread(413, "body larger than 100 bytes")
    declared = Sender([part(b"x", more=False)], length=101)
    assert await read_body(declared.request, 100, 2.0) == Unread(413, "body larger than 100 bytes")
    assert declared.handed == 0  # refused on its Content-Length, unread


@pytest.mark.parametrize("wait", [0.0, 0.02])
async def test_a_client_that_goes_away_gets_400(wait: float) -> None:
    sender = Sender([part(b"{"), (wait, {"type": "http.disconnect"})])
    assert await read_body(sender.request, 100, 2.0) == Unread(
        400, "the client went away before the body arrived"
    )


async def test_a_cancellation_from_outside_is_not_taken_for_the_time_limit() -> None:
    sender = Sender([part(b"{"), part(b"}", wait=30, more=False)])
    reading = asyncio.create_task(read_body(sender.request, 100, 10.0))
    await asyncio.sleep(0.05)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert reading.cancelled()


@pytest.mark.parametrize("status", [200, 400, 403, 413, 429, 503, 204])
def test_a_json_answer_has_the_headers_starlette_would_give_it(status: int) -> None:
    content = {"messages": [{"text": "سلام \u2028 hi", "buttons": [], "n": 1.5}]}
    ours, theirs = JSONBody(content, status_code=status), JSONResponse(content, status_code=status)
    assert (ours.status_code, ours.raw_headers, ours.body) == (
        theirs.status_code,
        theirs.raw_headers,
        theirs.body,
    )
    ours.headers["Retry-After"] = "3"  # a list of its own, which the caller may add to
    assert JSONBody(content, status_code=status).raw_headers == theirs.raw_headers
    retry = {"Retry-After": "7"}
    assert JSONBody(content, 429, retry).raw_headers == JSONResponse(content, 429, retry).raw_headers
