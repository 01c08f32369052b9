"""The analysts' API over HTTP, on both backends: roles, queue leases, decisions, notifications, exports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import timedelta

import httpx
import pytest
import stix2
from sqlalchemy import update

from bot.app import create_app
from bot.shared.config import Settings
from bot.shared.status import status_text
from cyberunit.exports import COLUMNS, to_csv
from responses import catalog
from storage.queue import Queue
from storage.records import EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage, utcnow
from storage.schema import cases
from storage.tokens import Tokens
from tests.test_webchat import CODE, WebChat

API = "/api/v1"


async def add_report(
    storage: Storage,
    url: str | None,
    category: str = "recruitment",
    reporter: str | None = None,
    urgent: bool = False,
    language: str = "en",
    description: str = "seen",
    scope_check: bool = False,
    platform: str = "facebook",
) -> str:
    code = (
        f"T{uuid.uuid4().hex[:3].upper()}-{uuid.uuid4().int % 9000 + 1000}".replace("I", "1")
        .replace("L", "1")
        .replace("O", "0")
        .replace("U", "V")
    )
    evidence = (EvidenceRecord("link", url, url, platform),) if url else ()
    report = NewReport(
        code,
        reporter or uuid.uuid4().hex,
        "webchat",
        language,
        category,
        description,
        urgent,
        evidence,
        scope_check=scope_check,
    )
    result = await storage.commit_turn(
        TurnRecord("test", uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], (report,))
    )
    assert result.status.value == "ok"
    return code


@pytest.fixture
async def tokens(storage: Storage) -> dict[str, str]:
    made = {}
    store = Tokens(storage)
    for role in ("analyst", "supervisor", "counsellor", "admin"):
        made[role] = await store.create(role, role)
    made["analyst2"] = await store.create("analyst2", "analyst")
    made["revoked"] = await store.create("gone", "analyst")
    await store.revoke("gone")
    return made


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ROUTES = [
    ("GET", "/cases", None),
    ("GET", "/cases/1", None),
    ("POST", "/queue/claim", {}),
    ("POST", "/cases/1/decision", {"status": "monitoring", "note": "n"}),
    ("POST", "/cases/1/release", {}),
    ("POST", "/cases/1/extend", {}),
    ("POST", "/cases/1/notes", {"note": "n"}),
    ("POST", "/cases/1/assign", {"assignee": "analyst"}),
    ("GET", "/stats", None),
    ("GET", "/export?format=csv", None),
    ("GET", "/audit", None),
    ("GET", "/support-requests", None),
    ("POST", "/support-requests/1/take", {}),
    ("POST", "/support-requests/1/phone", {}),
    ("POST", "/support-requests/1/reply", {"text": "hello"}),
    ("POST", "/support-requests/1/close", {}),
]
ALLOWED = {
    "/cases": {"analyst", "supervisor"},
    "/cases/1": {"analyst", "supervisor"},
    "/queue/claim": {"analyst", "supervisor"},
    "/cases/1/decision": {"analyst", "supervisor"},
    "/cases/1/release": {"analyst", "supervisor"},
    "/cases/1/extend": {"analyst", "supervisor"},
    "/cases/1/notes": {"analyst", "supervisor"},
    "/cases/1/assign": {"supervisor"},
    "/stats": {"analyst", "supervisor", "admin"},
    "/export?format=csv": {"analyst", "supervisor"},
    "/audit": {"supervisor", "admin"},
    "/support-requests": {"counsellor"},
    "/support-requests/1/take": {"counsellor", "supervisor", "admin"},
    "/support-requests/1/phone": {"counsellor", "supervisor", "admin"},  # the last two: an override
    "/support-requests/1/reply": {"counsellor"},
    "/support-requests/1/close": {"counsellor"},
}


async def test_the_role_matrix_holds_on_every_route(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    await add_report(storage, "https://facebook.com/a")
    for method, path, body in ROUTES:
        base = path.split("?")[0] if path.startswith("/export") else path
        key = path if path in ALLOWED else base
        for who in ("analyst", "supervisor", "counsellor", "admin", "revoked", None):
            headers = auth(tokens[who]) if who else {}
            response = await client.request(method, API + path, headers=headers, json=body)
            if who in (None, "revoked"):
                assert response.status_code == 401, (method, path, who)
                assert response.headers["content-type"].startswith("application/problem+json")
            elif who in ALLOWED[key]:
                assert response.status_code not in (401, 403), (method, path, who, response.text)
            else:
                assert response.status_code == 403, (method, path, who)
    garbage = await client.get(API + "/cases", headers={"Authorization": "Bearer rbt_not-a-token"})
    assert garbage.status_code == 401
    basic = await client.get(API + "/cases", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401


async def test_variants_of_one_page_from_three_citizens_make_one_case(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    for link in (
        "https://m.facebook.com/Bad.Page?ref=bookmarks",
        "facebook.com/bad.page/",
        "https://web.facebook.com/BAD.PAGE?fbclid=x",
    ):
        chat = WebChat(client)
        for step in (
            {"text": "/start"},
            {"choice": "lang:en"},
            {"choice": "menu:report"},
            {"text": link},
            {"choice": "cat:propaganda"},
            {"choice": "confirm:submit"},
        ):
            if "choice" in step:  # a button the last answer offered
                await chat.press(step["choice"])
            else:
                await chat.send(**step)  # type: ignore[arg-type]
    listed = (await client.get(API + "/cases", headers=auth(tokens["analyst"]))).json()
    [case] = listed["items"]
    assert case["canonical_url"] == "https://facebook.com/bad.page"
    assert case["report_count"] == 3 and case["reporter_count"] == 3
    assert set(case["priority_parts"]) == {"category", "urgency", "reporters", "recency"}
    detail = (await client.get(f"{API}/cases/{case['id']}", headers=auth(tokens["analyst"]))).json()
    assert len(detail["reports"]) == 3
    assert "reporter_id" not in json.dumps(detail)
    assert "already in the queue" in chat.said


async def test_eight_analysts_claiming_at_once_never_share_a_case(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    for i in range(30):
        await add_report(storage, f"https://t.me/channel_{i}")
    store = Tokens(storage)
    analysts = [await store.create(f"a{i}", "analyst") for i in range(8)]

    async def claim(token: str) -> list[int]:
        got = []
        for _ in range(4):
            response = await client.post(API + "/queue/claim", headers=auth(token), json={"limit": 1})
            assert response.status_code == 200
            got += [c["id"] for c in response.json()["items"]]
        return got

    claimed = await asyncio.gather(*(claim(t) for t in analysts))
    flat = [case for got in claimed for case in got]
    assert len(flat) == 30
    assert len(set(flat)) == 30


async def test_a_decision_reaches_the_reporters_who_asked_for_updates(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    reporters = []
    for lang, consent in (("ur", "updates:yes"), ("en", "updates:no"), ("ur-Latn", "updates:yes")):
        chat = WebChat(client)
        for step in (
            {"text": "/start"},
            {"choice": f"lang:{lang}"},
            {"choice": "menu:report"},
            {"text": "https://t.me/recruiters_channel"},
            {"choice": "cat:recruitment"},
            {"choice": "confirm:submit"},
        ):
            if "choice" in step:  # a button the last answer offered
                await chat.press(step["choice"])
            else:
                await chat.send(**step)  # type: ignore[arg-type]
        code = CODE.search(chat.said)
        assert code
        await chat.send(choice=consent)
        reporters.append((chat, lang, code.group(1), consent == "updates:yes"))
    analyst = auth(tokens["analyst"])
    [case] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    decided = await client.post(
        f"{API}/cases/{case['id']}/decision",
        headers=analyst,
        json={"status": "referred", "agency": "PTA", "note": "Recruitment; referred."},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["notified"] == 2
    for chat, lang, code, wanted in reporters:
        pulled = (await client.get("/webchat/api/messages", params={"session": chat.session})).json()[
            "messages"
        ]
        told = (await storage.reports.told([code]))[code]
        text = status_text(catalog(), lang, code, told)
        expected = [{"text": text, "buttons": [], "kind": "notification", "lang": lang}]
        assert pulled == (expected if wanted else [])
        assert told.word == "action_taken" and told.decided is not None
    status = WebChat(client)
    await status.send(f"status {reporters[1][2]}")
    assert "Action was taken on" in status.said


async def test_lease_rules(client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]) -> None:
    await add_report(storage, "https://x.com/one")
    one, two = auth(tokens["analyst"]), auth(tokens["analyst2"])
    [case] = (await client.post(API + "/queue/claim", headers=one, json={"lease_seconds": 600})).json()[
        "items"
    ]
    path = f"{API}/cases/{case['id']}"
    assert (await client.post(API + "/queue/claim", headers=two, json={})).json()["items"] == []
    close = {"status": "no_action", "note": "x", "reason": "not_extremist"}
    for action, body in (("decision", close), ("release", {}), ("extend", {})):
        refused = await client.post(f"{path}/{action}", headers=two, json=body)
        assert refused.status_code == 409 and "not held by you" in refused.json()["detail"]
    assert (await client.post(f"{path}/extend", headers=one, json={"lease_seconds": 1200})).status_code == 200
    assert (await client.post(f"{path}/release", headers=one, json={})).json()["status"] == "new"
    [again] = (await client.post(API + "/queue/claim", headers=two, json={})).json()["items"]
    assert again["id"] == case["id"]
    async with storage.writer.begin() as conn:
        await conn.execute(update(cases).values(lease_until=utcnow() - timedelta(seconds=1)))
    expired = await client.post(f"{path}/decision", headers=two, json=close)
    assert expired.status_code == 409 and "expired" in expired.json()["detail"]
    assert await Queue(storage).reap_expired() == 1
    [third] = (await client.post(API + "/queue/claim", headers=one, json={})).json()["items"]
    assert third["id"] == case["id"]


async def test_merging_and_its_illegal_forms(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    for url in ("https://t.me/a1", "https://t.me/a2"):
        await add_report(storage, url)
    analyst = auth(tokens["analyst"])
    claimed = (await client.post(API + "/queue/claim", headers=analyst, json={"limit": 2})).json()["items"]
    first, second = sorted(c["id"] for c in claimed)
    decide = f"{API}/cases/{first}/decision"
    for body, status in (
        ({"status": "merged", "note": "dup"}, 400),
        ({"status": "merged", "note": "dup", "merge_into": first}, 400),
        ({"status": "merged", "note": "dup", "merge_into": 999}, 404),
        ({"status": "closed", "note": "x"}, 400),
        ({"status": "referred", "note": "x"}, 400),
        ({"status": "no_action", "note": "", "reason": "duplicate"}, 400),
        ({"status": "no_action", "note": "x" * 2001, "reason": "duplicate"}, 400),
        (
            {"status": "no_action", "note": "x", "reason": "duplicate", "agency": "'; DROP TABLE cases; --"},
            400,
        ),
        ({"status": "no_action", "note": "x"}, 400),  # closing with no action needs a reason
        ({"status": "no_action", "note": "x", "reason": "kept_under_watch"}, 400),  # does not fit
        ({"status": "monitoring", "note": "x", "reason": "because"}, 400),
        ({"status": "monitoring", "note": "x", "reason": ["kept_under_watch"]}, 400),
        ({"status": "merged", "note": "dup", "merge_into": second, "reason": "duplicate"}, 400),
        ({"status": "merged", "note": "dup", "merge_into": "2"}, 400),
    ):
        response = await client.post(decide, headers=analyst, json=body)
        assert response.status_code == status, (body, response.text)
    merged = await client.post(
        decide, headers=analyst, json={"status": "merged", "note": "dup", "merge_into": second}
    )
    assert merged.status_code == 200
    target = (await client.get(f"{API}/cases/{second}", headers=analyst)).json()
    assert target["report_count"] == 2
    back = await client.post(
        f"{API}/cases/{second}/decision",
        headers=analyst,
        json={"status": "merged", "note": "loop", "merge_into": first},
    )
    assert back.status_code == 400 and "loop" in back.json()["detail"]
    assert (await client.get(f"{API}/cases/{second}", headers=analyst)).json()["status"] == "in_review"


async def test_bad_filters_cursors_and_ids_get_a_clear_4xx(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    for i in range(5):
        await add_report(storage, f"https://youtube.com/@chan{i}")
    analyst = auth(tokens["analyst"])
    for query in (
        "status=closed",
        "sort=name",
        "limit=0",
        "limit=999",
        "limit=x",
        "cursor=%%%",
        "cursor=WyJ4IiwyXQ",
        "since=yesterday",
        "since=0001-01-01T00%3A16%3A19%2B01%3A00",  # before year 1 in UTC (schemathesis found it)
        "until=9999-12-31T23%3A59%3A00-01%3A00",  # after year 9999 in UTC
        "needs_care=maybe",
        "min_priority=high",
        "order=up",
        "status=new'%20OR%201=1--",
    ):
        response = await client.get(f"{API}/cases?{query}", headers=analyst)
        assert response.status_code == 400, query
        assert response.json()["detail"]
    for path in ("/cases/999", "/cases/abc", "/cases/1%20OR%201=1"):
        assert (await client.get(API + path, headers=analyst)).status_code in (400, 404)
    bad_body = await client.post(API + "/queue/claim", headers=analyst, content=b"[1]")
    assert bad_body.status_code == 400
    huge = await client.post(API + "/cases/1/notes", headers=analyst, content=b"{" + b" " * 70_000 + b"}")
    assert huge.status_code == 413


async def test_pagination_walks_every_case_once(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    for i in range(7):
        await add_report(
            storage, f"https://instagram.com/p{i}", category="propaganda" if i % 2 else "recruitment"
        )
    analyst = auth(tokens["analyst"])
    seen, cursor = [], None
    while True:
        query = "limit=3&sort=last_seen" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"{API}/cases?{query}", headers=analyst)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert sorted(seen) == list(range(1, 8)) and len(seen) == 7
    filtered = (await client.get(f"{API}/cases?category=propaganda", headers=analyst)).json()["items"]
    assert len(filtered) == 3


async def test_a_burst_from_new_reporters_marks_the_case_needs_care(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    for _ in range(5):
        await add_report(storage, "https://facebook.com/journalist.page", category="hate_speech")
    supervisor, analyst = auth(tokens["supervisor"]), auth(tokens["analyst"])
    [case] = (await client.get(f"{API}/cases?needs_care=true", headers=analyst)).json()["items"]
    assert case["needs_care"] and "5 reports" in case["care_reason"]
    [held] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    refer = {"status": "referred", "agency": "platform", "note": "refer"}
    refused = await client.post(f"{API}/cases/{held['id']}/decision", headers=analyst, json=refer)
    assert refused.status_code == 403 and "needs care" in refused.json()["detail"]
    await client.post(f"{API}/cases/{held['id']}/release", headers=analyst, json={})
    assigned = await client.post(
        f"{API}/cases/{held['id']}/assign", headers=supervisor, json={"assignee": "supervisor"}
    )
    assert assigned.status_code == 200
    done = await client.post(f"{API}/cases/{held['id']}/decision", headers=supervisor, json=refer)
    assert done.status_code == 200


async def test_exports_open_in_excel_and_stix_parses(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    await add_report(
        storage, "https://facebook.com/یہ.پیج", language="ur", description="نفرت", reporter="secret-reporter"
    )
    await add_report(storage, "https://t.me/x'quote", category="financing")
    await add_report(storage, None, description='=HYPERLINK("http://evil")')
    analyst = auth(tokens["analyst"])
    raw = (await client.get(API + "/export?format=csv", headers=analyst)).content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 3
    assert list(rows[0]) == list(COLUMNS)
    assert rows[0]["canonical_url"] == "https://facebook.com/یہ.پیج"
    assert b"secret-reporter" not in raw and "نفرت".encode() not in raw
    lines = (await client.get(API + "/export?format=json", headers=analyst)).text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3]
    # only referred and escalated cases reach partners: refer the Telegram one
    await client.post(API + "/queue/claim", headers=analyst, json={"limit": 3})
    referred = await client.post(
        API + "/cases/2/decision",
        headers=analyst,
        json={"status": "referred", "note": "x", "agency": "platform"},
    )
    assert referred.status_code == 200
    bundle = stix2.parse(
        (await client.get(API + "/export?format=stix", headers=analyst)).text, allow_custom=False
    )
    indicators = [o for o in bundle.objects if o.type == "indicator"]
    assert len(indicators) == 1 and "t.me/x\\'quote" in indicators[0].pattern
    assert all(o.object_marking_refs == [stix2.TLP_AMBER.id] for o in bundle.objects)
    only = (await client.get(API + "/export?format=json&status=referred", headers=analyst)).text.splitlines()
    assert [json.loads(line)["id"] for line in only] == [2]
    assert (await client.get(API + "/export?format=xml", headers=analyst)).status_code == 400


async def test_audit_chain_covers_analyst_actions(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    await add_report(storage, "https://t.me/audited")
    analyst = auth(tokens["analyst"])
    [case] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    await client.post(f"{API}/cases/{case['id']}/notes", headers=analyst, json={"note": "looked"})
    await client.post(
        f"{API}/cases/{case['id']}/decision",
        headers=analyst,
        json={"status": "monitoring", "note": "keep watching: intelligence value"},
    )
    events = (await client.get(API + "/audit", headers=auth(tokens["supervisor"]))).json()["items"]
    actions = [e["action"] for e in events]
    assert {"report.received", "case.claimed", "case.noted", "case.decided", "token.created"} <= set(actions)
    assert all(e["actor"] != "" for e in events)
    assert await storage.verify_audit_chain()


async def test_openapi_and_stats(client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]) -> None:
    spec = (await client.get(API + "/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/cases" in spec["paths"] and "/api/v1/queue/claim" in spec["paths"]
    await add_report(storage, "https://t.me/s1", language="ur")
    stats = (await client.get(API + "/stats", headers=auth(tokens["analyst"]))).json()
    assert stats["cases_by_status"] == {"new": 1}
    assert stats["reports_by_language"] == {"ur": 1}


def test_csv_cells_never_run_as_formulas() -> None:
    text = to_csv(
        [{"id": 1, "canonical_url": '=HYPERLINK("http://evil")', "categories": ["a", "b"]}]
    ).decode()
    assert "'=HYPERLINK" in text and ",a;b," in text


async def test_ids_beyond_the_database_integer_are_refused(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    analyst = auth(tokens["analyst"])
    assert (await client.get(f"{API}/cases/{2**31}", headers=analyst)).status_code == 400
    assert (await client.get(f"{API}/cases?limit={2**40}", headers=analyst)).status_code == 400
    assert (
        await client.get(f"{API}/audit?after={2**31}", headers=auth(tokens["supervisor"]))
    ).status_code == 400
    await add_report(storage, "https://t.me/int_range")
    [case] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    huge = await client.post(
        f"{API}/cases/{case['id']}/decision",
        headers=analyst,
        json={"status": "merged", "note": "x", "merge_into": 2**31},
    )
    assert huge.status_code == 400


async def test_an_unreachable_database_is_a_problem_with_retry_after(settings: Settings) -> None:
    down = Storage("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    app = create_app(settings, down)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            response = await http.get(API + "/cases", headers=auth("rbt_" + "x" * 40))
    finally:
        await down.close()
    assert response.status_code == 503 and response.headers["retry-after"].isdigit()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 503 and "nothing was changed" in response.json()["detail"]
