"""The analysts' HTTP API under /api/v1: bearer tokens, roles, problem details, OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.shared.body import BODY_TIMEOUT, Unread, read_body
from bot.shared.config import DEFAULT_AGENCIES
from bot.shared.status import status_text
from cyberunit import bulk as B
from cyberunit import notices as N
from cyberunit import params as P
from cyberunit.exports import FORMATS, to_stix
from cyberunit.openapi import OPERATIONS
from cyberunit.openapi import served as openapi_document
from cyberunit.priority import explain
from cyberunit.problems import problem, refusal, unread
from responses import catalog
from responses.bidi import FSI, PDI, isolate, strip
from storage import duplicates as D
from storage import followups as F
from storage import support as S
from storage.queue import (
    DEFAULT_LEASE,
    Queue,
    QueueError,
    audit_page,
    support_page,
)
from storage.records import OutboxPayload, PayloadButton, ReportTold, message
from storage.refusal import Invalid, NotFound
from storage.repository import Storage
from storage.safety import Safety
from storage.search import DEFAULT_LIMIT, read_query, search_read
from storage.takedowns import CHECK_DAYS, Takedowns
from storage.tokens import Principal, Tokens

if TYPE_CHECKING:
    from bot.shared.sealing import AddressBox

CASE_ROLES = ("analyst", "supervisor")
MAX_BODY = 64 * 1024
INT32 = 2**31  # ids and counts must fit the database's integer columns
Handler = Callable[[Request, Principal], Awaitable[Response]]
# Each GET route's query parameters, by handler name: the route table the OpenAPI document is built from.
# A GET route takes these and no others (cyberunit.params.read).
QUERY = {op.name: op.params for op in OPERATIONS if op.method == "get"}
AGENCIES = tuple(DEFAULT_AGENCIES.split(","))


def render_status(told: ReportTold) -> str:
    """The notification a reporter gets, in their language: the same words `status CODE` answers."""
    return status_text(catalog(), told.language, told.code, told)


# Where the analyst's question goes in the framing text: a private-use character no text of ours holds and
# that `isolate` leaves alone, replaced after the text was filled and isolated.
_QUESTION = "\ue000"
FOLLOWUP_SKIP = "followup:skip"  # the followup flow's Skip button (bot.dialogue.flows.followup.SKIP)


def render_followup(code: str, language: str, question: str) -> OutboxPayload:
    """The follow-up question a reporter gets, in their report's language, with a Skip button.

    The analyst's words are shown as given, in the language they wrote them, quoted in an isolate (FSI …
    PDI): an English question in the Urdu frame, or an Urdu one in the English frame, keeps its own
    direction without turning the sentence around it. Inside, an Urdu question's numbers and links are
    isolated as in our own Urdu texts (responses/bidi.py); the filled frame's isolation never sees the
    question, so nothing of it is undone."""
    texts = catalog()
    urdu = any("\u0600" <= ch <= "\u06ff" for ch in question)
    quoted = FSI + (isolate(question, "ur") if urdu else strip(question)) + PDI
    frame = texts.text("followup.question", language, code=code, question=_QUESTION)
    skip: PayloadButton = {"id": FOLLOWUP_SKIP, "label": texts.text("buttons.followup_skip", language)}
    return message(frame.replace(_QUESTION, quoted), [skip])


def _int(value: str | None, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise Invalid(f"{name} is required")
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be a whole number") from exc
    if not -INT32 <= number < INT32:
        raise Invalid(f"{name} is out of range")
    return number


def query(request: Request) -> dict[str, Any]:
    """The query parameters of a GET route, as `guarded` read and checked them (cyberunit.params)."""
    values: dict[str, Any] = getattr(request.state, "query", {})
    return values


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object posted, read by the shared capped reader: never more than MAX_BODY bytes are
    buffered (a chunked body without Content-Length included) and never for longer than BODY_TIMEOUT."""
    raw = await read_body(request, MAX_BODY, BODY_TIMEOUT)
    if isinstance(raw, Unread):
        raise unread(raw)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # ValueError: not JSON, not UTF-8, or an int of 4,300+
        raise Invalid("body must be a JSON object") from exc  # digits; Recursion: nested too deep
    if not isinstance(data, dict):
        raise Invalid("body must be a JSON object")
    if "\x00" in raw.decode("utf-8", "replace") or "\\u0000" in raw.decode("utf-8", "replace"):
        raise Invalid("text must not contain NUL characters")
    try:  # "\ud800" escaped in JSON decodes to a lone surrogate, which no database can store as text
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Invalid("text must be valid Unicode: a lone surrogate (U+D800-U+DFFF) is not") from exc
    return data


