"""The partner feed (TAXII 2.1 under /taxii2/), on both backends, pulled by the OASIS client `taxii2-client`
from the app served by uvicorn: discovery, the API root, the collection of referred and escalated cases,
paging with `limit`/`next` and `added_after`, a revocation after `no_action`, partner tokens only; every
object served passes the OASIS validator (--strict --interop) and says nothing about who reported."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
import requests
from sqlalchemy import select
from stix2validator import ValidationOptions, validate_string
from taxii2client.common import TokenAuth
from taxii2client.v21 import Collection, Server, as_pages

from bot.app import create_app
from bot.shared.config import Settings
from cyberunit import taxii
from cyberunit.exports import DECIDED as WITHDRAWN
from cyberunit.exports import PRODUCER_ID, PRODUCER_SINCE, SHARED, stix_id
from storage import lifecycle
from storage.queue import Queue
from storage.repository import Storage
from storage.schema import audit_events, reports
from storage.tokens import Tokens
from tests.browser import serve
from tests.test_api import add_report

TAXII = "application/taxii+json;version=2.1"
ROOT = "/taxii2/raabta/"
T = TypeVar("T")


@dataclass
class Feed:
    """The app under uvicorn, a partner's and an analyst's token, and the storage behind it."""

    base: str
    partner: str
    analyst: str
    storage: Storage

    def server(self, password: str | None = None) -> Server:
        # Any user name: the token is the password (taxii2-client sends HTTP Basic).
        return Server(f"{self.base}/taxii2/", user="nccia-feed", password=password or self.partner)

    def collection(self) -> Collection:
        return self.server().default.collections[0]

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Accept": TAXII}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(base_url=self.base, headers=headers, timeout=30)


@pytest.fixture
async def feed(settings: Settings, storage: Storage) -> AsyncIterator[Feed]:
    tokens = Tokens(storage)
    partner = await tokens.create("nccia-feed", "partner")
    analyst = await tokens.create("analyst", "analyst")
    async with serve(create_app(settings, storage)) as base:
        yield Feed(base, partner, analyst, storage)


async def off_loop(work: Callable[[], T]) -> T:
    """taxii2-client is synchronous (requests): it runs in a thread while uvicorn serves on this loop."""
    return await asyncio.to_thread(work)


async def case_id(storage: Storage, code: str) -> int:
    found = await storage.case_of(code)
    assert found is not None
    return int(found["id"])


async def decide(storage: Storage, case: int, status: str, **kwargs: Any) -> None:
    """Claim the case as an analyst and decide it, as the API and console do."""
    queue = Queue(storage)
    await queue.claim_case(case, "analyst")
    await queue.decide(case, "analyst", status, f"decided {status}", **kwargs)


async def shared_case(storage: Storage, url: str, status: str = "referred", **kwargs: Any) -> int:
    code = await add_report(storage, url, "recruitment", description=f"private words {uuid.uuid4().hex}")
    case = await case_id(storage, code)
    agency = {"referred": "platform", "escalated": "NCCIA"}.get(status)
    await decide(storage, case, status, agency=agency, **kwargs)
    return case


def assert_valid(objects: list[dict[str, Any]]) -> None:
    """Each object, as served, passes the OASIS validator with --strict --interop."""
    assert objects
    for obj in objects:
        result = validate_string(json.dumps(obj), ValidationOptions(strict=True, interop=True))
        problems = [str(e) for e in result.errors] + [str(w) for w in result.warnings]
        assert result.is_valid and not problems, (obj["id"], problems)


def indicator_of(objects: list[dict[str, Any]], case: int) -> dict[str, Any]:
    [found] = [
        o for o in objects if o["type"] == "indicator" and o["name"].startswith(f"Raabta case {case}:")
    ]
    return found


async def decided_at(storage: Storage, case: int) -> list[datetime]:
    """The audit log's times of the case's decisions, oldest first."""
    async with storage.db.read() as conn:
        rows = await conn.scalars(
            select(audit_events.c.at)
            .where(audit_events.c.action == "case.decided", audit_events.c.subject == f"case:{case}")
            .order_by(audit_events.c.id)
        )
        return [t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC) for t in rows]


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- taxii2-client: discovery, the API root, the collection --------------------------------------------


async def test_discovery_api_root_and_collection_through_taxii2_client(feed: Feed) -> None:
    def look() -> dict[str, Any]:
        server = feed.server()
        root = server.default
        [collection] = root.collections
        return {
            "title": server.title,
            "roots": [r.url for r in server.api_roots],
            "default": root.url,
            "root_title": root.title,
            "versions": root.versions,
            "max_content_length": root.max_content_length,
            "collection": collection._raw,
        }

    seen = await off_loop(look)
    assert seen["roots"] == [f"{feed.base}{ROOT}"] and seen["default"] == f"{feed.base}{ROOT}"
    assert seen["title"] and seen["root_title"]
    assert seen["versions"] == [TAXII] and seen["max_content_length"] > 0
    collection = seen["collection"]
    assert collection["id"] == taxii.COLLECTION_ID and str(uuid.UUID(collection["id"])) == collection["id"]
    assert uuid.UUID(collection["id"]).version == 4
    assert collection["can_read"] is True and collection["can_write"] is False
    assert collection["media_types"] == ["application/stix+json;version=2.1"]
    # The same collection by its alias, and by id from a Collection made directly.
    async with feed.http(feed.partner) as http:
        by_alias = await http.get(f"{ROOT}collections/{collection['alias']}/")
    assert by_alias.status_code == 200 and by_alias.json() == collection
    direct = await off_loop(
        lambda: (
            Collection(
                f"{feed.base}{ROOT}collections/{taxii.COLLECTION_ID}/", user="x", password=feed.partner
            ).title
        )
    )
    assert direct == collection["title"]


async def test_an_empty_feed_holds_the_producer_identity_only(feed: Feed) -> None:
    envelope = await off_loop(lambda: feed.collection().get_objects())
    assert [o["id"] for o in envelope["objects"]] == [PRODUCER_ID]
    assert envelope.get("more", False) is False
    assert_valid(envelope["objects"])


# --- what the collection holds -------------------------------------------------------------------------


async def test_referred_and_escalated_cases_appear_with_paging_and_nothing_about_reporters(
    feed: Feed,
) -> None:
    storage = feed.storage
    referred = await shared_case(storage, "https://t.me/recruiter_one", reason="referred_to_platform")
    escalated = await shared_case(storage, "https://www.facebook.com/bad.page", "escalated")
    third = await shared_case(storage, "https://www.youtube.com/@channel3")
    watched = await shared_case(storage, "https://t.me/watched_only", "monitoring")
    nothing = await shared_case(storage, "https://t.me/harmless", "no_action", reason="not_extremist")
    screenshot = await add_report(storage, None, "propaganda", description="a screenshot, no link")
    unlinked = await case_id(storage, screenshot)
    await decide(storage, unlinked, "referred", agency="PTA")

    pages = await off_loop(lambda: list(as_pages(feed.collection().get_objects, per_request=2)))
    assert [len(p["objects"]) for p in pages] == [2, 2]  # limit 2, `more` and `next` to the second page
    assert pages[0]["more"] is True and pages[0]["next"] and pages[-1]["more"] is False
    objects = [o for p in pages for o in p["objects"]]
    assert objects[0]["id"] == PRODUCER_ID
    indicators = [o for o in objects if o["type"] == "indicator"]
    assert len(indicators) == 3
    for case in (referred, escalated, third):
        found = indicator_of(indicators, case)
        assert found["id"] == stix_id("indicator", case, "indicator")  # the export's id for the case
        assert "revoked" not in found and found["indicator_types"] == ["malicious-activity"]
    assert indicator_of(indicators, referred)["pattern"] == "[url:value = 'https://t.me/recruiter_one']"
    assert indicator_of(indicators, escalated)["confidence"] == 85
    assert not any(f"Raabta case {c}:" in o["name"] for o in indicators for c in (watched, nothing, unlinked))
    assert_valid(objects)

    # Sorted by date added, which is the audit log's time of the decision that put the case in.
    manifest = await off_loop(lambda: feed.collection().get_manifest())
    added = [r["date_added"] for r in manifest["objects"]]
    assert added == sorted(added) and len(set(added)) == len(added)
    assert added[0] == stamp(PRODUCER_SINCE)
    record = next(r for r in manifest["objects"] if r["id"] == stix_id("indicator", referred, "indicator"))
    assert record["date_added"] == stamp((await decided_at(storage, referred))[0])
    assert record["version"] == indicator_of(indicators, referred)["modified"]
    assert record["media_type"] == "application/stix+json;version=2.1"

    # Nothing about reporters: no reference code, description, reporter, or link as the citizen sent it.
    served = json.dumps(objects, ensure_ascii=False)
    assert "private words" not in served and "screenshot" not in served
    async with storage.db.read() as conn:
        rows = (await conn.execute(select(reports.c.code, reports.c.reporter_id))).all()
    assert rows and not any(r.code in served or (r.reporter_id and r.reporter_id in served) for r in rows)

    # The headers a client pages by: the first and last date added of the objects in the response.
    async with feed.http(feed.partner) as http:
        answer = await http.get(f"{ROOT}collections/{taxii.COLLECTION_ID}/objects/", params={"limit": 2})
    assert answer.headers["content-type"] == TAXII
    assert answer.headers["x-taxii-date-added-first"] == added[0]
    assert answer.headers["x-taxii-date-added-last"] == added[1]
    # Paging by `added_after` with that header, as section 3.5 allows when a client keeps no `next`.
    rest = await off_loop(
        lambda: feed.collection().get_objects(added_after=answer.headers["x-taxii-date-added-last"])
    )
    assert [o["id"] for o in rest["objects"]] == [r["id"] for r in manifest["objects"][2:]]


async def test_a_referred_case_decided_no_action_comes_back_revoked_and_a_new_referral_is_a_new_indicator(
    feed: Feed,
) -> None:
    storage = feed.storage
    url = "https://t.me/recruiter_two"
    case = await shared_case(storage, url)
    other = await shared_case(storage, "https://t.me/stays_referred")
    first = await off_loop(lambda: feed.collection().get_objects())
    before = indicator_of(first["objects"], case)
    manifest = await off_loop(lambda: feed.collection().get_manifest())
    pulled_until = manifest["objects"][-1]["date_added"]

    # The path in this codebase: a new report reopens the referred case (docs/cases.md), an analyst claims
    # it and closes it with no action.
    await add_report(storage, url, "recruitment")
    assert (await Queue(storage).get_case(case))["status"] == "new"
    reopened = await off_loop(lambda: feed.collection().get_objects(added_after=pulled_until))
    assert "objects" not in reopened  # reopening decides nothing: the referral stands until a decision
    await decide(storage, case, "no_action", reason="not_extremist")

    news = await off_loop(lambda: feed.collection().get_objects(added_after=pulled_until))
    [after] = news["objects"]
    assert after["id"] == before["id"] and after["revoked"] is True and "confidence" not in after
    assert after["created"] == before["created"] and after["modified"] > before["modified"]
    assert "no action" in after["description"]
    # The stable id across requests, the version history, and the latest version by default.
    versions = await off_loop(lambda: feed.collection().object_versions(before["id"]))
    assert versions["versions"] == [before["modified"], after["modified"]]
    latest = await off_loop(lambda: feed.collection().get_object(before["id"]))
    assert latest["objects"] == [after]
    both = await off_loop(lambda: feed.collection().get_object(before["id"], version="all"))
    assert both["objects"] == [before, after]
    oldest = await off_loop(lambda: feed.collection().get_object(before["id"], version=before["modified"]))
    assert oldest["objects"] == [before]
    whole = await off_loop(lambda: feed.collection().get_objects())
    assert indicator_of(whole["objects"], case) == after
    assert indicator_of(whole["objects"], other) == indicator_of(first["objects"], other)
    assert (await decided_at(storage, case))[-1] > (await decided_at(storage, case))[0]

    # Revoking is permanent in STIX: referred again later, the case is a new indicator; the old one stays
    # revoked.
    revoked_until = (await off_loop(lambda: feed.collection().get_manifest()))["objects"][-1]["date_added"]
    await add_report(storage, url, "recruitment")
    await decide(storage, case, "referred", agency="platform")
    again = await off_loop(lambda: feed.collection().get_objects(added_after=revoked_until))
    [renewed] = again["objects"]
    assert renewed["id"] == stix_id("indicator", case, "indicator/2") != before["id"]
    assert "revoked" not in renewed and renewed["name"].startswith(f"Raabta case {case}:")
    latest = await off_loop(lambda: feed.collection().get_object(before["id"]))
    assert latest["objects"] == [after]
    assert_valid([before, after, renewed])


async def test_merged_and_monitored_after_sharing_are_revocations_too(feed: Feed) -> None:
    storage = feed.storage
    merged = await shared_case(storage, "https://t.me/dup_page")
    watched = await shared_case(storage, "https://t.me/watch_later")
    target_code = await add_report(storage, "https://t.me/the_original")
    target = await case_id(storage, target_code)
    for url in ("https://t.me/dup_page", "https://t.me/watch_later"):  # reopened: decidable again
        await add_report(storage, url)
    await decide(storage, merged, "merged", merge_into=target)
    await decide(storage, watched, "monitoring")
    envelope = await off_loop(lambda: feed.collection().get_objects())
    gone = indicator_of(envelope["objects"], merged)
    assert gone["revoked"] is True and f"case {target}" in gone["description"]
    assert indicator_of(envelope["objects"], watched)["revoked"] is True
    assert_valid(envelope["objects"])


async def test_filters_match_id_type_version_and_spec_version(feed: Feed) -> None:
    storage = feed.storage
    first = await shared_case(storage, "https://t.me/filter_one")
    await shared_case(storage, "https://t.me/filter_two")
    wanted = stix_id("indicator", first, "indicator")
    collection = await off_loop(feed.collection)
    by_id = await off_loop(lambda: collection.get_objects(id=wanted))
    assert [o["id"] for o in by_id["objects"]] == [wanted]
    by_type = await off_loop(lambda: collection.get_objects(type="identity"))
    assert [o["id"] for o in by_type["objects"]] == [PRODUCER_ID]
    both_types = await off_loop(lambda: collection.get_objects(type=["identity", "indicator"]))
    assert len(both_types["objects"]) == 3
    assert "objects" not in await off_loop(lambda: collection.get_objects(spec_version="2.0"))
    assert len((await off_loop(lambda: collection.get_objects(spec_version="2.1")))["objects"]) == 3
    assert len((await off_loop(lambda: collection.get_manifest(type="indicator")))["objects"]) == 2
    first_versions = await off_loop(lambda: collection.get_objects(version="first"))
    assert len(first_versions["objects"]) == 3


async def test_objects_and_versions_are_the_same_in_every_request_and_every_instance(
    feed: Feed, settings: Settings
) -> None:
    storage = feed.storage
    case = await shared_case(storage, "https://t.me/stable_one")
    await add_report(storage, "https://t.me/stable_one")
    await decide(storage, case, "no_action", reason="already_removed")
    await shared_case(storage, "https://t.me/stable_two", "escalated")
    pulled = await off_loop(lambda: feed.collection().get_objects(version="all"))
    again = await off_loop(lambda: feed.collection().get_objects(version="all"))
    assert pulled == again
    # Another app instance (its own memory of the feed) on the same database serves the same bytes.
    other = create_app(settings, storage)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other),
        base_url="http://other",
        headers={"Accept": TAXII, "Authorization": f"Bearer {feed.partner}"},
    ) as http:
        path = f"{ROOT}collections/{taxii.COLLECTION_ID}/"
        there = await http.get(f"{path}objects/", params={"match[version]": "all"})
        manifest = await http.get(f"{path}manifest/", params={"match[version]": "all"})
    assert there.json() == pulled
    here = await off_loop(lambda: feed.collection().get_manifest(version="all"))
    assert manifest.json() == here


# --- date added: the order partners pull in ------------------------------------------------------------


def decision(event: int, at: datetime, case: int, status: str) -> taxii.Decision:
    return taxii.Decision(event, at, case, status, "platform" if status == "referred" else None, None, None)


def test_date_added_only_grows_even_when_a_later_decision_carries_an_earlier_clock() -> None:
    """Audit events are appended in commit order, but each is stamped with its transaction's clock: a
    decision committed after another can carry an earlier time. A partner who pulled up to the first must
    still get the second, so a version's date added is its decision's time or just after the last one."""
    history = taxii.History()
    noon = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    first = history.take(decision(10, noon, 1, "referred"), linked=True)
    second = history.take(decision(11, noon - timedelta(milliseconds=3), 2, "referred"), linked=True)
    third = history.take(decision(12, noon, 3, "escalated"), linked=True)
    assert first is not None and second is not None and third is not None
    assert first.added == noon
    assert second.added == noon + timedelta(microseconds=1) and third.added == noon + timedelta(
        microseconds=2
    )
    assert second.modified == noon - timedelta(milliseconds=3)  # the STIX version keeps the decision's time
    assert [v.added for v in history.versions] == sorted(v.added for v in history.versions)


def test_every_decision_either_shares_a_case_or_withdraws_it() -> None:
    """The feed reads a decision as sending a case out or taking it back: a new kind of decision must say
    which before it can reach partners."""
    assert set(lifecycle.DECISIONS) == set(SHARED) | set(WITHDRAWN)


def test_only_decisions_that_share_or_withdraw_a_shared_case_add_versions() -> None:
    history = taxii.History()
    t = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert history.take(decision(1, t, 1, "no_action"), linked=True) is None  # never shared
    assert history.take(decision(2, t, 2, "monitoring"), linked=True) is None
    assert history.take(decision(3, t, 3, "referred"), linked=False) is None  # no link: no indicator
    shared = history.take(decision(4, t, 4, "referred"), linked=True)
    again = history.take(decision(5, t + timedelta(hours=1), 4, "escalated"), linked=True)
    withdrawn = history.take(decision(6, t + timedelta(hours=2), 4, "monitoring"), linked=True)
    assert history.take(decision(7, t + timedelta(hours=3), 4, "no_action"), linked=True) is None
    renewed = history.take(decision(8, t + timedelta(hours=4), 4, "referred"), linked=True)
    assert shared is not None and again is not None and withdrawn is not None and renewed is not None
    assert shared.object_id == again.object_id == withdrawn.object_id == stix_id("indicator", 4, "indicator")
    assert not again.revoked and withdrawn.revoked
    assert shared.since == again.since == withdrawn.since == t
    assert renewed.object_id == stix_id("indicator", 4, "indicator/2") and renewed.since == renewed.modified


# --- partner tokens, and only partner tokens ------------------------------------------------------------


async def test_wrong_or_missing_credentials_are_401_with_a_challenge(feed: Feed, storage: Storage) -> None:
    def refused(password: str) -> requests.Response:
        with pytest.raises(requests.HTTPError) as caught:
            _ = feed.server(password).title
        assert caught.value.response is not None
        return caught.value.response

    wrong = await off_loop(lambda: refused("rbt_not-a-token"))
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == TAXII
    assert wrong.json()["http_status"] == "401" and wrong.json()["title"]
    assert "Basic" in wrong.headers["www-authenticate"] and "Bearer" in wrong.headers["www-authenticate"]
    await Tokens(storage).revoke("nccia-feed")
    revoked = await off_loop(lambda: refused(feed.partner))
    assert revoked.status_code == 401
    async with feed.http() as http:
        for path in ("/taxii2/", ROOT, f"{ROOT}collections/", f"{ROOT}nowhere/"):
            bare = await http.get(path)
            assert bare.status_code == 401 and "www-authenticate" in bare.headers, path
        garbled = await http.get("/taxii2/", headers={"Authorization": "Basic !!not base64!!"})
        assert garbled.status_code == 401


async def test_bearer_and_token_schemes_work_as_well_as_basic(feed: Feed) -> None:
    class Bearer(requests.auth.AuthBase):
        def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
            request.headers["Authorization"] = f"Bearer {feed.partner}"
            return request

    for auth in (Bearer(), TokenAuth(feed.partner)):
        title = await off_loop(lambda auth=auth: Server(f"{feed.base}/taxii2/", auth=auth).title)  # type: ignore[misc]
        assert title
    encoded = base64.b64encode(f":{feed.partner}".encode()).decode()  # an empty user name is fine too
    async with feed.http() as http:
        assert (await http.get("/taxii2/", headers={"Authorization": f"Basic {encoded}"})).status_code == 200


async def test_an_analyst_token_is_refused_by_the_feed(feed: Feed) -> None:
    """Analysts read every case in full through the API and `raabta export --format stix` (the same
    objects); the feed is the partners' door, so each token opens one door and a leaked partner token
    reads only what partners were given, and an analyst's token is not a partner's."""
    with pytest.raises(requests.HTTPError) as caught:
        await off_loop(lambda: feed.server(feed.analyst).title)
    assert caught.value.response is not None and caught.value.response.status_code == 403
    async with feed.http(feed.analyst) as http:
        refused = await http.get(f"{ROOT}collections/{taxii.COLLECTION_ID}/objects/")
    assert refused.status_code == 403 and refused.headers["content-type"] == TAXII


async def test_a_partner_token_opens_neither_the_api_nor_the_console(feed: Feed) -> None:
    async with httpx.AsyncClient(base_url=feed.base, timeout=30) as http:
        for path in ("/api/v1/cases", "/api/v1/export?format=stix", "/api/v1/stats"):
            answer = await http.get(path, headers={"Authorization": f"Bearer {feed.partner}"})
            assert answer.status_code == 403, path
        form = await http.get("/console/login")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        signed = await http.post(
            "/console/login",
            data={"token": feed.partner, "csrf": csrf},
            headers={"Origin": feed.base, "Sec-Fetch-Site": "same-origin"},
        )
    assert signed.status_code == 403 and "/taxii2/" in signed.text
    assert "raabta_console=" not in signed.headers.get("set-cookie", "")  # no session


async def test_partner_tokens_are_made_by_the_cli_role(storage: Storage) -> None:
    token = await Tokens(storage).create("europol-feed", "partner")
    who = await Tokens(storage).verify(token)
    assert who is not None and who.role == "partner"


# --- the protocol's edges -------------------------------------------------------------------------------


async def test_accept_negotiation(feed: Feed) -> None:
    async with feed.http(feed.partner) as http:
        for accept in (TAXII, "application/taxii+json", "*/*", "application/*", f"text/html, {TAXII};q=0.5"):
            answer = await http.get("/taxii2/", headers={"Accept": accept})
            assert answer.status_code == 200, accept
            assert answer.headers["content-type"] == TAXII
        for accept in (
            "application/json",
            "application/vnd.oasis.taxii+json; version=2.0",
            "application/taxii+json;version=2.0",
            f"{TAXII};q=0, */*",
            "application/stix+json;version=2.1",
        ):
            answer = await http.get(f"{ROOT}collections/", headers={"Accept": accept})
            assert answer.status_code == 406, accept
            assert answer.json()["http_status"] == "406"


async def test_bad_parameters_are_400_and_writes_403(feed: Feed) -> None:
    objects = f"{ROOT}collections/{taxii.COLLECTION_ID}/objects/"
    async with feed.http(feed.partner) as http:
        for params in (
            {"limit": "0"},
            {"limit": "ten"},
            {"added_after": "yesterday"},
            {"added_after": "2025-03-01T08:00:00"},  # no zone
            {"next": "not-a-cursor"},
            {"match[version]": "all,last"},
            {"match[version]": "last,last"},
            {"match[version]": "newest"},
            {"match[type]": ""},
            {"colour": "red"},
        ):
            answer = await http.get(objects, params=params)
            assert answer.status_code == 400, params
            assert answer.headers["content-type"] == TAXII
        twice = await http.get(f"{objects}?added_after=2025-03-01T08:00:00Z&added_after=2025-03-02T08:00:00Z")
        assert twice.status_code == 400
        ignored = await http.get(objects, params={"match[relationship_type]": "uses", "limit": "100000"})
        assert ignored.status_code == 200  # a match field servers may ignore; a limit above ours is capped
        assert (await http.get(f"{ROOT}collections/not-ours/")).status_code == 404
        assert (await http.get(f"{objects}indicator--{uuid.uuid4()}/")).status_code == 404
        assert (await http.get(f"{ROOT}status/{uuid.uuid4()}/")).status_code == 404
        assert (
            await http.post(objects, content=b'{"objects": []}', headers={"Content-Type": TAXII})
        ).status_code == 403
        assert (await http.delete(f"{objects}{PRODUCER_ID}/")).status_code == 403
