"""Messenger as an operator runs it: the three variables set, RAABTA_GRAPH_API_URL pointing at a Graph API
server (the fake, served over real HTTP on 127.0.0.1), the whole app with its lifespan, and the
`raabta messenger setup` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.app import create_app, make_pipeline
from bot.channels import messenger
from bot.channels.messenger import PATH
from bot.channels.messenger_events import POSTBACKS
from bot.channels.messenger_profile import MAX_GREETING, MAX_MENU_TITLE
from bot.shared.config import Settings
from responses import catalog
from storage.repository import Storage
from storage.schema import reports
from tests.fakes.graph_api import FakeGraphAPI
from tests.test_cli import env_for
from tests.test_messenger import (
    APP_SECRET,
    CODE,
    PAGE_TOKEN,
    PSID_A,
    VERIFY_TOKEN,
    attachment_body,
    message_body,
    messenger_settings,
    postback_body,
    sign,
)

RAABTA = [sys.executable, "-m", "bot.cli"]


def test_the_channel_is_off_unless_all_three_variables_are_set(settings: Settings, storage: Storage) -> None:
    pipeline = make_pipeline(settings, storage)
    full = messenger_settings(settings, "http://127.0.0.1:9/v21.0")
    assert messenger.setup(settings, pipeline) is None
    for missing in ("messenger_page_token", "messenger_app_secret", "messenger_verify_token"):
        assert messenger.setup(full.model_copy(update={missing: None}), pipeline) is None
    assert (
        messenger.setup(full.model_copy(update={"messenger_verify_token": SecretStr("")}), pipeline) is None
    )


async def test_get_started_to_a_reference_code_with_a_link_and_a_photo_through_the_whole_app(
    settings: Settings, storage: Storage
) -> None:
    graph = FakeGraphAPI(PAGE_TOKEN, APP_SECRET)
    with graph.serve() as url:
        app = create_app(messenger_settings(settings, url), storage)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        ):

            async def post(body: dict[str, Any], signature: str | None = None) -> int:
                content = json.dumps(body, separators=(",", ":")).encode()
                headers = {"X-Hub-Signature-256": signature or sign(content)}
                return (await http.post(PATH, content=content, headers=headers)).status_code

            check = await http.get(
                PATH,
                params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
            )
            assert check.text == "42"
            steps: list[dict[str, Any]] = [
                postback_body(PSID_A, "m_e2e_01" + "a" * 30, 1, "GET_STARTED", "Get Started"),
                postback_body(PSID_A, "m_e2e_02" + "a" * 30, 2, "lang:ur", "اردو"),
                message_body(
                    PSID_A, "m_e2e_03" + "a" * 30, 3, text="x", quick_reply={"payload": "menu:report"}
                ),
                attachment_body(PSID_A, "m_e2e_04" + "a" * 30, 4, "share_fallback"),
                message_body(
                    PSID_A, "m_e2e_05" + "a" * 30, 5, text="x", quick_reply={"payload": "cat:recruitment"}
                ),
                message_body(
                    PSID_A, "m_e2e_06" + "a" * 30, 6, text="x", quick_reply={"payload": "confirm:details"}
                ),
                message_body(PSID_A, "m_e2e_07" + "a" * 30, 7, text="یہ پیج نوجوانوں کو بھرتی کرتا ہے"),
                attachment_body(PSID_A, "m_e2e_08" + "a" * 30, 8, "image"),
                message_body(
                    PSID_A, "m_e2e_09" + "a" * 30, 9, text="x", quick_reply={"payload": "evidence:done"}
                ),
                message_body(
                    PSID_A, "m_e2e_10" + "a" * 30, 10, text="x", quick_reply={"payload": "confirm:submit"}
                ),
            ]
            for step in steps:
                assert await post(step) == 200
            # A replay of the submission and a forged post: acknowledged or refused, and nothing changes.
            assert await post(steps[-1]) == 200
            forged = message_body(
                PSID_A, "m_e2e_forged" + "b" * 30, 11, text="x", quick_reply={"payload": "nav:menu"}
            )
            assert await post(forged, sign(b"other bytes")) == 403
        # The lifespan has ended: the channel finished every reply before stopping.
    sent = graph.sent_to(PSID_A)
    texts = [c.text for c in sent]
    codes = {m.group(1) for t in texts for m in CODE.finditer(t)}
    assert len(codes) == 1
    code = codes.pop()
    assert catalog().text("report.done", "ur", code=code) in texts
    assert sent[-1].payloads == ["updates:yes", "updates:no"]
    assert (
        sum(catalog().text("report.done", "ur", code=code) == t for t in texts) == 1
    )  # the replay sent nothing
    assert await storage.reports.codes() == [code]
    kinds = {e["kind"] for e in await storage.reports.evidence_of(code)}
    assert kinds == {"link", "photo"}
    async with storage.reader.connect() as conn:
        described = await conn.scalar(select(reports.c.description).where(reports.c.code == code))
    assert described == "یہ پیج نوجوانوں کو بھرتی کرتا ہے"
    assert await storage.count("processed_events") == len(steps)


def test_messenger_setup_sets_get_started_greeting_and_menu_in_english_and_urdu(tmp_path: Path) -> None:
    graph = FakeGraphAPI(PAGE_TOKEN, APP_SECRET)
    with graph.serve() as url:
        env = env_for(
            tmp_path,
            RAABTA_GRAPH_API_URL=url,
            RAABTA_MESSENGER_PAGE_TOKEN=PAGE_TOKEN,
            RAABTA_MESSENGER_APP_SECRET=APP_SECRET,
        )
        done = subprocess.run(
            [*RAABTA, "messenger", "setup"], capture_output=True, text=True, env=env, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "messenger profile set" in done.stdout
        assert PAGE_TOKEN not in done.stdout + done.stderr
        refused = subprocess.run(
            [*RAABTA, "messenger", "setup"],
            capture_output=True,
            text=True,
            env={**env, "RAABTA_MESSENGER_PAGE_TOKEN": "wrong-token"},
            timeout=60,
            check=False,
        )
        assert refused.returncode == 1
        assert "invalid_token" in refused.stderr and "wrong-token" not in refused.stderr
    [profile, *_] = [c.body for c in graph.calls if c.path == "messenger_profile" and c.status == 200]
    assert profile["get_started"] == {"payload": "GET_STARTED"}
    greetings = {g["locale"]: g["text"] for g in profile["greeting"]}
    assert greetings == {
        "default": catalog().text("messenger.greeting", "en"),
        "ur_PK": catalog().text("messenger.greeting", "ur"),
    }
    assert all(len(t) <= MAX_GREETING for t in greetings.values())
    menus = {m["locale"]: m["call_to_actions"] for m in profile["persistent_menu"]}
    assert set(menus) == {"default", "ur_PK"}
    assert menus["ur_PK"][0] == {
        "type": "postback",
        "title": catalog().text("messenger.menu_report", "ur"),
        "payload": "MENU_REPORT",
    }
    for items in menus.values():
        assert all(len(i["title"]) <= MAX_MENU_TITLE for i in items)
        assert {i["payload"] for i in items} <= set(POSTBACKS)


@pytest.mark.parametrize("missing", ["RAABTA_MESSENGER_PAGE_TOKEN", "RAABTA_MESSENGER_APP_SECRET"])
def test_messenger_setup_names_what_is_missing(tmp_path: Path, missing: str) -> None:
    env = env_for(
        tmp_path,
        RAABTA_GRAPH_API_URL="http://127.0.0.1:9/v21.0",
        RAABTA_MESSENGER_PAGE_TOKEN=PAGE_TOKEN,
        RAABTA_MESSENGER_APP_SECRET=APP_SECRET,
    )
    del env[missing]
    done = subprocess.run(
        [*RAABTA, "messenger", "setup"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode != 0
    assert missing in done.stderr
