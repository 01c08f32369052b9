"""The analysts' and operators' commands: `raabta token|queue|export|audit`.

Every `raabta` process imports this module to build its parser, so it imports only what the parser and
most commands need; a command that needs more (the web API's status rendering, the OpenAPI operations)
imports it inside its function (issue 23: each CLI run paid ~0.1 s for them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cyberunit import params as P
from cyberunit.exports import FORMATS, in_parts
from storage import audit
from storage.lifecycle import REASONS
from storage.queue import Queue, QueueError
from storage.refusal import Invalid
from storage.repository import Storage
from storage.safety import Safety
from storage.tokens import ROLES, Principal, TokenError, Tokens

Command = Callable[[Storage, argparse.Namespace], Awaitable[int]]


def _run(command: Command) -> Callable[[argparse.Namespace], int]:
    """Open the configured database, run the command, close; clear errors instead of tracebacks."""

    def main(args: argparse.Namespace) -> int:
        from bot.shared.config import load_settings, secret_key

        settings = load_settings()

        async def go() -> int:
            storage = Storage(settings.database_url, secret_key(settings))
            try:
                if not await storage.is_current():
                    print(
                        "raabta: the database schema is not current: run `raabta db upgrade`", file=sys.stderr
                    )
                    return 2
                return await command(storage, args)
            except Usage as error:
                print(f"raabta: {error}", file=sys.stderr)
                return 2
            except (QueueError, TokenError) as error:
                print(f"raabta: {getattr(error, 'message', error)}", file=sys.stderr)
                return 1
            finally:
                await storage.close()

        return asyncio.run(go())

    return main


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print(
            "  ".join(str(row.get(c, "") if row.get(c) is not None else "").ljust(widths[c]) for c in columns)
        )


async def token_create(storage: Storage, args: argparse.Namespace) -> int:
    token = await Tokens(storage).create(args.name, args.role)
    print(f"token for {args.name} ({args.role}); shown once, store it safely:", file=sys.stderr)
    print(token)
    return 0


async def token_list(storage: Storage, _args: argparse.Namespace) -> int:
    _table(await Tokens(storage).list(), ("name", "role", "created_at", "revoked"))
    return 0


async def token_revoke(storage: Storage, args: argparse.Namespace) -> int:
    if await Tokens(storage).revoke(args.name):
        print(f"revoked {args.name}")
        return 0
    print(f"raabta: no active token named {args.name!r}", file=sys.stderr)
    return 1


CASE_COLUMNS = (
    "id",
    "status",
    "priority",
    "platform",
    "report_count",
    "reporter_count",
    "needs_care",
    "scope_check",
    "assignee",
    "canonical_url",
)


QUEUE_ROLES = ("analyst", "supervisor")
Acting = Callable[[Storage, argparse.Namespace, Principal], Awaitable[int]]


def _acting(command: Acting) -> Command:
    """Run a queue command as the holder of a token (`--token`, or RAABTA_TOKEN): never as a typed name."""

    async def run(storage: Storage, args: argparse.Namespace) -> int:
        token = (args.token or os.environ.get("RAABTA_TOKEN", "")).strip()
        if not token:
            print("raabta: queue commands act as a token: pass --token or set RAABTA_TOKEN", file=sys.stderr)
            return 2
        principal = await Tokens(storage).verify(token)
        if principal is None:
            print("raabta: the token is unknown or revoked", file=sys.stderr)
            return 2
        if principal.role not in QUEUE_ROLES:
            print(
                f"raabta: {principal.name} is a {principal.role}: the queue is for analysts and supervisors",
                file=sys.stderr,
            )
            return 2
        return await command(storage, args, principal)

    return run


class Usage(Exception):
    """A value the command does not take: said on stderr, exit 2 (as argparse does for its own)."""


# `--status` words of the command line only (the API takes the statuses themselves).
STATUS_WORDS = {"open": ",".join(P.STATUSES[:2]), "all": ""}


def _read(params: tuple[P.Param, ...], args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The options `names` of `args`, read and checked as the API reads its query (cyberunit.params)."""
    given: list[tuple[str, str]] = []
    for name in names:
        value = getattr(args, "from_" if name == "from" else name, None)  # `from` is Python's
        if name == "status" and isinstance(value, str):
            value = STATUS_WORDS.get(value.strip().lower(), value)
        if value is not None:
            given.append((name, str(value)))
    try:
        return P.read(params, given)
    except Invalid as error:
        raise Usage(error.message) from error


