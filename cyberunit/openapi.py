"""The OpenAPI 3.1 document of the analysts' API (/api/v1/openapi.json), from one route table.

Each row of OPERATIONS is one route of cyberunit.api: its path, method, roles, parameters, request body and
answer, as models of cyberunit.models; the document is built from the table alone. tests/test_openapi.py
checks that every route the app serves under /api/v1 is in the table, and the document is valid.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode

from cyberunit import bulk
from cyberunit import models as M
from cyberunit.params import AUDIT_PARAMS, EXPORT_PARAMS, FILTERS, LIST_PARAMS, Param
from responses.notices import notices
from storage import followups as followups_
from storage import search as found
from storage import takedowns
from storage.queue import MAX_LIMIT

BASE = "/api/v1"
REF = "#/components/schemas/{model}"
PROBLEM_MEDIA = "application/problem+json"
INT32_MAX = M.INT32_MAX

CASE_ROLES = ("analyst", "supervisor")
SUPPORT_ROLES = ("counsellor", "supervisor", "admin")  # the last two may reassign and override

ERRORS = {
    400: "The request is malformed: a parameter or body field is missing, of the wrong type or out of "
    "range, or a query parameter the route does not take or a value it does not know (`detail` names it "
    "and what is allowed)",
    401: "No bearer token, or the token is unknown or revoked",
    403: "Your token's role may not use this route",
    404: "No such object",
    409: "The object is not in a state that allows this",
    413: "The body is larger than 64 KiB",
    429: "Too many of these lately: try again after Retry-After seconds",
    503: "The database is unreachable; nothing was changed. Try again after Retry-After seconds",
}


def path_id(name: str, what: str) -> Param:
    return Param(name, {"type": "integer", "minimum": 1, "maximum": INT32_MAX}, f"The {what}'s id", "path")


CASE_ID = path_id("case_id", "case")
REQUEST_ID = path_id("request_id", "support request")
BLOCK_ID = path_id("block_id", "block")
# GET /takedowns/due: the check age (default RAABTA_TAKEDOWN_CHECK_DAYS), two of the list's filters, a limit
DUE_PARAMS = (
    Param(
        "age_days",
        {"type": "integer", "minimum": 1, "maximum": takedowns.MAX_CHECK_DAYS},
        "Days since the latest notice (or decision) and the latest check; default RAABTA_TAKEDOWN_CHECK_DAYS",
    ),
    *(p for p in FILTERS if p.name in ("platform", "category")),
    Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "Default 50"),
)


# --- follow-up questions to reporters (storage.followups): counts and answers, never who ---------------


class FollowupRequest(M.Model):
    question: str = Field(
        min_length=1,
        max_length=followups_.MAX_QUESTION,
        description="One question, in your words and language; reporters read it quoted in their own "
        "language's message",
    )


class FollowupAnswer(M.Model):
    """Part of an answer, as evidence on the report it answered for (the report's code, as on the case)."""

    code: str
    kind: str = Field(description="answer (the words), link, handle, photo, document or forward")
    value: str
    raw: str | None
    platform: str | None
    at: datetime


class Followup(M.Model):
    """A question asked on a case, with how many it reached, answered and skipped; never who."""

    id: int
    case_id: int
    question: str
    asked_by: str
    asked_at: datetime
    recipients: int = Field(description="Reporters it was queued to: those who agreed to updates")
    answered: int
    skipped: int
    waiting: int = Field(description="Reporters whose next message may still answer it")
    answers: list[FollowupAnswer] = Field(default_factory=list, description="Listed questions only")


class FollowupList(M.Model):
    can_ask: int = Field(description="Reporters a new question would reach now")
    waiting: int = Field(description="Reporters who agreed but still have an earlier question waiting")
    refusal: str | None = Field(description="Why nobody may be asked on this case now, if so")
    items: list[Followup]


# --- accounts and possible duplicates (storage.duplicates); bulk actions (cyberunit.bulk) ---------------


class DuplicateReason(M.Model):
    kind: Literal["url", "file", "handle", "text"] = Field(
        description="url: the same target in another spelling of its link; file: a file of the same sha256 "
        "or file id; handle: an @handle both are known by; text: a near-identical description"
    )
    says: str = Field(
        description='In words: "same video", "same channel", "same handle @name", "same screenshot", '
        '"near-identical description"'
    )


class CaseBrief(M.Model):
    """Another case, in brief (never who reported)."""

    case_id: int
    status: M.CaseStatus
    platform: str
    canonical_url: str | None
    title: str | None
    report_count: int
    last_seen: datetime


class DuplicateSuggestion(CaseBrief):
    reasons: list[DuplicateReason] = Field(description="Why it is likely the same content, strongest first")
    mergeable: bool = Field(description="Open: the case asked about can be merged into it")


class AccountName(M.Model):
    platform: str
    name: str = Field(description="The account's name as keyed: lower case, without the @")


class SameAccount(M.Model):
    count: int = Field(description="Other cases (not merged) whose link the same account published")
    items: list[CaseBrief] = Field(description="The newest of them")


class Duplicates(M.Model):
    case_id: int
    account: AccountName | None = Field(description="The account that published the case's link, if any")
    items: list[DuplicateSuggestion] = Field(description="Possible duplicates, strongest first (open first)")
    same_account: SameAccount


class BulkRequest(M.Model):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=INT32_MAX)]] = Field(
        min_length=1, max_length=bulk.MAX_BULK, description="The cases, each once"
    )
    action: Literal["decide", "merge", "note", "assign"]
    status: Literal["referred", "escalated", "monitoring", "no_action"] | None = Field(
        default=None, description="decide: the outcome (to merge, use the merge action)"
    )
    note: str | None = Field(
        default=None, max_length=2000, description="Required to decide, merge and note; kept on each case"
    )
    reason: M.Reason | None = Field(
        default=None, description="decide: as for a single decision (required for no_action)"
    )
    agency: str | None = Field(
        default=None, max_length=32, description="decide: required to refer; one of RAABTA_AGENCIES"
    )
    merge_into: int | None = Field(default=None, ge=1, le=INT32_MAX, description="merge: the open case")
    assignee: str | None = Field(
        default=None, max_length=64, description="assign (supervisors): an analyst's or a supervisor's token"
    )
    dry_run: bool = Field(default=False, description="Only say what would happen; nothing changes")
    seen_reports: dict[str, Annotated[int, Field(ge=0, le=INT32_MAX)]] | None = Field(
        default=None,
        description="Case id -> the report count you saw (a dry run's report_count): a case with more "
        "reports now is left as it is",
    )


