"""The `raabta` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence

from bot import logs
from bot.shared.config import load_settings, secret_key
from cyberunit.cli import add_commands
from responses.languages import LANGUAGES

PRIVATE_UMASK = 0o077


def _serve(args: argparse.Namespace) -> int:
    from bot.shared.heap import one_arena

    one_arena()  # before any thread starts: they all allocate from one heap (bot/shared/heap.py)
    import uvicorn

    from bot.app import create_app
    from bot.shared.connections import serve_protocol

    settings = load_settings()
    app = create_app(settings)
    # No access log: its lines would carry client addresses and session ids. HTTP is parsed by httptools
    # (C) when installed, else h11 (issue 23); either way connections beyond `limit_concurrency` get 503
    # at once, a request head must arrive within HEAD_TIMEOUT seconds, and a connection whose body was
    # refused closes (bot.shared.connections: uvicorn alone does none of it); idle keep-alive connections
    # close after `timeout_keep_alive` seconds (bodies have their own time limit: bot.shared.body).
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        http=serve_protocol(),
        loop="uvloop",  # libuv's loop: every message crosses it several times (issue 23)
        ws="none",  # no WebSocket route exists; an upgrade must not reach a protocol without the guard
        access_log=False,
        log_config=None,
        server_header=False,
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive=settings.timeout_keep_alive,
    )
    return 0


def _chat(args: argparse.Namespace) -> int:
    from bot.app import make_pipeline
    from bot.channels.terminal import chat
    from storage.repository import Storage

    settings = load_settings()

    async def run() -> int:
        storage = Storage(settings.database_url, secret_key(settings))
        try:
            if not await storage.is_current():
                await storage.upgrade()
            return await chat(make_pipeline(settings, storage), args.lang)
        finally:
            await storage.close()

    return asyncio.run(run())


def _db_upgrade(_args: argparse.Namespace) -> int:
    from storage.repository import Storage

    settings = load_settings()

    async def run() -> None:
        storage = Storage(settings.database_url, secret_key(settings))
        try:
            await storage.upgrade()
        finally:
            await storage.close()

    asyncio.run(run())
    print("database is up to date", file=sys.stderr)
    return 0


def _nlu_parse(_args: argparse.Namespace) -> int:
    from nlu import parse

    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["text"]
            if not isinstance(text, str):
                raise TypeError
        except (json.JSONDecodeError, KeyError, TypeError):
            print(
                f'raabta nlu parse: line {number}: expected a JSON object with a string "text"',
                file=sys.stderr,
            )
            return 2
        print(json.dumps(parse(text).to_dict(), ensure_ascii=False), flush=True)
    return 0


def _nlu_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nlu.data import TEST_DIR, DataError
    from nlu.evaluate import CLAIMS_TEST, evaluate, evaluate_claims, format_claims, format_report

    try:
        report = evaluate(Path(args.data) if args.data else TEST_DIR)
        # The recruiters' claims: their own held-out phrasings, on the default split or when asked for; and
        # how many reach their claim's answer through the dialogue engine (bot/dialogue/reach.py).
        from bot.dialogue.reach import reach

        claims = (
            evaluate_claims(Path(args.claims) if args.claims else CLAIMS_TEST, reach=reach)
            if args.claims or not args.data
            else None
        )
    except (OSError, DataError) as exc:
        print(f"raabta nlu eval: {exc}", file=sys.stderr)
        return 2
    print(format_report(report, errors=args.errors))
    if claims is not None:
        print("\n" + format_claims(claims))
    return 0


def _nlu_train(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from nlu import model
    from nlu.data import TRAIN_DIR, DataError, load_dir

    directory = Path(args.data) if args.data else TRAIN_DIR
    started = time.perf_counter()
    try:
        trained = model.train(directory)
        path = model.save_to_cache(trained)
        examples = len(load_dir(directory))
    except (OSError, DataError, ValueError) as exc:
        print(f"raabta nlu train: {exc}", file=sys.stderr)
        return 2
    model.reset()
    print(f"trained on {examples} examples from {directory} in {time.perf_counter() - started:.1f} s")
    print(f"model {trained.key}: {path if path else 'not cached (no writable cache directory)'}")
    return 0


def _content_check(_args: argparse.Namespace) -> int:
    from responses import ContentError, load

    try:
        texts = load()
    except ContentError as exc:
        print(f"content check failed: {exc}", file=sys.stderr)
        return 1
    print(f"content OK: {len(texts.texts)} texts in en, ur and ur-Latn")
    if texts.claims is not None and texts.claims.claims:  # responses/claims.yaml, checked by load()
        print(f"claims OK: {len(texts.claims.claims)} claims, answered in every language with their sources")
    return 0


def _designated_check(_args: argparse.Namespace) -> int:
    from bot.shared.config import ConfigError
    from bot.shared.designated import DesignatedError, load

    try:
        found = load(load_settings().designated_file)
    except (DesignatedError, ConfigError) as exc:
        print(f"designated check failed: {exc}", file=sys.stderr)
        return 1
    print(f"designated OK: {len(found)} organisations in {found.path}")
    return 0


def _messenger_setup(_args: argparse.Namespace) -> int:
    from bot.channels.messenger_profile import push_profile
    from bot.shared.delivery import Outcome

    settings = load_settings()
    answer = asyncio.run(push_profile(settings))
    if answer.outcome is not Outcome.SENT:
        print(f"raabta messenger setup: the Graph API refused the profile ({answer.reason})", file=sys.stderr)
        return 1
    print("messenger profile set: Get Started, greeting and persistent menu in English and Urdu")
    return 0


def _whatsapp_check(_args: argparse.Namespace) -> int:
    from bot.channels.whatsapp import check

    ok, said = asyncio.run(check(load_settings()))
    print(f"raabta whatsapp check: {said}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _whatsapp_templates(_args: argparse.Namespace) -> int:
    from bot.channels.whatsapp_templates import Templates
    from responses import catalog

    settings = load_settings()
    print(Templates(catalog(), settings.whatsapp_template).definitions())
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="raabta", description="Raabta: report extremist pages; work the queue."
    )
    top.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log at INFO, libraries' lines too (Alembic's, ...); a command otherwise logs only warnings",
    )
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bot: web chat, webhooks, API, console")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=_serve)

    chat = sub.add_parser("chat", help="talk to the bot in the terminal")
    chat.add_argument("--lang", choices=list(LANGUAGES))
    chat.set_defaults(func=_chat)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=_db_upgrade)

    nlu = sub.add_parser("nlu", help="language understanding").add_subparsers(
        dest="nlu_command", required=True
    )
    nlu.add_parser("parse", help='JSON lines {"text": ...} in, parses out').set_defaults(func=_nlu_parse)
    nlu_eval = nlu.add_parser(
        "eval", help="accuracy, F1, emergency recall, language accuracy on the test split"
    )
    nlu_eval.add_argument("--data", help="a directory of Rasa nlu.yml test files (default: nlu/data/test)")
    nlu_eval.add_argument("--errors", action="store_true", help="also list every wrong intent and language")
    nlu_eval.add_argument(
        "--claims", help="held-out claim phrasings to match (default: nlu/data/claims/held_out.yml)"
    )
    nlu_eval.set_defaults(func=_nlu_eval)
    nlu_train = nlu.add_parser("train", help="train the embedded model now and cache it")
    nlu_train.add_argument(
        "--data", help="a directory of Rasa nlu.yml training files (default: nlu/data/train)"
    )
    nlu_train.set_defaults(func=_nlu_train)

    messenger = sub.add_parser("messenger", help="Facebook Messenger").add_subparsers(
        dest="messenger_command", required=True
    )
    messenger.add_parser(
        "setup", help="set the page's Get Started button, greeting and persistent menu"
    ).set_defaults(func=_messenger_setup)

    whatsapp = sub.add_parser("whatsapp", help="WhatsApp (Cloud API)").add_subparsers(
        dest="whatsapp_command", required=True
    )
    whatsapp.add_parser(
        "check", help="verify the token and phone number id against the Graph API"
    ).set_defaults(func=_whatsapp_check)
    whatsapp.add_parser(
        "templates", help="print the status update template definitions to submit, per language"
    ).set_defaults(func=_whatsapp_templates)

    content = sub.add_parser("content", help="what the bot says").add_subparsers(
        dest="content_command", required=True
    )
    content.add_parser("check", help="check every text in every language").set_defaults(func=_content_check)

    designated = sub.add_parser(
        "designated", help="the designated (proscribed) organisations reports are matched against"
    ).add_subparsers(dest="designated_command", required=True)
    designated.add_parser(
        "check", help="check the list in use (RAABTA_DESIGNATED_FILE or the shipped one), naming each fault"
    ).set_defaults(func=_designated_check)
    add_commands(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever this process creates (database, WAL, evidence copies, exports, folders) is its user's
    # alone: files 0600, folders 0700, whatever umask the shell or the container started us with.
    os.umask(PRIVATE_UMASK)
    args = parser().parse_args(argv)
    # A command prints its output and nothing else: its logs only from WARNING, unless --verbose. The
    # server logs its events (INFO), libraries' only from WARNING unless --verbose.
    verbose = bool(getattr(args, "verbose", False))
    logs.setup(logging.INFO if verbose or args.command == "serve" else logging.WARNING, verbose)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
