"""Issue 17's examples, through the web chat API as a citizen would type them: understood the way people
actually write, in the language they write in, and never losing what they said."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from responses import catalog
from storage.repository import Storage
from storage.schema import reports
from tests.talk import drop_language_line
from tests.test_webchat import CODE, WebChat

PAGE = "https://www.facebook.com/Some.Page"


def t(key: str, lang: str = "en", **params: object) -> str:
    return catalog().text(key, lang, **params)


async def started(client: httpx.AsyncClient, lang: str = "en") -> WebChat:
    chat = WebChat(client)
    await chat.send("/start")
    await chat.send(choice=f"lang:{lang}")
    return chat


# --- the word "report", and a link, start a report ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("report", "en"),
        ("i need to report", "en"),
        ("mujhe report karni hai", "ur-Latn"),
        ("مجھے رپورٹ کرنی ہے", "ur"),
        ("mjhe shikayat krni h", "ur-Latn"),
    ],
)
async def test_saying_report_opens_the_report_flow(client: httpx.AsyncClient, text: str, lang: str) -> None:
    chat = await started(client, lang)
    await chat.send(text)
    assert chat.messages[-1]["text"] == t("report.ask_link", lang)
    assert "link:none" in chat.buttons


async def test_report_with_a_link_goes_straight_to_the_kind_of_content(client: httpx.AsyncClient) -> None:
    chat = await started(client)
    await chat.send(f"report {PAGE}")
    assert chat.messages[-1]["text"] == t("report.ask_category")


@pytest.mark.parametrize("text", ["mujhe report karni hai", "مجھے رپورٹ کرنی ہے", "report"])
async def test_saying_report_again_mid_report_keeps_the_draft(client: httpx.AsyncClient, text: str) -> None:
    chat = await started(client)
    await chat.send(choice="menu:report")
    await chat.send(PAGE)
    await chat.send(text)
    assert chat.messages[-1]["text"] == t("report.ask_category"), "the report goes on"
    await chat.send(choice="cat:recruitment")
    assert "facebook.com/some.page" in chat.said


# --- relatives, bombs in films and cricket, signs, emoji, start over -----------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "my brother is addicted to pubg",
        "میرا بیٹا پڑھائی میں کمزور ہے، کیا کروں",
        "mera beta school nahi jata, kya karun",
    ],
)
async def test_an_everyday_problem_with_a_relative_is_not_radicalisation(
    client: httpx.AsyncClient, text: str
) -> None:
    chat = WebChat(client)
    await chat.send(text)
    said = drop_language_line(chat.said)
    assert all(t("family.welcome", lang) not in said for lang in ("en", "ur", "ur-Latn"))
    assert all(t("emergency.now", lang) not in said for lang in ("en", "ur", "ur-Latn"))


@pytest.mark.parametrize(
    ("text", "lang"),
    [("bhai ko koi brainwash kr rha h", "ur-Latn"), ("my bhai is getting brainwashed by some group", "en")],
)
async def test_a_worried_relative_gets_family_guidance_not_the_emergency_text(
    client: httpx.AsyncClient, text: str, lang: str
) -> None:
    chat = WebChat(client)
    await chat.send(text)
    assert str(chat.messages[0]["text"]) == t("family.welcome", lang)
    assert t("emergency.now", lang) not in chat.said


async def test_warning_signs_asked_in_the_third_person_get_the_signs(client: httpx.AsyncClient) -> None:
    chat = await started(client)
    await chat.send("What are the warning signs that someone is being radicalised?")
    assert t("family.signs") in chat.said


@pytest.mark.parametrize("text", ["the movie had a bomb scene lol", "pakistan ne dhamaka kar diya"])
async def test_bombs_in_films_and_cricket_are_no_emergency(client: httpx.AsyncClient, text: str) -> None:
    chat = await started(client)
    await chat.send(text)
    assert all(t("emergency.now", lang) not in chat.said for lang in ("en", "ur", "ur-Latn"))


@pytest.mark.parametrize("text", ["چھوڑیں، نہیں کرنا", "never mind, not doing this", "start over"])
async def test_cancel_said_in_words_stops_the_report(client: httpx.AsyncClient, text: str) -> None:
    chat = await started(client)
    await chat.send(choice="menu:report")
    await chat.send(choice="link:none")
    await chat.send(text)
    lang = "ur" if text.startswith("چ") else "en"
    assert chat.messages[0]["text"] in (t("common.cancelled_report"), t("common.cancelled_report", lang))
    assert "menu:report" in chat.buttons


async def test_emoji_answer_yes_no_and_thanks(client: httpx.AsyncClient) -> None:
    chat = await started(client)
    await chat.send(choice="menu:report")
    await chat.send(PAGE)
    await chat.send(choice="cat:propaganda")
    await chat.send("👍")  # yes, send it
    assert CODE.search(chat.said), chat.said
    await chat.send("👎")  # no updates, thanks
    assert chat.messages[0]["text"] == t("report.updates_off")
    await chat.send("🙏")
    assert chat.messages[0]["text"] == t("menu.thanks")


# --- language ----------------------------------------------------------------------------------------


async def test_a_first_message_in_urdu_is_answered_in_urdu(client: httpx.AsyncClient) -> None:
    chat = WebChat(client)
    await chat.send("/start")
    await chat.send("میرے بیٹے کو کوئی گروپ جہاد کے نام پر ورغلا رہا ہے، کیا کروں")
    assert chat.messages[0]["text"] == t("family.welcome", "ur")
    assert str(chat.messages[-1]["text"]).endswith(t("welcome.language_guessed", "ur"))


async def test_an_urdu_threat_gets_the_urdu_emergency_text(client: httpx.AsyncClient) -> None:
    chat = WebChat(client)
    await chat.send("/start")
    await chat.send("کل مسجد پر حملہ ہوگا")
    assert chat.messages[0]["text"] == t("emergency.now", "ur")


@pytest.mark.parametrize(
    ("text", "lang"), [("Roman Urdu mein baat karo", "ur-Latn"), ("اردو میں بات کریں", "ur")]
)
async def test_asking_for_a_language_switches_at_once(
    client: httpx.AsyncClient, text: str, lang: str
) -> None:
    chat = await started(client)
    await chat.send(text)
    assert chat.messages[0]["text"] == t("common.language_set", lang)


# --- drafts are never lost ---------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["language", "zaban"])
async def test_language_mid_report_comes_back_with_the_draft(client: httpx.AsyncClient, word: str) -> None:
    chat = await started(client)
    await chat.send(choice="menu:report")
    await chat.send(PAGE)
    await chat.send(word)
    await chat.send(choice="lang:ur-Latn")
    assert chat.messages[0]["text"] == t("common.language_set", "ur-Latn")
    assert chat.messages[-1]["text"] == t("report.ask_category", "ur-Latn")


async def test_a_second_tab_offers_the_unfinished_report(client: httpx.AsyncClient) -> None:
    chat = await started(client)
    await chat.send(choice="menu:report")
    await chat.send(PAGE)
    other_tab = WebChat(client, chat.session)
    await other_tab.send("/start")
    assert other_tab.messages[-1]["text"] == t("resume.ask")
    await other_tab.send(choice="resume:continue")
    assert other_tab.messages[-1]["text"] == t("report.ask_category")


async def test_cancel_on_an_urgent_summary_asks_first(client: httpx.AsyncClient) -> None:
    chat = await started(client)
    await chat.send("kal masjid pe hamla hoga")
    await chat.send(choice="nav:cancel")
    assert chat.messages[-1]["text"] == t("common.discard_ask")
    await chat.send(choice="discard:no")
    assert "confirm:submit" in chat.buttons


# --- typed answers count -----------------------------------------------------------------------------


async def test_typed_answers_at_every_step_are_kept(client: httpx.AsyncClient, storage: Storage) -> None:
    chat = await started(client, "ur-Latn")
    await chat.send(choice="menu:report")
    await chat.send("ye page larkon ko jihad ke liye bula raha hai")  # words where the link was asked
    assert chat.messages[0]["text"] == t("report.words_kept_link", "ur-Latn")
    await chat.send(choice="link:none")
    await chat.send("@jihadi_voice on tiktok, admin ka number 0300 1234567")
    await chat.send("bharti")  # a button's own word, typed
    assert "confirm:submit" in chat.buttons
    await chat.send("help")  # answered, and the summary again
    assert chat.messages[0]["text"] == t("report.step_help", "ur-Latn")
    await chat.send("status AW Y0 - 9QHY")  # a code with any spacing, answered mid-report
    assert "AWY0-9QHY" in str(chat.messages[0]["text"])
    await chat.send(choice="confirm:submit")
    match = CODE.search(chat.said)
    assert match, chat.said
    code = match.group(1)
    case = await storage.reports.case_of(code)
    assert case is not None and case["title"] == "@jihadi_voice (tiktok)", case  # the app kept with it
    async with storage.reader.connect() as conn:
        description = await conn.scalar(select(reports.c.description).where(reports.c.code == code))
    assert "jihad ke liye bula raha hai" in description  # typed where the link was asked
    assert "admin ka number 0300 1234567" in description  # where it was seen, as written


# --- the fast path -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_a_report_takes_four_taps_from_opening_the_chat(client: httpx.AsyncClient, lang: str) -> None:
    chat = WebChat(client)
    words = 0
    taps = 0

    async def tap(choice: str) -> None:
        nonlocal words, taps
        assert choice in chat.buttons, (choice, chat.buttons)
        taps += 1
        await chat.send(choice=choice)
        words += len(chat.said.split())

    await chat.send("/start")  # the page opens
    words += len(chat.said.split())
    await tap(f"lang:{lang}")
    await tap("menu:report")
    await chat.send(PAGE)  # pasted, not a tap
    words += len(chat.said.split())
    await tap("cat:propaganda")
    await tap("confirm:submit")
    assert CODE.search(chat.said), chat.said
    assert taps == 4
    assert words < 400, words  # README: "a report in four taps" with the words counted there
