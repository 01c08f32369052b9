"""The takedown lifecycle, on both backends: notices and checks recorded (and audited), cases due for a check
coming back to the queue and leaving it once seen removed, time to removal per platform and agency, notice
templates filled from the case alone, and the console's forms and the API's routes with their refusals."""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from starlette.applications import Starlette

from bot.app import create_app
from bot.shared.config import Settings, load_settings
from cyberunit import notices as N
from cyberunit.console.takedowns import sent_when
from responses import HERE, ContentError, load, placeholders
from responses.notices import NOTICE_PARAMS, load_notices, notices
from storage.queue import CaseFilter, Queue
from storage.records import EvidenceRecord, NewReport, TurnRecord
from storage.refusal import Conflict, Invalid, NotFound
from storage.repository import Storage, utcnow
from storage.schema import cases, takedown_checks
from storage.takedowns import Takedowns
from storage.tokens import Tokens
from tests.test_api import API, auth
from tests.test_console import Signed, app, signed, tokens  # noqa: F401 - fixtures
from tests.test_openapi import conforms

DESCRIPTION = "my neighbour Bilal runs this channel, call me on 0300-1234567"
PKT = timezone(timedelta(hours=5))


async def report(
    storage: Storage, url: str | None, platform: str = "facebook", category: str = "recruitment"
) -> tuple[int, str]:
    """A citizen's report of `url`; (its case id, its reference code)."""
    code = "T" + uuid.uuid4().hex[:3].upper().replace("I", "1").replace("L", "1").replace("O", "0")
    code = (code + "-" + str(uuid.uuid4().int % 9000 + 1000)).replace("U", "V")
    evidence = (EvidenceRecord("link", url, url, platform),) if url else ()
    filed = NewReport(
        code, "reporter-" + uuid.uuid4().hex, "webchat", "en", category, DESCRIPTION, False, evidence
    )
    result = await storage.commit_turn(
        TurnRecord("test", uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], (filed,))
    )
    assert result.status.value == "ok"
    return result.case_ids[0], code


async def decided(
    storage: Storage,
    url: str,
    status: str = "referred",
    agency: str | None = "platform",
    platform: str = "facebook",
) -> int:
    """A case reported once and decided by the analyst `ayesha`."""
    case_id, _ = await report(storage, url, platform)
    queue = Queue(storage)
    await queue.claim_case(case_id, "ayesha")
    await queue.decide(case_id, "ayesha", status, "looked at it", agency)
    return case_id


async def age(storage: Storage, case_id: int, days: float) -> None:
    """Move the case's decision, notices and checks `days` into the past."""
    async with storage.db.transaction() as conn:
        row = (await conn.execute(cases.select().where(cases.c.id == case_id))).one()
        shift = timedelta(days=days)
        await conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(decided_at=row.decided_at - shift, first_seen=row.first_seen - shift - timedelta(days=1))
        )
        checks = (
            await conn.execute(takedown_checks.select().where(takedown_checks.c.case_id == case_id))
        ).all()
        for check in checks:  # in Python: SQLite keeps times as text, which SQL cannot subtract from
            await conn.execute(
                update(takedown_checks)
                .where(takedown_checks.c.id == check.id)
                .values(checked_at=check.checked_at - shift)
            )


def due_ids(items: list[dict[str, Any]]) -> list[int]:
    return [int(c["id"]) for c in items]


# --- storage -------------------------------------------------------------------------------------------


