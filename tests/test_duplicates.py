"""Accounts and near-duplicates (issue 22): cases grouped under the account that published them, and
suggestions of cases that are likely the same content, each saying why, with one key to merge.

Seeded as the pipeline stores reports (links canonicalised first), checked in storage, the API and the
console, on both backends. Never who reported.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import func, select

from nlu.urls import canonicalize, platform_of
from storage import duplicates as D
from storage.evidence_files import KeptFiles
from storage.queue import Queue
from storage.records import EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage
from storage.schema import audit_events, cases
from tests import test_console as security
from tests.browser import Watch, sign_in
from tests.test_api import API, auth
from tests.test_console import Signed
from tests.test_console_browser import DESKTOP, Site, site  # noqa: F401 - site is a fixture
from tests.test_openapi import conforms, fetch

app, signed, tokens = security.app, security.signed, security.tokens  # the console tests' fixtures

REPORTER = "reporter-pseudonym-that-must-never-show"
NEAR = (
    "Yeh Telegram group naujawanon ko jihad ke liye bharti kar raha hai aur paison ki madad mang raha hai, "
    "rabta number bhi diya hai"
)


def new_code() -> str:
    raw = uuid.uuid4().hex.upper()
    for bad, good in (("I", "1"), ("L", "1"), ("O", "0"), ("U", "V")):
        raw = raw.replace(bad, good)
    return f"D{raw[:3]}-{raw[3:7]}"


async def submit(
    storage: Storage,
    description: str = "seen",
    links: tuple[str, ...] = (),
    evidence: tuple[EvidenceRecord, ...] = (),
    channel: str = "webchat",
) -> str:
    """Store a report as the pipeline does (links canonicalised first); its code."""
    items: list[EvidenceRecord] = []
    for raw in links:
        canonical = canonicalize(raw)
        assert canonical is not None, raw
        items.append(EvidenceRecord("link", canonical, raw, platform_of(canonical)))
    code = new_code()
    report = NewReport(code, REPORTER, channel, "en", "recruitment", description, False, (*items, *evidence))
    turn = TurnRecord(channel, uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], (report,))
    assert (await storage.commit_turn(turn)).status.name == "OK"
    return code


async def case_of(storage: Storage, raw: str) -> int:
    async with storage.db.read() as conn:
        found = await conn.scalar(select(cases.c.id).where(cases.c.canonical_url == canonicalize(raw)))
    assert found is not None, raw
    return int(found)


async def case_titled(storage: Storage, start: str) -> int:
    async with storage.db.read() as conn:
        rows = (await conn.execute(select(cases.c.id, cases.c.title))).all()
    [found] = [r.id for r in rows if (r.title or "").startswith(start)]
    return int(found)


def suggested(found: D.Duplicates) -> dict[int, list[str]]:
    """Suggested case id -> what each says about why."""
    return {s["case_id"]: [r["says"] for r in s["reasons"]] for s in found.suggestions}


# --- links, without a database -----------------------------------------------------------------------


def test_the_target_of_a_link_sees_through_language_timestamps_mobile_hosts_and_tabs() -> None:
    def same(a: str, b: str) -> bool:
        ca, cb = canonicalize(a), canonicalize(b)
        assert ca is not None and cb is not None
        ta, tb = D.target_of(ca), D.target_of(cb)
        return ta is not None and tb is not None and ta.key == tb.key

    # a video and the same video with ?lang=en (canonical forms differ: lang is kept on TikTok and X)
    assert canonicalize("https://tiktok.com/@bad/video/123?lang=en") != canonicalize(
        "https://tiktok.com/@bad/video/123"
    )
    assert same("https://tiktok.com/@bad/video/123?lang=en", "https://www.tiktok.com/@bad/video/123")
    assert same("https://x.com/bad_one/status/1?lang=en", "https://twitter.com/bad_one/status/1")
    assert same("https://instagram.com/p/CoDe/?hl=ur", "https://instagram.com/p/CoDe")
    # youtu.be, a timestamp and m. are the same video already in canonical form; still one target
    assert same("https://youtu.be/AbC123?t=42", "https://m.youtube.com/watch?v=AbC123&t=1m2s")
    # a channel and its /videos or /featured page
    assert same("https://youtube.com/@BadTube", "https://youtube.com/@badtube/videos")
    assert same("https://youtube.com/@badtube/featured", "https://youtube.com/@badtube")
    assert same("https://youtube.com/channel/UCabc/videos", "https://youtube.com/channel/UCabc")
    assert same("https://facebook.com/some.page/videos", "https://facebook.com/some.page")
    # m. and www. on any site; a fragment never counts
    assert same("https://m.example.pk/news/1?lang=en", "https://www.example.pk/news/1#comments")
    # different things stay different: another video, a post of a page, a page of another site
    assert not same("https://tiktok.com/@bad/video/123", "https://tiktok.com/@bad/video/124")
    assert not same("https://facebook.com/some.page/posts/pfbid0Abc", "https://facebook.com/some.page")
    assert not same("https://youtube.com/watch?v=AbC123", "https://youtube.com/watch?v=abc123")
    assert not same("https://example.pk/news/1", "https://example.pk/news/10")
    assert not same("https://example.pk/news?id=1", "https://example.pk/news?id=2")

    target = D.target_of("https://youtube.com/watch?v=AbC123")
    assert target is not None and target.noun == "video"
    channel = D.target_of("https://youtube.com/@badtube/videos")
    assert channel is not None and channel.noun == "channel"


def test_the_account_of_a_case_is_its_platform_and_name() -> None:
    assert D.account("https://facebook.com/some.page/posts/pfbid0Abc") == D.Account("facebook", "some.page")
    assert D.account("https://t.me/chan/45") == D.Account("telegram", "chan")
    assert D.account("https://youtube.com/watch?v=AbC") is None
    assert D.account(None) is None
    assert D.Account("telegram", "chan").label == "telegram @chan"


def test_near_identical_descriptions_are_scored_on_normalised_words() -> None:
    changed = NEAR.upper().replace(",", "!!") + " jaldi"
    assert D.similarity(NEAR, changed) >= D.NEAR_IDENTICAL
    assert D.similarity(NEAR, "Yeh channel cricket ki videos dikhata hai aur kuch nahi karta") < 0.3
    assert D.similarity("seen", "seen") == 0.0  # too short to say anything


# --- storage, both backends ------------------------------------------------------------------------


async def test_a_video_and_the_same_video_with_lang_en_are_suggested_as_duplicates(storage: Storage) -> None:
    await submit(storage, "a video", ("https://tiktok.com/@bad/video/123",))
    await submit(storage, "the same video", ("https://www.tiktok.com/@bad/video/123?lang=en",))
    await submit(storage, "another video of theirs", ("https://tiktok.com/@bad/video/999",))
    plain = await case_of(storage, "https://tiktok.com/@bad/video/123")
    lang = await case_of(storage, "https://tiktok.com/@bad/video/123?lang=en")
    other = await case_of(storage, "https://tiktok.com/@bad/video/999")
    assert len({plain, lang, other}) == 3

    found = await D.find(storage.db, plain)
    assert suggested(found) == {lang: ["same video"]}
    assert suggested(await D.find(storage.db, lang)) == {plain: ["same video"]}
    # the third video is the same account's, shown apart from the duplicates
    assert found.account == D.Account("tiktok", "bad")
    assert {c["case_id"] for c in found.same_account} == {lang, other} and found.same_account_count == 2


async def test_a_channel_and_its_videos_page_are_duplicates(storage: Storage) -> None:
    await submit(storage, "channel", ("https://youtube.com/@BadTube",))
    await submit(storage, "its videos", ("https://www.youtube.com/@badtube/videos",))
    await submit(storage, "featured", ("https://youtube.com/@badtube/featured",))
    channel = await case_of(storage, "https://youtube.com/@badtube")
    videos = await case_of(storage, "https://youtube.com/@badtube/videos")
    featured = await case_of(storage, "https://youtube.com/@badtube/featured")
    found = await D.find(storage.db, videos)
    assert suggested(found) == {channel: ["same channel"], featured: ["same channel"]}
    assert found.suggestions[0]["mergeable"] is True


async def test_a_page_and_its_posts_are_one_account_not_duplicates(storage: Storage) -> None:
    await submit(storage, "the page", ("https://facebook.com/Some.Page",))
    await submit(storage, "a post", ("https://m.facebook.com/some.page/posts/pfbid0Abc",))
    await submit(storage, "another post", ("https://facebook.com/some.page/posts/pfbid0Xyz",))
    await submit(storage, "same name elsewhere", ("https://x.com/some.page",))
    page = await case_of(storage, "https://facebook.com/some.page")
    post = await case_of(storage, "https://facebook.com/some.page/posts/pfbid0Abc")
    other_post = await case_of(storage, "https://facebook.com/some.page/posts/pfbid0Xyz")

    found = await D.find(storage.db, post)
    assert found.suggestions == []
    assert found.account == D.Account("facebook", "some.page")
    assert [c["case_id"] for c in found.same_account] == sorted([page, other_post], reverse=True)
    assert found.same_account_count == 2  # the X account of the same name is another account


async def test_a_shared_handle_is_a_suggestion(storage: Storage) -> None:
    await submit(storage, "their channel", ("https://t.me/Recruiter_X",))
    await submit(
        storage, "they message boys", evidence=(EvidenceRecord("handle", "@recruiter_x", None, "telegram"),)
    )
    await submit(
        storage, "someone else", evidence=(EvidenceRecord("handle", "@another_one", None, "telegram"),)
    )
    channel = await case_of(storage, "https://t.me/recruiter_x")
    handle = await case_titled(storage, "@recruiter_x")
    assert suggested(await D.find(storage.db, handle)) == {channel: ["same handle @recruiter_x"]}
    assert suggested(await D.find(storage.db, channel)) == {handle: ["same handle @recruiter_x"]}


async def test_the_same_screenshot_on_two_cases_is_a_suggestion(storage: Storage) -> None:
    shot = "ab" * 32
    await submit(
        storage,
        "screenshot of their post",
        ("https://facebook.com/bad.page",),
        (EvidenceRecord("photo", "file-1", None, None, "tg-unique-1"),),
        channel="telegram",
    )
    await submit(
        storage,
        "forwarded screenshot",
        evidence=(EvidenceRecord("photo", "wa-file", None, None, "wa-unique-9"),),
        channel="whatsapp",
    )
    await submit(
        storage,
        "an unrelated screenshot",
        evidence=(EvidenceRecord("photo", "f", None, None, "tg-unique-2"),),
    )
    kept = KeptFiles(storage)
    await kept.record("telegram", "tg-unique-1", shot, 10)
    await kept.record("whatsapp", "wa-unique-9", shot, 10)
    await kept.record("webchat", "tg-unique-2", "cd" * 32, 10)
    page = await case_of(storage, "https://facebook.com/bad.page")
    forwarded = await case_titled(storage, "forwarded screenshot")
    assert suggested(await D.find(storage.db, page)) == {forwarded: ["same screenshot"]}
    assert suggested(await D.find(storage.db, forwarded)) == {page: ["same screenshot"]}


async def test_a_near_identical_description_is_a_suggestion(storage: Storage) -> None:
    await submit(storage, NEAR)
    await submit(storage, NEAR.upper().replace(",", "!!") + " jaldi")
    await submit(storage, "Yeh channel cricket ki videos dikhata hai aur kuch nahi karta, bas khel")
    first = await case_titled(storage, "Yeh Telegram")
    second = await case_titled(storage, "YEH TELEGRAM")
    assert first != second
    assert suggested(await D.find(storage.db, first)) == {second: ["near-identical description"]}


async def test_decided_cases_are_suggested_but_merged_ones_are_not_and_reasons_add_up(
    storage: Storage,
) -> None:
    shot = (EvidenceRecord("photo", "file-1", None, None, "tg-unique-same"),)
    await submit(storage, NEAR, ("https://tiktok.com/@bad/video/123",), shot)
    await submit(storage, NEAR + " jaldi", ("https://tiktok.com/@bad/video/123?lang=en",), shot)
    await submit(storage, "a third spelling", ("https://tiktok.com/@bad/video/123?lang=ur",))
    plain = await case_of(storage, "https://tiktok.com/@bad/video/123")
    lang = await case_of(storage, "https://tiktok.com/@bad/video/123?lang=en")
    third = await case_of(storage, "https://tiktok.com/@bad/video/123?lang=ur")
    queue = Queue(storage)
    await queue.claim_case(lang, "analyst")
    await queue.decide(lang, "analyst", "monitoring", "watching it")
    await queue.claim_case(third, "analyst")
    await queue.decide(third, "analyst", "merged", "same", merge_into=plain)

    found = await D.find(storage.db, plain)
    assert suggested(found) == {lang: ["same video", "same screenshot"]}
    [only] = found.suggestions
    assert only["status"] == "monitoring" and only["mergeable"] is False


async def test_two_pages_sharing_a_named_handle_or_a_pasted_complaint_are_not_duplicates(
    storage: Storage,
) -> None:
    """A citizen pasting one complaint about a network's pages, naming its recruiter: the pages stay apart
    (`m` would merge them); a report of the recruiter's handle alone, without a link, is suggested."""
    named = (EvidenceRecord("handle", "@recruiter_x", None, "telegram"),)
    await submit(storage, NEAR, ("https://t.me/first_page",), named)
    await submit(storage, NEAR, ("https://t.me/second_page",), named)
    await submit(storage, NEAR + " jaldi", evidence=named)
    first = await case_of(storage, "https://t.me/first_page")
    second = await case_of(storage, "https://t.me/second_page")
    alone = await case_titled(storage, "@recruiter_x")
    assert suggested(await D.find(storage.db, first)) == {
        alone: ["same handle @recruiter_x", "near-identical description"]
    }
    assert set(suggested(await D.find(storage.db, alone))) == {first, second}
    assert second not in suggested(await D.find(storage.db, first))


