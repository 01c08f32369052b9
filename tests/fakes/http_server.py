"""A Starlette app served over real HTTP on 127.0.0.1, for the fakes of Meta's APIs and CDN.

Real sockets, not an ASGI transport, because what is under test includes the HTTP client's own behaviour
(timeouts, streaming, redirects, connection reuse). One helper so that every fake starts and stops a server
the same way: a free port bound before uvicorn starts (no race for it), uvicorn in a daemon thread, and the
server stopped and the socket closed when the block ends.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve `app` on a free port of 127.0.0.1 in a thread; yields its origin (`http://127.0.0.1:<port>`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", ws="none", http="h11", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
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