async def test_a_notice_a_still_online_check_and_a_removal_give_the_time_to_removal(storage: Storage) -> None:
    case_id = await decided(storage, "https://facebook.com/recruiters", agency="Meta")
    await age(storage, case_id, 2)
    takedowns = Takedowns(storage)
    sent = await takedowns.record_referral(
        case_id, "ayesha", "Meta", "meta", " FB-REF-991 ", utcnow() - timedelta(hours=30)
    )
    assert sent["agency"] == "Meta" and sent["reference"] == "FB-REF-991" and sent["template"] == "meta"
    still = await takedowns.record_check(case_id, "bilal", "still_online", "the page is up")
    assert still["result"] == "still_online" and still["note"] == "the page is up"
    await takedowns.record_check(case_id, "bilal", "removed")
    await takedowns.record_check(case_id, "bilal", "removed")  # a second removal does not move the clock
    history = await takedowns.of_case(case_id)
    assert [c["result"] for c in history["checks"]] == ["still_online", "removed", "removed"]
    assert history["hours_to_removal"] == pytest.approx(30, abs=0.1)
    assert history["removed_at"] == history["checks"][1]["checked_at"]

    other = await decided(storage, "https://t.me/propaganda", agency="PTA", platform="telegram")  # no notice
    await takedowns.record_check(other, "bilal", "geo_blocked")
    times = await takedowns.removal_times()
    assert times["removed"] == 1 and times["median_hours"] == pytest.approx(30, abs=0.1)
    by_platform = {f["name"]: f for f in times["by_platform"]}
    assert by_platform["facebook"]["removed"] == 1
    assert by_platform["facebook"]["median_hours"] == pytest.approx(30, abs=0.1)
    assert by_platform["telegram"] == {"name": "telegram", "removed": 0, "median_hours": None, "waiting": 1}
    by_agency = {f["name"]: f for f in times["by_agency"]}
    assert by_agency["Meta"]["removed"] == 1 and by_agency["PTA"]["waiting"] == 1

    actions = [(h["action"], h["actor"]) for h in (await Queue(storage).get_case(case_id))["history"]]
    assert ("case.referral_sent", "ayesha") in actions and ("case.checked", "bilal") in actions
    assert await storage.verify_audit_chain()


async def test_removal_counts_from_the_first_notice_else_the_decision(storage: Storage) -> None:
    takedowns = Takedowns(storage)
    slow = await decided(storage, "https://youtube.com/watch?v=slow", agency="YouTube", platform="youtube")
    fast = await decided(storage, "https://youtube.com/watch?v=fast", agency="YouTube", platform="youtube")
    unsent = await decided(
        storage, "https://youtube.com/watch?v=unsent", agency="platform", platform="youtube"
    )
    for each in (slow, fast):
        await age(storage, each, 3)
    await takedowns.record_referral(
        slow, "ayesha", "YouTube", "youtube", sent_at=utcnow() - timedelta(hours=50)
    )
    await takedowns.record_referral(slow, "ayesha", "PTA", "pta", sent_at=utcnow() - timedelta(hours=2))
    await takedowns.record_referral(
        fast, "ayesha", "YouTube", "youtube", sent_at=utcnow() - timedelta(hours=10)
    )
    async with storage.db.transaction() as conn:  # decided four hours ago, no notice ever recorded
        await conn.execute(
            update(cases).where(cases.c.id == unsent).values(decided_at=utcnow() - timedelta(hours=4))
        )
    for case_id in (slow, fast, unsent):
        await takedowns.record_check(case_id, "bilal", "removed")
    times = await takedowns.removal_times()
    [youtube] = times["by_platform"]
    assert youtube["removed"] == 3 and youtube["median_hours"] == pytest.approx(10, abs=0.1)
    by_agency = {f["name"]: f for f in times["by_agency"]}
    assert by_agency["YouTube"]["removed"] == 2  # the first notice's agency, not the later PTA one
    assert by_agency["YouTube"]["median_hours"] == pytest.approx(30, abs=0.1)
    assert by_agency["platform"]["median_hours"] == pytest.approx(4, abs=0.1)


