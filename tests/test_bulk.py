"""Bulk actions on a selection (issue 22): decide, merge, add a note, assign, each first previewed ("these
5 cases will be marked monitoring; 2 cannot: held by someone else, already decided"), then confirmed; each
case changes in its own transaction with its own audit event, and the result says what happened to each.

Over HTTP (console and API) on both backends. Never who reported.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from storage.queue import Queue
from storage.repository import Storage
from storage.schema import audit_events, cases
from tests import test_console as security
from tests.browser import Watch, sign_in
from tests.test_api import API, auth
from tests.test_console import Signed
from tests.test_console_browser import DESKTOP, Site, site  # noqa: F401 - site is a fixture
from tests.test_duplicates import REPORTER, case_of, submit
from tests.test_openapi import conforms, fetch

app, signed, tokens = security.app, security.signed, security.tokens  # the console tests' fixtures


async def events(storage: Storage) -> Counter[tuple[str, str]]:
    """(action, subject) of every audit event so far, counted."""
    async with storage.db.read() as conn:
        rows = (await conn.execute(select(audit_events.c.action, audit_events.c.subject))).all()
    return Counter((r.action, r.subject) for r in rows)


async def statuses(storage: Storage) -> dict[int, tuple[str, str | None]]:
    async with storage.db.read() as conn:
        rows = (await conn.execute(select(cases.c.id, cases.c.status, cases.c.assignee))).all()
    return {r.id: (r.status, r.assignee) for r in rows}


async def seven(storage: Storage) -> dict[str, int]:
    """Two cases held by `analyst`, three new, one held by `analyst2`, one decided already."""
    names = ("held1", "held2", "new1", "new2", "new3", "other", "done")
    for name in names:
        await submit(storage, f"report on {name}", (f"https://t.me/case_{name}",))
    found = {name: await case_of(storage, f"https://t.me/case_{name}") for name in names}
    queue = Queue(storage)
    for name in ("held1", "held2", "done"):
        await queue.claim_case(found[name], "analyst")
    await queue.claim_case(found["other"], "analyst2")
    await queue.decide(found["done"], "analyst", "no_action", "not ours", reason="not_extremist")
    return found


def hidden(page: str, form_id: str) -> dict[str, str]:
    form = re.search(rf'<form id="{form_id}".*?</form>', page, re.S)
    assert form is not None, form_id
    return {k: html.unescape(v) for k, v in re.findall(r'name="([a-z_]+)" value="([^"]*)"', form.group(0))}


def listed(page: str, kind: str) -> dict[int, str]:
    """Case id -> what the page says will happen (or happened) to it, for rows of one kind."""
    rows = re.findall(rf'<li data-case="(\d+)" data-bulk="{kind}">(.*?)</li>', page, re.S)
    return {int(n): re.sub(r"<[^>]+>|\s+", " ", text).strip() for n, text in rows}


async def test_the_queue_offers_checkboxes_and_a_bulk_form(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    found = await seven(storage)
    page = (await signed["analyst"].get("/console/queue")).text
    for case_id in (found["new1"], found["held1"]):
        assert f'name="pick-{case_id}" value="{case_id}" form="bulk"' in page
    assert '<form id="bulk" method="post" action="/console/bulk/preview"' in page
    bulk = re.search(r'<form id="bulk".*?</form>', page, re.S)
    assert bulk is not None and 'value="assign"' not in bulk.group(0)  # assigning is for supervisors
    supervisor = (await signed["supervisor"].get("/console/queue")).text
    assert 'value="assign"' in supervisor
    lanes = (await signed["analyst"].get("/console/queue/lanes")).text
    assert f'name="pick-{found["new1"]}"' in lanes


async def test_a_bulk_decision_is_previewed_then_confirmed_one_audit_event_each(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    found = await seven(storage)
    analyst = signed["analyst"]
    picks = {f"pick-{case_id}": str(case_id) for case_id in found.values()}
    form = {"action": "decide", "status": "monitoring", "note": "watching the network", **picks}
    before, shown_before = await events(storage), await statuses(storage)

    preview = await analyst.post("/console/bulk/preview", form)
    assert preview.status_code == 200, preview.text
    page = preview.text
    assert "These 5 cases will be marked monitoring" in page and "2 cannot" in page
    will = listed(page, "ok")
    assert set(will) == {found[n] for n in ("held1", "held2", "new1", "new2", "new3")}
    assert "claimed for you first" in will[found["new1"]] and "claimed" not in will[found["held1"]]
    cannot = listed(page, "no")
    assert set(cannot) == {found["other"], found["done"]}
    assert "held by analyst2" in cannot[found["other"]]
    assert "already decided (no action)" in cannot[found["done"]]
    assert REPORTER not in page
    # a preview changes nothing
    assert await events(storage) == before and await statuses(storage) == shown_before

    confirm = hidden(page, "bulk-confirm")
    assert confirm["action"] == "decide" and confirm["status"] == "monitoring"
    done = await analyst.post("/console/bulk/confirm", {k: v for k, v in confirm.items() if k != "csrf"})
    assert done.status_code == 200, done.text
    changed = listed(done.text, "ok")
    assert set(changed) == set(will)
    assert all("marked monitoring" in says for says in changed.values())
    assert set(listed(done.text, "no")) == {found["other"], found["done"]}
    assert REPORTER not in done.text

    after = await events(storage)
    new_events = after - before
    for name in ("held1", "held2", "new1", "new2", "new3"):
        subject = f"case:{found[name]}"
        assert new_events[("case.decided", subject)] == 1, name
        assert new_events[("case.claimed", subject)] == (1 if name.startswith("new") else 0), name
    assert not any(
        subject in (f"case:{found['other']}", f"case:{found['done']}") for _, subject in new_events
    )
    assert sum(new_events.values()) == 5 + 3  # no event for the batch itself: one per change
    now = await statuses(storage)
    assert {now[found[n]][0] for n in ("held1", "held2", "new1", "new2", "new3")} == {"monitoring"}
    assert now[found["other"]] == ("in_review", "analyst2") and now[found["done"]][0] == "no_action"


async def test_a_report_arriving_after_the_preview_holds_its_case_back(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    found = await seven(storage)
    analyst = signed["analyst"]
    picks = {f"pick-{found[n]}": str(found[n]) for n in ("held1", "held2")}
    form = {"action": "decide", "status": "monitoring", "note": "watching", **picks}
    confirm = hidden((await analyst.post("/console/bulk/preview", form)).text, "bulk-confirm")
    await submit(storage, "one more", ("https://t.me/case_held1",))
    done = await analyst.post("/console/bulk/confirm", {k: v for k, v in confirm.items() if k != "csrf"})
    assert set(listed(done.text, "ok")) == {found["held2"]}
    assert "new report" in listed(done.text, "no")[found["held1"]]
    assert (await statuses(storage))[found["held1"]] == ("in_review", "analyst")


async def test_bulk_merge_note_and_assign_in_the_console(storage: Storage, signed: dict[str, Signed]) -> None:
    found = await seven(storage)
    analyst, supervisor = signed["analyst"], signed["supervisor"]

    # merge into a case: the target itself cannot be merged into itself
    picks = {f"pick-{found[n]}": str(found[n]) for n in ("new1", "new2", "new3")}
    form = {"action": "merge", "merge_into": str(found["new1"]), "note": "one network", **picks}
    page = (await analyst.post("/console/bulk/preview", form)).text
    assert set(listed(page, "ok")) == {found["new2"], found["new3"]}
    assert "the merge target" in listed(page, "no")[found["new1"]]
    confirm = hidden(page, "bulk-confirm")
    done = await analyst.post("/console/bulk/confirm", {k: v for k, v in confirm.items() if k != "csrf"})
    assert set(listed(done.text, "ok")) == {found["new2"], found["new3"]}
    now = await statuses(storage)
    assert now[found["new2"]][0] == now[found["new3"]][0] == "merged"
    closed = await analyst.post(
        "/console/bulk/preview", {**form, "merge_into": str(found["done"]), f"pick-{found['held1']}": "x"}
    )
    assert closed.status_code == 409 and "merge only into an open case" in closed.text

    # a note on each: any case but a merged one
    before = await events(storage)
    picks = {f"pick-{found[n]}": str(found[n]) for n in ("held1", "other", "done", "new2")}
    page = (
        await analyst.post("/console/bulk/preview", {"action": "note", "note": "seen in a raid", **picks})
    ).text
    assert set(listed(page, "ok")) == {found["held1"], found["other"], found["done"]}
    assert f"merged into #{found['new1']}" in listed(page, "no")[found["new2"]]
    confirm = hidden(page, "bulk-confirm")
    await analyst.post("/console/bulk/confirm", {k: v for k, v in confirm.items() if k != "csrf"})
    noted = (await events(storage)) - before
    assert noted == Counter({("case.noted", f"case:{found[n]}"): 1 for n in ("held1", "other", "done")})

    # assigning is for supervisors, to an active analyst or supervisor
    assign = {"action": "assign", "assignee": "analyst2", f"pick-{found['held1']}": "1"}
    refused = await analyst.post("/console/bulk/preview", assign)
    assert refused.status_code == 403
    nobody = await supervisor.post("/console/bulk/preview", {**assign, "assignee": "counsellor"})
    assert nobody.status_code == 400 and "active analyst or supervisor" in nobody.text
    picks = {f"pick-{found[n]}": str(found[n]) for n in ("held1", "done")}
    page = (await supervisor.post("/console/bulk/preview", {**assign, **picks})).text
    assert "taken from analyst" in listed(page, "ok")[found["held1"]]
    assert set(listed(page, "no")) == {found["done"]}
    confirm = hidden(page, "bulk-confirm")
    await supervisor.post("/console/bulk/confirm", {k: v for k, v in confirm.items() if k != "csrf"})
    assert (await statuses(storage))[found["held1"]] == ("in_review", "analyst2")


async def test_bad_bulk_forms_are_refused_saying_why(storage: Storage, signed: dict[str, Signed]) -> None:
    found = await seven(storage)
    analyst = signed["analyst"]
    pick = {f"pick-{found['new1']}": str(found["new1"])}
    for form, said in (
        ({"action": "decide", "status": "monitoring", "note": "n"}, "Select at least one case"),
        ({"action": "decide", "status": "no_action", "note": "n", **pick}, "needs a reason"),
        ({"action": "decide", "status": "monitoring", **pick}, "needs a note"),
        ({"action": "decide", "status": "merged", "note": "n", **pick}, "merge"),
        ({"action": "shred", "note": "n", **pick}, "action must be one of"),
        ({"action": "decide", "status": "referred", "note": "n", "agency": "KGB", **pick}, "agency"),
    ):
        answer = await analyst.post("/console/bulk/preview", form)
        assert answer.status_code == 400, (form, answer.text)
        assert said in answer.text, (said, answer.text)
    assert (await statuses(storage))[found["new1"]] == ("new", None)
    for role in ("counsellor", "admin"):
        for path in ("/console/bulk/preview", "/console/bulk/confirm"):
            answer = await signed[role].post(path, {"action": "note", "note": "n", **pick})
            assert answer.status_code == 403, (role, path)


async def test_the_api_does_bulk_actions_with_a_dry_run(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    found = await seven(storage)
    spec = await fetch(client)
    analyst = auth(tokens["analyst"])
    async with storage.db.transaction() as conn:
        await conn.execute(
            update(cases).where(cases.c.id == found["new3"]).values(needs_care=True, care_reason="burst")
        )
    body: dict[str, Any] = {
        "ids": sorted(found.values()),
        "action": "decide",
        "status": "referred",
        "agency": "pta",
        "note": "to the platform",
        "dry_run": True,
    }
    conforms(spec, "BulkRequest", body)
    before = await events(storage)
    dry = await client.post(f"{API}/cases/bulk", headers=analyst, json=body)
    assert dry.status_code == 200, dry.text
    conforms(spec, "BulkResult", dry.json())
    result = dry.json()
    assert result["dry_run"] is True and result["action"] == "decide"
    ok = {i["case_id"] for i in result["items"] if i["ok"]}
    assert ok == {found[n] for n in ("held1", "held2", "new1", "new2")}
    why = {i["case_id"]: i["says"] for i in result["items"] if not i["ok"]}
    assert "needs care" in why[found["new3"]] and "held by analyst2" in why[found["other"]]
    assert await events(storage) == before
    assert REPORTER not in dry.text

    seen = {str(i["case_id"]): i["report_count"] for i in result["items"] if i["ok"]}
    done = await client.post(
        f"{API}/cases/bulk", headers=analyst, json={**body, "dry_run": False, "seen_reports": seen}
    )
    assert done.status_code == 200, done.text
    conforms(spec, "BulkResult", done.json())
    assert {i["case_id"] for i in done.json()["items"] if i["ok"]} == ok
    decided = (await events(storage)) - before
    assert sum(n for (action, _), n in decided.items() if action == "case.decided") == 4
    assert (await Queue(storage).get_case(found["new1"]))["agency"] == "PTA"

    supervisor = auth(tokens["supervisor"])
    assign = {"ids": [found["new3"]], "action": "assign", "assignee": "analyst2"}
    assert (await client.post(f"{API}/cases/bulk", headers=analyst, json=assign)).status_code == 403
    assigned = await client.post(f"{API}/cases/bulk", headers=supervisor, json=assign)
    assert assigned.status_code == 200 and assigned.json()["items"][0]["ok"] is True
    for bad in (
        {"ids": [], "action": "note", "note": "n"},
        {"ids": ["1"], "action": "note", "note": "n"},
        {"ids": list(range(1, 200)), "action": "note", "note": "n"},
        {"ids": [1], "action": "note", "note": "n", "dry_run": "yes"},
        {"ids": [1], "action": "note", "note": "n", "colour": "red"},
        {"ids": [1], "action": "assign", "assignee": "counsellor"},
    ):
        who = supervisor if bad.get("action") == "assign" else analyst
        answer = await client.post(f"{API}/cases/bulk", headers=who, json=bad)
        assert answer.status_code == 400, (bad, answer.text)
        conforms(spec, "Problem", answer.json())


@pytest.mark.asyncio(loop_scope="module")
async def test_an_analyst_ticks_rows_with_x_and_they_stay_ticked_through_a_refresh(
    site: Site,  # noqa: F811 - the fixture
    chromium: Browser,
) -> None:
    for name in ("one", "two", "three"):
        await site.seed(f"https://t.me/bulk_{name}", platform="telegram")
    context = await chromium.new_context(viewport=DESKTOP)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    await sign_in(page, site.base, site.tokens["analyst"])
    await page.goto(f"{site.base}/console/queue")
    rows = page.locator("table[data-lane=all] tr[data-case-row]")
    for key in ("j", "x", "j", "x"):
        await page.keyboard.press(key)
    boxes = page.locator("table[data-lane=all] input[data-pick]")
    await expect(boxes.nth(0)).to_be_checked()
    await expect(boxes.nth(1)).to_be_checked()
    await expect(boxes.nth(2)).not_to_be_checked()
    await expect(page.locator("[data-picked-count]")).to_have_text("2 selected")
    async with page.expect_response(lambda r: "/console/queue/lanes" in r.url):
        await page.keyboard.press("r")
    await page.wait_for_timeout(300)  # htmx settles the swapped list, then the ticks are put back
    await expect(boxes.nth(0)).to_be_checked()
    await expect(boxes.nth(1)).to_be_checked()
    await page.keyboard.press("x")  # the second row is still the selected one: untick it
    await expect(boxes.nth(1)).not_to_be_checked()
    await expect(page.locator("[data-picked-count]")).to_have_text("1 selected")
    first = await rows.nth(0).get_attribute("data-case-id")

    await page.locator("#bulk-box summary").click()
    await page.locator("#bulk input[name=action][value=note]").check()
    await page.locator("#bulk-note").fill("part of one network")
    async with page.expect_navigation():
        await page.locator("#bulk button[type=submit]").click()
    await expect(page.locator("h2#bulk-will-title")).to_have_text("This case will be given the note")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")  # the confirmation has the focus
    await expect(page.locator(f'li[data-case="{first}"][data-bulk="ok"]')).to_contain_text("given the note")
    notes = (await Queue(site.storage).get_case(int(str(first))))["notes"]
    assert [n["note"] for n in notes] == ["part of one network"]
    watch.assert_clean()
    await context.close()
