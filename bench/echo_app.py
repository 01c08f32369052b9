"""The bare baseline for bench.pipeline: the same server stack as `raabta serve`, and nothing else.

Starlette + uvicorn started as `raabta serve` starts (`uvicorn.run` with its protocol, from
bot.shared.connections: httptools when installed; no access log, no log config, no server header;
uvicorn's default loop, uvloop when it is installed), one POST endpoint that reads the JSON body and
answers in the web chat's shape `{"messages": [{"text", "buttons"}]}`. It is mounted on the web chat path
and on the Telegram webhook path so that the load generator sends byte-identical requests to both servers.

Usage: .venv/bin/python -m bench.echo_app [--host 127.0.0.1] [--port 8090]
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.shared.connections import serve_protocol


async def echo(request: Request) -> Response:
    data = json.loads(await request.body())
    text = (data.get("text") or data.get("choice") or "") if isinstance(data, dict) else ""
    return JSONResponse({"messages": [{"text": str(text), "buttons": []}]})


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/webchat/api/messages", echo, methods=["POST"]),
            Route("/webhooks/telegram", echo, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--host", default="127.0.0.1")
    args.add_argument("--port", type=int, default=8090)
    options = args.parse_args()
    uvicorn.run(
        create_app(),
        host=options.host,
        port=options.port,
        http=serve_protocol(),  # raabta serve's protocol and parser (httptools when installed)
        access_log=False,
        log_config=None,
        server_header=False,
    )


if __name__ == "__main__":
    main()
