"""The OpenAPI 3.1 document of the analysts' API (/api/v1/openapi.json), from one route table.

Each row of OPERATIONS is one route of cyberunit.api: its path, method, roles, parameters, request body and
answer, as models of cyberunit.models; the document is built from the table alone. tests/test_openapi.py
checks that every route the app serves under /api/v1 is in the table, and the document is valid.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from cyberunit import models as M

BASE = "/api/v1"
REF = "#/components/schemas/{model}"
PROBLEM_MEDIA = "application/problem+json"
INT32_MAX = M.INT32_MAX

CASE_ROLES = ("analyst", "supervisor")

ERRORS = {
    400: "The request is malformed: a parameter or body field is missing, of the wrong type or out of range",
    401: "No bearer token, or the token is unknown or revoked",
    403: "Your token's role may not use this route",
    404: "No such object",
    409: "The object is not in a state that allows this",
    413: "The body is larger than 64 KiB",
    503: "The database is unreachable; nothing was changed. Try again after Retry-After seconds",
}


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str = ""
    where: str = "query"
    required: bool = False

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "in": self.where, "schema": self.schema}
        if self.required or self.where == "path":
            out["required"] = True
        if self.description:
            out["description"] = self.description
        return out


def path_id(name: str, what: str) -> Param:
    return Param(name, {"type": "integer", "minimum": 1, "maximum": INT32_MAX}, f"The {what}'s id", "path")


DATE_TIME = {"type": "string", "format": "date-time"}
CASE_ID = path_id("case_id", "case")
REQUEST_ID = path_id("request_id", "support request")
BLOCK_ID = path_id("block_id", "block")


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


LIST_PARAMS = (
    Param("status", {"type": "string"}, "Comma-separated case statuses, e.g. `new,in_review`"),
    Param("category", {"type": "string"}, "Cases with a report in this category"),
    Param("platform", {"type": "string"}),
    Param("language", {"type": "string"}, "Cases with a report in this language (en, ur, ur-Latn)"),
    Param("min_priority", {"type": "number"}),
    Param("since", DATE_TIME, "Last report at or after"),
    Param("until", DATE_TIME, "First report before"),
    Param("needs_care", {"type": "boolean"}),
    Param(
        "scope_check",
        {"type": "boolean"},
        "Cases with (true) or without (false) a report whose citizen went on past the scope notice",
    ),
    Param("sort", {"type": "string", "enum": ["priority", "last_seen", "first_seen", "report_count"]}),
    Param("order", {"type": "string", "enum": ["asc", "desc"]}, "Default desc"),
    Param("cursor", {"type": "string"}, "The `next` of the previous page"),
    Param("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Default 50"),
)
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
        errors=(),
    ),
    Operation(
        "/export",
        "get",
        "export",
        "Export cases as CSV, JSON lines or a STIX 2.1 bundle (nothing about reporters)",
        CASE_ROLES,
        "cases",
        None,
        params=(
            Param("format", {"type": "string", "enum": ["csv", "json", "stix"]}, required=True),
            Param("since", DATE_TIME, "Cases with a report at or after"),
            Param("until", DATE_TIME, "Cases first reported before"),
            Param("status", {"type": "string"}, "Comma-separated case statuses"),
            Param(
                "include_monitoring",
                {"type": "boolean"},
                "STIX: cases under monitoring too, as unconfirmed indicators (indicator_types unknown)",
            ),
        ),
        media=EXPORT_MEDIA,
        headers={
            "Content-Disposition": {
                "description": "attachment; filename=raabta-cases.csv, .jsonl or .json",
                "schema": {"type": "string"},
            }
        },
        description="The STIX bundle holds one indicator per case referred or escalated, under an id that "
        "never changes; a shared case decided otherwise later comes back revoked.",
    ),
    Operation(
        "/audit",
        "get",
        "audit_log",
        "The audit log, oldest first, after an event id (supervisors, admins)",
        ("supervisor", "admin"),
        "audit",
        M.AuditPage,
        params=(
            Param("after", {"type": "integer", "minimum": 0, "maximum": INT32_MAX}, "An event id; default 0"),
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "Default 100"),
        ),
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
        "/support-requests/{request_id}/phone",
        "post",
        "support_phone",
        "Reveal the number a family gave, to call them back (counsellors; each reveal is audited)",
        ("counsellor",),
        "support",
        M.PhoneReveal,
        params=(REQUEST_ID,),
        errors=(400, 404, 409),
        description="A new request moves to in_progress under your name.",
        headers={"Cache-Control": {"schema": {"type": "string", "const": "no-store"}, "required": True}},
        error_notes={409: "No number is kept (none given, or the family deleted their data)"},
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
        "/blocks",
        "get",
        "list_blocks",
        "Citizens blocked after repeated floods, by short pseudonym (admins)",
        ("admin",),
        "admin",
        M.BlockList,
        errors=(),
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
        if status == 503:
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


def served() -> dict[str, Any]:
    return copy.deepcopy(document())