FILTER_OPTIONS = tuple(p.name for p in P.FILTERS)


async def queue_list(storage: Storage, args: argparse.Namespace, _who: Principal) -> int:
    listing = ("sort", "order", "cursor", "limit")
    q = _read(P.LIST_PARAMS, args, (*FILTER_OPTIONS, *listing))
    page = await Queue(storage).list_cases(P.case_filter(q), q.get("limit", 50), q.get("cursor"))
    _table(page.items, CASE_COLUMNS)
    if page.next:
        print(f"more cases: run it again with --cursor {page.next}", file=sys.stderr)
    return 0


SEARCH_COLUMNS = ("id", "matched_by", "status", "platform", "report_count", "case", "snippet")


async def queue_search(storage: Storage, args: argparse.Namespace, _who: Principal) -> int:
    """The cases a code (any spacing), a link (any variant), a handle or words find, as the API's search."""
    from cyberunit.openapi import OPERATIONS  # its pydantic models, ~0.07 s: only for this command
    from storage.search import DEFAULT_LIMIT, read_query, search_read

    [taken] = [op.params for op in OPERATIONS if op.name == "search"]  # GET /api/v1/search's parameters
    q = _read(taken, args, ("q", "limit"))
    found = await search_read(storage.db, read_query(q["q"]), q.get("limit", DEFAULT_LIMIT))
    if not found:
        print("no case matches")
        return 0
    rows = [
        {
            **hit,
            "id": hit["case_id"],
            "matched_by": ",".join(hit["matched_by"]),
            "case": hit["canonical_url"] or hit["title"],
        }
        for hit in found
    ]
    _table(rows, SEARCH_COLUMNS)
    return 0


async def queue_claim(storage: Storage, args: argparse.Namespace, who: Principal) -> int:
    claimed = await Queue(storage).claim(who.name, args.limit, args.lease)
    if not claimed:
        print("the queue is empty")
        return 0
    _table(claimed, CASE_COLUMNS)
    return 0


async def queue_show(storage: Storage, args: argparse.Namespace, _who: Principal) -> int:
    print(json.dumps(await Queue(storage).get_case(args.id), ensure_ascii=False, indent=2))
    return 0


async def queue_decide(storage: Storage, args: argparse.Namespace, who: Principal) -> int:
    from bot.shared.config import agency_names, load_settings
    from cyberunit.api import render_status  # the web API (starlette, its models): only for a decision

    try:
        agency = P.agency(args.agency, agency_names(load_settings()))
    except Invalid as error:
        raise Usage(error.message) from error
    result = await Queue(storage).decide(
        args.id,
        who.name,
        args.status,
        args.note,
        agency,
        args.merge_into,
        render=render_status,
        supervisor=who.role == "supervisor",
        seen_reports=args.seen_reports,
        reason=args.reason,
    )
    why = f" ({result.case['reason']})" if result.case.get("reason") else ""
    print(f"case {args.id}: {result.case['status']}{why}; {result.notified} reporter(s) will be notified")
    return 0


async def queue_release(storage: Storage, args: argparse.Namespace, who: Principal) -> int:
    await Queue(storage).release(args.id, who.name)
    print(f"case {args.id} released to the queue")
    return 0


async def queue_extend(storage: Storage, args: argparse.Namespace, who: Principal) -> int:
    case = await Queue(storage).extend(args.id, who.name, args.lease)
    print(f"case {args.id}: held by {who.name} until {case['lease_until']}")
    return 0


async def queue_note(storage: Storage, args: argparse.Namespace, who: Principal) -> int:
    if (args.text is None) == (args.note is None):
        raise Usage("give the note once: `queue note CASE TEXT` (or --note TEXT)")
    await Queue(storage).add_note(args.id, who.name, args.text if args.note is None else args.note)
    print(f"case {args.id}: note added by {who.name}")
    return 0