async def test_a_referred_case_past_the_age_is_due_until_seen_removed(storage: Storage) -> None:
    takedowns = Takedowns(storage)
    case_id = await decided(storage, "https://x.com/recruiter/status/1", agency="X", platform="x")
    fresh = await decided(storage, "https://x.com/fresh/status/2", agency="X", platform="x")
    watched = await decided(storage, "https://x.com/watched", status="monitoring", agency=None, platform="x")
    escalated = await decided(
        storage, "https://x.com/plotter", status="escalated", agency="CTD", platform="x"
    )
    for each in (case_id, watched, escalated):
        await age(storage, each, 8)
    assert due_ids(await takedowns.due(7)) == [case_id]  # not monitoring; escalated only with a notice
    assert due_ids(await takedowns.due(9)) == []
    assert fresh not in due_ids(await takedowns.due(1))  # decided today

    await takedowns.record_check(case_id, "bilal", "still_online")
    assert due_ids(await takedowns.due(7)) == []  # checked within the age
    await age(storage, case_id, 8)
    [item] = await takedowns.due(7)
    assert item["last_check"]["result"] == "still_online" and item["days_waiting"] >= 8
    await takedowns.record_check(case_id, "bilal", "geo_blocked")
    await age(storage, case_id, 8)
    assert due_ids(await takedowns.due(7)) == [case_id]  # geo-blocked is still online elsewhere
    await takedowns.record_check(case_id, "bilal", "removed")
    await age(storage, case_id, 30)
    assert due_ids(await takedowns.due(7)) == []  # seen removed: never due again

    await takedowns.record_referral(escalated, "ayesha", "PTA", "pta", sent_at=utcnow() - timedelta(days=8))
    assert due_ids(await takedowns.due(7)) == [escalated]
    await takedowns.record_referral(escalated, "ayesha", "PTA", "pta")  # a new notice restarts the clock
    assert due_ids(await takedowns.due(7)) == []


async def test_due_follows_the_queue_filters(storage: Storage) -> None:
    takedowns = Takedowns(storage)
    tg = await decided(storage, "https://t.me/channel_a", platform="telegram")
    fb = await decided(storage, "https://facebook.com/page_b")
    for each in (tg, fb):
        await age(storage, each, 10)
    assert set(due_ids(await takedowns.due(7))) == {tg, fb}
    assert due_ids(await takedowns.due(7, within=CaseFilter(platform="telegram"))) == [tg]
    assert due_ids(await takedowns.due(7, within=CaseFilter(category="financing"))) == []


async def test_what_cannot_be_recorded_is_refused_and_nothing_changes(storage: Storage) -> None:
    takedowns = Takedowns(storage)
    open_case, _ = await report(storage, "https://facebook.com/still_new")
    case_id = await decided(storage, "https://facebook.com/referred")
    with pytest.raises(Conflict, match="referred or escalated"):
        await takedowns.record_referral(open_case, "ayesha", "Meta", "meta")
    with pytest.raises(Conflict):
        await takedowns.record_check(open_case, "ayesha", "removed")
    with pytest.raises(NotFound):
        await takedowns.record_check(999_999, "ayesha", "removed")
    with pytest.raises(Invalid, match="result"):
        await takedowns.record_check(case_id, "ayesha", "deleted")
    with pytest.raises(Invalid, match="future"):
        await takedowns.record_referral(
            case_id, "ayesha", "Meta", "meta", sent_at=utcnow() + timedelta(days=1)
        )
    with pytest.raises(Invalid, match="first reported"):
        await takedowns.record_referral(
            case_id, "ayesha", "Meta", "meta", sent_at=utcnow() - timedelta(days=3)
        )
    with pytest.raises(Invalid, match="100"):
        await takedowns.record_referral(case_id, "ayesha", "Meta", "meta", "R" * 101)
    with pytest.raises(Invalid, match="500"):
        await takedowns.record_check(case_id, "ayesha", "removed", "n" * 501)
    with pytest.raises(Invalid):
        await takedowns.due(0)
    history = await takedowns.of_case(case_id)
    assert history["referrals"] == [] and history["checks"] == []


# --- notice templates ------------------------------------------------------------------------------------


def a_case() -> dict[str, Any]:
    return {
        "id": 42,
        "canonical_url": "https://t.me/recruiters_channel",
        "platform": "telegram",
        "categories": ["recruitment", "financing"],
        "first_seen": "2025-03-01T21:30:00+00:00",  # 2 March in Pakistan
        "report_count": 7,
        "reporter_count": 5,
        "agency": "Telegram",
        "reports": [{"code": "K7QM-2XD9", "description": DESCRIPTION, "channel": "telegram"}],
    }