class BulkItem(M.Model):
    case_id: int
    ok: bool = Field(description="Will change (dry run) or changed")
    says: str = Field(description="What happens (or happened) to it, or why it cannot change")
    claimed: bool = Field(description="Claimed for you first (a dry run: will be), as deciding needs it held")
    report_count: int | None = Field(description="Reports on the case as it was read")


class BulkResult(M.Model):
    action: Literal["decide", "merge", "note", "assign"]
    dry_run: bool
    ok: int = Field(description="Cases that will change (dry run) or changed")
    refused: int = Field(description="Cases that cannot change, each saying why")
    items: list[BulkItem] = Field(description="Each case of the selection, in the order given")


@dataclass(frozen=True)
class Operation:
    """One route: everything the document says about it."""

    path: str  # under BASE
    method: str
    name: str  # operationId: the handler's name in cyberunit.api
    summary: str
    roles: tuple[str, ...]
    tag: str
    response: type[BaseModel] | None  # the 200 answer as JSON (None: see `media`)
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = (400,)
    description: str = ""
    media: dict[str, dict[str, Any]] = field(default_factory=dict)  # other 200 media types and schemas
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)  # headers of the 200 answer
    error_notes: dict[int, str] = field(default_factory=dict)  # what a status means on this route


# The query parameters of cases, exports and audit are cyberunit.params' (the API reads them from there);
# a route's parameters are all it takes: any other is a 400 naming it.
EXPORT_MEDIA = {
    "text/csv": {"schema": {"type": "string"}},
    "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON object a line"}},
    "application/stix+json;version=2.1": {"schema": {"$ref": REF.format(model="StixBundle")}},
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/cases",
        "get",
        "list_cases",
        "List cases (filters, sort, cursor pagination)",
        CASE_ROLES,
        "cases",
        M.CasePage,
        params=LIST_PARAMS,
        description="Named values (status, category, platform, language, sort, order) are matched "
        "ignoring case; an unknown one, or a parameter not listed here, is a 400 naming it and the "
        "values allowed.",
    ),
    Operation(
        "/cases/{case_id}",
        "get",
        "get_case",
        "One case with its reports, evidence, notes and history (never who reported)",
        CASE_ROLES,
        "cases",
        M.CaseDetail,
        params=(CASE_ID,),
        errors=(400, 404),
    ),
    Operation(
        "/search",
        "get",
        "search",
        "Find cases by reference code, link, handle or words of their reports (never who reported)",
        CASE_ROLES,
        "cases",
        M.SearchResults,
        params=(
            Param(
                "q",
                {"type": "string", "minLength": 1, "maxLength": found.MAX_QUERY},
                "A reference code (any case, with or without the dash or spaces), a link (any variant: it is "
                "canonicalised), an @handle or profile link, or words (English, Urdu, Roman Urdu; all of "
                "them must be in a report's description, any letter forms or diacritics)",
                required=True,
            ),
            Param(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": found.MAX_LIMIT},
                f"Cases at most; default {found.DEFAULT_LIMIT}",
            ),
        ),
        description="`query` says how q was read. Results come as code matches, then the link's case, "
        "cases of the handle (the account's own, its posts', those of reports naming it), then cases "
        "whose reports hold every word, newest report first. A code of a report on several cases (one "
        "per link) finds them all; a merged case says where its reports went (`merged_into`).",
    ),
    Operation(
        "/cases/{case_id}/duplicates",
        "get",
        "duplicates",
        "Possible duplicates of a case, each saying why, and the other cases of its account",
        CASE_ROLES,
        "cases",
        Duplicates,
        params=(CASE_ID,),
        errors=(400, 404),
        description="Open or decided cases that are likely the same content: the same target behind "
        "another spelling of the link (`?lang=en`, a timestamp, a channel's /videos tab, m. and www.), an "
        "@handle both are known by, a file of the same sha256, or a near-identical description. A page and "
        "its posts are not duplicates: they are `same_account`. Merge with a decision (`merged`, "
        "`merge_into`) into a `mergeable` one.",
    ),
    Operation(
        "/cases/bulk",
        "post",
        "bulk",
        "One action on many cases (decide, merge, note, assign), each case on its own; dry_run previews",
        CASE_ROLES,
        "queue",
        BulkResult,
        body=BulkRequest,
        errors=(400, 403, 404, 409, 413),
        description="The rules of the single actions hold for each case: deciding or merging needs the case "
        "held, so one nobody holds is claimed for you first (its own case.claimed event) and one someone "
        "else holds is left; a decided case stays decided; a case that needs care leaves the unit only by "
        "a supervisor's decision. Each case changes in its own transaction with its own audit event; the "
        "answer says what happened to each. With `dry_run` nothing changes: send the same request without "
        "it, with `seen_reports` from the dry run, to do it.",
        error_notes={
            400: "A field is missing, unknown or of the wrong type, or the action is not one a single "
            "action would take (no note, no reason for no_action, an unknown agency or assignee)",
            403: "Your role may not use this route, or an analyst asked to assign",
            404: "The case to merge into does not exist",
            409: "The case to merge into is closed or merged",
        },
    ),
    Operation(
        "/queue/claim",
        "post",
        "claim",
        "Claim the highest-priority open cases under a lease",
        CASE_ROLES,
        "queue",
        M.CaseList,
        body=M.ClaimRequest,
        errors=(400, 413),
    ),
    Operation(
        "/cases/{case_id}/decision",
        "post",
        "decide",
        "Decide a case you hold (referred, escalated, monitoring, no_action, merged)",
        CASE_ROLES,
        "queue",
        M.DecisionResult,
        body=M.Decision,
        params=(CASE_ID,),
        errors=(400, 403, 404, 409, 413),
        description="A referral needs `agency`; a merge needs `merge_into`, an open case. Closing with "
        "no_action needs a `reason`, and any reason must fit the decision (400 otherwise): the case's "
        "reporters are told it, with the date. A case that needs care leaves the unit (referred, escalated) "
        "only by a supervisor's decision.",
        error_notes={
            400: "A field is missing, of the wrong type or does not fit the decision: no reason for "
            "no_action, a reason that does not fit, a referral without an agency, a merge without a target",
            403: "Your role may not use this route, or the case needs care and only a supervisor may "
            "send it out",
            409: "You do not hold the case (or your lease expired), reports arrived since you looked "
            "(see seen_reports), or the merge target is closed",
        },
    ),
    Operation(
        "/cases/{case_id}/release",
        "post",
        "release",
        "Give a case you hold back to the queue",
        CASE_ROLES,
        "queue",
        M.Case,
        params=(CASE_ID,),
        errors=(400, 404, 409),
    ),
    Operation(
        "/cases/{case_id}/extend",
        "post",
        "extend",
        "Extend your lease on a case",
        CASE_ROLES,
        "queue",
        M.Case,
        body=M.Extend,
        params=(CASE_ID,),
        errors=(400, 404, 409, 413),
    ),
    Operation(
        "/cases/{case_id}/notes",
        "post",
        "add_note",
        "Add a note to a case",
        CASE_ROLES,
        "cases",
        M.Note,
        body=M.NoteRequest,
        params=(CASE_ID,),
        errors=(400, 404, 413),
    ),
    Operation(
        "/cases/{case_id}/followups",
        "post",
        "ask_followup",
        "Ask the reporters of a case who agreed to updates one question (queued, audited)",
        CASE_ROLES,
        "cases",
        Followup,
        body=FollowupRequest,
        params=(CASE_ID,),
        errors=(400, 404, 409, 413),
        description="Each reporter who asked for updates on their report, and whose chat can still be "
        "reached, gets the question once, through the outbox, in their report's language, with a Skip "
        "button; their next message answers it and arrives on the report as evidence (kind `answer`, and "
        "any link or file). You learn how many it reached, never who. Audited as `case.followup_asked` "
        f"with the number. A question waits at most {followups_.LIVE.days} days.",
        error_notes={
            409: "Nobody can be asked (no reporter agreed to updates, or every one who did still has a "
            "question of this case waiting), the case was closed with no action or merged, or another "
            "analyst holds it",
        },
    ),
    Operation(
        "/cases/{case_id}/followups",
        "get",
        "list_followups",
        "The questions asked on a case, with counts and answers, and whom a new one would reach",
        CASE_ROLES,
        "cases",
        FollowupList,
        params=(CASE_ID,),
        errors=(400, 404),
    ),
    Operation(
        "/cases/{case_id}/assign",
        "post",
        "assign",
        "Assign an open case to an analyst (supervisors)",
        ("supervisor",),
        "queue",
        M.Case,
        body=M.Assign,
        params=(CASE_ID,),
        errors=(400, 404, 409, 413),
    ),
    Operation(
        "/stats",
        "get",
        "stats",
        "Counts for the overview",
        (*CASE_ROLES, "admin"),
        "cases",
        M.Stats,
    ),
    Operation(
        "/export",
        "get",
        "export",
        "Export cases as CSV, JSON lines or a STIX 2.1 bundle (nothing about reporters)",
        CASE_ROLES,
        "cases",
        None,
        params=EXPORT_PARAMS,
        media=EXPORT_MEDIA,
        headers={
            "Content-Disposition": {
                "description": "attachment; filename=raabta-cases.csv, .jsonl or .json",
                "schema": {"type": "string"},
            }
        },
        description="The cases the same filters as GET /cases pick (sorted by id). The STIX bundle holds "
        "one indicator per case referred or escalated, under an id that never changes; a shared case "
        "decided otherwise later comes back revoked. CSV starts with a UTF-8 byte order mark, so Excel "
        "shows Urdu as Urdu.",
    ),
    Operation(
        "/audit",
        "get",
        "audit_log",
        "The audit log, oldest first, after an event id (supervisors, admins)",
        ("supervisor", "admin"),
        "audit",
        M.AuditPage,
        params=AUDIT_PARAMS,
    ),
    Operation(
        "/support-requests",
        "get",
        "support",
        "Families' callback requests, newest first (counsellors)",
        ("counsellor",),
        "support",
        M.SupportRequestList,
        params=(Param("status", {"type": "string", "enum": ["new", "in_progress", "done"]}),),
    ),
    Operation(
        "/support-requests/{request_id}/take",
        "post",
        "support_take",
        "Take a callback request to handle it (counsellors), or give it to a counsellor "
        "(supervisors, admins)",
        SUPPORT_ROLES,
        "support",
        M.SupportRequest,
        body=M.Take,
        params=(REQUEST_ID,),
        errors=(400, 404, 409, 413),
        description="A counsellor takes a request for themselves (audited `support.taken`): only the "
        "counsellor holding a request sees its number. A supervisor or an admin gives it to the counsellor "
        "named in `to`, taking it from whoever held it (audited `support.reassigned`). Taking your own "
        "again changes nothing.",
        error_notes={
            400: "`to` is missing (supervisors, admins), or not an active counsellor's token name",
            403: "Your token's role may not use this route, or a counsellor named someone else in `to`",
            409: "Closed, or another counsellor holds it (a supervisor can reassign it)",
        },
    ),
    Operation(
        "/support-requests/{request_id}/phone",
        "post",
        "support_phone",
        "Reveal the number a family gave, to call them back (counsellors holding the request; "
        "supervisors and admins with an override; each reveal is audited)",
        SUPPORT_ROLES,
        "support",
        M.PhoneReveal,
        body=M.Reveal,
        params=(REQUEST_ID,),
        errors=(400, 403, 404, 409, 413, 429),
        description="Take the request first (`/take`): the number is shown only to the counsellor holding "
        "it. A supervisor or an admin sends `override: true` with a `reason`, kept in the request's note; "
        "the audit event says it was an override and how long the reason was, never the number. Anyone "
        "sees at most RAABTA_SUPPORT_REVEALS_PER_HOUR numbers (default 10) in an hour.",
        headers={"Cache-Control": {"schema": {"type": "string", "const": "no-store"}, "required": True}},
        error_notes={
            400: "`override` is not a boolean, or an override has no reason",
            403: "Your token's role may not use this route; another counsellor holds the request; a "
            "supervisor or admin sent no override; or a counsellor sent one",
            409: "No number is kept, and `detail` says why (none given, deleted when the request was closed "
            "or when the retention period ended, the family deleted their data), or the request is not "
            "taken yet",
            429: "You have seen the most numbers allowed in an hour: try again after Retry-After seconds",
        },
    ),
    Operation(
        "/support-requests/{request_id}/reply",
        "post",
        "support_reply",
        "Write to the family in the chat they asked from (counsellors; queued, audited)",
        ("counsellor",),
        "support",
        M.SupportRequest,
        body=M.Reply,
        params=(REQUEST_ID,),
        errors=(400, 404, 409, 413),
        error_notes={
            409: "The message cannot reach the family, and `detail` says why: they deleted their data, no "
            "chat address is kept on Telegram or Messenger (a phone request, a closed request, past "
            "retention), or the chat is unreachable"
        },
    ),
    Operation(
        "/support-requests/{request_id}/close",
        "post",
        "support_close",
        "Close a callback request, with an optional note (counsellors; audited)",
        ("counsellor",),
        "support",
        M.SupportRequest,
        body=M.Close,
        params=(REQUEST_ID,),
        errors=(400, 404, 409, 413),
        error_notes={409: "Closed already"},
    ),
    Operation(
        "/cases/{case_id}/referrals",
        "post",
        "record_referral",
        "Record a takedown notice sent about a referred or escalated case (audited)",
        CASE_ROLES,
        "cases",
        M.Referral,
        body=M.ReferralRequest,
        params=(CASE_ID,),
        errors=(400, 404, 409, 413),
        description="Raabta never sends a notice: the analyst sends it (the console fills one in from the "
        "case, `template`) and records it here, with the reference the platform or agency gave. Audited "
        "as `case.referral_sent`. A referred case's check clock runs from its latest notice.",
        error_notes={
            400: "agency not among RAABTA_AGENCIES, an unknown template, a reference over 100 characters, "
            "or sent_at in the future or before the case's first report",
            409: "The case is not referred or escalated",
        },
    ),
    Operation(
        "/cases/{case_id}/checks",
        "post",
        "record_check",
        "Record what a referred page shows now: still_online, removed or geo_blocked (audited)",
        CASE_ROLES,
        "cases",
        M.TakedownCheck,
        body=M.CheckRequest,
        params=(CASE_ID,),
        errors=(400, 404, 409, 413),
        description="Dated now. The first `removed` gives the case's time to removal; a check that is not "
        "`removed` keeps the case out of the due list for RAABTA_TAKEDOWN_CHECK_DAYS days. Audited as "
        "`case.checked` (the note's length, not the note).",
        error_notes={409: "The case is not referred or escalated"},
    ),
    Operation(
        "/takedowns/due",
        "get",
        "takedowns_due",
        "Referred cases due for a takedown check, longest waiting first",
        CASE_ROLES,
        "cases",
        M.DueList,
        params=DUE_PARAMS,
        description="Referred cases (and escalated ones with a notice recorded) whose latest notice, or "
        "decision when none was recorded, is at least `age_days` old, and whose latest check is neither "
        "`removed` nor younger than `age_days`. The console shows them in the queue's Checks due lane.",
    ),
    Operation(
        "/takedowns/stats",
        "get",
        "takedown_stats",
        "Time to removal per platform and per agency (median hours, cases removed and waiting)",
        (*CASE_ROLES, "admin"),
        "cases",
        M.RemovalTimes,
        description="Hours from a case's first notice (its decision when none was recorded) to its first "
        "`removed` check. A case's agency is its first notice's, else the decision's (`none` when neither "
        "named one).",
    ),
    Operation(
        "/blocks",
        "get",
        "list_blocks",
        "Citizens blocked after repeated floods, by short pseudonym (admins)",
        ("admin",),
        "admin",
        M.BlockList,
    ),
    Operation(
        "/blocks/{block_id}/lift",
        "post",
        "lift_block",
        "Lift a block (admins)",
        ("admin",),
        "admin",
        M.Lifted,
        params=(BLOCK_ID,),
        errors=(400, 404),
    ),
)

