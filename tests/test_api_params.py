"""Query parameters and agencies, on both backends: the API refuses what it does not know (400, naming the
parameter and the values it takes) instead of ignoring it; exports, the console and the CLI read the same
filters through cyberunit.params."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import stix2
from sqlalchemy import update

from bot.app import create_app
from bot.shared.config import ConfigError, Settings, agency_names, load_settings
from cyberunit import params
from storage.refusal import Invalid
from storage.repository import Storage
from storage.schema import cases
from tests.test_api import API, add_report, auth, tokens  # noqa: F401 - tokens is a fixture
from tests.test_console import sign_in

PLATFORM_LIST = "facebook, telegram, youtube, x, instagram, tiktok, whatsapp, web, unknown"


async def report(
    storage: Storage,
    url: str | None,
    platform: str = "facebook",
    category: str = "recruitment",
    urgent: bool = False,
    description: str = "seen",
    language: str = "en",
) -> None:
    """A report on `url` (none: on its description) through `add_report` (tests/test_api.py)."""
    await add_report(
        storage, url, category, urgent=urgent, language=language, description=description, platform=platform
    )


async def urls(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(str(c["canonical_url"]) for c in response.json()["items"])


def refused(response: httpx.Response, *said: str) -> str:
    """The response is a 400 problem whose detail says each of `said`; the detail."""
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    detail = str(response.json()["detail"])
    for words in said:
        assert words in detail, (words, detail)
    return detail


async def test_unknown_parameters_are_refused_by_name_on_every_get_route(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    await report(storage, "https://facebook.com/one")
    analyst = auth(tokens["analyst"])
    everything = await client.get(API + "/cases", headers=analyst)
    assert len(everything.json()["items"]) == 1
    # `code` filters nothing: before, it was ignored and every case came back
    detail = refused(
        await client.get(API + "/cases", params={"code": "K7QM-2XD9"}, headers=analyst),
        "unknown parameter code",
    )
    assert "status" in detail and "platform" in detail  # what it does take
    for path, role in (
        ("/cases/1", "analyst"),
        ("/stats", "analyst"),
        ("/export?format=csv", "analyst"),
        ("/audit", "supervisor"),
        ("/blocks", "admin"),
        ("/support-requests", "counsellor"),
    ):
        joiner = "&" if "?" in path else "?"
        answer = await client.get(f"{API}{path}{joiner}colour=red", headers=auth(tokens[role]))
        refused(answer, "unknown parameter colour")
    refused(await client.get(API + "/cases?status=new&status=referred", headers=analyst), "status", "once")
    # an empty value is a parameter not given, as before
    assert len((await client.get(API + "/cases?platform=&status=", headers=analyst)).json()["items"]) == 1


async def test_enum_values_are_checked_and_named_values_fold_case(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    await report(storage, "https://facebook.com/page", category="propaganda", language="ur-Latn")
    await report(storage, "https://t.me/channel", platform="telegram", urgent=True)
    analyst = auth(tokens["analyst"])
    cases_at = API + "/cases"
    assert await urls(await client.get(cases_at, params={"platform": "FaceBook"}, headers=analyst)) == [
        "https://facebook.com/page"
    ]
    refused(
        await client.get(cases_at, params={"platform": "myspace"}, headers=analyst),
        "platform must be one of",
        PLATFORM_LIST,
        "'myspace'",
    )
    assert await urls(await client.get(cases_at, params={"status": "NEW,in_review"}, headers=analyst)) == [
        "https://facebook.com/page",
        "https://t.me/channel",
    ]
    refused(
        await client.get(cases_at, params={"status": "new,gone"}, headers=analyst),
        "status must be one of new, in_review, referred",
        "'gone'",
    )
    assert await urls(await client.get(cases_at, params={"category": "Propaganda"}, headers=analyst)) == [
        "https://facebook.com/page"
    ]
    refused(
        await client.get(cases_at, params={"category": "blasphemy"}, headers=analyst),
        "category must be one of violent_threat",
    )
    assert await urls(await client.get(cases_at, params={"language": "UR-LATN"}, headers=analyst)) == [
        "https://facebook.com/page"
    ]
    assert await urls(await client.get(cases_at, params={"urgent": "true"}, headers=analyst)) == [
        "https://t.me/channel"
    ]
    for name, value, said in (
        ("sort", "id", "sort must be one of priority, last_seen, first_seen, report_count"),
        ("order", "up", "order must be one of asc, desc"),
        ("language", "fr", "language must be one of en, ur, ur-Latn"),
        ("urgent", "maybe", "urgent must be true or false"),
        ("limit", "0", "limit must be between 1 and 200"),
        ("limit", "ten", "limit must be a whole number"),
        ("min_priority", "nan", "min_priority must be a number"),
        ("since", "yesterday", "since must be an ISO 8601"),
        ("from", "2024-13-01", "from must be a date"),
    ):
        refused(await client.get(cases_at, params={name: value}, headers=analyst), said)
    refused(
        await client.get(cases_at, params={"since": "2024-01-01", "from": "2024-01-01"}, headers=analyst),
        "since or from",
    )
    supervisor = auth(tokens["supervisor"])
    refused(await client.get(API + "/audit?limit=501", headers=supervisor), "limit must be between 1 and 500")
    refused(await client.get(API + "/export?format=XLS", headers=analyst), "format must be one of csv, json")
    refused(await client.get(API + "/export", headers=analyst), "format is required")


def test_from_and_to_are_whole_days_in_pakistan() -> None:
    read = params.read(params.LIST_PARAMS, [("from", "2024-03-02"), ("to", "2024-03-02")])
    assert read["since"] == datetime(2024, 3, 1, 19, 0, tzinfo=UTC)  # midnight in Karachi (UTC+5)
    assert read["until"] == datetime(2024, 3, 2, 19, 0, tzinfo=UTC)  # the day is included
    naive = params.read(params.LIST_PARAMS, [("since", "2024-03-02T10:00")])
    assert naive["since"] == datetime(2024, 3, 2, 5, 0, tzinfo=UTC)  # a time without an offset: Karachi's
    assert params.read(params.LIST_PARAMS, [("platform", "TikTok")]) == {"platform": "tiktok"}
    with pytest.raises(Invalid, match="to must be a date"):
        params.read(params.LIST_PARAMS, [("to", "9999-12-31")])  # the day after is past any calendar


async def test_exports_honour_status_dates_platform_and_category(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    await report(storage, "https://facebook.com/یہ.پیج", category="propaganda", description="نفرت")
    await report(storage, "https://t.me/recruits", platform="telegram")
    await report(storage, "https://t.me/old_news", platform="telegram", category="propaganda")
    analyst = auth(tokens["analyst"])
    # the old one was seen only late on 1 March UTC: 2 March in Karachi
    late = datetime(2024, 3, 1, 20, 0, tzinfo=UTC)
    async with storage.writer.begin() as conn:
        await conn.execute(
            update(cases)
            .where(cases.c.canonical_url == "https://t.me/old_news")
            .values(first_seen=late, last_seen=late)
        )
    claimed = await client.post(API + "/queue/claim", headers=analyst, json={"limit": 3})
    [recruits] = [c for c in claimed.json()["items"] if c["canonical_url"] == "https://t.me/recruits"]
    done = await client.post(
        f"{API}/cases/{recruits['id']}/decision",
        headers=analyst,
        json={"status": "referred", "note": "recruiting", "agency": "Telegram"},
    )
    assert done.status_code == 200, done.text

    async def exported(**query: str) -> list[str]:
        answer = await client.get(API + "/export", params={"format": "json", **query}, headers=analyst)
        assert answer.status_code == 200, answer.text
        return sorted(json.loads(line)["canonical_url"] for line in answer.text.splitlines())

    assert len(await exported()) == 3
    assert await exported(status="referred") == ["https://t.me/recruits"]
    assert await exported(platform="Telegram") == ["https://t.me/old_news", "https://t.me/recruits"]
    assert await exported(category="propaganda", platform="telegram") == ["https://t.me/old_news"]
    assert await exported(**{"from": "2024-03-02", "to": "2024-03-02"}) == ["https://t.me/old_news"]
    assert await exported(**{"from": "2024-03-03", "to": "2024-03-31"}) == []
    assert await exported(to="2024-03-01") == []
    refused(await client.get(API + "/export?format=csv&platform=myspace", headers=analyst), PLATFORM_LIST)
    # CSV for Excel: the BOM first, so Urdu shows as Urdu; filters apply to it as to the rest
    raw = (
        await client.get(API + "/export?format=csv&category=propaganda&platform=facebook", headers=analyst)
    ).content
    assert raw.startswith(b"\xef\xbb\xbf")
    [row] = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert row["canonical_url"] == "https://facebook.com/یہ.پیج"
    stix = await client.get(API + "/export?format=stix&platform=facebook", headers=analyst)
    assert [o for o in stix2.parse(stix.text).objects if o.type == "indicator"] == []
    shared = await client.get(API + "/export?format=stix&platform=telegram&status=referred", headers=analyst)
    [indicator] = [o for o in stix2.parse(shared.text).objects if o.type == "indicator"]
    assert "t.me/recruits" in indicator.pattern and "referred to Telegram" in indicator.description


def test_agencies_are_a_configured_list() -> None:
    default = agency_names(load_settings())
    assert {"PTA", "NCCIA", "CTD Punjab", "CTD Sindh", "CTD KP", "CTD Balochistan"} <= set(default)
    assert {"Meta", "Telegram", "YouTube", "TikTok", "X", "platform"} <= set(default)
    assert not any(name.startswith("FIA") for name in default)  # NCCIA took over its cyber crime wing
    assert agency_names(load_settings(agencies=" PTA , CTD Punjab,,Meta ")) == ("PTA", "CTD Punjab", "Meta")
    for bad in ("", " , ", "PTA,pta", "<b>", "x" * 33):
        with pytest.raises(ConfigError, match="RAABTA_AGENCIES"):
            load_settings(agencies=bad)
    assert params.agency("pta", ("PTA", "NCCIA")) == "PTA"
    assert params.agency(None, ("PTA",)) is None
    with pytest.raises(Invalid, match="agency must be one of PTA, NCCIA"):
        params.agency("Interpol", ("PTA", "NCCIA"))


@pytest.fixture
async def local_agencies(settings: Settings, storage: Storage) -> httpx.AsyncClient:
    configured = settings.model_copy(update={"agencies": "PTA,NCCIA,CTD Punjab"})
    app = create_app(configured, storage)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_an_agency_is_one_of_the_configured_ones(
    local_agencies: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    client = local_agencies
    await report(storage, "https://t.me/to_refer", platform="telegram")
    analyst = auth(tokens["analyst"])
    [held] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    decide = f"{API}/cases/{held['id']}/decision"
    for agency in ("Interpol", "platform", "anyone"):
        body = {"status": "referred", "note": "refer", "agency": agency}
        refused(
            await client.post(decide, headers=analyst, json=body),
            "agency must be one of PTA, NCCIA, CTD Punjab",
            repr(agency),
        )
    body = {"status": "referred", "note": "refer", "agency": "ctd punjab"}
    done = await client.post(decide, headers=analyst, json=body)
    assert done.status_code == 200, done.text
    assert done.json()["case"]["agency"] == "CTD Punjab"  # the configured spelling, spaces and all
    spec = (await client.get(API + "/openapi.json")).json()
    field: Any = spec["components"]["schemas"]["Decision"]["properties"]["agency"]
    assert [s.get("enum") for s in field["anyOf"] if "enum" in s] == [["PTA", "NCCIA", "CTD Punjab"]]
    await client.aclose()


async def test_the_console_folds_case_explains_unknown_filters_and_exports_what_is_shown(
    settings: Settings,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    await report(storage, "https://facebook.com/page", category="propaganda")
    await report(storage, "https://t.me/channel", platform="telegram", category="propaganda")
    await report(storage, "https://t.me/other", platform="telegram", category="financing")
    analyst = await sign_in(create_app(settings, storage), tokens["analyst"])
    try:
        page = await analyst.get("/console/queue?platform=Telegram&category=PROPAGANDA")
        assert page.status_code == 200
        assert '<option value="telegram" selected>' in page.text
        assert "https://t.me/channel" in page.text and "https://t.me/other" not in page.text
        link = "/console/export?format=csv&amp;status=open&amp;category=propaganda&amp;platform=telegram"
        assert link in page.text and "Export these" in page.text
        export = await analyst.get(link.replace("&amp;", "&"))
        assert export.status_code == 200 and export.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
        assert [r["canonical_url"] for r in rows] == ["https://t.me/channel"]
        everything = await analyst.get("/console/export?format=json")  # the overview's link: every case
        assert len(everything.text.splitlines()) == 3

        unknown = await analyst.get("/console/queue?platform=myspace&category=propaganda")
        assert unknown.status_code == 400
        assert "Filters and sort" in unknown.text  # the queue itself, not a bare error page
        assert "Unknown platform “myspace”" in unknown.text and "facebook, telegram" in unknown.text
        # the other filters still apply; the unknown one is left out, and said so
        assert "https://facebook.com/page" in unknown.text and "https://t.me/other" not in unknown.text
        assert (await analyst.get("/console/export?format=csv&platform=myspace")).status_code == 400
    finally:
        await analyst.aclose()
