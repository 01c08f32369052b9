"""A toy flow added through the registry alone reaches the channels: Telegram's command menu (the real
python-telegram-bot against the fake Bot API), Messenger's persistent menu and its postbacks (signed
webhooks against the fake Graph API), on each storage backend."""

from __future__ import annotations

import pytest

from bot.app import make_pipeline
from bot.channels.messenger_profile import profile
from bot.channels.telegram import TelegramChannel
from bot.shared.config import Settings
from responses import Catalog
from storage.repository import Storage
from tests.fakes.graph_api import FakeGraphAPI
from tests.fakes.telegram_api import Citizen as TelegramCitizen
from tests.fakes.telegram_api import FakeBotAPI, serving
from tests.test_flows import TOY_REGISTRY, toy_texts  # noqa: F401 (the fixture)
from tests.test_messenger import APP_SECRET, PAGE_TOKEN, messenger_settings, open_page
from tests.test_messenger import Citizen as MessengerCitizen
from tests.test_telegram import fast, telegram_settings


async def test_telegram_lists_and_runs_a_toy_flows_command(
    settings: Settings,
    storage: Storage,
    toy_texts: Catalog,  # noqa: F811
) -> None:
    async with FakeBotAPI() as api:
        pipeline = make_pipeline(settings, storage, TOY_REGISTRY, toy_texts)
        channel = TelegramChannel(telegram_settings(settings, api, "webhook"), pipeline, pacer=fast())
        async with serving(channel, api) as deliver:
            commands = [c["command"] for c in api.called("setMyCommands")[0].params["commands"]]
            assert commands == ["start", "report", "status", "help", "language", "quiz", "privacy", "cancel"]
            urdu = api.called("setMyCommands")[1].params["commands"]
            assert {"command": "quiz", "description": toy_texts.text("quiz.button", "ur")} in urdu
            citizen = TelegramCitizen(api, deliver)
            await citizen.say("/start")
            await citizen.say("/quiz")
            assert citizen.last[-1].params["text"] == toy_texts.text("quiz.question", "en")


async def test_messenger_menus_and_postbacks_come_from_the_registry(
    settings: Settings,
    storage: Storage,
    toy_texts: Catalog,  # noqa: F811
) -> None:
    menu = profile(toy_texts, TOY_REGISTRY)["persistent_menu"][0]["call_to_actions"]
    assert {"type": "postback", "title": "Quiz", "payload": "MENU_QUIZ"} in menu
    graph = FakeGraphAPI(PAGE_TOKEN, APP_SECRET)
    pipeline = make_pipeline(messenger_settings(settings, graph.base_url), storage, TOY_REGISTRY, toy_texts)
    async with open_page(settings, storage, graph, pipeline) as page:
        citizen = MessengerCitizen(page, "7000000000000001")
        await citizen.postback("GET_STARTED")
        await citizen.tap("lang:ur")
        await citizen.postback("MENU_QUIZ", "Quiz")
        assert citizen.said == toy_texts.text("quiz.question", "ur")
        assert citizen.last.payloads[:2] == ["quiz:a", "quiz:b"]


@pytest.mark.parametrize("payload", ["MENU_REPORT", "MENU_STATUS", "MENU_HELP", "MENU_MAIN", "GET_STARTED"])
def test_the_shipped_menu_payloads_still_run_their_commands(payload: str) -> None:
    """Pages whose persistent menu was set before the registry keep working: the payloads did not change."""
    from bot.channels.messenger_events import POSTBACKS

    assert payload in POSTBACKS
