"""What the console's pages show and do, over HTTP on both backends: queue, case, overview, support, tokens.

The security side (sign-in, sessions, roles, CSRF, headers) is in test_console.py.
"""

from __future__ import annotations

import html
import re
from datetime import date
from urllib.parse import quote

from sqlalchemy import update
from starlette.applications import Starlette

from cyberunit.console import charts
from storage.lifecycle import REASONS
from storage.repository import Storage, utcnow
from storage.schema import cases, support_requests
from storage.tokens import Tokens
from tests import test_console as security
from tests.test_api import add_report
from tests.test_console import CSRF, Signed, sign_in, storage_cases

app, signed, tokens = (
    security.app,
    security.signed,
    security.tokens,
)  # fixtures shared with the security tests

ROWS = re.compile(r'<tr data-case-row data-case-id="(\d+)"')


async def ids(storage: Storage) -> dict[str, int]:
    return {str(c["canonical_url"]): int(str(c["id"])) for c in await storage_cases(storage)}


def lane(page: str, name: str) -> list[int]:
    """Case ids listed in one lane of the queue page (urgent, mine, all)."""
    found = re.search(rf'data-lane="{name}">(.*?)</table>', page, re.S)
    return [int(n) for n in ROWS.findall(found.group(1))] if found else []


async def test_the_queue_has_an_urgent_lane_filters_sorting_and_claim_next(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    await add_report(storage, "https://facebook.com/one", "propaganda")
    await add_report(storage, "https://facebook.com/two", "violent_threat", urgent=True, language="ur")
    await add_report(storage, "https://facebook.com/three", "recruitment", language="ur-Latn")
    for _ in range(5):
        await add_report(storage, "https://facebook.com/journalist", "hate_speech")
    n = await ids(storage)  # ids are not contiguous on PostgreSQL (an upsert takes a sequence number)
    one, two, three, journalist = (
        n[f"https://facebook.com/{k}"] for k in ("one", "two", "three", "journalist")
    )
    analyst = signed["analyst"]
    page = (await analyst.get("/console/queue")).text
    assert lane(page, "urgent") == [two]
    assert lane(page, "all") == [journalist, three, one]  # by priority; the urgent case once, in its lane
    assert lane(page, "mine") == []
    assert 'hx-get="/console/queue/lanes?"' in page and 'hx-trigger="every 20s, refresh-lanes"' in page
    # (urgent lane, list): the lane follows the filters too, and the list never repeats what it shows
    filtered = {
        "language=ur": ([two], []),
        "category=recruitment": ([], [three]),
        "care=yes": ([], [journalist]),
        "care=no&sort=first_seen&order=asc": ([two], [one, three]),
        "status=new&platform=facebook&sort=report_count": ([two], [journalist, one, three]),
        "status=referred": ([two], []),
        "platform=youtube": ([], []),
    }
    for query, (urgent, expected) in filtered.items():
        response = await analyst.get(f"/console/queue?{query}")
        assert response.status_code == 200
        assert (lane(response.text, "urgent"), lane(response.text, "all")) == (urgent, expected), query
        fragment = await analyst.get(f"/console/queue/lanes?{query}", headers={"HX-Request": "true"})
        assert fragment.text.lstrip().startswith('<div id="lanes"') and lane(fragment.text, "all") == expected
        assert f'hx-get="/console/queue/lanes?{html.escape(query)}"' in fragment.text
    for bad in ("status=gone", "category=x", "sort=id", "order=up", "care=maybe", "cursor=%%%"):
        response = await analyst.get(f"/console/queue?{bad}")
        assert response.status_code == 400, bad
    # one page of 50 at most, with a link to the next
    for i in range(50):
        await add_report(storage, f"https://facebook.com/more{i}", "other")
    first = (await analyst.get("/console/queue?status=all")).text
    assert len(lane(first, "all")) == 50
    [more] = re.findall(r'href="/console/queue\?([^"]+)">Next page', first)
    rest = (await analyst.get("/console/queue?" + html.unescape(more))).text
    assert len(lane(rest, "all")) == 3 and not set(lane(rest, "all")) & set(lane(first, "all"))

    claimed = await analyst.post("/console/queue/claim")
    assert (
        claimed.status_code == 303 and claimed.headers["location"] == f"/console/cases/{two}"
    )  # urgent first
    page = (await analyst.get("/console/queue")).text
    assert lane(page, "mine") == [two] and "in review" in page


async def test_the_case_page_shows_link_reports_evidence_priority_care_notes_and_history(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    for i in range(5):
        await add_report(
            storage, "https://facebook.com/journalist", "hate_speech", language="ur", description=f"رپورٹ {i}"
        )
    await add_report(storage, "javascript:alert(1)", "other")
    supervisor = signed["supervisor"]
    page = (await supervisor.get("/console/cases/1")).text
    assert '<code id="target" class="url" dir="auto">https://facebook.com/journalist</code>' in page
    opener = '<a class="button open" href="https://facebook.com/journalist" target="_blank"'
    assert opener + ' rel="noopener noreferrer"' in page
    assert page.count('<li class="report">') == 5
    assert '<p class="desc" dir="auto" lang="ur">رپورٹ 0</p>' in page
    assert '<span class="kind">link</span>' in page and "<img" not in page  # evidence as text, no thumbnails
    assert "Needs care: possible brigading" in page
    assert "5 reports within 60 minutes from reporters without a track record" in page
    for part in ("category", "urgency", "reporters", "recency"):
        assert f'<th scope="row">{part.capitalize()}</th>' in page
    assert "report.received" in page and "case.needs_care" in page  # history from the audit log
    assert "This case waits in the queue." in page and 'action="/console/cases/1/assign"' in page
    # a link that is not plain http(s) is shown as text, never as something to click
    other = (await supervisor.get(f"/console/cases/{(await ids(storage))['javascript:alert(1)']}")).text
    assert "javascript:alert(1)</code>" in other and 'href="javascript' not in other
    assert (await supervisor.get("/console/cases/99")).status_code == 404
    assert (await supervisor.get("/console/cases/abc")).status_code == 404

    # notes: added, shown, escaped; empty or oversized ones refused with the text kept
    note = await supervisor.post("/console/cases/1/notes", {"note": "<i>checked</i> سب ٹھیک"})
    assert note.status_code == 303 and note.headers["location"] == "/console/cases/1#notes"
    page = (await supervisor.get("/console/cases/1")).text
    assert '<p dir="auto">&lt;i&gt;checked&lt;/i&gt; سب ٹھیک</p>' in page and "case.noted" in page
    empty = await supervisor.post("/console/cases/1/notes", {"note": "   "})
    assert empty.status_code == 400 and "a note has 1 to 2000 characters" in empty.text
    long = await supervisor.post("/console/cases/1/notes", {"note": "x" * 2001})
    assert long.status_code == 400 and "x" * 2001 in long.text


async def test_deciding_from_the_case_page_and_its_refusals(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    for _ in range(5):
        await add_report(storage, "https://facebook.com/activist", "hate_speech")
    await add_report(storage, "https://facebook.com/recruiter", "recruitment")
    analyst, supervisor, other = signed["analyst"], signed["supervisor"], signed["analyst2"]
    recruiter = (await ids(storage))["https://facebook.com/recruiter"]
    # nobody decides a case they do not hold
    refused = await analyst.post(
        f"/console/cases/{recruiter}/decision", {"status": "monitoring", "note": "n"}
    )
    assert refused.status_code == 409 and "claim it first" in refused.text
    assert (await analyst.post("/console/queue/claim")).headers["location"] == "/console/cases/1"
    page = (await analyst.get("/console/cases/1")).text
    assert 'id="decision-form"' in page and re.search(r"Your lease: 1[45] min left", page)
    assert 'id="decision-form"' not in (await other.get("/console/cases/1")).text
    # an analyst may not refer a case that needs care; the form comes back with what was typed
    form = {"status": "referred", "agency": "platform", "note": "looks bad"}
    care = await analyst.post("/console/cases/1/decision", form)
    assert care.status_code == 403 and "only a supervisor may send it out" in care.text
    assert 'value="referred" required checked' in care.text and ">looks bad</textarea>" in care.text
    for bad, message in (
        ({"status": "referred", "note": "n"}, "a referral needs an agency"),
        ({"status": "shredded", "note": "n"}, "status must be one of"),
        ({"status": "monitoring", "note": " "}, "a decision needs a note"),
        ({"status": "merged", "note": "n"}, "merging needs merge_into"),
        ({"status": "merged", "note": "n", "merge_into": "1"}, "cannot be merged into itself"),
        ({"status": "merged", "note": "n", "merge_into": "x"}, "the merge target is a case number"),
        ({"status": "merged", "note": "n", "merge_into": "77"}, "no case 77 to merge into"),
        ({"status": "referred", "note": "n", "agency": "<b>"}, "agency must be one of platform, PTA"),
    ):
        response = await analyst.post("/console/cases/1/decision", bad)
        assert response.status_code in (400, 404) and message in response.text, (bad, response.text)
    # extend, release, and a supervisor's assignment and referral
    assert (await analyst.post("/console/cases/1/extend")).status_code == 303
    assert (await analyst.post("/console/cases/1/release")).headers["location"] == "/console/queue"
    assign = await supervisor.post("/console/cases/1/assign", {"assignee": "supervisor"})
    assert assign.status_code == 303
    no_name = await supervisor.post("/console/cases/1/assign", {"assignee": ""})
    assert no_name.status_code == 400 and "name an analyst or supervisor" in no_name.text
    nobody = await supervisor.post("/console/cases/1/assign", {"assignee": "counsellor"})
    assert nobody.status_code == 400 and '<option value="analyst2">' in nobody.text
    done = await supervisor.post("/console/cases/1/decision", form)
    assert done.status_code == 303 and done.headers["location"] == "/console/queue?decided=1&as=referred"
    flash = (await supervisor.get(done.headers["location"])).text
    assert "Case #1 decided: referred." in flash
    page = (await supervisor.get("/console/cases/1")).text
    assert "Decided: <strong>referred</strong>, to platform" in page and "case.decided" in page
    [decided] = [c for c in await storage_cases(storage) if c["id"] == 1]
    assert decided["status"] == "referred" and decided["agency"] == "platform"


async def test_closing_from_the_case_page_asks_for_the_reason_its_reporters_are_told(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    code = await add_report(storage, "https://facebook.com/gone.page", "propaganda")
    analyst = signed["analyst"]
    assert (await analyst.post("/console/queue/claim")).headers["location"] == "/console/cases/1"
    page = (await analyst.get("/console/cases/1")).text
    assert '<select id="decision-reason" name="reason"' in page
    for reason, fits in REASONS.items():  # every reason offered, with the decisions it fits
        assert f'<option value="{reason}" data-fits="{" ".join(fits)}"' in page
    assert "Reporters read: The page had already been taken down" in page
    missing = await analyst.post("/console/cases/1/decision", {"status": "no_action", "note": "gone"})
    assert missing.status_code == 400 and "needs a reason" in missing.text
    assert 'value="no_action" required checked' in missing.text and ">gone</textarea>" in missing.text
    unfit = {"status": "no_action", "note": "gone", "reason": "kept_under_watch"}
    refused = await analyst.post("/console/cases/1/decision", unfit)
    assert refused.status_code == 400 and "does not fit a no_action decision" in refused.text
    assert 'value="kept_under_watch" data-fits="monitoring" title=' in refused.text
    assert re.search(r'value="kept_under_watch"[^>]* selected>', refused.text)  # kept as chosen
    done = await analyst.post(
        "/console/cases/1/decision", {"status": "no_action", "note": "gone", "reason": "already_removed"}
    )
    assert done.status_code == 303, done.text
    page = (await analyst.get("/console/cases/1")).text
    assert "<dt>Reason</dt><dd>Already removed</dd>" in page and "reason: already_removed" in page
    told = (await storage.reports.told([code]))[code]
    assert (told.word, told.reason) == ("reviewed", "already_removed")


async def test_the_overview_draws_every_chart_with_labelled_bars(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    await add_report(storage, "https://facebook.com/a", "recruitment")
    await add_report(storage, "https://facebook.com/a", "recruitment", language="ur")
    await add_report(storage, "https://facebook.com/b", "financing", language="ur-Latn")
    analyst = signed["analyst"]
    await analyst.post("/console/queue/claim")
    await analyst.post("/console/cases/1/decision", {"status": "monitoring", "note": "watching"})
    page = (await analyst.get("/console/overview")).text
    for chart in (
        "per-day",
        "category",
        "platform",
        "language",
        "channel",
        "decisions",
        "time",
        "decided-per-day",
    ):
        assert f'<svg class="chart" id="chart-{chart}"' in page, chart
    assert (
        'data-label="recruitment" data-value="2"' in page and 'data-label="financing" data-value="1"' in page
    )
    assert (
        'data-label="Roman Urdu" data-value="1"' in page and 'data-label="monitoring" data-value="1"' in page
    )
    assert 'data-label="under 1 hour" data-value="1"' in page
    assert '<title id="chart-category-t">Reports by category</title>' in page
    assert 'href="/console/export?format=stix"' in page
    export = await analyst.get("/console/export?format=csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "https://facebook.com/a" in export.text
    assert (await analyst.get("/console/export?format=pdf")).status_code == 400
    admin = (await signed["admin"].get("/console/overview")).text
    assert "chart-category" in admin and "/console/export" not in admin  # admins see figures, not exports


def test_charts_escape_labels_and_scale_bars() -> None:
    svg = str(charts.bars("c", "T <1>", [("<script>", 4.0), ("b", 2.0), ("zero", 0.0)]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "T &lt;1&gt;" in svg
    widths = [float(w) for w in re.findall(r'<rect class="bar"[^>]* width="([\d.]+)"', svg)]
    assert widths[0] == 2 * widths[1] and len(widths) == 2  # a zero draws no bar, only its label and 0
    assert str(charts.bars("c", "T", [])) == '<p class="empty">No data yet.</p>'
    days = charts.last_days({"2025-03-02": 4}, date(2025, 3, 3), 3)
    assert days == [("2025-03-01", 0), ("2025-03-02", 4), ("2025-03-03", 0)]
    assert charts.hours_histogram([0.5, 2, 30, 200]) == [
        ("under 1 hour", 1),
        ("1 to 4 hours", 1),
        ("4 to 24 hours", 0),
        ("1 to 3 days", 1),
        ("3 to 7 days", 0),
        ("over 7 days", 1),
    ]
    column = str(charts.columns("d", "Per day", days, "reports"))
    assert column.count('<rect class="bar"') == 1 and 'data-label="2025-03-02" data-value="4"' in column


async def test_counsellors_see_support_requests_with_phones_kept_sealed(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    async with storage.writer.begin() as conn:
        for code, language, note, phone, status in (
            ("SUPP-0001", "ur", "میرا بیٹا <b>بدل</b> گیا ہے", b"sealed-0300-1234567", "new"),
            ("SUPP-0002", "en", "Please call after 6pm", None, "done"),
        ):
            await conn.execute(
                support_requests.insert().values(
                    code=code,
                    language=language,
                    topic="warning_signs",
                    note=note,
                    phone=phone,
                    status=status,
                    created_at=utcnow(),
                )
            )
    counsellor = signed["counsellor"]
    page = (await counsellor.get("/console/support")).text
    assert "SUPP-0001" in page and "SUPP-0002" in page
    assert (
        '<td data-label="Note" class="note" dir="auto" lang="ur">میرا بیٹا &lt;b&gt;بدل&lt;/b&gt; گیا ہے</td>'
        in page
    )
    assert (
        page.count("has phone") == 1 and "sealed-0300" not in page and "1234567" not in page
    )  # the word, not the number
    done = (await counsellor.get("/console/support?status=done")).text
    assert "SUPP-0002" in done and "SUPP-0001" not in done
    assert (await counsellor.get("/console/support?status=lost")).status_code == 400
    for role in ("analyst", "supervisor", "admin"):
        assert (await signed[role].get("/console/support")).status_code == 403


async def test_admins_create_tokens_shown_once_and_revoke_them(
    app: Starlette, storage: Storage, signed: dict[str, Signed]
) -> None:
    admin = signed["admin"]
    page = (await admin.get("/console/tokens")).text
    assert all(name in page for name in ("analyst", "supervisor", "counsellor", "admin"))
    made = await admin.post("/console/tokens", {"name": "new.analyst", "role": "analyst"})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    [token] = re.findall(r'<code id="new-token" class="secret">(rbt_[\w-]+)</code>', made.text)
    assert token not in (await admin.get("/console/tokens")).text  # shown once
    newcomer = await sign_in(app, token)
    assert (await newcomer.get("/console/queue")).status_code == 200
    for bad, message in (
        ({"name": "new.analyst", "role": "analyst"}, "exists already"),
        ({"name": "<x>", "role": "analyst"}, "name must be"),
        ({"name": "ok", "role": "root"}, "role must be one of"),
    ):
        response = await admin.post("/console/tokens", bad)
        assert response.status_code == 400 and html.escape(message) in response.text, response.text
        assert "<x>" not in response.text
    revoked = await admin.post("/console/tokens/revoke", {"name": "new.analyst"})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/console/tokens?revoked=new.analyst"
    assert "Revoked new.analyst" in (await admin.get(revoked.headers["location"])).text
    assert "Revoked analyst" not in (await admin.get("/console/tokens?revoked=analyst")).text  # not revoked
    gone = await newcomer.get("/console/queue")
    assert gone.status_code == 303 and "reason=revoked" in gone.headers["location"]
    again = await admin.post("/console/tokens/revoke", {"name": "new.analyst"})
    assert again.status_code == 404 and "No active token named" in again.text
    listed = {t["name"]: t for t in await Tokens(storage).list()}
    assert listed["new.analyst"]["revoked"]
    await newcomer.aclose()


async def test_the_audit_page_pages_through_events(storage: Storage, signed: dict[str, Signed]) -> None:
    for i in range(3):
        await add_report(storage, f"https://facebook.com/audit{i}")
    supervisor = signed["supervisor"]
    page = (await supervisor.get("/console/audit")).text
    assert "report.received" in page and "token.created" in page
    assert '<a href="/console/cases/1">case:1</a>' in page
    later = (await supervisor.get("/console/audit?after=5")).text
    assert (
        '<td data-label="#" class="num">5</td>' not in later
        and '<td data-label="#" class="num">6</td>' in later
    )
    assert (await supervisor.get("/console/audit?after=-1")).status_code == 400
    assert "case:1</td>" in (await signed["admin"].get("/console/audit")).text  # admins: no case links


async def test_submitted_text_is_escaped_everywhere_it_appears(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    evil = '"><script>alert(1)</script>'
    await add_report(
        storage,
        f"https://facebook.com/{evil}",
        "propaganda",
        description=f"<img src=x onerror=alert(2)>{evil}",
    )
    async with storage.writer.begin() as conn:
        await conn.execute(update(cases).values(needs_care=True, care_reason=f"reason {evil}"))
    analyst = signed["analyst"]
    for path in ("/console/queue", "/console/cases/1", "/console/queue/lanes"):
        page = (await analyst.get(path)).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
    assert CSRF.search((await analyst.get("/console/cases/1")).text)


async def test_odd_values_in_every_parameter_get_a_4xx_never_a_crash(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    await add_report(storage, "https://facebook.com/odd")
    analyst, supervisor = signed["analyst"], signed["supervisor"]
    await analyst.post("/console/queue/claim")
    odd = [
        "²",
        "٣",
        "99999999999",
        "2147483648",
        "-1",
        "1e3",
        "0x1",
        "' OR 1=1 --",
        "\x00",
        "\u202e",
        "9" * 300,
    ]
    for value in odd:
        responses = [
            await analyst.get(f"/console/cases/{quote(value, safe='')}"),
            await analyst.post(
                "/console/cases/1/decision", {"status": "merged", "note": "n", "merge_into": value}
            ),
            await analyst.post(
                "/console/cases/1/decision", {"status": value, "note": value, "agency": value}
            ),
            await analyst.get("/console/queue", params={"decided": value, "as": "referred", "cursor": value}),
            await analyst.get("/console/queue/lanes", params={"category": value, "sort": value}),
            await supervisor.get("/console/audit", params={"after": value}),
            await supervisor.post("/console/cases/1/assign", {"assignee": value}),
            await analyst.get("/console/export", params={"format": value}),
        ]
        for response in responses:
            assert response.status_code < 500, (value, response.url, response.text)
    assert (await analyst.get("/console/cases/1")).status_code == 200