async def export(storage: Storage, args: argparse.Namespace) -> int:
    q = _read(P.EXPORT_PARAMS, args, ("format", *FILTER_OPTIONS))
    rows = await Queue(storage).export_rows(filters=P.case_filter(q))
    # A progress bar only for someone watching: never in a pipe, a cron job's mail or a CI log.
    watching = sys.stderr.isatty()
    parts = []
    if watching:
        _progress(0, len(rows))
    for part, done in in_parts(args.format, rows, include_monitoring=args.include_monitoring):
        parts.append(part)
        if watching:
            _progress(done, len(rows))
    if watching:
        print(file=sys.stderr)
    data = b"".join(parts)
    if args.out == "-":
        sys.stdout.buffer.write(data)
    else:
        await asyncio.to_thread(Path(args.out).write_bytes, data)
        print(f"wrote {len(rows)} cases to {args.out} ({len(data)} bytes)", file=sys.stderr)
    return 0


def _progress(done: int, total: int) -> None:
    bar = "#" * (40 * done // max(1, total))
    print(f"\rexporting [{bar:<40}] {done}/{total} cases", end="", file=sys.stderr, flush=True)


async def audit_anchor(storage: Storage, _args: argparse.Namespace) -> int:
    """Print the signed chain head as one JSON line, to be kept outside the database."""
    async with storage.db.read() as conn:
        anchor = await audit.take_anchor(conn, storage.secret)
    print(anchor.to_json())
    print(
        f"anchor of {anchor.count} events (last event {anchor.last_id}); keep it outside the database and "
        "check it later with `raabta audit verify --anchor`",
        file=sys.stderr,
    )
    return 0


async def audit_verify(storage: Storage, args: argparse.Namespace) -> int:
    anchors: list[audit.Anchor] = []
    if args.anchor is not None:
        given = args.anchor.strip()
        try:
            if given.startswith("{"):
                content = given
            else:
                content = await asyncio.to_thread(Path(given).read_text, encoding="utf-8")
            anchors = audit.parse_anchors(content)
        except OSError as exc:
            print(f"raabta: cannot read the anchor file {given}: {exc.strerror}", file=sys.stderr)
            return 2
        except audit.AnchorError as exc:
            print(f"raabta: {exc}", file=sys.stderr)
            return 2
    if not storage.secret:
        print(
            "raabta: warning: no secret key: the audit chain is keyed from an empty secret", file=sys.stderr
        )
    async with storage.db.read() as conn:
        verdict = await audit.verify(conn, anchors, storage.secret)
    for line in audit.report(verdict):
        print(line)
    return 0 if verdict.intact else 1


async def purge(storage: Storage, args: argparse.Namespace) -> int:
    from bot.shared.config import load_settings

    settings = load_settings()
    days = args.days or settings.retention_days
    done = await Safety(storage).purge(
        days,
        settings.data_dir,
        redelivery_hours=settings.redelivery_hours,
        idle_session_days=settings.idle_session_days,
    )
    print(
        f"purged older than {days} days: {done.contacts} contacts, {done.conversations} conversations, "
        f"{done.processed_events} event records (older than {settings.redelivery_hours} hours), "
        f"{done.outbox} notifications, {done.evidence_files} evidence files; "
        f"{done.idle_sessions} sessions that never reported, idle for {settings.idle_session_days} days"
    )
    return 0


async def blocks_list(storage: Storage, _args: argparse.Namespace) -> int:
    _table(await Safety(storage).active_blocks(), ("id", "reporter", "reason", "blocked_at"))
    return 0


async def blocks_lift(storage: Storage, args: argparse.Namespace) -> int:
    if await Safety(storage).lift(args.id, args.name):
        print(f"block {args.id} lifted")
        return 0
    print(f"raabta: no active block {args.id}", file=sys.stderr)
    return 1


def _iso_week(value: str) -> date:
    """The Monday of an ISO week written as 2026-W03 (for `digest send --week`)."""
    try:
        year, week = value.upper().split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise argparse.ArgumentTypeError("expected an ISO week such as 2026-W03") from None


async def digest_send(storage: Storage, args: argparse.Namespace) -> int:
    """Queue this week's card for every subscriber, once per ISO week (running it again queues nothing);
    with RAABTA_PUBLIC_URL, each ends with the link that opens the web chat on it."""
    from bot.shared.config import load_settings
    from bot.shared.digest import digest_message
    from responses import catalog
    from storage.support import PAKISTAN, iso_week, queue_digest

    day: date = args.week or datetime.now(PAKISTAN).date()
    texts, public_url = catalog(), load_settings().public_url or ""
    queued = await queue_digest(
        storage, iso_week(day), lambda lang: digest_message(texts, lang, day, public_url)
    )
    print(f"digest {iso_week(day)}: queued for {queued} subscribers")
    return 0


VERBOSE = ("-v", "--verbose")
# Also after the command (`raabta queue list --verbose`); SUPPRESS keeps the top-level flag when not given.
VERBOSE_OPTIONS: dict[str, Any] = {
    "action": "store_true",
    "default": argparse.SUPPRESS,
    "help": "show the libraries' log lines (Alembic's, ...) on stderr",
}


def filter_options(parser: argparse.ArgumentParser, status: str | None) -> None:
    """The API's case filters as options (checked by cyberunit.params, as the API checks them)."""
    parser.add_argument(
        "--status",
        default=status,
        help="comma-separated statuses, or open (new,in_review) or all (default: " + (status or "all") + ")",
    )
    parser.add_argument("--category", help=", ".join(P.CATEGORIES))
    parser.add_argument("--platform", help=", ".join(P.PLATFORMS) + " (any case)")
    parser.add_argument("--language", help=", ".join(P.LANGUAGES))
    for flag, what in (
        ("--urgent", "only cases with a report marked urgent"),
        ("--needs-care", "only cases that need care"),
        ("--scope-check", "only cases with a report past the scope notice"),
    ):
        parser.add_argument(flag, action="store_const", const="true", help=what)
    parser.add_argument("--min-priority")
    parser.add_argument("--since", help="last report at or after (ISO 8601; no offset: Pakistan time)")
    parser.add_argument("--until", help="first report before (ISO 8601; no offset: Pakistan time)")
    parser.add_argument("--from", dest="from_", metavar="DAY", help="a report on or after this day (PKT)")
    parser.add_argument("--to", metavar="DAY", help="first reported on or before this day (PKT)")


def add_commands(sub: Any) -> None:
    """Register token, queue, export and audit under the `raabta` parser."""
    token = sub.add_parser("token", help="API and console tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create a token; prints it as the last line, once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.set_defaults(func=_run(token_create))
    token.add_parser("list", help="list tokens (never the tokens themselves)").set_defaults(
        func=_run(token_list)
    )
    revoke = token.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("--name", required=True)
    revoke.set_defaults(func=_run(token_revoke))

    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument(
        "--token", help="act as this token's holder (default: RAABTA_TOKEN, which keeps it out of `ps`)"
    )
    acting.add_argument(*VERBOSE, **VERBOSE_OPTIONS)
    queue = sub.add_parser(
        "queue", help="the cases queue, as an analyst's or supervisor's token"
    ).add_subparsers(dest="queue_command", required=True)

    def queue_command(name: str, command: Acting, summary: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = queue.add_parser(name, help=summary, parents=[acting])
        parser.set_defaults(func=_run(_acting(command)))
        return parser

    listing = queue_command("list", queue_list, "list cases by priority, with the API's filters")
    filter_options(listing, "open")
    listing.add_argument("--sort", help="priority (default), last_seen, first_seen or report_count")
    listing.add_argument("--order", help="desc (default) or asc")
    listing.add_argument("--limit", help="cases a page, 1 to 200 (default 50)")
    listing.add_argument("--cursor", help="the next page, as the previous page said")
    claim = queue_command("claim", queue_claim, "claim cases under a lease")
    claim.add_argument("--limit", type=int, default=1)
    claim.add_argument("--lease", type=int, default=900, help="lease in seconds")
    show = queue_command("show", queue_show, "one case with reports, evidence and history")
    show.add_argument("id", type=int)
    decide = queue_command("decide", queue_decide, "decide a case you hold")
    decide.add_argument("id", type=int)
    decide.add_argument(
        "--status", required=True, choices=("referred", "escalated", "monitoring", "no_action", "merged")
    )
    decide.add_argument("--note", required=True)
    decide.add_argument("--agency")
    decide.add_argument("--merge-into", type=int)
    decide.add_argument(
        "--reason",
        choices=tuple(REASONS),
        metavar="REASON",
        help="why, as the case's reporters are told it; required for no_action. "
        + "; ".join(f"{reason} ({', '.join(fits)})" for reason, fits in REASONS.items()),
    )
    decide.add_argument(
        "--seen-reports",
        type=int,
        help="the report count you read (`queue show`); default: the count when you claimed the case",
    )
    release = queue_command("release", queue_release, "give a case you hold back to the queue")
    release.add_argument("id", type=int)
    extend = queue_command("extend", queue_extend, "extend the lease on a case you hold")
    extend.add_argument("id", type=int)
    extend.add_argument("--lease", type=int, default=900, help="new lease from now, in seconds")
    search = queue_command("search", queue_search, "find cases by reference code, link, handle or words")
    search.add_argument("q", help="a code (any case or spacing), a link (any variant), @handle or words")
    search.add_argument("--limit", help="cases at most (default 20)")
    note = queue_command("note", queue_note, "add a note to a case")
    note.add_argument("id", type=int)
    note.add_argument("text", nargs="?", help="the note")
    note.add_argument("--note", help=argparse.SUPPRESS)  # the older spelling, still taken

    exporting = sub.add_parser("export", help="export cases (nothing about reporters)")
    exporting.add_argument("--format", required=True, choices=tuple(FORMATS))
    exporting.add_argument("--out", required=True, help="file path, or - for standard output")
    filter_options(exporting, None)
    exporting.add_argument(*VERBOSE, **VERBOSE_OPTIONS)
    exporting.add_argument(
        "--include-monitoring",
        action="store_true",
        help="STIX: cases under monitoring too, marked as unconfirmed",
    )
    exporting.set_defaults(func=_run(export))

    purging = sub.add_parser(
        "purge",
        help="delete now what is past RAABTA_RETENTION_DAYS (event records: RAABTA_REDELIVERY_HOURS; "
        "sessions that never reported: RAABTA_IDLE_SESSION_DAYS)",
    )
    purging.add_argument("--days", type=int, help="override the configured retention")
    purging.set_defaults(func=_run(purge))

    blocked = sub.add_parser("blocks", help="citizens blocked after floods").add_subparsers(
        dest="blocks_command", required=True
    )
    blocked.add_parser("list", help="blocks in force").set_defaults(func=_run(blocks_list))
    lift = blocked.add_parser("lift", help="lift a block")
    lift.add_argument("id", type=int)
    lift.add_argument("--as", dest="name", default="admin-cli")
    lift.set_defaults(func=_run(blocks_lift))

    digest = sub.add_parser("digest", help="the weekly awareness digest").add_subparsers(
        dest="digest_command", required=True
    )
    sending = digest.add_parser("send", help="queue this week's card for every subscriber (once a week)")
    sending.add_argument("--week", type=_iso_week, help="an ISO week such as 2026-W03 (default: this week)")
    sending.set_defaults(func=_run(digest_send))

    auditing = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    auditing.add_parser(
        "anchor", help="print the signed chain head as a JSON line, to keep outside the database"
    ).set_defaults(func=_run(audit_anchor))
    verify = auditing.add_parser("verify", help="check the keyed hash chain (and anchors, if given)")
    verify.add_argument(
        "--anchor",
        metavar="FILE|TEXT",
        help="an anchor JSON line, or a file of them (the server's log will do); every anchor is checked",
    )
    verify.set_defaults(func=_run(audit_verify))
