"""Bidi-safe text (issue 18): numbers, phone numbers, codes, links, @handles and e-mail addresses in Urdu
texts are wrapped in FSI…PDI so that "0800-39393" never reads "39393-0800"; what citizens copy back from
such a text, with its controls, still parses. The visual order itself is checked in Chromium
(tests/test_bidi_browser.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.messenger_profile import MAX_GREETING, MAX_MENU_TITLE, profile
from bot.channels.messenger_render import MAX_TEMPLATE_TEXT, MAX_TEXT, MAX_TITLE, messages, split_text, units
from bot.dialogue import Button, Reply
from bot.dialogue.flows.family import phone_number
from bot.shared.status import status_text
from nlu import parse
from nlu.normalize import BIDI_CONTROLS, clean, normalize, strip_bidi
from nlu.refcode import find_codes, parse_code
from nlu.urls import canonicalize, find_urls
from responses import PARAMS, Catalog, catalog, placeholders
from responses.bidi import CONTROLS, FSI, PDI, isolate, strip
from responses.languages import LANGUAGES
from tests.talk import Talk, status

CODE = "K7QM-2XD9"
WHEN = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


def shown(text: str) -> str:
    """`text` with its isolates made visible, for assertions and failure messages."""
    return text.replace(FSI, "⟦").replace(PDI, "⟧")


def balanced(text: str) -> bool:
    """Every FSI closed by a PDI on the same line, none nested, none stray."""
    for line in text.split("\n"):
        depth = 0
        for char in line:
            if char == FSI:
                depth += 1
                if depth > 1:
                    return False
            elif char == PDI:
                depth -= 1
                if depth < 0:
                    return False
        if depth:
            return False
    return True


def sample_params(texts: Catalog, lang: str) -> dict[str, object]:
    """A value for every placeholder the code fills, as the flows fill them (helplines come by themselves)."""
    lines = "\n".join(
        texts.text("help.helpline_line", lang, name=line.name[lang], contact=line.contact)
        for line in texts.shown_helplines()
    )
    day = "3 دسمبر 2026" if lang == "ur" else "3 Dec 2026"
    values: dict[str, object] = {
        "category": texts.text("categories.recruitment", lang),
        "code": CODE,
        "count": 3,
        "days": 30,
        "description": "یہ پیج 0300 1234567 پر بھرتی کرتا ہے",
        "limit": 4000,
        "where": "https://facebook.com/some.page, @jihadi_voice (tiktok)",
        "received": 1250,
        "referred": 310,
        "monitored": 42,
        "month": day,
        "name": "DRF",
        "number": "1122",
        "contact": "0800-39393",
        "lines": lines,
        "time": "9-12",
        "card": texts.text("learn.paigham", lang),
        "received_on": day,
        "reviewed_on": day,
        "decided_on": day,
        "reason": texts.text("reasons.already_removed", lang),
        "question": "Which group posted the video first? 0300 1234567",
    }
    assert set(values) >= PARAMS, f"a new placeholder needs a sample: {sorted(PARAMS - set(values))}"
    return values


def every_text(lang: str, texts: Catalog | None = None) -> dict[str, str]:
    """Every text of the catalog in `lang` as the bot would send it, placeholders filled with samples."""
    texts = texts or catalog()
    params = sample_params(texts, lang)
    return {key: texts.text(key, lang, **params) for key in sorted(texts.texts)}


def every_urdu_text_with_a_digit() -> dict[str, str]:
    return {key: text for key, text in every_text("ur").items() if re.search(r"\d", text)}


# --- the issue's four examples -------------------------------------------------------------------------

ISSUE = [
    ("ڈیجیٹل رائٹس فاؤنڈیشن کی ہیلپ لائن 0800-39393 پر کال کریں۔", "0800-39393"),
    ("ایکٹ ارلی: 0800 011 3764 (برطانیہ)", "0800 011 3764"),
    ("اپنا فون نمبر لکھیں (مثلاً 0300 1234567)۔", "0300 1234567"),
    ("اکاؤنٹ کا @name بھی بھیج سکتے ہیں۔", "@name"),
]


@pytest.mark.parametrize(("text", "run"), ISSUE)
def test_the_issues_four_examples_are_isolated_whole(text: str, run: str) -> None:
    done = isolate(text, "ur")
    assert FSI + run + PDI in done, shown(done)
    assert done.count(FSI) == done.count(PDI) == 1, shown(done)
    assert strip(done) == text  # nothing but the two controls added
    assert isolate(done, "ur") == done


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("کوڈ K7QM-2XD9 ہے، جیسے ABCD-1234۔", ["K7QM-2XD9", "ABCD-1234"]),
        ("لنک facebook.com/pagename یا t.me/channel۔", ["facebook.com/pagename", "t.me/channel"]),
        (
            "یہ دیکھیں https://www.facebook.com/groups/123?ref=share&x=1).",
            ["https://www.facebook.com/groups/123?ref=share&x=1"],
        ),
        ("ای میل content-complaint@pta.gov.pk پر بھیجیں", ["content-complaint@pta.gov.pk"]),
        ("پورٹل complaint.pta.gov.pk پر", ["complaint.pta.gov.pk"]),
        ("پیغام پاکستان 16 جنوری 2018 کو، 1,800 علما", ["16", "2018", "1,800"]),
        ("دوپہر (12-5)", ["12-5"]),
        ("1122 یا 15 پر کال کریں", ["1122", "15"]),
        ("نمبر +92 300 1234567 اور 021-111-117-642", ["+92 300 1234567", "021-111-117-642"]),
        ("اردو ہندسے ۰۳۰۰ ۱۲۳۴۵۶۷ بھی", ["۰۳۰۰ ۱۲۳۴۵۶۷"]),
    ],
)
def test_numbers_codes_links_handles_and_addresses_are_each_one_isolate(text: str, runs: list[str]) -> None:
    done = isolate(text, "ur")
    assert re.findall(f"{FSI}(.*?){PDI}", done) == runs, shown(done)
    assert strip(done) == text


def test_a_link_is_never_cut_by_a_control() -> None:
    for url in [
        "https://www.facebook.com/profile.php?id=100012345678901&mibextid=ZbWKwL",
        "https://t.me/+AbCdEf12345",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ&t=42s",
        "https://ur.wikipedia.org/wiki/پاکستان",
        "www.example.com/a-b/2024/05/page.html",
        "youtu.be/dQw4w9WgXcQ",
    ]:
        done = isolate(f"یہ لنک {url} دیکھیں 15", "ur")
        assert FSI + url + PDI in done, shown(done)


def test_words_with_digits_and_latin_words_are_left_alone() -> None:
    assert isolate("NR3C اور FIA کو", "ur") == "NR3C اور FIA کو"
    assert isolate("ایپ میں Share یا Copy link دبائیں", "ur") == "ایپ میں Share یا Copy link دبائیں"


@pytest.mark.parametrize("lang", ["en", "ur-Latn"])
def test_english_and_roman_urdu_are_untouched(lang: str) -> None:
    for key, text in every_text(lang).items():
        assert not any(c in CONTROLS for c in text), key
    assert isolate("Call 0800-39393 or @name", lang) == "Call 0800-39393 or @name"


_PIECES = st.sampled_from(
    [
        "ہیلپ لائن",
        " ",
        "\n",
        "۔",
        "(",
        ")",
        "0800-39393",
        "0800 011 3764",
        "15",
        "1,800",
        "K7QM-2XD9",
        "@name",
        "a@b.pk",
        "https://t.me/x?y=1",
        "t.me/channel",
        "NR3C",
        "-",
        ".",
        ",",
        "+",
        "abc",
        "۱۲",
        FSI,
        PDI,
        "\u2066",
        "\u200f",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=14).map("".join))
def test_isolating_is_idempotent_and_only_adds_controls(text: str) -> None:
    once = isolate(text, "ur")
    assert isolate(once, "ur") == once, shown(once)
    assert strip(once) == strip(text)
    assert balanced(once), shown(once)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_isolating_any_text_is_idempotent(text: str) -> None:
    once = isolate(text, "ur")
    assert isolate(once, "ur") == once
    assert strip(once) == strip(text)


# --- every rendered Urdu text --------------------------------------------------------------------------


def test_every_urdu_text_isolates_its_digits_and_stays_balanced() -> None:
    texts = every_text("ur")
    for key, text in texts.items():
        assert balanced(text), f"{key}: {shown(text)}"
        outside = re.sub(f"{FSI}.*?{PDI}", "", text)
        loose = [
            m.group()
            for m in re.finditer(r"\S*\d\S*", outside)
            if not re.fullmatch(r"[A-Za-z0-9]+", m.group())
        ]
        assert not loose, f"{key}: digits outside an isolate: {loose} in {shown(text)}"
    assert FSI + "0800-39393" + PDI in texts["help.helplines"]
    assert FSI + CODE + PDI in texts["report.done"]


def test_a_text_filled_into_another_is_isolated_once() -> None:
    texts = catalog()
    line = texts.text("help.helpline_line", "ur", name="DRF", contact="0800-39393")
    whole = texts.text("help.helplines", "ur", lines=line)
    assert whole.count(FSI + "0800-39393" + PDI) == 1 and FSI + FSI not in whole, shown(whole)


def test_the_status_answer_and_its_dates_are_isolated() -> None:
    text = status_text(catalog(), "ur", CODE, status("action_taken", "already_removed"))
    assert FSI + CODE + PDI in text and balanced(text), shown(text)
    assert re.search(f"{FSI}3{PDI} دسمبر {FSI}2026{PDI}", text), shown(text)


def test_the_dialogue_speaks_isolated_urdu() -> None:
    talk = Talk(reports={CODE: "received"})
    talk.send(choice="lang:ur")
    talk.send("ایمرجنسی ہے")
    assert f"{FSI}15{PDI}" in talk.said and balanced(talk.said), shown(talk.said)


# --- what citizens copy back ---------------------------------------------------------------------------


def test_the_content_files_hold_no_bidi_controls_of_their_own() -> None:
    texts = catalog()
    for key, entry in [*texts.texts.items(), *texts.sources.items()]:
        assert not any(c in CONTROLS for text in entry.values() for c in text), key


def test_a_stray_control_in_a_citizens_words_cannot_turn_the_sentence_around() -> None:
    text = catalog().text("report.summary_description", "ur", description="\u202eپیج 0300 1234567\u2067")
    assert "\u202e" not in text and "\u2067" not in text and balanced(text), shown(text)
    assert FSI + "0300 1234567" + PDI in text


def test_the_controls_are_the_same_on_both_sides() -> None:
    assert set(CONTROLS) == set(BIDI_CONTROLS)
    for char in CONTROLS:
        assert clean(f"a{char}b") == "ab" and normalize(f"A{char}B") == "ab" and strip_bidi(char) == ""


def copied(key: str, **params: object) -> str:
    """What a citizen copies from the Urdu text `key`: the isolated run holding `params`' first value."""
    text = catalog().text(key, "ur", **params)
    value = str(next(iter(params.values())))
    start = text.index(value)
    return text[start - 1 : start + len(value) + 1]


