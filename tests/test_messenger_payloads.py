"""Messenger as Meta really sends it: a corpus of payload shapes (tests/fixtures/messenger/, each new file
with a `_source` note of where its shape comes from) replayed through the real signed webhook, the Graph
API fake served over real HTTP on 127.0.0.1, and a fake Meta CDN (also real HTTP) for citizens' files.

Each problem of issue 19's Messenger half is a test here: shared posts and reels, the upper-case `URL`
fallback, screenshots whose CDN URL dies, edits, standby, the like sticker, policy enforcement, m.me refs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.app import StoredEvidence, make_pipeline
from bot.channels import messenger_metrics
from bot.channels.messenger import Messenger
from bot.channels.messenger_events import attachment_url
from bot.channels.meta import MediaHosts
from bot.metrics import REGISTRY
from bot.shared.config import Settings
from nlu.urls import canonicalize
from responses import catalog
from storage.evidence_files import KeptFiles
from storage.repository import Storage
from storage.schema import contacts, evidence, evidence_files, outbox
from tests.conftest import SQLITE_ONLY
from tests.fakes.graph_api import FakeGraphAPI
from tests.fakes.http_server import serve
from tests.test_messenger import (
    APP_SECRET,
    CODE,
    FIXTURES,
    PAGE_TOKEN,
    PSID_A,
    PSID_B,
    Citizen,
    Page,
    fixture,
    message_body,
    messenger_settings,
)

pytestmark = SQLITE_ONLY  # the corpus: see tests/conftest.py

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # the citizen's screenshot, as the CDN serves it
NEW_FIXTURES = {p.stem for p in FIXTURES.glob("*.json") if "_source" in json.loads(p.read_text("utf-8"))}


# --- the fake CDN and the page, over real HTTP ---------------------------------------------------------


@dataclass
class FakeCDN:
    """Meta's CDN as far as a download sees it: files served a given number of times, then 404 (the
    signed URL expired); a redirect; a file too large; every request counted by path."""

    files: dict[str, bytes] = field(default_factory=dict)
    serves: dict[str, int] = field(default_factory=dict)  # path -> times it still answers
    redirects: dict[str, str] = field(default_factory=dict)  # path -> where to
    hits: list[str] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        self.hits.append(path)
        if path in self.redirects:
            return RedirectResponse(self.redirects[path], status_code=302)
        left = self.serves.get(path, 0)
        if path not in self.files or left <= 0:
            return Response("URL signature expired", status_code=404)
        self.serves[path] = left - 1
        return Response(self.files[path], media_type="image/png")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET"])])


@dataclass
class Site:
    page: Page
    cdn: FakeCDN
    cdn_url: str
    other: FakeCDN  # a host that is not Meta's
    other_url: str
    settings: Settings


@asynccontextmanager
async def open_site(settings: Settings, storage: Storage, **changes: Any) -> AsyncIterator[Site]:
    """The Messenger channel with downloads on, the Graph API fake and two file servers over real HTTP:
    the fake CDN (the only allowed media host) and another host that must never be asked."""
    graph = FakeGraphAPI(PAGE_TOKEN, APP_SECRET)
    cdn, other = FakeCDN(), FakeCDN()
    with graph.serve() as graph_url, serve(cdn.app()) as cdn_url, serve(other.app()) as other_url:
        configured = messenger_settings(settings, graph_url).model_copy(
            update={
                "messenger_download_files": True,
                "messenger_media_hosts": cdn_url,
                "messenger_max_file_mb": 1,
                **changes,
            }
        )
        pipeline = make_pipeline(configured, storage)
        channel = Messenger(
            configured, pipeline, evidence=StoredEvidence(storage, configured.data_dir), backoff=0.001
        )
        transport = httpx.ASGITransport(app=Starlette(routes=channel.routes()))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield Site(Page(http, graph, channel, pipeline), cdn, cdn_url, other, other_url, configured)
        finally:
            await channel.stop()


@pytest.fixture
async def site(settings: Settings, storage: Storage) -> AsyncIterator[Site]:
    async with open_site(settings, storage) as opened:
        yield opened


def meta_body(name: str) -> bytes:
    """A fixture as Meta sends it: without our `_source` note, compact, non-ASCII escaped."""
    data = fixture(name)
    data.pop("_source", None)
    return json.dumps(data, separators=(",", ":")).encode()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def state_of(page: Page, psid: str = PSID_A) -> dict[str, Any]:
    pseudonym = page.pipeline.pseudonyms.of("messenger", psid)
    state: dict[str, Any] = (await page.pipeline.storage.load_conversation(pseudonym)).state
    return state


async def at_report_link(citizen: Citizen, lang: str = "en") -> None:
    await citizen.postback("GET_STARTED")
    await citizen.tap(f"lang:{lang}")
    await citizen.tap("menu:report")
    assert citizen.said == catalog().text("report.ask_link", lang)


def could_not_use(lang: str = "en") -> list[str]:
    """The beginnings of every "we cannot use that" answer."""
    texts = catalog()
    return [texts.text(f"common.unsupported_{k}", lang) for k in ("other", "sticker", "file")]


# --- the corpus: every fixture replays with its effect -------------------------------------------------

LINK_FIXTURES = (
    "post_share",
    "ig_post_share",
    "reel_share",
    "ig_reel_share",
    "share_link",
    "fallback_upper_url",
    "fallback_upper_url_with_text",
    "fallback_payload_upper_url",
    "fallback_legacy",
    "share_fallback",
)
EFFECTS: dict[str, tuple[str, ...]] = {
    **{name: ("link",) for name in LINK_FIXTURES},
    "text_with_link": ("link",),
    "image": ("evidence", "photo"),
    "image_lookaside": ("evidence", "photo"),
    "file_pdf": ("evidence", "document"),
    "sticker": ("thumbs_up",),  # the like button's sticker
    "like_sticker_large": ("thumbs_up",),
    "like_sticker_transition": ("thumbs_up",),
    "sticker_other": ("unsupported", "sticker"),
    "unsupported_attachment": ("unsupported", "location"),
    "attachment_without_url": ("unsupported", "other"),
    "fallback_without_payload": ("unsupported", "other"),
    "message_edit": ("edit_first_version",),
    "message_edit_link": ("edit_first_version",),  # no report is being written
    "standby_message": ("standby", "message"),
    "standby_postback": ("standby", "postback"),
    "policy_enforcement_block": ("policy", "block"),
    "policy_enforcement_unblock": ("policy", "unblock"),
    "referral_shortlink": ("referral", "school-campaign-2025"),
    "referral_ad": ("referral", "radio-spot"),
    "postback_referral": ("answered", "school-campaign-2025"),
    **{
        name: ("ignored",)
        for name in (
            "echo",
            "delivery",
            "read",
            "reaction",
            "unknown_kind",
            "empty_entries",
            "entry_without_messaging",
            "not_page",
        )
    },
    **{
        name: ("answered",)
        for name in (
            "text",
            "text_with_seq",
            "quick_reply",
            "quick_reply_foreign",
            "postback_get_started",
            "postback_menu",
            "postback_without_mid",
            "batch_two_users",
        )
    },
}
ALL_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_every_fixture_has_an_expected_effect_and_every_new_one_a_source() -> None:
    assert set(ALL_FIXTURES) == set(EFFECTS)
    assert len(NEW_FIXTURES) >= 24
    for name in NEW_FIXTURES:
        assert len(fixture(name)["_source"]) > 40, name


@pytest.mark.parametrize("name", ALL_FIXTURES)
async def test_each_fixture_replays_through_the_signed_webhook_with_its_effect(
    settings: Settings, storage: Storage, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    expected = EFFECTS[name]
    async with open_site(settings, storage, alert_webhook_url="https://alerts.example/hook") as site:
        page = site.page
        before = {
            "standby": metric("raabta_messenger_standby_total", kind=expected[-1]),
            "referral": metric("raabta_messenger_referrals_total", campaign=expected[-1]),
            "policy": metric("raabta_messenger_policy_enforcement_total", action=expected[-1]),
        }
        await page.deliver(meta_body(name))  # asserts the 200
        twice = len(page.graph.calls)
        await page.deliver(meta_body(name))  # Meta redelivers: nothing changes, nothing is sent again
        assert len(page.graph.calls) == twice
        said = "\n".join(c.text for c in page.graph.calls)
        kind = expected[0]
        if kind in ("link", "evidence", "thumbs_up", "unsupported", "edit_first_version", "answered"):
            assert page.graph.calls, said
        else:
            assert page.graph.calls == []
        if kind == "link":
            data = fixture(name)["entry"][0]["messaging"][0]["message"]
            url = attachment_url(data["attachments"][0])
            assert url is not None
            state = await state_of(page)
            assert [link["canonical"] for link in state["draft"]["links"]] == [canonicalize(url)]
            assert not any(s in said for s in could_not_use()), said
            assert catalog().text("report.link_received", "en", count=1) in said
        elif kind == "evidence":
            state = await state_of(page)
            assert [e["kind"] for e in state["draft"]["evidence"]] == [expected[1]]
        elif kind == "thumbs_up":
            assert said == "\N{THUMBS UP SIGN}"
        elif kind == "unsupported":
            assert said.startswith(catalog().text(f"common.unsupported_{expected[1]}", "en"))
        elif kind == "edit_first_version":
            assert said == catalog().text("messenger.edit_used_first", "en")
        elif kind == "standby":
            assert metric("raabta_messenger_standby_total", kind=expected[1]) == before["standby"] + 2
            assert await page.processed() == 0
        elif kind == "policy":
            assert metric("raabta_messenger_policy_enforcement_total", action=expected[1]) == (
                before["policy"] + 2
            )
            async with storage.db.read() as conn:
                alerts = (await conn.execute(select(outbox).where(outbox.c.channel == "alert"))).all()
            assert [json.loads(a.payload["text"])["action"] for a in alerts] == [expected[1]] * 2
        elif kind == "referral" or (kind == "answered" and len(expected) > 1):  # Get Started via m.me
            assert metric("raabta_messenger_referrals_total", campaign=expected[1]) == before["referral"] + 2
        elif kind == "ignored":
            assert await page.processed() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "policy" not in r.getMessage()]


# --- shared posts, reels and fallbacks give links ------------------------------------------------------


@pytest.mark.parametrize("name", LINK_FIXTURES)
@pytest.mark.parametrize("lang", ["en", "ur"])
async def test_a_shared_post_reel_or_link_is_the_reported_link_not_sorry(
    site: Site, name: str, lang: str
) -> None:
    citizen = Citizen(site.page, PSID_A)
    await at_report_link(citizen, lang)
    await citizen.attach(name)
    said = citizen.said
    assert catalog().text("report.link_received", lang, count=1) in said
    assert catalog().text("report.ask_category", lang) in said
    assert not any(s in said for s in could_not_use(lang)), said
    state = await state_of(site.page)
    assert state["step"] == "report.category" and len(state["draft"]["links"]) == 1


async def test_a_typed_link_with_its_legacy_upper_case_preview_gets_one_answer(site: Site) -> None:
    """Issue 19: the upper-case `URL` fallback counted as "without URL" and, with the URL also in the text,
    the citizen was told both "link received" and "I could not use that"."""
    citizen = Citizen(site.page, PSID_A)
    await at_report_link(citizen)
    body = fixture("fallback_upper_url_with_text")["entry"][0]["messaging"][0]["message"]
    mid, ts = "m_typed_and_previewed_" + "q" * 30, 1736000500000
    await citizen._send(message_body(PSID_A, mid, ts, text=body["text"], attachments=body["attachments"]))
    said = citizen.said
    assert said.startswith(catalog().text("report.link_received", "en", count=1))
    assert not any(s in said for s in could_not_use()), said
    state = await state_of(site.page)
    assert [x["canonical"] for x in state["draft"]["links"]] == ["https://facebook.com/some.page"]


# --- citizens' files: copied from Meta's CDN at once ---------------------------------------------------


def cdn_image(origin: str, path: str) -> dict[str, Any]:
    return {"type": "image", "payload": {"url": f"{origin}{path}?_nc_cat=105&oh=03_Q7cD&oe=67A1B2C3"}}


async def report_with_screenshot(citizen: Citizen, attachment: dict[str, Any]) -> str:
    await at_report_link(citizen)
    await citizen.say("facebook.com/Bad.Page")
    await citizen.tap("cat:propaganda")
    await citizen.tap("confirm:details")
    await citizen.tap("desc:skip")
    await citizen.send_attachments([attachment])
    await citizen.tap("evidence:done")
    await citizen.tap("confirm:submit")
    match = CODE.search(citizen.said)
    assert match, citizen.said
    return match.group(1)


async def test_a_screenshot_is_kept_with_its_hash_after_the_cdn_url_stops_answering(
    site: Site, storage: Storage
) -> None:
    path = "/v/t1.15752-9/471234567_1122334455667788_n.png"
    site.cdn.files[path] = PNG
    site.cdn.serves[path] = 1  # then the signed URL expires: 404
    citizen = Citizen(site.page, PSID_A)
    code = await report_with_screenshot(citizen, cdn_image(site.cdn_url, path))
    assert site.cdn.hits == [path]  # fetched once, when it was sent
    [photo] = [e for e in await storage.reports.evidence_of(code) if e["kind"] == "photo"]
    digest = hashlib.sha256(PNG).hexdigest()
    assert photo["sha256"] == digest
    copy = site.settings.data_dir / "evidence" / "messenger" / photo["fingerprint"]
    assert copy.read_bytes() == PNG
    assert (copy.stat().st_mode & 0o777) == 0o600
    # The CDN link is dead now: the copy and its hash stay; sending it again fetches nothing new.
    other = Citizen(site.page, PSID_B)
    again = await report_with_screenshot(other, cdn_image(site.cdn_url, path))
    assert site.cdn.hits == [path]  # the copy exists: not asked again
    [same] = [e for e in await storage.reports.evidence_of(again) if e["kind"] == "photo"]
    assert same["sha256"] == digest and copy.read_bytes() == PNG
    # Retention removes the copy; the hash stays on the evidence rows.
    removed = await KeptFiles(storage).purge(site.settings.data_dir, datetime.now(UTC) + timedelta(days=1))
    assert removed == 1 and not copy.exists()
    async with storage.db.read() as conn:
        kept = (await conn.execute(select(evidence_files))).one()
        hashes = {r.sha256 for r in await conn.execute(select(evidence).where(evidence.c.kind == "photo"))}
    assert kept.purged_at is not None and kept.sha256 == digest and hashes == {digest}


async def test_a_file_is_downloaded_when_it_arrives_not_when_the_report_is_sent(site: Site) -> None:
    path = "/v/t59.2708-21/471234567_n.pdf/screens.pdf"
    site.cdn.files[path] = b"%PDF-1.7\n" + b"x" * 2000
    site.cdn.serves[path] = 1
    citizen = Citizen(site.page, PSID_A)
    await at_report_link(citizen)
    await citizen.send_attachments([{"type": "file", "payload": {"url": f"{site.cdn_url}{path}?oe=1"}}])
    assert site.cdn.hits == [path]
    state = await state_of(site.page)
    [document] = state["draft"]["evidence"]
    assert (site.settings.data_dir / "evidence" / "messenger" / document["fingerprint"]).exists()


@pytest.mark.parametrize("case", ["other_host", "redirect_off_the_list", "too_large", "https_elsewhere"])
async def test_only_metas_media_hosts_are_asked_and_only_within_the_size_limit(site: Site, case: str) -> None:
    path = "/v/t1.15752-9/999_n.png"
    url = f"{site.cdn_url}{path}"
    if case == "other_host":
        site.other.files[path], site.other.serves[path] = PNG, 5
        url = f"{site.other_url}{path}"
    elif case == "redirect_off_the_list":
        site.other.files[path], site.other.serves[path] = PNG, 5
        site.cdn.redirects[path] = f"{site.other_url}{path}"
    elif case == "too_large":
        site.cdn.files[path], site.cdn.serves[path] = b"x" * (1024 * 1024 + 1), 5
    else:
        url = "https://scontent.xx.fbcdn.net.evil.example/v/t1/999_n.png"
    citizen = Citizen(site.page, PSID_A)
    await at_report_link(citizen)
    await citizen.send_attachments([{"type": "image", "payload": {"url": url + "?oe=1"}}])
    assert catalog().text("report.evidence_kept", "en", count=1) in citizen.said  # still evidence, by URL
    assert site.other.hits == []
    folder = site.settings.data_dir / "evidence" / "messenger"
    assert not folder.exists() or [p for p in folder.iterdir() if not p.name.endswith(".part")] == []


async def test_the_bot_never_fetches_a_reported_url_even_on_metas_hosts(site: Site) -> None:
    site.cdn.files["/some/page"], site.cdn.serves["/some/page"] = PNG, 5
    citizen = Citizen(site.page, PSID_A)
    await at_report_link(citizen)
    await citizen.say(f"{site.cdn_url}/some/page")
    await citizen.send_attachments([{"type": "fallback", "payload": {"url": f"{site.cdn_url}/some/page"}}])
    await citizen.send_attachments([{"type": "post", "payload": {"url": f"{site.cdn_url}/some/page"}}])
    assert site.cdn.hits == []


def test_the_media_host_allowlist() -> None:
    meta = MediaHosts.parse("fbcdn.net,fbsbx.com")
    assert meta.allows("https://scontent.xx.fbcdn.net/v/t1/a.jpg?oe=1")
    assert meta.allows("https://scontent-sin6-2.xx.fbcdn.net/v/a.jpg")
    assert meta.allows("https://cdn.fbsbx.com/v/t59/a.pdf")
    assert meta.allows("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1")
    assert meta.allows("https://fbcdn.net/a")
    for url in (
        "http://scontent.xx.fbcdn.net/v/a.jpg",  # not https
        "https://scontent.xx.fbcdn.net:8443/a.jpg",
        "https://evilfbcdn.net/a.jpg",
        "https://fbcdn.net.evil.example/a.jpg",
        "https://user:pw@scontent.xx.fbcdn.net/a.jpg",
        "https://facebook.com/some.page",
        "https://[::1/a",
        "file:///etc/passwd",
    ):
        assert not meta.allows(url), url
    local = MediaHosts.parse("http://127.0.0.1:8099")
    assert local.allows("http://127.0.0.1:8099/v/a.png")
    assert not local.allows("http://127.0.0.1:8098/v/a.png")
    assert not local.allows("https://scontent.xx.fbcdn.net/a.jpg")


# --- edits ---------------------------------------------------------------------------------------------


def edit_body(mid: str, text: str, number: int) -> dict[str, Any]:
    data = fixture("message_edit")
    data.pop("_source")
    data["entry"][0]["messaging"][0]["message_edit"] = {"mid": mid, "text": text, "num_edit": number}
    return data


async def test_an_edit_that_corrects_the_link_adds_it_to_the_report(site: Site) -> None:
    citizen = Citizen(site.page, PSID_A)
    await at_report_link(citizen)
    await citizen.say("facebook.com/Bad.Paeg")  # a typo
    citizen.seen = len(citizen.received)
    await site.page.deliver(edit_body("m_the_link_message", "facebook.com/Bad.Page", 1))
    assert catalog().text("report.link_received", "en", count=2) in citizen.said
    state = await state_of(site.page)
    assert [x["canonical"] for x in state["draft"]["links"]] == [
        "https://facebook.com/bad.paeg",
        "https://facebook.com/bad.page",
    ]
    calls = len(site.page.graph.calls)
    await site.page.deliver(edit_body("m_the_link_message", "facebook.com/Bad.Page", 1))  # redelivered
    assert len(site.page.graph.calls) == calls


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_an_edit_without_a_new_link_is_answered_we_used_the_first_version(
    site: Site, lang: str
) -> None:
    citizen = Citizen(site.page, PSID_A)
    await at_report_link(citizen, lang)
    await citizen.say("facebook.com/Bad.Page")
    before = await state_of(site.page)
    citizen.seen = len(citizen.received)
    await site.page.deliver(edit_body("m_the_link_message", "facebook.com/Bad.Page please", 1))
    assert citizen.said == catalog().text("messenger.edit_used_first", lang)
    assert await state_of(site.page) == before


# --- the like sticker ----------------------------------------------------------------------------------


async def test_the_like_sticker_is_a_yes_where_a_yes_or_no_is_asked(site: Site, storage: Storage) -> None:
    citizen = Citizen(site.page, PSID_A)
    await at_report_link(citizen)
    await citizen.say("facebook.com/Bad.Page")
    await citizen.tap("cat:propaganda")
    await citizen.tap("confirm:submit")
    assert citizen.last.payloads == ["updates:yes", "updates:no"]
    await citizen.attach("sticker")  # the like button
    assert citizen.said.startswith(catalog().text("report.updates_on", "en"))
    async with storage.db.read() as conn:
        assert len((await conn.execute(select(contacts))).all()) == 1


async def test_the_like_sticker_elsewhere_gets_a_thumbs_up_not_i_cannot_use_stickers(site: Site) -> None:
    citizen = Citizen(site.page, PSID_A)
    await at_report_link(citizen)
    before = await state_of(site.page)
    await citizen.attach("like_sticker_transition")
    assert citizen.said == "\N{THUMBS UP SIGN}"
    assert await state_of(site.page) == before
    await citizen.attach("like_sticker_large")  # a second like at once: no second thumb
    assert citizen.said == ""
    await citizen.attach("sticker_other")  # any other sticker is still a sticker
    assert citizen.said.startswith(catalog().text("common.unsupported_sticker", "en"))


# --- standby, policy enforcement, referrals ------------------------------------------------------------


async def test_standby_events_are_held_counted_and_logged_never_answered(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = metric("raabta_messenger_standby_total", kind="message")
    await site.page.deliver(meta_body("standby_message"))
    assert site.page.graph.calls == []
    assert metric("raabta_messenger_standby_total", kind="message") == before + 1
    assert "messenger_standby_held" in {r.getMessage() for r in caplog.records}
    assert await site.page.processed() == 0


async def test_policy_enforcement_raises_an_operator_alert_and_an_error_log(
    settings: Settings, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_site(settings, storage, alert_webhook_url="https://alerts.example/hook") as site:
        await site.page.deliver(meta_body("policy_enforcement_block"))
    [record] = [r for r in caplog.records if r.getMessage() == "messenger_policy_enforcement"]
    assert record.levelno == logging.ERROR
    async with storage.db.read() as conn:
        [alert] = (await conn.execute(select(outbox).where(outbox.c.channel == "alert"))).all()
    body = json.loads(alert.payload["text"])
    assert body["kind"] == "messenger_policy_enforcement" and body["action"] == "block"
    assert "Platform Policies" in body["reason"]


async def test_policy_enforcement_without_an_alert_webhook_still_logs_at_error(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    await site.page.deliver(meta_body("policy_enforcement_block"))
    errors = {r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR}
    assert {"messenger_policy_enforcement", "messenger_policy_alert_not_sent"} <= errors


async def test_m_me_refs_are_counted_per_campaign_and_tied_to_no_one(
    site: Site, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = metric("raabta_messenger_referrals_total", campaign="school-campaign-2025")
    await site.page.deliver(meta_body("postback_referral"))  # a new thread: Get Started with the ref
    await site.page.deliver(meta_body("referral_shortlink"))  # an existing thread opened again
    assert metric("raabta_messenger_referrals_total", campaign="school-campaign-2025") == before + 2
    state = await state_of(site.page)
    assert "school-campaign" not in json.dumps(state)
    for record in caplog.records:
        logged = record.getMessage() + json.dumps(getattr(record, "fields", {}), default=str)
        assert "school-campaign" not in logged and PSID_A not in logged


async def test_made_up_refs_cannot_grow_metrics_without_bound(site: Site) -> None:
    for n in range(messenger_metrics.MAX_CAMPAIGNS + 20):
        body = fixture("referral_shortlink")
        body.pop("_source")
        body["entry"][0]["messaging"][0]["referral"]["ref"] = f"made-up-{n}<script>"
        await site.page.deliver(body)
    labels = {
        s.labels["campaign"]
        for m in REGISTRY.collect()
        if m.name == "raabta_messenger_referrals"
        for s in m.samples
    }
    assert len(labels) <= messenger_metrics.MAX_CAMPAIGNS + 2  # + "other", "none"
    assert all("<" not in label for label in labels)


def test_fixture_folder_is_where_the_channel_tests_read() -> None:
    assert Path(FIXTURES).is_dir() and (FIXTURES / "post_share.json").exists()