# --- the API and the console -------------------------------------------------------------------------


async def test_the_api_lists_duplicates_and_never_who_reported(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    await submit(storage, "channel", ("https://youtube.com/@badtube",))
    await submit(storage, "videos", ("https://youtube.com/@badtube/videos",))
    channel = await case_of(storage, "https://youtube.com/@badtube")
    videos = await case_of(storage, "https://youtube.com/@badtube/videos")
    spec = await fetch(client)
    answer = await client.get(f"{API}/cases/{videos}/duplicates", headers=auth(tokens["analyst"]))
    assert answer.status_code == 200, answer.text
    conforms(spec, "Duplicates", answer.json())
    body: dict[str, Any] = answer.json()
    assert body["case_id"] == videos
    assert [(i["case_id"], i["reasons"]) for i in body["items"]] == [
        (channel, [{"kind": "url", "says": "same channel"}])
    ]
    assert body["account"] == {"platform": "youtube", "name": "badtube"}
    assert body["same_account"]["count"] == 1
    assert REPORTER not in answer.text
    unknown = await client.get(f"{API}/cases/{videos}/duplicates?code=x", headers=auth(tokens["analyst"]))
    assert unknown.status_code == 400 and "unknown parameter code" in unknown.json()["detail"]
    missing = await client.get(f"{API}/cases/999999/duplicates", headers=auth(tokens["analyst"]))
    assert missing.status_code == 404
    counsellor = await client.get(f"{API}/cases/{videos}/duplicates", headers=auth(tokens["counsellor"]))
    assert counsellor.status_code == 403


def panel(page: str) -> str:
    found = re.search(r'<section class="panel" id="duplicates".*?</section>', page, re.S)
    assert found is not None
    return found.group(0)


async def test_the_case_page_shows_duplicates_and_the_same_account_and_merges_with_one_key(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    await submit(storage, "a video", ("https://tiktok.com/@bad/video/123",))
    await submit(storage, "the same video", ("https://tiktok.com/@bad/video/123?lang=en",))
    await submit(storage, "another of theirs", ("https://tiktok.com/@bad/video/999",))
    plain = await case_of(storage, "https://tiktok.com/@bad/video/123")
    lang = await case_of(storage, "https://tiktok.com/@bad/video/123?lang=en")
    other = await case_of(storage, "https://tiktok.com/@bad/video/999")
    analyst = signed["analyst"]

    page = (await analyst.get(f"/console/cases/{lang}")).text
    shown = panel(page)
    assert f'href="/console/cases/{plain}"' in shown and "same video" in shown
    assert "Same account" in page and "2 other cases" in page
    assert f'href="/console/cases/{other}"' in page
    assert 'id="merge-form"' not in shown and "Claim this case" in shown  # merging needs the case held
    assert REPORTER not in page

    await analyst.post(f"/console/cases/{lang}/claim")
    held = panel((await analyst.get(f"/console/cases/{lang}")).text)
    form = re.search(r'<form id="merge-form".*?</form>', held, re.S)
    assert form is not None
    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form.group(0)))
    assert fields["status"] == "merged" and fields["merge_into"] == str(plain)
    assert "<kbd>m</kbd>" in held
    note = re.search(r"<textarea[^>]*name=\"note\"[^>]*>([^<]*)</textarea>", form.group(0))
    assert note is not None and note.group(1).strip()  # a note is ready: the key, then Enter, merges

    merged = await analyst.post(
        f"/console/cases/{lang}/decision",
        {k: v for k, v in fields.items() if k != "csrf"} | {"note": note.group(1)},
    )
    assert merged.status_code == 303, merged.text
    detail = await Queue(storage).get_case(lang)
    assert detail["status"] == "merged" and detail["merged_into"] == plain
    async with storage.db.read() as conn:
        decided = await conn.scalar(
            select(func.count()).where(
                audit_events.c.action == "case.decided", audit_events.c.subject == f"case:{lang}"
            )
        )
    assert decided == 1