def test_every_template_uses_only_known_placeholders_and_fills_without_reporters() -> None:
    shipped = notices()
    assert {"meta", "telegram", "youtube", "tiktok", "x", "pta"} <= set(shipped.ids())
    for notice in shipped.items:
        for texts in (notice.subject, notice.body):
            for text in texts.values():
                assert placeholders(text) <= NOTICE_PARAMS, notice.id
        filled = N.fill(notice, a_case(), [], PKT)
        assert "{" not in filled.text and "}" not in filled.text, notice.id
        for secret in ("K7QM-2XD9", "Bilal", "0300", "neighbour", "reporter"):
            assert secret not in filled.text, (notice.id, secret)
        assert "https://t.me/recruiters_channel" in filled.text and "42" in filled.subject
        assert "recruitment, financing" in filled.text and "2025-03-02" in filled.text
    pta = shipped.get("pta")
    assert pta is not None and "section 37" in pta.body["en"]
    for notice in shipped.items:  # no other law is cited: only s.37 is verified (shared/reference/content.md)
        cited = set(re.findall(r"section (\d+)", " ".join(notice.body.values()), re.IGNORECASE))
        assert cited <= {"37"}, notice.id


def test_the_template_is_chosen_by_agency_then_platform() -> None:
    shipped = notices()
    assert shipped.choose("PTA", "telegram").id == "pta"  # type: ignore[union-attr]
    assert shipped.choose("meta", "youtube").id == "meta"  # type: ignore[union-attr]
    assert shipped.choose("platform", "instagram").id == "meta"  # type: ignore[union-attr]
    assert shipped.choose(None, "tiktok").id == "tiktok"  # type: ignore[union-attr]
    earlier = [
        {"agency": "Telegram", "reference": "TG-1"},
        {"agency": "PTA", "reference": "PTA-9"},
        {"agency": "platform", "reference": "TG-2"},
    ]
    telegram = shipped.get("telegram")
    assert telegram is not None
    assert "Earlier reference (if any): TG-2" in N.fill(telegram, a_case(), earlier).body
    assert "Earlier reference (if any): none" in N.fill(telegram, a_case(), []).body