# Models the table names only by reference (errors, a media type's schema).
REFERENCED: tuple[type[BaseModel], ...] = (M.Problem, M.StixBundle)


def _collect(components: dict[str, Any], model: type[BaseModel], mode: JsonSchemaMode) -> None:
    """Put `model` and every model it nests into `components`, by name; a name is one schema."""
    schema = model.model_json_schema(ref_template=REF, mode=mode)
    found = {**schema.pop("$defs", {}), model.__name__: schema}
    for name, part in found.items():
        if name in components and components[name] != part:
            raise ValueError(f"two different schemas are named {name}")
        components[name] = part


def _json(schema_ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=schema_ref)}}}


def _operation(op: Operation) -> dict[str, Any]:
    roles = ", ".join(op.roles)
    described = f"Roles: {roles}." + (f"\n\n{op.description}" if op.description else "")
    success: dict[str, Any] = {"description": "OK"}
    if op.response is not None:
        success["content"] = _json(op.response.__name__)
    if op.media:
        success["content"] = {**success.get("content", {}), **copy.deepcopy(op.media)}
    if op.headers:
        success["headers"] = copy.deepcopy(op.headers)
    responses: dict[str, Any] = {"200": success}
    for status in sorted({*op.errors, 401, 403, 503}):
        answer: dict[str, Any] = {
            "description": op.error_notes.get(status, ERRORS[status]),
            "content": {PROBLEM_MEDIA: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
        if status == 401:
            answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}
        if status in (429, 503):
            answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "required": True}}
        responses[str(status)] = answer
    out: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "description": described,
        "tags": [op.tag],
        "x-roles": list(op.roles),
        "responses": responses,
    }
    if op.params:
        out["parameters"] = [p.spec() for p in op.params]
    if op.body is not None:
        needed = bool(op.body.model_json_schema().get("required"))
        out["requestBody"] = {"required": needed, "content": _json(op.body.__name__)}
    return out


