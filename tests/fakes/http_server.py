"""A Starlette app served over real HTTP on 127.0.0.1, for the fakes of Meta's APIs and CDN.

Real sockets, not an ASGI transport, because what is under test includes the HTTP client's own behaviour
(timeouts, streaming, redirects, connection reuse). One helper so that every fake starts and stops a server
the same way: a free port bound before uvicorn starts (no race for it), uvicorn in a daemon thread, and the
server stopped and the socket closed when the block ends.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

TICK = 0.005  # seconds between a fake server's looks at whether it was told to stop


class PromptServer(uvicorn.Server):
    """uvicorn's server that stops as soon as it is told to. uvicorn looks at `should_exit` every 0.1 s,
    then sleeps 0.1 s more after asking its connections to close, whether or not they already have: up to
    0.2 s idle at the end of every test that serves a fake or the app in its own loop (hundreds of tests
    in `make test`). The same steps here (stop listening, close every connection, wait until they and
    their tasks are gone, wait for the servers to close, the app's lifespan shutdown), looking every TICK
    instead. Only for tests' servers: what a test checks of uvicorn itself runs on uvicorn's own."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):  # on_tick also keeps the Date header current
            counter = (counter + 1) % 864000
            await asyncio.sleep(TICK)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        # uvicorn signals neither a connection's nor a task's end: it polls them too (every 0.1 s).
        while (self.server_state.connections or self.server_state.tasks) and not self.force_exit:  # noqa: ASYNC110
            await asyncio.sleep(TICK)
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve `app` on a free port of 127.0.0.1 in a thread; yields its origin (`http://127.0.0.1:<port>`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", ws="none", http="h11", log_level="warning", access_log=False)
    server = PromptServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
