"""The "scope check" mark: a report whose citizen went on past the scope notice (opinion, criticism of the
state or army, sectarian disagreement without violence, a blasphemy accusation) is stored with the mark, its
case carries it, and analysts see it in storage, the API, the console, the CLI and the exports.
Storage and HTTP tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import httpx
from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from stix2validator import ValidationOptions, validate_string

from bot.dialogue.types import Link, SubmitReport
from bot.pipeline import to_records
from cyberunit.exports import COLUMNS, to_csv, to_jsonl, to_stix
from storage import migrate
from storage.queue import CaseFilter, Queue
from storage.repository import Storage, utcnow
from storage.schema import cases, reports
from tests import test_console as security
from tests.conftest import SECRET
from tests.test_api import API, add_report, auth
from tests.test_cli import env_for
from tests.test_console import Signed
from tests.test_console_pages import lane
from tests.test_queue_cli import create_token, raabta
from tests.test_stix import case as stix_case
from tests.test_stix import indicators
from tests.test_webchat import CODE, WebChat

app, signed, tokens = security.app, security.signed, security.tokens  # the console tests' fixtures

HELP = "told Raabta is for violence, recruitment, financing, threats and weapons, and that accusing"


async def case_row(storage: Storage, url: str) -> dict[str, object]:
    async with storage.reader.connect() as conn:
        row = (await conn.execute(select(cases).where(cases.c.canonical_url == url))).one()
    return dict(row._mapping)


async def hold(storage: Storage, url: str, who: str = "ayesha") -> int:
    """Claim (assign) the case of `url` for `who`; its id."""
    case_id = int(str((await case_row(storage, url))["id"]))
    await Queue(storage).assign(case_id, who, "boss")
    return case_id


# --- the dialogue's effect becomes the stored record -------------------------------------------------


def test_the_pipeline_maps_the_mark_into_the_report_record() -> None:
    link = Link("https://facebook.com/p", "https://facebook.com/p", "facebook")
    effect = SubmitReport("K7QM-2XD9", "hate_speech", "", False, "en", (link,), (), scope_check=True)
    assert to_records(effect, "r1", "webchat").scope_check is True
    plain = SubmitReport("K7QM-2XDA", "hate_speech", "", False, "en", (link,), ())
    assert to_records(plain, "r1", "webchat").scope_check is False


async def test_a_report_past_the_scope_notice_is_stored_with_the_mark(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat = WebChat(client)
    await chat.send("/start")
    await chat.send(choice="lang:en")
    await chat.send("I want to report a PTI page that criticises the army")
    assert "scope:continue" in chat.buttons, chat.said
    await chat.send(choice="scope:continue")
    if "cat:hate_speech" not in chat.buttons:
        await chat.send("https://facebook.com/critic.page")
    await chat.press("cat:hate_speech")
    await chat.press("confirm:submit")  # the summary comes straight after the kind of content
    match = CODE.search(chat.said)
    assert match, chat.said
    case = await storage.reports.case_of(match.group(1))
    assert case is not None and case["scope_check"] is True
    async with storage.reader.connect() as conn:
        assert await conn.scalar(select(reports.c.scope_check).where(reports.c.code == match.group(1)))


# --- storage ---------------------------------------------------------------------------------------


async def test_a_case_carries_the_mark_when_any_of_its_reports_does(storage: Storage) -> None:
    url = "https://facebook.com/opinion.page"
    await add_report(storage, url)
    assert (await case_row(storage, url))["scope_check"] is False
    marked = await add_report(storage, url, scope_check=True)
    await add_report(storage, url)  # a later plain report does not clear it
    assert (await case_row(storage, url))["scope_check"] is True
    await add_report(storage, "https://facebook.com/first.marked", scope_check=True)  # a new case, marked
    assert (await case_row(storage, "https://facebook.com/first.marked"))["scope_check"] is True

    queue = Queue(storage)
    case_id = await hold(storage, url)
    detail = await queue.get_case(case_id)
    assert detail["scope_check"] is True
    assert [r["scope_check"] for r in detail["reports"]] == [False, True, False]
    assert [r["code"] for r in detail["reports"] if r["scope_check"]] == [marked]
    received = [h for h in detail["history"] if h["action"] == "report.received"]
    assert [h["detail"].get("scope_check") for h in received] == [None, True, None]

    # A decision does not clear it (unlike urgency: it says what the reports are, not what is pending).
    await queue.decide(case_id, "ayesha", "monitoring", "watching", reason="kept_under_watch")
    assert (await case_row(storage, url))["scope_check"] is True


async def test_the_mark_follows_reports_onto_the_case_they_are_merged_into(storage: Storage) -> None:
    await add_report(storage, "https://facebook.com/mirror", scope_check=True)
    await add_report(storage, "https://facebook.com/original")
    source = await hold(storage, "https://facebook.com/mirror")
    target = int(str((await case_row(storage, "https://facebook.com/original"))["id"]))
    await Queue(storage).decide(source, "ayesha", "merged", "same page", merge_into=target)
    assert (await case_row(storage, "https://facebook.com/original"))["scope_check"] is True


async def test_the_case_list_filters_on_the_mark(storage: Storage) -> None:
    await add_report(storage, "https://facebook.com/a", scope_check=True)
    await add_report(storage, "https://facebook.com/b")
    queue = Queue(storage)

    async def urls(flag: bool | None) -> set[str]:
        page = await queue.list_cases(CaseFilter(scope_check=flag))
        return {str(c["canonical_url"]) for c in page.items}

    assert await urls(True) == {"https://facebook.com/a"}
    assert await urls(False) == {"https://facebook.com/b"}
    assert await urls(None) == {"https://facebook.com/a", "https://facebook.com/b"}


async def test_migration_0012_adds_the_mark_unset_and_goes_back(db_url: str) -> None:
    store = Storage(db_url, SECRET.encode())
    try:
        await migrate.upgrade(store.writer, "0011")
        now = utcnow()
        async with store.writer.begin() as conn:
            # Only the columns revision 0011 has (the mark has no Python-side default, so it is left out).
            case_id = await conn.scalar(
                insert(cases)
                .values(
                    canonical_url="https://t.me/old",
                    platform="telegram",
                    status="new",
                    urgent=False,
                    priority=1.0,
                    categories=["other"],
                    report_count=1,
                    reporter_count=1,
                    first_seen=now,
                    last_seen=now,
                    updated_at=now,
                )
                .returning(cases.c.id)
            )
            await conn.execute(
                insert(reports).values(
                    code="OLD0-0001",
                    case_id=case_id,
                    channel="webchat",
                    language="en",
                    category="other",
                    description="old",
                    urgent=False,
                    created_at=now,
                )
            )
        await store.upgrade()
        assert await store.is_current()
        row = await case_row(store, "https://t.me/old")
        assert row["scope_check"] is False
        async with store.reader.connect() as conn:
            assert await conn.scalar(select(reports.c.scope_check)) is False

        def down(connection: Connection) -> None:
            command.downgrade(migrate.alembic_config(connection, store.audit_key), "0011")

        async with store.writer.begin() as conn:
            await conn.run_sync(down)
        assert await migrate.current_revision(store.writer) == "0011"
        await store.upgrade()
        assert await store.is_current()
    finally:
        await store.close()


# --- API -------------------------------------------------------------------------------------------


async def test_the_api_shows_and_filters_the_mark(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],
) -> None:
    await add_report(storage, "https://t.me/marked", scope_check=True)
    await add_report(storage, "https://t.me/plain")
    analyst = auth(tokens["analyst"])
    listed = (await client.get(API + "/cases", headers=analyst)).json()["items"]
    assert {c["canonical_url"]: c["scope_check"] for c in listed} == {
        "https://t.me/marked": True,
        "https://t.me/plain": False,
    }
    for value, expected in (("true", "https://t.me/marked"), ("false", "https://t.me/plain")):
        [only] = (await client.get(f"{API}/cases?scope_check={value}", headers=analyst)).json()["items"]
        assert only["canonical_url"] == expected
    refused = await client.get(API + "/cases?scope_check=maybe", headers=analyst)
    assert refused.status_code == 400 and "scope_check" in refused.json()["detail"]
    marked = next(c for c in listed if c["scope_check"])
    detail = (await client.get(f"{API}/cases/{marked['id']}", headers=analyst)).json()
    assert detail["scope_check"] is True and detail["reports"][0]["scope_check"] is True

    spec = (await client.get(API + "/openapi.json")).json()
    case_schema = spec["components"]["schemas"]["Case"]["properties"]["scope_check"]
    assert case_schema["type"] == "boolean" and "scope notice" in case_schema["description"]
    assert "scope_check" in spec["components"]["schemas"]["Report"]["properties"]
    params = {p["name"]: p for p in spec["paths"][API + "/cases"]["get"]["parameters"]}
    assert params["scope_check"]["schema"] == {"type": "boolean"}


# --- console ---------------------------------------------------------------------------------------


async def test_the_console_shows_a_scope_check_badge_with_what_it_means(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    await add_report(storage, "https://facebook.com/marked", scope_check=True)
    await add_report(storage, "https://facebook.com/plain")
    marked = int(str((await case_row(storage, "https://facebook.com/marked"))["id"]))
    plain = int(str((await case_row(storage, "https://facebook.com/plain"))["id"]))
    analyst = signed["analyst"]
    page = (await analyst.get("/console/queue")).text
    row = re.search(rf'data-case-id="{marked}".*?</tr>', page, re.S)
    other = re.search(rf'data-case-id="{plain}".*?</tr>', page, re.S)
    assert row and other
    assert '<span class="badge scope"' in row.group(0) and ">scope check</span>" in row.group(0)
    assert HELP in html.unescape(row.group(0))  # the tooltip says what it means
    assert "badge scope" not in other.group(0)
    for query, expected in (("scope=yes", [marked]), ("scope=no", [plain])):
        assert lane((await analyst.get(f"/console/queue?{query}")).text, "all") == expected, query
    assert (await analyst.get("/console/queue?scope=maybe")).status_code == 400

    case_page = html.unescape((await analyst.get(f"/console/cases/{marked}")).text)
    assert 'class="badge scope"' in case_page and HELP in case_page
    assert "Check that this is not opinion or a blasphemy accusation." in case_page
    assert '<li class="report scope-checked">' in case_page  # the report that carries it
    assert 'class="badge scope"' not in (await analyst.get(f"/console/cases/{plain}")).text


# --- CLI -------------------------------------------------------------------------------------------


async def test_the_cli_shows_the_mark(tmp_path: Path, db_url: str, storage: Storage) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    token = await create_token(env, "ayesha", "analyst")
    await add_report(storage, "https://t.me/marked", scope_check=True)
    case_id = str((await case_row(storage, "https://t.me/marked"))["id"])
    acting = {**env, "RAABTA_TOKEN": token}
    shown = await raabta(acting, "queue", "show", case_id)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["scope_check"] is True and body["reports"][0]["scope_check"] is True
    listed = (await raabta(acting, "queue", "list")).stdout.splitlines()
    header = listed[0].split()
    assert "scope_check" in header
    assert listed[1].split()[header.index("scope_check")] == "True"


# --- exports ---------------------------------------------------------------------------------------


def assert_valid(bundle: bytes) -> None:
    result = validate_string(bundle.decode(), ValidationOptions(strict=True, interop=True))
    problems = [str(e) for e in result.errors] + [str(w) for w in result.warnings]
    assert result.is_valid and not problems, problems


def test_stix_labels_the_mark_and_says_the_decision_reason() -> None:
    rows = [
        stix_case(1, "referred", scope_check=True, reason="referred_to_platform"),
        stix_case(2, "escalated", scope_check=False, reason="passed_to_investigators"),
        stix_case(3, "no_action", shared_at="2025-03-02T09:30:00+00:00", reason="not_extremist"),
        stix_case(4, "referred"),  # decided before reasons and the mark were kept
    ]
    bundle = to_stix(rows)
    assert_valid(bundle)
    found = indicators(bundle)
    assert found[1]["labels"] == ["propaganda", "recruitment", "scope-check"]
    assert found[2]["labels"] == ["propaganda", "recruitment"]
    assert found[1]["description"].endswith(
        "referred to platform. Reason: Passed to the platform for removal."
    )
    assert found[2]["description"].endswith("escalated to investigators. Reason: Passed to investigators.")
    assert found[3]["revoked"] is True and found[3]["description"].endswith("Reason: Not extremist content.")
    assert "Reason" not in found[4]["description"] and "scope-check" not in found[4]["labels"]


def test_csv_and_json_lines_carry_the_mark() -> None:
    rows = [stix_case(1, "new", scope_check=True), stix_case(2, "new")]
    assert COLUMNS.index("scope_check") == COLUMNS.index("needs_care") + 1
    lines = [json.loads(line) for line in to_jsonl(rows).decode().splitlines()]
    assert [line["scope_check"] for line in lines] == [True, None]
    assert "scope_check" in to_csv(rows).decode("utf-8-sig").splitlines()[0]