def copy_content(tmp_path: Path) -> Path:
    content = tmp_path / "responses"
    content.mkdir()
    for path in HERE.glob("*.yaml"):
        shutil.copy(path, content / path.name)
    return content


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (
            lambda s: s.replace("number: {case_id}", "number: {reporter_id}", 1),
            "unknown placeholder reporter_id",
        ),
        (lambda s: s.replace("number: {case_id}", "number: {case_id", 1), "broken braces"),
        (lambda s: s.replace("  label: TikTok\n", ""), "tiktok: no label"),
        (
            lambda s: s.replace("  agencies: [TikTok]", "  agencies: [Meta]"),
            "'Meta' is in both meta and tiktok",
        ),
        (lambda s: s.replace("  subject:\n    en:", "  subject:\n    fr:", 1), "unknown language fr"),
        (lambda s: s.replace("\nx:\n", "\nX-Twitter:\n"), "a template's name"),
        (lambda s: s.replace("  platforms: [x]", "  platforms: [x]\n  sender: us"), "unknown field sender"),
    ],
)
def test_the_content_check_refuses_a_broken_template(tmp_path: Path, spoil: Any, said: str) -> None:
    content = copy_content(tmp_path)
    path = content / "notices.yaml"
    path.write_text(spoil(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ContentError, match=re.escape(said)):
        load_notices(path)
    with pytest.raises(ContentError, match=re.escape(said)):
        load(content)  # `raabta content check` runs load()


def test_the_shipped_content_passes_the_check(tmp_path: Path) -> None:
    load(copy_content(tmp_path))
    assert load_notices(tmp_path / "absent.yaml").items == ()


def test_a_console_date_counts_from_now_today_and_midday_before() -> None:
    now = datetime(2025, 3, 10, 9, 0, tzinfo=PKT)
    first = "2025-03-01T21:30:00+00:00"
    assert sent_when("2025-03-10", first, PKT, now) is None
    assert sent_when("2025-03-05", first, PKT, now) == datetime(2025, 3, 5, 12, tzinfo=PKT)
    assert sent_when("2025-03-02", first, PKT, now) == datetime(2025, 3, 2, 12, tzinfo=PKT)
    with pytest.raises(Invalid, match="future"):
        sent_when("2025-03-11", first, PKT, now)
    with pytest.raises(Invalid, match="first reported"):
        sent_when("2025-03-01", first, PKT, now)
    with pytest.raises(Invalid, match="a day such as"):
        sent_when("10/03/2025", first, PKT, now)
    early = "2025-03-02T10:00:00+00:00"  # 15:00 in Pakistan: a notice that day counts from then
    assert sent_when("2025-03-02", early, PKT, now) == datetime(2025, 3, 2, 10, tzinfo=UTC)


# --- console ---------------------------------------------------------------------------------------------

NOTICE = re.compile(r'<textarea id="notice-text"[^>]*>(.*?)</textarea>', re.DOTALL)


async def test_the_case_page_records_a_notice_and_checks_with_csrf(
    app: Starlette,  # noqa: F811 - the fixture
    storage: Storage,
    signed: dict[str, Signed],  # noqa: F811 - the fixture
) -> None:
    analyst = signed["analyst"]
    case_id = await decided(
        storage, "https://t.me/recruiters_channel", agency="Telegram", platform="telegram"
    )
    page = await analyst.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert (
        'id="takedown"' in page.text and 'id="referral-form"' in page.text and 'id="check-form"' in page.text
    )
    [notice] = NOTICE.findall(page.text)
    assert "https://t.me/recruiters_channel" in notice and "To the Telegram abuse team" in notice
    assert "0300" not in notice and "Bilal" not in notice and "{" not in notice
    picked = await analyst.get(f"/console/cases/{case_id}?template=pta")
    assert "Pakistan Telecommunication Authority" in NOTICE.findall(picked.text)[0]

    form = {"notice_agency": "telegram", "notice_template": "telegram", "notice_reference": "TG-77"}
    forged = await analyst.http.post(f"/console/cases/{case_id}/referrals", data=form)
    assert forged.status_code == 403
    assert (await Takedowns(storage).of_case(case_id))["referrals"] == []
    today = datetime.now(PKT).date().isoformat()
    done = await analyst.post(f"/console/cases/{case_id}/referrals", {**form, "sent_on": today})
    assert done.status_code == 303 and done.headers["location"] == f"/console/cases/{case_id}#takedown"
    [sent] = (await Takedowns(storage).of_case(case_id))["referrals"]
    assert sent["agency"] == "Telegram" and sent["reference"] == "TG-77" and sent["by"] == "analyst"

    bad = await analyst.post(
        f"/console/cases/{case_id}/referrals",
        {**form, "notice_agency": "Interpol", "notice_reference": "kept"},
    )
    assert bad.status_code == 400 and "agency must be one of" in bad.text
    assert 'value="kept"' in bad.text  # what was typed comes back
    future = (datetime.now(PKT).date() + timedelta(days=2)).isoformat()
    later = await analyst.post(f"/console/cases/{case_id}/referrals", {**form, "sent_on": future})
    assert later.status_code == 400 and "future" in later.text

    for result in ("still_online", "removed"):
        checked = await analyst.post(
            f"/console/cases/{case_id}/checks", {"result": result, "check_note": "looked"}
        )
        assert checked.status_code == 303
    wrong = await analyst.post(f"/console/cases/{case_id}/checks", {"result": "gone"})
    assert wrong.status_code == 400 and "result must be one of" in wrong.text
    shown = (await analyst.get(f"/console/cases/{case_id}")).text
    assert "Seen removed" in shown and "TG-77" in shown and "Still online" in shown
    assert "case.referral_sent" in shown and "case.checked" in shown  # the history

    open_case, _ = await report(storage, "https://facebook.com/not_yet")
    assert 'id="takedown"' not in (await analyst.get(f"/console/cases/{open_case}")).text
    refused = await analyst.post(f"/console/cases/{open_case}/checks", {"result": "removed"})
    assert refused.status_code == 409 and "referred or escalated" in refused.text
    assert (
        await signed["counsellor"].post(f"/console/cases/{case_id}/checks", {"result": "removed"})
    ).status_code == 403


async def test_a_case_due_for_a_check_is_on_the_queue_until_seen_removed(
    storage: Storage,
    signed: dict[str, Signed],  # noqa: F811 - the fixture
) -> None:
    analyst = signed["analyst"]
    case_id = await decided(storage, "https://tiktok.com/@recruiter", agency="TikTok", platform="tiktok")
    queue = await analyst.get("/console/queue")
    assert 'id="lane-due"' not in queue.text
    await age(storage, case_id, 8)
    for path in ("/console/queue", "/console/queue/lanes", "/console/queue?platform=tiktok"):
        page = await analyst.get(path)
        assert 'id="lane-due"' in page.text and f'data-due-case="{case_id}"' in page.text, path
    assert f'data-due-case="{case_id}"' not in (await analyst.get("/console/queue?platform=x")).text
    await analyst.post(f"/console/cases/{case_id}/checks", {"result": "removed"})
    assert f'data-due-case="{case_id}"' not in (await analyst.get("/console/queue")).text


async def test_the_overview_charts_time_to_removal_per_platform_and_agency(
    storage: Storage,
    signed: dict[str, Signed],  # noqa: F811 - the fixture
) -> None:
    empty = (await signed["admin"].get("/console/overview")).text
    assert 'id="chart-removal-platform"' not in empty and "No referral or check recorded yet." in empty
    takedowns = Takedowns(storage)
    case_id = await decided(storage, "https://facebook.com/removed_page", agency="Meta")
    waiting = await decided(storage, "https://t.me/still_up", agency="PTA", platform="telegram")
    await age(storage, case_id, 1)
    await takedowns.record_referral(case_id, "ayesha", "Meta", "meta", sent_at=utcnow() - timedelta(hours=12))
    await takedowns.record_check(case_id, "ayesha", "removed")
    await takedowns.record_check(waiting, "ayesha", "still_online")
    page = (await signed["analyst"].get("/console/overview")).text
    platform = page.split('id="chart-removal-platform"')[1].split("</svg>")[0]
    assert re.search(r'data-label="facebook" data-value="12\.0" data-removed="1" data-waiting="0"', platform)
    assert "telegram" in platform and "none removed · 1 waiting" in platform
    agency = page.split('id="chart-removal-agency"')[1].split("</svg>")[0]
    assert 'data-label="Meta"' in agency and "PTA" in agency
    assert "12.0 h" in page.split('id="tile-removal"')[1].split("</div>")[0]


# --- API -------------------------------------------------------------------------------------------------


@pytest.fixture
def check_settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=db_url,
        secret_key="test-secret-key-0123456789abcdefghijklmnop",
        data_dir=tmp_path / "data",
        takedown_check_days=3,
    )


