"""The floor for bench.pipeline: the least a server must do per message to keep Raabta's promises.

Same stack as `raabta serve` and bench/echo_app.py (Starlette + uvicorn started by `uvicorn.run` with
`raabta serve`'s protocol: bot.shared.connections, httptools when installed; no access log, no log config,
no server header; uvloop when it is installed), mounted on the web chat path and
the Telegram webhook path so that the load generator sends byte-identical requests. Per message, and
nothing else:

1. parse the JSON body;
2. the keyed pseudonym of the sender, as bot/shared/identity.py computes it: HMAC-SHA256 of
   `channel:user` under a key derived from the secret (storage/keys.py's derivation, written out here);
3. one SQLite transaction (`BEGIN IMMEDIATE` ... `COMMIT`, WAL, `PRAGMA synchronous=FULL`: the commit is
   on disk before the answer) that records the event id (a duplicate is answered without a second write)
   and inserts or updates the conversation's state row (version + 1);
4. a fixed reply in the web chat's JSON shape `{"messages": [{"text", "lang", "kind", "buttons"}]}`,
   encoded once at start.

Standard-library sqlite3, one connection. The transaction runs the way that measured cheapest in CPU:
on the event loop itself (`--writer inline`, the default), BEGIN to COMMIT with no hand-off to a thread.
Measured on the benchmark machine (2 cores, ext4, uvloop; closed loop, 32 clients): 0.50-0.52 ms of server
CPU a message inline, 0.58-0.62 ms with `--writer thread` (each transaction in one hop to a single writer
thread). Inline, the loop stands still during every fsync, so the floor's throughput is bounded by the
disk's fsync time (280-730 messages/s in the closed loop there, with other work on the machine; the thread
answered about 1.7 times as many in the same paired runs): it is a floor of CPU per message, not of
throughput. One commit per message and no group commit, as specified.

Usage: .venv/bin/python -m bench.floor_app [--host 127.0.0.1] [--port 8091] [--db PATH]
                                           [--writer inline|thread]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import hashlib
import hmac
import json
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.shared.connections import serve_protocol

SECRET = b"bench-secret-key-0123456789abcdefghijklmnop"
PSEUDONYM_KEY = hmac.new(SECRET, b"raabta/pseudonym", hashlib.sha256).digest()
REPLY = json.dumps(
    {
        "messages": [
            {
                "text": "Thank you. What would you like to do?",
                "lang": "en",
                "kind": "prompt",
                "buttons": [
                    {"id": "menu:report", "label": "Report a page"},
                    {"id": "menu:learn", "label": "Learn"},
                ],
            }
        ]
    }
).encode()
SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_events (
    channel VARCHAR(16) NOT NULL, event_id VARCHAR(128) NOT NULL, response JSON NOT NULL,
    created_at DATETIME NOT NULL, PRIMARY KEY (channel, event_id));
CREATE INDEX IF NOT EXISTS ix_processed_events_created_at ON processed_events (created_at);
CREATE TABLE IF NOT EXISTS conversations (
    id VARCHAR(64) NOT NULL PRIMARY KEY, channel VARCHAR(16) NOT NULL, state JSON NOT NULL,
    version INTEGER NOT NULL, updated_at DATETIME NOT NULL);
"""
EVENT = "INSERT OR IGNORE INTO processed_events (channel, event_id, response, created_at) VALUES (?, ?, ?, ?)"
STATE = (
    "INSERT INTO conversations (id, channel, state, version, updated_at) VALUES (?, ?, ?, 1, ?) "
    "ON CONFLICT (id) DO UPDATE SET state = excluded.state, version = conversations.version + 1, "
    "updated_at = excluded.updated_at"
)


def pseudonym(channel: str, user: str) -> str:
    return hmac.new(PSEUDONYM_KEY, f"{channel}:{user}".encode(), hashlib.sha256).hexdigest()


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


class Store:
    """One connection; `commit_turn` is the one transaction of a message."""

    def __init__(self, path: Path) -> None:
        self.db = connect(path)
        self.response = REPLY.decode()

    def commit_turn(self, channel: str, event_id: str, conversation: str, state: str) -> bool:
        """Record the event and the conversation's state; False (and nothing written) for a duplicate."""
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute(EVENT, (channel, event_id, self.response, now)).rowcount == 0:
                db.execute("ROLLBACK")
                return False
            db.execute(STATE, (conversation, channel, state, now))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return True


def turn_of(path: str, data: Any) -> tuple[str, str, str, str] | None:
    """(channel, event id, user, what was said) of a web chat message or a Telegram update."""
    if not isinstance(data, dict):
        return None
    if path.startswith("/webhooks/telegram"):
        if "message" in data:
            said, user = data["message"].get("text", ""), data["message"]["from"]["id"]
        elif "callback_query" in data:
            said, user = data["callback_query"].get("data", ""), data["callback_query"]["from"]["id"]
        else:
            return None
        return "telegram", str(data["update_id"]), str(user), str(said)
    session = data.get("session")
    if not isinstance(session, str):
        return None
    said = data.get("text") if data.get("text") is not None else data.get("choice")
    return "webchat", str(data.get("id") or uuid.uuid4().hex), session, str(said)


def create_app(db_path: Path, writer: str = "inline") -> Starlette:
    store = Store(db_path)
    pool = concurrent.futures.ThreadPoolExecutor(1, "floor-writer") if writer == "thread" else None

    async def message(request: Request) -> Response:
        try:
            data = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        turn = turn_of(request.url.path, data)
        if turn is None:
            return JSONResponse({"error": "not a message"}, status_code=400)
        channel, event_id, user, said = turn
        conversation = pseudonym(channel, user)
        state = json.dumps({"last": said}, ensure_ascii=False)
        if pool is None:
            store.commit_turn(channel, event_id, conversation, state)
        else:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(pool, store.commit_turn, channel, event_id, conversation, state)
        return Response(REPLY, media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/webchat/api/messages", message, methods=["POST"]),
            Route("/webhooks/telegram", message, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--host", default="127.0.0.1")
    args.add_argument("--port", type=int, default=8091)
    args.add_argument("--db", type=Path, help="SQLite file (default: one in a new temporary directory)")
    args.add_argument("--writer", choices=("inline", "thread"), default="inline")
    options = args.parse_args()
    db = options.db or Path(tempfile.mkdtemp(prefix="raabta-floor-")) / "floor.db"
    uvicorn.run(
        create_app(db, options.writer),
        host=options.host,
        port=options.port,
        http=serve_protocol(),  # raabta serve's protocol and parser (httptools when installed)
        access_log=False,
        log_config=None,
        server_header=False,
    )


if __name__ == "__main__":
    main()
