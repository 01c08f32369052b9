"""The page's Messenger profile: Get Started button, greeting and persistent menu, in English and Urdu.

Texts come from responses/messenger.yaml. Meta shows the `default` locale unless the person's Facebook is
in a listed locale (`ur_PK` for Urdu). Menu payloads map to the engine's slash commands in
messenger_events.POSTBACKS.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.channels.messenger_send import GraphAnswer, GraphClient
from bot.dialogue import REGISTRY, Registry
from bot.shared.config import ConfigError, Settings
from responses import Catalog, catalog

LOCALES = {"default": "en", "ur_PK": "ur"}
MAX_GREETING = 160
MAX_MENU_TITLE = 30


def _menu(texts: Catalog, lang: str, flows: Registry) -> list[dict[str, str]]:
    """The persistent menu: the flows' commands that name a Messenger title, in their order."""
    return [
        {"type": "postback", "title": texts.text(c.menu_title, lang), "payload": c.postback}
        for c in flows.commands()
        if c.postback and c.menu_title
    ]


def profile(texts: Catalog | None = None, flows: Registry = REGISTRY) -> dict[str, Any]:
    """The messenger_profile body; raises ValueError when a text is over Meta's limit."""
    texts = texts or catalog()
    greetings = {loc: texts.text("messenger.greeting", lang) for loc, lang in LOCALES.items()}
    menus = {loc: _menu(texts, lang, flows) for loc, lang in LOCALES.items()}
    too_long = [loc for loc, text in greetings.items() if len(text) > MAX_GREETING] + [
        item["payload"] for items in menus.values() for item in items if len(item["title"]) > MAX_MENU_TITLE
    ]
    if too_long:
        raise ValueError(f"over Meta's length limits: {', '.join(too_long)}")
    return {
        "get_started": {"payload": "GET_STARTED"},
        "greeting": [{"locale": loc, "text": text} for loc, text in greetings.items()],
        "persistent_menu": [
            {"locale": loc, "composer_input_disabled": False, "call_to_actions": items}
            for loc, items in menus.items()
        ],
    }


async def push_profile(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> GraphAnswer:
    """POST the profile to {graph_api_url}/me/messenger_profile as the page."""
    if not (settings.messenger_page_token and settings.messenger_app_secret):
        raise ConfigError("RAABTA_MESSENGER_PAGE_TOKEN and RAABTA_MESSENGER_APP_SECRET must be set")
    client = GraphClient(
        settings.graph_api_url,
        settings.messenger_page_token.get_secret_value(),
        settings.messenger_app_secret.get_secret_value(),
        transport=transport,
    )
    try:
        return await client.post("me/messenger_profile", profile(), attempts=3)
    finally:
        await client.aclose()
