"""Queue rows that triage, claiming that follows the analyst, and the supervisors' workload view (issue 22).

Tried as an analyst triaging 200 cases a day: rows showed only the URL and UTC times, urgent cases were
listed twice (lane and list, so j/k walked duplicates), claim next ignored the filters on screen, and a
case being looked at could not be claimed. Over HTTP on both backends.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from storage.repository import Storage
from storage.schema import cases
from tests import test_console as security
from tests.test_api import add_report
from tests.test_console import Signed
from tests.test_console_pages import ids, lane

app, signed, tokens = security.app, security.signed, security.tokens  # fixtures shared with those tests


async def report(
    storage: Storage,
    url: str | None,
    platform: str = "facebook",
    description: str = "seen",
    urgent: bool = False,
    category: str = "propaganda",
    language: str = "en",
) -> None:
    """A report on `url` (none: on its description) through `add_report` (tests/test_api.py)."""
    await add_report(
        storage, url, category, urgent=urgent, language=language, description=description, platform=platform
    )


async def test_rows_show_the_latest_words_waiting_time_and_pakistan_time_and_urgent_cases_once(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    await report(storage, "https://facebook.com/one", description="first words of an older report")
    await report(
        storage, "https://facebook.com/one", description="<b>Bhai</b> yeh page bhartiyan kar raha hai"
    )
    await report(storage, "https://facebook.com/two", urgent=True, description="dhamki di hai kal ke liye")
    await report(storage, "https://youtube.com/@three", platform="youtube", description="x " * 200)
    n = await ids(storage)
    one, two = n["https://facebook.com/one"], n["https://facebook.com/two"]
    noon_utc = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)  # 12:30 in Pakistan (UTC+5, no daylight saving)
    async with storage.db.transaction() as conn:
        await conn.execute(
            update(cases)
            .where(cases.c.id == one)
            .values(last_seen=noon_utc, first_seen=datetime.now(UTC) - timedelta(hours=3, minutes=5))
        )
    page = (await signed["analyst"].get("/console/queue")).text

    # an urgent open case is in the urgent lane only, so j/k never walks it twice
    assert lane(page, "urgent") == [two]
    assert two not in lane(page, "all") and one in lane(page, "all")
    assert len(re.findall(rf'data-case-id="{two}"', page)) == 1

    row = re.search(rf'data-case-id="{one}".*?</tr>', page, re.S)
    assert row is not None
    cells = row.group(0)
    # the latest description's first words, escaped, never the markup
    assert "&lt;b&gt;Bhai&lt;/b&gt; yeh page bhartiyan kar raha hai" in cells and "<b>Bhai" not in cells
    assert "first words of an older report" not in cells
    assert "2026-03-01 12:30 PKT" in cells and 'datetime="2026-03-01T07:30:00+00:00"' in cells
    assert "waiting 3 h" in cells
    assert 'class="pf pf-facebook"' in cells
    long_row = re.search(r'data-case-id="\d+"[^>]*>(?:(?!</tr>).)*x x x(?:(?!</tr>).)*</tr>', page, re.S)
    assert long_row is not None and "…" in long_row.group(0)  # a long description is cut, not dumped
    assert 'class="pf pf-youtube"' in long_row.group(0)


async def test_claim_next_stays_within_the_filters_on_screen(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    """On platform=instagram it once claimed an urgent no-link case."""
    await report(storage, None, urgent=True, description="@recruiter_handle asks for money", category="other")
    await report(storage, "https://facebook.com/big", category="violent_threat")
    await report(storage, "https://instagram.com/p/abc", platform="instagram", category="hate_speech")
    n = await ids(storage)
    insta = n["https://instagram.com/p/abc"]
    analyst = signed["analyst"]

    queue = (await analyst.get("/console/queue?platform=instagram")).text
    form = re.search(r'<form id="claim-next".*?</form>', queue, re.S)
    assert form is not None and 'name="platform" value="instagram"' in form.group(0)

    claimed = await analyst.post("/console/queue/claim", {"platform": "instagram"})
    assert claimed.status_code == 303 and claimed.headers["location"] == f"/console/cases/{insta}"
    again = await analyst.post("/console/queue/claim", {"platform": "instagram"})
    assert again.status_code == 303 and again.headers["location"].startswith("/console/queue?")
    assert "platform=instagram" in again.headers["location"] and "empty=1" in again.headers["location"]
    empty = (await analyst.get(again.headers["location"])).text
    assert "Nothing to claim within these filters" in empty
    # the filters also hold on category; a bad value is refused, not ignored
    hate = await signed["supervisor"].post("/console/queue/claim", {"category": "violent_threat"})
    assert hate.headers["location"] == f"/console/cases/{n['https://facebook.com/big']}"
    bad = await analyst.post("/console/queue/claim", {"platform": "myspace"})
    assert bad.status_code == 400


async def test_an_analyst_claims_the_case_they_are_looking_at(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    await report(storage, "https://facebook.com/top", urgent=True)
    await report(storage, "https://facebook.com/quiet")
    quiet = (await ids(storage))["https://facebook.com/quiet"]
    analyst, supervisor = signed["analyst"], signed["supervisor"]

    page = (await analyst.get(f"/console/cases/{quiet}")).text
    assert f'action="/console/cases/{quiet}/claim"' in page and 'id="claim-this"' in page
    taken = await analyst.post(f"/console/cases/{quiet}/claim")
    assert taken.status_code == 303 and taken.headers["location"] == f"/console/cases/{quiet}"
    held = (await analyst.get(f"/console/cases/{quiet}")).text
    assert 'id="claim-this"' not in held and "decision-form" in held
    twice = await analyst.post(f"/console/cases/{quiet}/claim")  # a second tap changes nothing
    assert twice.status_code == 303

    other = await supervisor.post(f"/console/cases/{quiet}/claim")
    assert other.status_code == 409 and "held by analyst" in other.text

    # a lease that ran out can be claimed by someone else
    async with storage.db.transaction() as conn:
        await conn.execute(
            update(cases)
            .where(cases.c.id == quiet)
            .values(lease_until=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert (await supervisor.post(f"/console/cases/{quiet}/claim")).status_code == 303
    assert quiet in lane((await supervisor.get("/console/queue")).text, "mine")


async def test_supervisors_see_each_analysts_workload(storage: Storage, signed: dict[str, Signed]) -> None:
    for name in ("a", "b", "c"):
        await report(storage, f"https://facebook.com/{name}")
    analyst, supervisor = signed["analyst"], signed["supervisor"]
    await analyst.post("/console/queue/claim")
    await analyst.post("/console/queue/claim")
    page = (await analyst.get("/console/queue")).text
    [left] = [c for c in (await ids(storage)).values() if c not in lane(page, "mine")]
    assert (await supervisor.post(f"/console/cases/{left}/claim")).status_code == 303

    workload = await supervisor.get("/console/workload")
    assert workload.status_code == 200
    held = dict(
        re.findall(r'<tr data-analyst="([^"]+)">.*?<td [^>]*class="num held">(\d+)</td>', workload.text, re.S)
    )
    assert held == {"analyst": "2", "supervisor": "1"}
    assert (await analyst.get("/console/workload")).status_code == 403