def test_a_reference_code_copied_with_its_isolates_parses() -> None:
    code = copied("report.done", code=CODE)
    assert code == FSI + CODE + PDI
    assert parse_code(code) == CODE
    assert parse_code(f"\u200f{code.lower()}\u200e ") == CODE
    assert [c for _, _, c in find_codes(f"میرا کوڈ {code} ہے")] == [CODE]
    assert parse(f"status {code}").values("reference") == [CODE]


def test_status_answers_a_code_pasted_from_an_urdu_reply() -> None:
    talk = Talk(reports={CODE: "received"})
    talk.send(choice="lang:ur")
    talk.press("menu:status")
    talk.send(copied("report.done", code=CODE))
    assert talk.said == status_text(catalog(), "ur", CODE, status("received"))


def test_a_link_with_bidi_controls_is_canonicalised() -> None:
    pasted = "\u2068https://m.facebook.com/some.page?ref=share\u2069\u200f"
    assert canonicalize(clean(pasted)) == "https://facebook.com/some.page"
    assert canonicalize(strip_bidi(pasted)) == "https://facebook.com/some.page"
    found = find_urls(f"یہ دیکھیں {pasted}۔")
    assert [u.canonical for u in found] == ["https://facebook.com/some.page"]
    entities = parse("\u202bیہ پیج \u2066facebook.com/some.page\u2069 دیکھیں\u202c").entities
    assert [e.extra["canonical"] for e in entities if e.entity == "url"] == ["https://facebook.com/some.page"]


