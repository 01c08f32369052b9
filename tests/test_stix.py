"""The STIX 2.1 export partners keep: valid under the OASIS validator (--strict --interop), stable ids,
revocations, confidence from the decision; and the CSV and JSON-lines columns."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import stix2
from stix2validator import ValidationOptions, validate_string

from cyberunit.exports import COLUMNS, PRODUCER_ID, TLP_ID, to_csv, to_jsonl, to_stix
from storage.repository import Storage
from tests.test_api import API, add_report, auth, tokens  # noqa: F401 - tokens is a fixture

T0 = "2025-03-01T08:00:00+00:00"
T1 = "2025-03-02T09:30:00.250000+00:00"
T2 = "2025-03-05T12:00:00+00:00"


def case(case_id: int, status: str, **fields: Any) -> dict[str, Any]:
    shared = status in ("referred", "escalated")
    row: dict[str, Any] = {
        "id": case_id,
        "canonical_url": f"https://t.me/page{case_id}",
        "fingerprint": f"url:t.me/page{case_id}",
        "title": None,
        "platform": "telegram",
        "status": status,
        "categories": ["recruitment", "propaganda"],
        "report_count": 3,
        "reporter_count": 3,
        "priority": 55.0,
        "urgent": False,
        "needs_care": False,
        "care_reason": None,
        "agency": "platform" if status == "referred" else None,
        "merged_into": None,
        "first_seen": T0,
        "last_seen": T1,
        "decided_at": T1 if status not in ("new", "in_review") else None,
        "updated_at": T1,
        "shared_at": T1 if shared else None,
        "reported_as": [f"https://t.me/page{case_id}?utm_source=x"],
    }
    row.update(fields)
    return row


SAMPLE = [
    case(1, "referred"),
    case(2, "escalated", canonical_url="https://facebook.com/یہ.پیج", platform="facebook"),
    case(3, "monitoring"),
    case(4, "no_action", shared_at=T1, updated_at=T2),  # was shared, then withdrawn
    case(5, "merged", merged_into=1, shared_at=T1, updated_at=T2),
    case(6, "new"),
    case(7, "in_review"),
    case(8, "no_action"),  # never shared
    case(9, "merged", merged_into=1),  # never shared
    case(10, "referred", canonical_url="https://t.me/it's\\odd"),
]


def objects(bundle: bytes) -> dict[str, dict[str, Any]]:
    """The bundle's objects by id, each as parsed (key order kept)."""
    data = json.loads(bundle)
    assert data["type"] == "bundle"
    return {o["id"]: o for o in data["objects"]}


def indicators(bundle: bytes) -> dict[str, dict[str, Any]]:
    """Indicators by case id (from their name)."""
    found = {}
    for o in objects(bundle).values():
        if o["type"] == "indicator":
            found[int(o["name"].split(":")[0].removeprefix("Raabta case "))] = o
    return found


def assert_valid(bundle: bytes) -> None:
    result = validate_string(bundle.decode(), ValidationOptions(strict=True, interop=True))
    problems = [str(e) for e in result.errors] + [str(w) for w in result.warnings]
    assert result.is_valid and not problems, problems


def test_the_bundle_passes_the_oasis_validator_strict_and_interop() -> None:
    assert_valid(to_stix(SAMPLE))
    assert_valid(to_stix(SAMPLE, include_monitoring=True))
    assert_valid(to_stix([]))
    parsed = stix2.parse(to_stix(SAMPLE).decode(), allow_custom=False)
    assert all(getattr(o, "created_by_ref", None) == PRODUCER_ID for o in parsed.objects)
    assert all(o.object_marking_refs == [TLP_ID] == [stix2.TLP_AMBER.id] for o in parsed.objects)
    assert {o.type for o in parsed.objects} == {"identity", "indicator"}


def test_only_shared_cases_are_exported_and_monitoring_only_on_request() -> None:
    found = indicators(to_stix(SAMPLE))
    assert sorted(found) == [1, 2, 4, 5, 10]
    assert not any(o.get("revoked") for n, o in found.items() if n in (1, 2, 10))
    assert all(found[n]["indicator_types"] == ["malicious-activity"] for n in (1, 2, 10))
    assert found[1]["pattern"] == "[url:value = 'https://t.me/page1']"
    assert found[10]["pattern"] == "[url:value = 'https://t.me/it\\'s\\\\odd']"
    watched = indicators(to_stix(SAMPLE, include_monitoring=True))
    assert sorted(watched) == [1, 2, 3, 4, 5, 10]
    assert watched[3]["indicator_types"] == ["unknown"] and "not confirmed" in watched[3]["description"]
    assert watched[3]["created"].startswith("2025-03-02T09:30:00.25")  # decided_at: never shared


def test_links_as_citizens_sent_them_stay_out_of_stix() -> None:
    bundle = to_stix(SAMPLE)
    assert b"utm_source" not in bundle


def test_ids_and_unchanged_objects_are_the_same_in_every_export() -> None:
    first, second = objects(to_stix(SAMPLE)), objects(to_stix(list(reversed(SAMPLE))))
    assert first.keys() == second.keys()
    for object_id, obj in first.items():
        assert json.dumps(obj, ensure_ascii=False) == json.dumps(second[object_id], ensure_ascii=False)
    assert json.loads(to_stix(SAMPLE))["id"] != json.loads(to_stix(SAMPLE))["id"]  # bundles are envelopes


