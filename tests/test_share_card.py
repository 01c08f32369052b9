"""A card passed on as a link (issue 24): every Learn card and claim answer carries the link that opens the
web chat on it (`<RAABTA_PUBLIC_URL>/chat?card=<id>`); opening it starts the conversation on that card in
the browser's language, or shows it in a known conversation's language; an id that names nothing gets the
ordinary welcome. The engine directly, then the real app over HTTP on both backends. The page's own part
(reading the address, the browser's language) runs in Chromium: tests/test_share_card_browser.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.dialogue import ClaimAsked, Context, Inbound, Outcome, State, handle
from bot.shared import library
from bot.shared.config import ConfigError, load_settings
from bot.shared.digest import week_item
from nlu import parse
from responses import catalog
from responses.bidi import FSI, PDI
from storage.records import TurnRecord
from storage.repository import Storage
from storage.schema import outbox
from tests.conftest import SECRET
from tests.test_cli import env_for
from tests.test_queue_cli import raabta
from tests.test_webchat import API, WebChat

URL = "https://raabta.example.pk"
CARD = "paigham"
CLAIM = "democracy_kufr"
GARBLED = (
    "<script>alert(1)</script>",
    "a" * 41,  # one longer than an id may be
    "x" * 3000,
    "پیغام",
    "paigham\u202e",
    "../../etc/passwd",
    "paigham;drop",
    "learn.paigham",
    "",
)


def send(text: str, state: State | None = None, public_url: str = URL) -> Outcome:
    inbound = Inbound("webchat", "someone", uuid.uuid4().hex, text=text)
    return handle(inbound, parse(text), state or State(), Context("TEST-0001", public_url=public_url))


def texts(outcome: Outcome) -> list[str]:
    return [r.text for r in outcome.replies]


def test_card_names_and_claim_ids_never_meet_and_each_is_found_by_its_link() -> None:
    shipped = catalog()
    assert shipped.claims is not None
    cards, claims = set(shipped.cards("learn")), set(shipped.claims.ids())
    assert cards and claims and not cards & claims, cards & claims
    for name in cards | claims:
        assert library.ID.fullmatch(name), name
    assert {library.find(shipped, c) for c in cards} == {f"learn.{c}" for c in cards}
    assert {library.find(shipped, c) for c in claims} == {f"claims.{c}" for c in claims}
    assert all(library.find(shipped, g) is None for g in GARBLED)
    assert library.link(URL + "/", CLAIM) == f"{URL}/chat?card={CLAIM}"


@pytest.mark.parametrize("lang", ["en", "ur"])
@pytest.mark.parametrize(("item", "key"), [(CARD, f"learn.{CARD}"), (CLAIM, f"claims.{CLAIM}")])
def test_a_link_starts_a_conversation_on_its_card_in_the_browsers_language(
    lang: str, item: str, key: str
) -> None:
    shipped = catalog()
    outcome = send(f"/card {item} {lang}")
    hello, card = outcome.replies
    assert hello.text == shipped.text("welcome.hello", lang) and not hello.buttons
    assert card.text == "\n\n".join(
        (
            shipped.text(key, lang),
            library.share_line(shipped, lang, URL, item),
            shipped.text("welcome.language_guessed", lang),
        )
    )
    assert f"{URL}/chat?card={item}" in card.text and card.lang == lang
    assert outcome.state.lang == lang and outcome.state.step == "learn"
    assert outcome.state.offered == [b.id for b in card.buttons] and "nav:menu" in outcome.state.offered
    assert not any(isinstance(e, ClaimAsked) for e in outcome.effects), "a link opened is not a question"


def test_a_browser_language_we_do_not_speak_gets_english() -> None:
    for said in ("/card paigham fr", "/card paigham", "/card paigham ur-Latn-x"):
        assert send(said).state.lang == "en", said


def test_a_known_conversation_sees_the_card_in_its_own_language() -> None:
    first = send("/start")
    chosen = handle(
        Inbound("webchat", "someone", "2", choice="lang:ur-Latn"), parse(""), first.state, Context("T")
    )
    outcome = send(f"/card {CLAIM} en", chosen.state)
    [answer] = outcome.replies
    assert answer.text.startswith(catalog().text(f"claims.{CLAIM}", "ur-Latn"))
    assert answer.lang == "ur-Latn" and outcome.state.lang == "ur-Latn"
    assert catalog().text("welcome.hello", "ur-Latn") not in answer.text


@pytest.mark.parametrize("garbled", GARBLED)
def test_an_id_that_names_nothing_gets_the_ordinary_welcome(garbled: str) -> None:
    text = f"/card {garbled} en"
    if len(text) > 4000:
        return  # longer than any message the engine reads: its "too long" answer (the page never sends it)
    assert texts(send(text)) == texts(send("/start"))
    assert send(text).state == send("/start").state
    started = send("/start")
    chosen = handle(Inbound("webchat", "s", "2", choice="lang:en"), parse(""), started.state, Context("T"))
    assert texts(send(text, chosen.state)) == texts(send("/start", chosen.state)), "a known one: greeted"


def test_every_card_and_answer_carries_its_link_only_with_a_public_address() -> None:
    shipped = catalog()
    state = send(f"/card {CARD} en").state
    every = shipped.cards("learn")
    for card in (*every[1:], every[0]):  # each card offers the others
        press = Inbound("webchat", "someone", uuid.uuid4().hex, choice=f"learn:{card}")
        said = handle(press, parse(""), state, Context("T", public_url=URL))
        assert said.replies[-1].text.endswith(library.share_line(shipped, "en", URL, card))
        bare = handle(press, parse(""), state, Context("T"))
        assert "/chat?card=" not in bare.replies[-1].text
        state = said.state
    asked = send("is democracy kufr?", state)
    assert ClaimAsked(CLAIM, "en") in asked.effects
    assert asked.replies[-1].text.endswith(library.share_line(shipped, "en", URL, CLAIM))


def test_in_urdu_the_link_is_isolated_so_it_reads_left_to_right() -> None:
    [_, card] = send(f"/card {CARD} ur").replies
    assert f"{FSI}{URL}/chat?card={CARD}{PDI}" in card.text


def test_the_public_address_is_checked_at_start(tmp_path: Path) -> None:
    settings = load_settings(secret_key=SECRET, data_dir=tmp_path, public_url=URL + "/")
    assert settings.public_url == URL
    for bad in ("raabta.example.pk", "https://raabta.example.pk/?x=1", "https://raabta.example.pk/#top"):
        with pytest.raises(ConfigError, match="RAABTA_PUBLIC_URL"):
            load_settings(secret_key=SECRET, data_dir=tmp_path, public_url=bad)


# --- the real app, over HTTP -----------------------------------------------------------------------------


@pytest.fixture
async def shared(db_url: str, storage: Storage, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        database_url=db_url,
        secret_key=SECRET,
        data_dir=tmp_path / "data",
        webchat_ip_limit=0,
        webchat_new_sessions_per_hour=0,
        public_url=URL,
    )
    transport = httpx.ASGITransport(app=create_app(settings, storage))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_a_link_opens_the_web_chat_on_its_claim_and_a_reload_restores_it(
    shared: httpx.AsyncClient,
) -> None:
    chat = WebChat(shared)
    hello, answer = await chat.send(f"/card {CLAIM} ur")
    assert hello["text"] == catalog().text("welcome.hello", "ur") and hello["lang"] == "ur"
    assert str(answer["text"]).startswith(catalog().text(f"claims.{CLAIM}", "ur"))
    assert f"{URL}/chat?card={CLAIM}" in str(answer["text"])
    assert chat.buttons == [f"claim:{CLAIM}:more", "claim:ask", "claim:talk", "nav:menu"]
    restored = (await shared.get("/webchat/api/history", params={"session": chat.session})).json()
    assert restored["lang"] == "ur"
    assert [m["text"] for m in restored["messages"]] == [hello["text"], answer["text"]]
    assert [b["id"] for b in restored["buttons"]] == chat.buttons
    await chat.press(f"claim:{CLAIM}:more")
    assert str(chat.messages[-1]["text"]).startswith(catalog().text(f"claims.{CLAIM}.more", "ur"))


async def test_a_link_opened_in_a_known_chat_shows_the_card_in_its_language(
    shared: httpx.AsyncClient,
) -> None:
    chat = WebChat(shared)
    await chat.send("/start")
    await chat.press("lang:ur-Latn")
    [card] = await chat.send(f"/card {CARD} en")
    assert card["lang"] == "ur-Latn"
    assert str(card["text"]).startswith(catalog().text(f"learn.{CARD}", "ur-Latn"))
    assert str(card["text"]).endswith(library.share_line(catalog(), "ur-Latn", URL, CARD))


async def test_garbled_links_get_the_ordinary_welcome_and_nothing_breaks(shared: httpx.AsyncClient) -> None:
    welcome = [m["text"] for m in await WebChat(shared).send("/start")]
    for garbled in GARBLED[:-1]:
        text = f"/card {garbled} en"
        chat = WebChat(shared)
        said = await chat.send(text)
        if len(text) > 4000:
            assert said[0]["text"] == catalog().text("common.too_long", "en", limit=4000)
        else:
            assert [m["text"] for m in said] == welcome, garbled
        assert "<script>" not in str(said)
    page = await shared.get("/chat", params={"card": "<script>alert(1)</script>"})
    assert page.status_code == 200 and "alert(1)" not in page.text
    too_long = await shared.post(API, json={"session": uuid.uuid4().hex, "choice": "card:" + "a" * 100})
    assert too_long.status_code == 400


async def test_the_weekly_card_sent_from_the_command_line_carries_its_link(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    record = TurnRecord("telegram", uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], subscribe="ur-Latn")
    await storage.commit_turn(record)
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url, RAABTA_PUBLIC_URL=URL)
    sent = await raabta(env, "digest", "send", "--week", "2026-W10")
    assert sent.returncode == 0, sent.stderr
    item = week_item(catalog(), date.fromisocalendar(2026, 10, 1))
    async with storage.reader.connect() as conn:
        [payload] = (await conn.scalars(select(outbox.c.payload))).all()
    assert payload["text"].startswith(catalog().text("digest.header", "ur-Latn"))
    assert f"{URL}/chat?card={library.link_id(item)}" in payload["text"]