async def test_the_api_records_notices_and_checks_and_refuses_what_it_cannot_take(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    analyst = auth(tokens["analyst"])
    spec = (await client.get(API + "/openapi.json")).json()
    case_id = await decided(storage, "https://youtube.com/watch?v=abc", agency="YouTube", platform="youtube")
    await age(storage, case_id, 1)
    url = f"{API}/cases/{case_id}"
    sent_at = (datetime.now(PKT) - timedelta(hours=6)).replace(tzinfo=None).isoformat(timespec="minutes")
    body = {"agency": "youtube", "template": "YouTube", "reference": "YT-5", "sent_at": sent_at}
    conforms(spec, "ReferralRequest", {**body, "agency": "YouTube", "template": "youtube"})
    done = await client.post(url + "/referrals", headers=analyst, json=body)
    assert done.status_code == 200, done.text
    conforms(spec, "Referral", done.json())
    assert done.json()["agency"] == "YouTube" and done.json()["template"] == "youtube"
    hours = (datetime.now(UTC) - datetime.fromisoformat(done.json()["sent_at"])).total_seconds() / 3600
    assert hours == pytest.approx(6, abs=0.1)  # a time without an offset is Pakistan time

    refusals = [
        ({"template": "youtube"}, "agency is required"),
        ({**body, "agency": "Interpol"}, "agency must be one of"),
        ({**body, "agency": 7}, "agency must be a string"),
        ({**body, "template": "fax"}, "template must be one of"),
        ({**body, "reference": ["x"]}, "reference must be a string"),
        ({**body, "reference": "R" * 101}, "100"),
        ({**body, "sent_at": "yesterday"}, "ISO 8601"),
        ({**body, "sent_at": "2999-01-01T00:00+05:00"}, "future"),
    ]
    for sent, said in refusals:
        refused = await client.post(url + "/referrals", headers=analyst, json=sent)
        assert refused.status_code == 400 and said in refused.json()["detail"], (sent, refused.text)
    for sent, said in [({}, "result is required"), ({"result": "deleted"}, "result must be one of")]:
        refused = await client.post(url + "/checks", headers=analyst, json=sent)
        assert refused.status_code == 400 and said in refused.json()["detail"], (sent, refused.text)
    checked = await client.post(url + "/checks", headers=analyst, json={"result": "Removed", "note": "gone"})
    assert checked.status_code == 200, checked.text
    conforms(spec, "TakedownCheck", checked.json())
    open_case, _ = await report(storage, "https://facebook.com/open")
    conflict = await client.post(
        f"{API}/cases/{open_case}/checks", headers=analyst, json={"result": "removed"}
    )
    assert conflict.status_code == 409
    missing = await client.post(f"{API}/cases/999999/referrals", headers=analyst, json=body)
    assert missing.status_code == 404

    stats = await client.get(API + "/takedowns/stats", headers=auth(tokens["admin"]))
    assert stats.status_code == 200
    conforms(spec, "RemovalTimes", stats.json())
    [youtube] = stats.json()["by_platform"]
    assert youtube["removed"] == 1 and youtube["median_hours"] == pytest.approx(6, abs=0.1)
    assert (await client.get(API + "/takedowns/stats", headers=auth(tokens["counsellor"]))).status_code == 403


async def test_the_due_list_over_the_api(
    client: httpx.AsyncClient,
    storage: Storage,
    tokens: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    analyst = auth(tokens["analyst"])
    spec = (await client.get(API + "/openapi.json")).json()
    case_id = await decided(storage, "https://t.me/recruit_now", agency="Telegram", platform="telegram")
    await age(storage, case_id, 8)
    due = await client.get(API + "/takedowns/due", headers=analyst)
    assert due.status_code == 200
    conforms(spec, "DueList", due.json())
    assert due.json()["age_days"] == 7 and due_ids(due.json()["items"]) == [case_id]
    assert due.json()["items"][0]["last_check"] is None
    later = await client.get(API + "/takedowns/due", headers=analyst, params={"age_days": "9"})
    assert later.json()["items"] == []
    elsewhere = await client.get(API + "/takedowns/due", headers=analyst, params={"platform": "YouTube"})
    assert elsewhere.json()["items"] == []
    for params, said in [
        ({"age_days": "0"}, "age_days must be between 1 and 365"),
        ({"age_days": "week"}, "age_days must be a whole number"),
        ({"platform": "myspace"}, "platform must be one of"),
        ({"status": "referred"}, "unknown parameter status"),
        ({"limit": "1000"}, "limit must be between 1 and 200"),
    ]:
        refused = await client.get(API + "/takedowns/due", headers=analyst, params=params)
        assert refused.status_code == 400 and said in refused.json()["detail"], (params, refused.text)
    await client.post(f"{API}/cases/{case_id}/checks", headers=analyst, json={"result": "removed"})
    assert (await client.get(API + "/takedowns/due", headers=analyst)).json()["items"] == []


async def test_the_configured_check_age_is_the_apis_default(
    check_settings: Settings, storage: Storage
) -> None:
    token = await Tokens(storage).create("ayesha", "analyst")
    case_id = await decided(storage, "https://facebook.com/four_days_ago")
    await age(storage, case_id, 4)
    transport = httpx.ASGITransport(app=create_app(check_settings, storage))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        due = (await http.get(API + "/takedowns/due", headers=auth(token))).json()
    assert due["age_days"] == 3 and due_ids(due["items"]) == [case_id]