def test_a_phone_number_copied_from_an_urdu_reply_is_read_as_digits() -> None:
    text = catalog().text("family.ask_phone", "ur", days=180)
    example = FSI + "0300 1234567" + PDI
    assert example in text, shown(text)
    assert normalize(example) == "0300 1234567"
    assert phone_number(example) == phone_number(f"\u200f{example}\u200f") == "03001234567"


# --- lengths: the controls count --------------------------------------------------------------------------


def test_urdu_button_labels_fit_messenger_titles_with_their_isolates() -> None:
    texts = catalog()
    for key in texts.texts:
        if key.startswith(("buttons.", "categories.")):
            label = texts.text(key, "ur")
            assert units(label) <= MAX_TITLE, f"{key}: {units(label)} units: {shown(label)}"
    for number in [n for n in texts.numbers("ur").values() if n.removeprefix("+").isdigit()]:  # turn.calls()
        label = texts.text("emergency.call", "ur", number=number)
        assert units(label) <= MAX_TITLE, f"emergency.call {number}: {units(label)} units"


def test_the_messenger_profile_stays_within_meta_limits_in_urdu() -> None:
    body = profile()
    for greeting in body["greeting"]:
        assert len(greeting["text"]) <= MAX_GREETING and units(greeting["text"]) <= MAX_GREETING
    for menu in body["persistent_menu"]:
        assert all(units(item["title"]) <= MAX_MENU_TITLE for item in menu["call_to_actions"])


def test_every_urdu_text_renders_within_messenger_limits() -> None:
    for key, text in every_text("ur").items():
        buttons = (Button("nav:menu", catalog().text("buttons.nav_menu", "ur")),)
        for reply in (Reply(text), Reply(text, buttons)):
            for message in messages(reply):
                if "text" in message:
                    assert units(message["text"]) <= MAX_TEXT, key
                else:
                    assert units(message["attachment"]["payload"]["text"]) <= MAX_TEMPLATE_TEXT, key


def test_a_long_urdu_text_splits_within_the_limit_without_breaking_an_isolate() -> None:
    texts = every_urdu_text_with_a_digit()
    long = "\n\n".join(texts.values())
    assert units(long) > MAX_TEXT
    parts = split_text(long)
    assert len(parts) > 1
    assert all(units(p) <= MAX_TEXT for p in parts)
    assert all(balanced(p) for p in parts), [shown(p)[:80] for p in parts if not balanced(p)]
    assert strip("".join(parts)).replace("\n", "") == strip(long).replace("\n", "")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_has_its_placeholders_filled(lang: str) -> None:
    for key, text in every_text(lang).items():
        assert not placeholders(strip(text)) & PARAMS, key