def build(operations: Sequence[Operation] = OPERATIONS) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `operations`."""
    components: dict[str, Any] = {}
    for model in REFERENCED:
        _collect(components, model, "serialization")
    for op in operations:
        if op.response is not None:
            _collect(components, op.response, "serialization")
    for op in operations:
        if op.body is not None:
            _collect(components, op.body, "validation")
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item = paths.setdefault(BASE + op.path, {})
        if op.method in item:
            raise ValueError(f"{op.method.upper()} {op.path} is in the table twice")
        item[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Raabta cyber-unit API",
            "version": "1",
            "description": "The analysts' queue, decisions and exports; families' callback requests for "
            "counsellors; blocks for admins. Every route takes a bearer token (`raabta token create`); "
            "errors are RFC 9457 problem details.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "tags": [{"name": name} for name in ("cases", "queue", "audit", "support", "admin")],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `raabta token create --name N --role R`",
                }
            },
        },
        "security": [{"bearer": []}],
    }


@cache
def document() -> dict[str, Any]:
    """The document of this API, built once. Callers get a copy to change if they like."""
    return build()


def served(agencies: Sequence[str] = ()) -> dict[str, Any]:
    """A copy of the document; with `agencies` (RAABTA_AGENCIES), a decision's `agency` lists those."""
    out = copy.deepcopy(document())
    if agencies:
        field = out["components"]["schemas"]["Decision"]["properties"]["agency"]
        for option in field.get("anyOf", [field]):
            if "enum" in option:
                option["enum"] = list(agencies)
        out["components"]["schemas"]["ReferralRequest"]["properties"]["agency"]["enum"] = list(agencies)
    out["components"]["schemas"]["ReferralRequest"]["properties"]["template"]["enum"] = list(notices().ids())
    return out
