"""The OpenAPI 3.1 document at /api/v1/openapi.json: valid, complete, and true to what the API answers."""

from __future__ import annotations

from typing import Any, get_args

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import Route

from bot.app import create_app
from bot.shared.config import Settings
from cyberunit import models
from cyberunit.openapi import OPERATIONS
from storage.lifecycle import DECISIONS, OPEN, REASONS
from storage.queue import AGENCIES
from storage.repository import Storage
from storage.support import STATUSES
from tests.test_api import API, add_report, auth, tokens  # noqa: F401 - tokens is a fixture

ROLES = ("analyst", "supervisor", "counsellor", "admin")


async def fetch(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get(API + "/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    spec: dict[str, Any] = response.json()
    return spec


def conforms(spec: dict[str, Any], model: str, data: Any) -> None:
    """`data` is valid against the document's schema named `model` (its references resolved in it)."""
    schema = {"$ref": f"#/components/schemas/{model}", "components": spec["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def api_routes(settings: Settings, storage: Storage) -> list[tuple[str, str, set[str]]]:
    """(path, method, path parameters) of every route the app serves under /api/v1."""
    app = create_app(settings, storage)
    found = []
    for route in app.routes:
        if not isinstance(route, Route) or not route.path.startswith(API + "/"):
            continue
        if route.path == API + "/openapi.json":
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((route.path, method.lower(), set(route.param_convertors)))
    return found


async def test_the_document_is_valid_openapi_3_1(client: httpx.AsyncClient) -> None:
    spec = await fetch(client)
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # openapi-spec-validator picks the 3.1 validator from the document's version
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert spec["security"] == [{"bearer": []}]


async def test_every_route_is_documented_with_its_parameters_and_errors(
    client: httpx.AsyncClient, settings: Settings, storage: Storage
) -> None:
    spec = await fetch(client)
    served = api_routes(settings, storage)
    assert len(served) == len(OPERATIONS) >= 17
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert documented == {(path, method) for path, method, _ in served}
    for path, method, names in served:
        op = spec["paths"][path][method]
        declared = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
        assert set(declared) == names, (path, declared)
        assert all(p["required"] and p["schema"]["type"] == "integer" for p in declared.values())
        assert {"200", "401", "403"} <= set(op["responses"]), path
        for status, answer in op["responses"].items():
            if status.startswith(("4", "5")):
                assert answer["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (path, status)
        assert op["x-roles"] and op["description"].startswith("Roles: ")
    listing = {p["name"] for p in spec["paths"][API + "/cases"]["get"]["parameters"]}
    assert listing == {
        "status",
        "category",
        "platform",
        "language",
        "urgent",
        "min_priority",
        "since",
        "until",
        "from",
        "to",
        "needs_care",
        "scope_check",
        "sort",
        "order",
        "cursor",
        "limit",
    }
    export = {p["name"] for p in spec["paths"][API + "/export"]["get"]["parameters"]}
    assert export == listing - {"sort", "order", "cursor", "limit"} | {"format", "include_monitoring"}
    audit = {p["name"] for p in spec["paths"][API + "/audit"]["get"]["parameters"]}
    assert audit == {"after", "limit"}


async def test_the_documented_roles_are_the_ones_the_api_enforces(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    spec = await fetch(client)
    for path, item in spec["paths"].items():
        for method, op in item.items():
            url = path.replace("{case_id}", "1").replace("{request_id}", "1").replace("{block_id}", "1")
            for role in ROLES:
                response = await client.request(
                    method, url, headers=auth(tokens[role]), params={"format": "csv"}, json={}
                )
                if role in op["x-roles"]:
                    assert response.status_code not in (401, 403), (method, path, role, response.text)
                else:
                    assert response.status_code == 403, (method, path, role)
                documented = op["responses"].get(str(response.status_code))
                assert documented is not None, (method, path, role, response.status_code, response.text)
            anonymous = await client.request(method, url)
            assert anonymous.status_code == 401
            conforms(spec, "Problem", anonymous.json())


async def test_real_answers_conform_to_the_documented_schemas(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    spec = await fetch(client)
    analyst = auth(tokens["analyst"])
    await add_report(storage, "https://t.me/documented", urgent=True)
    await add_report(storage, "https://t.me/documented", category="financing", language="ur")
    await add_report(storage, None, description="a handle only")
    page = (await client.get(API + "/cases", headers=analyst)).json()
    conforms(spec, "CasePage", page)
    claimed = (await client.post(API + "/queue/claim", headers=analyst, json={"limit": 1})).json()
    conforms(spec, "CaseList", claimed)
    [held] = claimed["items"]
    note = await client.post(f"{API}/cases/{held['id']}/notes", headers=analyst, json={"note": "looked"})
    conforms(spec, "Note", note.json())
    extended = await client.post(f"{API}/cases/{held['id']}/extend", headers=analyst, json={})
    conforms(spec, "Case", extended.json())
    decision = {
        "status": "escalated",
        "note": "threat",
        "agency": "CTD",
        "seen_reports": held["report_count"],
        "reason": "passed_to_investigators",
    }
    conforms(spec, "Decision", decision)
    decided = await client.post(f"{API}/cases/{held['id']}/decision", headers=analyst, json=decision)
    assert decided.status_code == 200, decided.text
    conforms(spec, "DecisionResult", decided.json())
    assert decided.json()["case"]["reason"] == "passed_to_investigators"
    assert decided.json()["case"]["claimed_at"] is not None

    detail = await client.get(f"{API}/cases/{held['id']}", headers=analyst)
    assert detail.status_code == 200
    body = detail.json()
    assert body["reports"] and body["reports"][0]["evidence"] and body["notes"] and body["history"]
    conforms(spec, "CaseDetail", body)
    parsed = models.CaseDetail.model_validate(body)
    assert parsed.id == held["id"] and parsed.status == "escalated"

    stats = await client.get(API + "/stats", headers=analyst)
    conforms(spec, "Stats", stats.json())
    audit = await client.get(API + "/audit", headers=auth(tokens["supervisor"]))
    conforms(spec, "AuditPage", audit.json())
    support = await client.get(API + "/support-requests", headers=auth(tokens["counsellor"]))
    conforms(spec, "SupportRequestList", support.json())
    blocks = await client.get(API + "/blocks", headers=auth(tokens["admin"]))
    conforms(spec, "BlockList", blocks.json())
    stix = await client.get(API + "/export", params={"format": "stix"}, headers=analyst)
    assert stix.headers["content-type"].startswith("application/stix+json")
    conforms(spec, "StixBundle", stix.json())
    missing = await client.get(f"{API}/cases/999999", headers=analyst)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    conforms(spec, "Problem", missing.json())


@pytest.mark.parametrize(
    ("literal", "values"),
    [
        (models.CaseStatus, (*OPEN, *DECISIONS)),
        (models.DecisionStatus, DECISIONS),
        (models.Agency, AGENCIES),
        (models.SupportStatus, STATUSES),
        (models.Reason, tuple(REASONS)),
    ],
)
def test_the_enums_are_the_ones_storage_knows(literal: Any, values: tuple[str, ...]) -> None:
    assert set(get_args(literal)) == set(values)