def test_a_shared_case_decided_no_action_comes_back_revoked_under_the_same_id() -> None:
    referred = case(4, "referred", shared_at=T1, updated_at=T1)
    withdrawn = case(4, "no_action", shared_at=T1, updated_at=T2, decided_at=T2)
    before, after = indicators(to_stix([referred]))[4], indicators(to_stix([withdrawn]))[4]
    assert before["id"] == after["id"] and not before.get("revoked")
    assert after["revoked"] is True and "confidence" not in after
    assert after["created"] == before["created"] and after["modified"] > before["modified"]
    merged = indicators(to_stix([case(4, "merged", merged_into=1, shared_at=T1, updated_at=T2)]))[4]
    assert merged["id"] == before["id"] and merged["revoked"] is True and "case 1" in merged["description"]
    # Shared, then kept under monitoring: revoked for partners who do not take monitoring cases.
    watched = case(4, "monitoring", shared_at=T1, updated_at=T2)
    assert indicators(to_stix([watched]))[4]["revoked"] is True
    assert "revoked" not in indicators(to_stix([watched], include_monitoring=True))[4]


def test_cases_never_shared_are_absent() -> None:
    never = [case(6, "new"), case(7, "in_review"), case(8, "no_action"), case(9, "merged", merged_into=1)]
    assert indicators(to_stix(never)) == {}
    assert indicators(to_stix(never, include_monitoring=True)) == {}
    assert indicators(to_stix([case(11, "referred", canonical_url=None)])) == {}  # no link, no pattern


def test_confidence_is_the_decision_not_the_crowd() -> None:
    for status, expected in (("escalated", 85), ("referred", 70)):
        few = indicators(to_stix([case(1, status, reporter_count=1, report_count=1)]))[1]
        brigade = indicators(to_stix([case(1, status, reporter_count=500, report_count=900)]))[1]
        assert few["confidence"] == brigade["confidence"] == expected
        assert json.dumps(few) == json.dumps(brigade)
    watched = indicators(to_stix([case(3, "monitoring", reporter_count=200)], include_monitoring=True))[3]
    assert watched["confidence"] == 30


def test_modified_follows_updated_at_and_created_the_sharing() -> None:
    old = indicators(to_stix([case(1, "referred")]))[1]
    new = indicators(to_stix([case(1, "referred", updated_at=T2, last_seen=T2, report_count=4)]))[1]
    assert old["id"] == new["id"] and old["created"] == new["created"]
    assert old["created"].startswith("2025-03-02T09:30:00.25") and new["modified"].startswith("2025-03-05T12")
    assert new["modified"] > old["modified"]
    early = indicators(to_stix([case(1, "referred", updated_at=T0)]))[1]  # never before created
    assert early["modified"] == early["created"]
    # shared_at missing (a row decided before it was kept): decided_at dates the object
    fallback = indicators(to_stix([case(1, "escalated", shared_at=None, decided_at=T2, updated_at=T2)]))[1]
    assert fallback["created"].startswith("2025-03-05T12") and fallback["valid_from"].startswith("2025-03-01")


def test_csv_and_json_lines_carry_title_links_as_sent_and_sharing() -> None:
    rows = [
        case(1, "referred", title="@recruiter", reported_as=['=HYPERLINK("http://evil")', "https://t.me/x"]),
        {k: v for k, v in case(2, "new").items() if k != "reported_as"},
    ]
    assert COLUMNS.index("title") == COLUMNS.index("fingerprint") + 1
    assert COLUMNS.index("reported_as") == COLUMNS.index("title") + 1
    assert COLUMNS[-2:] == ("updated_at", "shared_at")
    table = list(csv.DictReader(io.StringIO(to_csv(rows).decode("utf-8-sig"))))
    assert table[0]["title"] == "'@recruiter" and table[0]["shared_at"] == T1  # @ would run as a formula
    assert table[0]["reported_as"] == '\'=HYPERLINK("http://evil");https://t.me/x'  # never a formula
    assert table[1]["reported_as"] == "" and table[1]["shared_at"] == ""
    lines = [json.loads(line) for line in to_jsonl(rows).decode().splitlines()]
    assert list(lines[0]) == list(COLUMNS)
    assert lines[0]["reported_as"] == ['=HYPERLINK("http://evil")', "https://t.me/x"]
    assert lines[1]["reported_as"] == [] and lines[1]["updated_at"] == T1


async def test_a_referred_case_exported_through_the_api_is_valid_stix(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    await add_report(storage, "https://t.me/referred_page")
    await add_report(storage, "https://t.me/still_new")
    analyst = auth(tokens["analyst"])
    [held] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    decision = {"status": "referred", "agency": "platform", "note": "recruitment channel"}
    response = await client.post(f"{API}/cases/{held['id']}/decision", headers=analyst, json=decision)
    assert response.status_code == 200, response.text
    first = (await client.get(API + "/export?format=stix", headers=analyst)).content
    assert_valid(first)
    [indicator] = indicators(first).values()
    assert indicator["name"].startswith(f"Raabta case {held['id']}:")
    assert indicator["confidence"] == 70
    again = (await client.get(API + "/export?format=stix", headers=analyst)).content
    assert indicators(again) == indicators(first)


async def test_monitoring_cases_reach_partners_only_when_asked(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    await add_report(storage, "https://t.me/watched_channel")
    analyst = auth(tokens["analyst"])
    [held] = (await client.post(API + "/queue/claim", headers=analyst, json={})).json()["items"]
    decision = {"status": "monitoring", "note": "keep watching"}
    assert (
        await client.post(f"{API}/cases/{held['id']}/decision", headers=analyst, json=decision)
    ).is_success
    plain = (await client.get(API + "/export?format=stix", headers=analyst)).content
    assert indicators(plain) == {}
    asked = (await client.get(API + "/export?format=stix&include_monitoring=true", headers=analyst)).content
    assert_valid(asked)
    [indicator] = indicators(asked).values()
    assert indicator["indicator_types"] == ["unknown"]
    bad = await client.get(API + "/export?format=stix&include_monitoring=maybe", headers=analyst)
    assert bad.status_code == 400