def test_the_merge_key_is_free_and_bound_in_the_console_script() -> None:
    script = (Path(__file__).parent.parent / "cyberunit/console/static/console.js").read_text()
    assert script.count('case "m":') == 1 and script.count('case "x":') == 1
    assert "merge-form" in script


async def test_the_queue_groups_cases_under_their_account(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    await submit(storage, "the page", ("https://facebook.com/some.page",))
    await submit(storage, "a post", ("https://facebook.com/some.page/posts/pfbid0Abc",))
    await submit(storage, "a channel", ("https://t.me/chan",))
    await submit(storage, "a video", ("https://youtube.com/watch?v=AbC123",))
    page = await case_of(storage, "https://facebook.com/some.page")
    post = await case_of(storage, "https://facebook.com/some.page/posts/pfbid0Abc")
    chan = await case_of(storage, "https://t.me/chan")
    video = await case_of(storage, "https://youtube.com/watch?v=AbC123")
    analyst = signed["analyst"]

    flat = (await analyst.get("/console/queue")).text
    assert 'class="group-head"' not in flat
    grouped = (await analyst.get("/console/queue?group=account")).text
    table = re.search(r'data-lane="all">(.*?)</table>', grouped, re.S)
    assert table is not None
    heads = re.findall(r'<tr class="group-head"[^>]*>\s*<th[^>]*>(.*?)</th>', table.group(1), re.S)
    labels = [re.sub(r"<[^>]+>|\s+", " ", h).strip() for h in heads]
    assert len(labels) == 2, labels
    assert "facebook @some.page" in labels[0] and "2 cases" in labels[0]
    assert "One case of its account, or no account" in labels[1] and "2 cases" in labels[1]
    # under each header its cases, every row still a data-case-row for j/k
    groups = re.split(r'<tr class="group-head"', table.group(1))[1:]
    rows = [[int(n) for n in re.findall(r'data-case-row data-case-id="(\d+)"', g)] for g in groups]
    assert sorted(rows[0]) == sorted([page, post]) and sorted(rows[1]) == sorted([chan, video])
    assert 'name="group"' in grouped and "group=account" in grouped  # the toggle, kept on refresh
    lanes = (await analyst.get("/console/queue/lanes?group=account")).text
    assert 'class="group-head"' in lanes
    bad = await analyst.get("/console/queue?group=handle")
    assert bad.status_code == 400 and "Unknown group" in bad.text


@pytest.mark.asyncio(loop_scope="module")
async def test_done_when_an_analyst_merges_a_suggested_duplicate_from_the_keyboard(
    site: Site,  # noqa: F811 - the fixture
    chromium: Browser,
) -> None:
    """Issue 22: claim the case on screen (c), merge it into the first suggestion (m, then Enter)."""
    await site.seed("https://tiktok.com/@bad/video/123", platform="tiktok")
    await site.seed("https://tiktok.com/@bad/video/123?lang=en", platform="tiktok")
    ids = {str(c["canonical_url"]): n for n, c in (await site.cases()).items()}
    plain, lang = ids["https://tiktok.com/@bad/video/123"], ids["https://tiktok.com/@bad/video/123?lang=en"]
    context = await chromium.new_context(viewport=DESKTOP)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    await sign_in(page, site.base, site.tokens["analyst"])
    await page.goto(f"{site.base}/console/cases/{lang}")
    await expect(page.locator("#duplicates")).to_contain_text("same video")
    await page.keyboard.press("m")  # not held yet: nothing to merge with, nothing happens
    assert page.url.endswith(f"/console/cases/{lang}")
    async with page.expect_navigation():
        await page.keyboard.press("c")
    await page.keyboard.press("m")
    await expect(page.locator("#merge-submit")).to_be_focused()
    await expect(page.locator("#merge-submit")).to_have_text(f"Merge this case into #{plain}")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.locator(".flash.ok")).to_contain_text(f"Case #{lang} decided: merged")
    merged = await Queue(site.storage).get_case(lang)
    assert merged["status"] == "merged" and merged["merged_into"] == plain
    watch.assert_clean()
    await context.close()