def routes(
    storage: Storage,
    box: AddressBox,
    reveals_per_hour: int = S.REVEALS_PER_HOUR,
    agencies: Sequence[str] = AGENCIES,
    check_days: int = CHECK_DAYS,
) -> list[Route]:
    """The API's routes; `box` is the app's AddressBox (the one key path), to open callback numbers;
    `reveals_per_hour` is RAABTA_SUPPORT_REVEALS_PER_HOUR, the numbers one person may see in an hour;
    `agencies` (RAABTA_AGENCIES) the only ones a decision may name; `check_days`
    (RAABTA_TAKEDOWN_CHECK_DAYS) the default age of a takedown check."""
    queue = Queue(storage)
    takedowns = Takedowns(storage)
    tokens = Tokens(storage)
    safety = Safety(storage)

    def guarded(handler: Handler, *roles: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                return problem(401, "send a bearer token: Authorization: Bearer <token>")
            principal = await tokens.verify(token.strip())
            if principal is None:
                return problem(401, "the token is unknown or revoked")
            if principal.role not in roles:
                return problem(403, f"the {principal.role} role may not use this route")
            if any("\x00" in v for v in request.query_params.values()) or "\x00" in request.url.path:
                return problem(400, "parameters must not contain NUL characters")
            try:
                if request.method in ("GET", "HEAD") and handler.__name__ in QUERY:
                    taken = QUERY[handler.__name__]
                    request.state.query = P.read(taken, request.query_params.multi_items())
                return await handler(request, principal)
            except (QueueError, S.SupportError) as error:
                return refusal(error)  # a TooMany carries Retry-After

        endpoint.__doc__ = handler.__doc__
        endpoint.__name__ = handler.__name__
        return endpoint

    def case_id(request: Request) -> int:
        return _int(request.path_params["case_id"], "case id")

    def request_id(request: Request) -> int:
        return _int(request.path_params["request_id"], "support request id")

    async def list_cases(request: Request, _who: Principal) -> Response:
        """List cases (filters, sort, cursor pagination)."""
        q = query(request)
        page = await queue.list_cases(P.case_filter(q), q.get("limit", 50), q.get("cursor"))
        return JSONResponse({"items": [explain(c) for c in page.items], "next": page.next})

    async def get_case(request: Request, _who: Principal) -> Response:
        """One case with its reports, evidence, notes and history (never who reported)."""
        return JSONResponse(explain(await queue.get_case(case_id(request))))

    async def search(request: Request, _who: Principal) -> Response:
        """Find cases by reference code, link, handle or words of their reports (never who reported)."""
        q = query(request)
        read = read_query(q["q"])
        items = await search_read(storage.db, read, q.get("limit", DEFAULT_LIMIT))
        return JSONResponse({"query": read.as_dict(), "items": items})

    async def claim(request: Request, who: Principal) -> Response:
        """Claim the highest-priority open cases under a lease."""
        body = await _body(request)
        items = await queue.claim(
            who.name,
            _int(_str(body.get("limit")), "limit", 1),
            _int(_str(body.get("lease_seconds")), "lease_seconds", DEFAULT_LEASE),
        )
        return JSONResponse({"items": [explain(c) for c in items]})

    async def decide(request: Request, who: Principal) -> Response:
        """Decide a case you hold (referred, escalated, monitoring, no_action, merged), with the reason its
        reporters are told (required for no_action)."""
        body = await _body(request)
        status, note, agency = body.get("status"), body.get("note"), body.get("agency")
        reason = body.get("reason")
        if not isinstance(status, str) or not isinstance(note, str):
            raise Invalid("status and note are required strings")
        if agency is not None and not isinstance(agency, str):
            raise Invalid("agency must be a string")
        agency = P.agency(agency, agencies)  # the configured spelling of a configured agency
        if reason is not None and not isinstance(reason, str):
            raise Invalid("reason must be a string")
        merge_into = body.get("merge_into")
        if merge_into is not None and (
            isinstance(merge_into, bool) or not isinstance(merge_into, int) or not 0 < merge_into < INT32
        ):
            raise Invalid("merge_into must be a case id")
        seen = body.get("seen_reports")
        if seen is not None and (
            isinstance(seen, bool) or not isinstance(seen, int) or not 0 <= seen < INT32
        ):
            raise Invalid("seen_reports must be the number of reports you read")
        result = await queue.decide(
            case_id(request),
            who.name,
            status,
            note,
            agency,
            merge_into,
            render=render_status,
            supervisor=who.role == "supervisor",
            seen_reports=seen,
            reason=reason,
        )
        return JSONResponse({"case": explain(result.case), "notified": result.notified})

    async def ask_followup(request: Request, who: Principal) -> Response:
        """Ask the reporters of a case who agreed to updates one question, in their language (queued
        through the outbox, audited); how many it reached, never who."""
        body = await _body(request)
        question = body.get("question")
        return JSONResponse(await F.ask(storage, case_id(request), question, who.name, render_followup))

    async def list_followups(request: Request, who: Principal) -> Response:
        """The questions asked on a case, with their counts and answers, and whom a new one would reach."""
        number = case_id(request)
        reach = await F.reach(storage, number, who.name)
        items = await F.of_case(storage, number)
        return JSONResponse(
            {"can_ask": reach.can_ask, "waiting": reach.waiting, "refusal": reach.refusal, "items": items}
        )

    async def duplicates(request: Request, _who: Principal) -> Response:
        """Possible duplicates of a case, each saying why, and the other cases of its account."""
        return JSONResponse((await D.find(storage.db, case_id(request))).as_dict())

    async def bulk(request: Request, who: Principal) -> Response:
        """One action on many cases (decide, merge, note, assign), each in its own transaction with its own
        audit event; with dry_run, only what would happen."""
        action, ids, dry_run, seen = B.from_json(await _body(request), agencies)
        supervisor = who.role == "supervisor"
        if dry_run:
            lines = await B.plan(storage, action, ids, who.name, supervisor)
        else:
            lines = await B.apply(storage, action, ids, who.name, supervisor, render_status, seen)
        return JSONResponse(B.result(action, lines, dry_run))

    async def release(request: Request, who: Principal) -> Response:
        """Give a case you hold back to the queue."""
        return JSONResponse(explain(await queue.release(case_id(request), who.name)))

    async def extend(request: Request, who: Principal) -> Response:
        """Extend your lease on a case."""
        body = await _body(request)
        seconds = _int(_str(body.get("lease_seconds")), "lease_seconds", DEFAULT_LEASE)
        return JSONResponse(explain(await queue.extend(case_id(request), who.name, seconds)))

    async def add_note(request: Request, who: Principal) -> Response:
        """Add a note to a case."""
        body = await _body(request)
        note = body.get("note")
        if not isinstance(note, str):
            raise Invalid("note is a required string")
        return JSONResponse(await queue.add_note(case_id(request), who.name, note))

    async def assign(request: Request, who: Principal) -> Response:
        """Assign an open case to an analyst (supervisors)."""
        body = await _body(request)
        assignee = body.get("assignee")
        if not isinstance(assignee, str) or not 0 < len(assignee) <= 64:
            raise Invalid("assignee is a required token name")
        holder = await tokens.holder(assignee)
        if holder is None or holder.role not in CASE_ROLES:
            raise Invalid(
                f"assignee must be the name of an active analyst or supervisor token; {assignee!r} is not"
            )
        return JSONResponse(explain(await queue.assign(case_id(request), assignee, who.name)))

    async def stats(_request: Request, _who: Principal) -> Response:
        """Counts for the overview."""
        return JSONResponse(await queue.stats())

    async def record_referral(request: Request, who: Principal) -> Response:
        """Record a takedown notice sent about a referred or escalated case (audited)."""
        body = await _body(request)
        sent_at = N.text("sent_at", body.get("sent_at"))
        referral = await takedowns.record_referral(
            case_id(request),
            who.name,
            N.agency(body.get("agency"), agencies),
            N.template(body.get("template")),
            N.text("reference", body.get("reference")),
            P.when("sent_at", sent_at) if sent_at else None,
        )
        return JSONResponse(referral)

    async def record_check(request: Request, who: Principal) -> Response:
        """Record what a referred page shows now: still_online, removed or geo_blocked (audited)."""
        body = await _body(request)
        result = N.result(body.get("result"))
        note = N.text("note", body.get("note"))
        return JSONResponse(await takedowns.record_check(case_id(request), who.name, result, note))

    async def takedowns_due(request: Request, _who: Principal) -> Response:
        """Referred cases due for a takedown check, longest waiting first."""
        q = query(request)
        days = q.get("age_days", check_days)
        items = await takedowns.due(days, q.get("limit", 50), P.case_filter(q))
        return JSONResponse({"age_days": days, "items": [explain(c) for c in items]})

    async def takedown_stats(_request: Request, _who: Principal) -> Response:
        """Time to removal per platform and per agency."""
        return JSONResponse(await takedowns.removal_times())

    async def export(request: Request, _who: Principal) -> Response:
        """Export cases as CSV, JSON lines or a STIX 2.1 bundle (nothing about reporters)."""
        q = query(request)
        kind = q["format"]
        media, suffix, build = FORMATS[kind]
        rows = await queue.export_rows(filters=P.case_filter(q))
        monitoring = q.get("include_monitoring", False)
        return Response(
            to_stix(rows, include_monitoring=monitoring) if kind == "stix" else build(rows),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="raabta-cases.{suffix}"'},
        )

    async def audit_log(request: Request, _who: Principal) -> Response:
        """The audit log, oldest first, after an event id (supervisors, admins)."""
        q = query(request)
        return JSONResponse({"items": await audit_page(storage, q.get("after", 0), q.get("limit", 100))})

    async def support(request: Request, _who: Principal) -> Response:
        """Families' callback requests (counsellors)."""
        status = request.query_params.get("status") or None
        if status is not None and status not in S.STATUSES:
            raise Invalid("status must be new, in_progress or done")
        return JSONResponse({"items": await support_page(storage, status)})

    async def support_take(request: Request, who: Principal) -> Response:
        """Take a callback request to handle it, or give it to a counsellor (supervisors, admins)."""
        body = await _body(request)
        return JSONResponse(await S.take(storage, request_id(request), who, body.get("to")))

    async def support_phone(request: Request, who: Principal) -> Response:
        """Reveal the number a family gave, to call them back (the counsellor who took the request, or a
        supervisor or admin with an override and a reason; each reveal is audited, at most
        `reveals_per_hour` an hour)."""
        body = await _body(request)
        revealed = await S.reveal_phone(
            storage,
            request_id(request),
            who,
            box.open,
            override=body.get("override", False),
            reason=body.get("reason"),
            per_hour=reveals_per_hour,
        )
        return JSONResponse(
            {"phone": revealed.phone, "request": revealed.request}, headers={"Cache-Control": "no-store"}
        )

    async def support_reply(request: Request, who: Principal) -> Response:
        """Write to the family in the chat they asked from (counsellors; queued, audited)."""
        body = await _body(request)
        return JSONResponse(await S.reply(storage, request_id(request), body.get("text"), who.name))

    async def support_close(request: Request, who: Principal) -> Response:
        """Close a callback request, with an optional note (counsellors; audited)."""
        body = await _body(request)
        return JSONResponse(await S.close_request(storage, request_id(request), who.name, body.get("note")))

    async def list_blocks(_request: Request, _who: Principal) -> Response:
        """Citizens blocked after repeated floods, by short pseudonym (admins)."""
        return JSONResponse({"items": await safety.active_blocks()})

    async def lift_block(request: Request, who: Principal) -> Response:
        """Lift a block (admins)."""
        block_id = _int(request.path_params["block_id"], "block id")
        if not await safety.lift(block_id, who.name):
            raise NotFound(f"no active block {block_id}")
        return JSONResponse({"lifted": block_id})

    async def openapi(_request: Request) -> Response:
        """The OpenAPI 3.1 document, from the route table in cyberunit.openapi (not these docstrings)."""
        return JSONResponse(openapi_document(agencies))

    base = "/api/v1"
    return [
        Route(f"{base}/cases", guarded(list_cases, *CASE_ROLES), methods=["GET"]),
        Route(f"{base}/cases/{{case_id}}", guarded(get_case, *CASE_ROLES), methods=["GET"]),
        Route(f"{base}/search", guarded(search, *CASE_ROLES), methods=["GET"]),
        Route(f"{base}/queue/claim", guarded(claim, *CASE_ROLES), methods=["POST"]),
        Route(f"{base}/cases/{{case_id}}/decision", guarded(decide, *CASE_ROLES), methods=["POST"]),
        Route(f"{base}/cases/{{case_id}}/release", guarded(release, *CASE_ROLES), methods=["POST"]),
        Route(f"{base}/cases/{{case_id}}/extend", guarded(extend, *CASE_ROLES), methods=["POST"]),
        Route(f"{base}/cases/{{case_id}}/notes", guarded(add_note, *CASE_ROLES), methods=["POST"]),
        Route(f"{base}/cases/{{case_id}}/duplicates", guarded(duplicates, *CASE_ROLES), methods=["GET"]),
        Route(f"{base}/cases/bulk", guarded(bulk, *CASE_ROLES), methods=["POST"]),
        Route(f"{base}/cases/{{case_id}}/followups", guarded(ask_followup, *CASE_ROLES), methods=["POST"]),
        Route(f"{base}/cases/{{case_id}}/followups", guarded(list_followups, *CASE_ROLES), methods=["GET"]),
        Route(f"{base}/cases/{{case_id}}/assign", guarded(assign, "supervisor"), methods=["POST"]),
        Route(f"{base}/stats", guarded(stats, *CASE_ROLES, "admin"), methods=["GET"]),
        Route(f"{base}/export", guarded(export, *CASE_ROLES), methods=["GET"]),
        Route(f"{base}/cases/{{case_id}}/referrals", guarded(record_referral, *CASE_ROLES), methods=["POST"]),
        Route(f"{base}/cases/{{case_id}}/checks", guarded(record_check, *CASE_ROLES), methods=["POST"]),
        Route(f"{base}/takedowns/due", guarded(takedowns_due, *CASE_ROLES), methods=["GET"]),
        Route(f"{base}/takedowns/stats", guarded(takedown_stats, *CASE_ROLES, "admin"), methods=["GET"]),
        Route(f"{base}/audit", guarded(audit_log, "supervisor", "admin"), methods=["GET"]),
        Route(f"{base}/support-requests", guarded(support, "counsellor"), methods=["GET"]),
        Route(
            f"{base}/support-requests/{{request_id}}/take",
            guarded(support_take, "counsellor", *S.OVERRIDERS),
            methods=["POST"],
        ),
        Route(
            f"{base}/support-requests/{{request_id}}/phone",
            guarded(support_phone, "counsellor", *S.OVERRIDERS),
            methods=["POST"],
        ),
        Route(
            f"{base}/support-requests/{{request_id}}/reply",
            guarded(support_reply, "counsellor"),
            methods=["POST"],
        ),
        Route(
            f"{base}/support-requests/{{request_id}}/close",
            guarded(support_close, "counsellor"),
            methods=["POST"],
        ),
        Route(f"{base}/blocks", guarded(list_blocks, "admin"), methods=["GET"]),
        Route(f"{base}/blocks/{{block_id}}/lift", guarded(lift_block, "admin"), methods=["POST"]),
        Route(f"{base}/openapi.json", openapi, methods=["GET"], include_in_schema=False),
    ]


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid("expected a whole number")
    return str(value)
