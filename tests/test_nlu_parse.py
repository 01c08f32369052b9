"""`nlu.parse` end to end: intents the dialogue engine routes on, entities, bad input that never raises."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlu import aparse, parse, parser
from nlu import model as trained
from nlu.data import INTENTS
from nlu.language import SERVED
from nlu.parser import CLASSIFY_CHARS, CONFIDENT, HARMLESS


@pytest.mark.parametrize(
    ("text", "language", "intent"),
    [
        ("bhai ye facebook page report karna hai facebook.com/Some.Page", "ur-Latn", "report_content"),
        ("I want to report a page", "en", "report_content"),
        ("report this fb.me/Bad.Page", "en", "report_content"),
        ("یہ پیج بند کرو", "ur", "report_content"),
        ("mera beta ajeeb logon ke sath rehta hai aur jihad ki baatein karta hai", "ur-Latn", "family_help"),
        ("what is paigham e pakistan", "en", "counter_narrative"),
        ("khatra hai, hamla hone wala hai", "ur-Latn", "emergency"),
        ("they say they will attack the school tomorrow with a bomb", "en", "emergency"),
        ("بازار میں بم ہے", "ur", "emergency"),
        ("salam", "ur-Latn", "greet"),
        ("hi", "en", "greet"),
        ("shukriya", "ur-Latn", "thanks"),
        ("khuda hafiz", "ur-Latn", "goodbye"),
        ("status wxyz 5678", "en", "check_status"),
        ("delete my data", "en", "privacy"),
        ("menu", "en", "help"),
        ("urdu mein baat karo", "ur-Latn", "change_language"),
        ("haan", "ur-Latn", "affirm"),
        ("نہیں", "ur", "deny"),
    ],
)
def test_intents_and_languages(text: str, language: str, intent: str) -> None:
    understood = parse(text)
    assert (understood.language, understood.intent.name) == (language, intent)


# Issue 16's messages (a person speaking of harming themselves; a person being drawn in), in each
# language, and the neighbours they must not swallow: a threat to others, a family's worry, a question, a
# report. None of the self_harm or at_risk_self phrasings here is a training example.
@pytest.mark.parametrize(
    ("text", "language", "intent"),
    [
        ("I want to kill myself", "en", "self_harm"),
        ("main khudkushi karna chahta hun", "ur-Latn", "self_harm"),
        ("میں خودکشی کرنا چاہتا ہوں", "ur", "self_harm"),
        ("zindagi se tang aa gaya hun, jaan dena chahta hun", "ur-Latn", "self_harm"),
        ("main marna chahti hun", "ur-Latn", "self_harm"),
        ("میں مرنا چاہتی ہوں", "ur", "self_harm"),
        ("khud kushi kar lunga 😭", "ur-Latn", "self_harm"),
        ("I don't want to live anymore https://youtu.be/AbC_12", "en", "self_harm"),
        ("I want to join the mujahideen, how do I join", "en", "at_risk_self"),
        ("مجھے جہاد میں شامل ہونا ہے", "ur", "at_risk_self"),
        ("group wale keh rahe hain jihad par chalo, main kya karun", "ur-Latn", "at_risk_self"),
        ("someone online is telling me to go to a camp", "en", "at_risk_self"),
        ("online koi mujhe camp jane ko keh raha hai", "ur-Latn", "at_risk_self"),
        ("آن لائن کوئی مجھے کیمپ جانے کا کہہ رہا ہے", "ur", "at_risk_self"),
        ("I feel like the people in this group understand me, they want me to fight", "en", "at_risk_self"),
        ("I'm confused, they say fighting the state is jihad", "en", "at_risk_self"),
        ("main confuse hun, wo kehte hain riyasat se larna jihad hai", "ur-Latn", "at_risk_self"),
        ("میں الجھن میں ہوں وہ کہتے ہیں ریاست سے لڑنا جہاد ہے", "ur", "at_risk_self"),
        ("kal masjid pe hamla hoga", "ur-Latn", "emergency"),
        ("my son wants to join jihad", "en", "family_help"),
        ("mera beta jihad pe jana chahta hai", "ur-Latn", "family_help"),
        ("میرا بیٹا جہاد میں جانا چاہتا ہے", "ur", "family_help"),
        ("what does Islam say about jihad?", "en", "counter_narrative"),
        ("islam jihad ke bare mein kya kehta hai?", "ur-Latn", "counter_narrative"),
        ("اسلام میں جہاد کا کیا حکم ہے؟", "ur", "counter_narrative"),
        ("is suicide bombing allowed in islam", "en", "counter_narrative"),
        ("kya khudkush hamla jaiz hai", "ur-Latn", "counter_narrative"),
        ("this page recruits for jihad", "en", "report_content"),
        ("ye page jihad ke liye bharti karta hai", "ur-Latn", "report_content"),
        ("یہ پیج جہاد کے لیے بھرتی کرتا ہے", "ur", "report_content"),
        ("report this page that tells people to kill themselves", "en", "report_content"),
        ("ye page logon ko khudkushi ka kehta hai, report karo", "ur-Latn", "report_content"),
        ("یہ پیج لوگوں کو خودکشی کا کہتا ہے رپورٹ کریں", "ur", "report_content"),
    ],
)
def test_crisis_and_being_drawn_in_apart_from_their_neighbours(text: str, language: str, intent: str) -> None:
    understood = parse(text)
    assert (understood.language, understood.intent.name) == (language, intent)


@pytest.mark.parametrize(
    "text",
    [
        "this movie killed me 😂",
        "I'm dying of laughter",
        "that joke killed me lol",
        "the exam is killing me",
        "this heat is killing me",
        "mar gaya hansi se",
        "hans hans ke mar gaye yaar 😂",
        "garmi se mar gaye aaj",
        "ہنسی سے مر گیا 😂",
    ],
)
def test_figures_of_speech_about_dying_are_not_a_crisis(text: str) -> None:
    assert parse(text).intent.name not in ("self_harm", "at_risk_self", "emergency")


@pytest.mark.parametrize(
    "text",
    [
        "hello, I want to kill myself",
        "ok thanks. main khudkushi kar lungi",
        "شکریہ، میں اپنی جان دے دوں گا",
        "main marna chahta hun https://t.me/some_channel",
    ],
)
def test_crisis_words_never_come_out_harmless_or_as_a_report(text: str) -> None:
    understood = parse(text)
    assert understood.intent.name == "self_harm"
    assert understood.intent.confidence >= CONFIDENT


@pytest.mark.parametrize(
    "text",
    [
        "I'm going to blow myself up at the rally tomorrow",
        "main kal jalse mein khud ko uda dunga",
        "میں کل جلسے میں خود کو اڑا دوں گا",
        "group wale kehte hain kal school pe hamla karna hai, mujhe bhi sath le ja rahe hain",
    ],
)
def test_an_attack_said_in_the_first_person_is_an_emergency(text: str) -> None:
    """Blowing oneself up among others is a threat, not a crisis; being taken along to an attack, too."""
    assert parse(text).intent.name == "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "neend ki saari goliyan kha lun gi aaj",  # goliyan: pills here, not bullets
        "chhat pe khara hun, koodne wala hun",
        "I'm going to kill myself tonight",
    ],
)
def test_a_person_about_to_harm_themselves_gets_the_crisis_path_not_a_threat_report(text: str) -> None:
    assert parse(text).intent.name == "self_harm"


@pytest.mark.parametrize(
    "text", ["cancel", "band karo", "رہنے دو", "back", "wapas", "واپس", "change language"]
)
def test_short_commands_are_confident(text: str) -> None:
    understood = parse(text)
    assert understood.intent.name in ("cancel", "back", "change_language")
    assert understood.intent.confidence >= CONFIDENT


@pytest.mark.parametrize("text", ["qwertyuiop zxcv", "/frobnicate", "asdf ghjk", "lorem ipsum dolor"])
def test_gibberish_is_not_a_confident_real_intent(text: str) -> None:
    intent = parse(text).intent
    assert intent.name == "out_of_scope" or intent.confidence < CONFIDENT


@pytest.mark.parametrize(
    "text",
    [
        "They invite young men to a training camp.",
        "they post every night",
        "Praises the attack on the market and calls for more.",
    ],
)
def test_descriptions_of_a_page_are_not_emergencies(text: str) -> None:
    assert parse(text).intent.name != "emergency"


@pytest.mark.parametrize(
    "text",
    ["hello, there is a bomb in the bazaar", "ok they will attack tonight", "bye, firing ho rahi hai yahan"],
)
def test_danger_never_comes_out_harmless(text: str) -> None:
    assert parse(text).intent.name not in HARMLESS


def test_a_bare_link_or_a_link_with_small_talk_is_a_report() -> None:
    for text in (
        "https://t.me/s/Hate_Channel",
        "see t.me/some_channel",
        "hi fb.com/bad.page",
        "ok youtu.be/AbC_12",
    ):
        assert parse(text).intent.name == "report_content", text


@pytest.mark.parametrize(
    "text",
    [
        "report https://www.facebook.com/Some.Page",
        "i need to report this https://t.me/some_channel",
        "mujhe report karni hai https://facebook.com/x",
        "mjhe shikayat krni h https://youtube.com/@chan",
        "مجھے رپورٹ کرنی ہے https://t.me/abc",
        "چھوڑیں یہ دیکھیں https://facebook.com/page",
    ],
)
def test_a_link_without_a_reference_code_is_never_a_status_check_or_a_cancel(text: str) -> None:
    """Nobody checks a report or cancels by sending a page's link: the link would be lost."""
    assert parse(text).intent.name == "report_content"


@pytest.mark.parametrize(
    "text", ["mujhe report karni hai", "mjhe shikayat krni h", "مجھے رپورٹ کرنی ہے", "i need to report"]
)
def test_saying_you_want_to_report_is_not_a_cancel_or_a_status_check(text: str) -> None:
    """Typed mid-report, a cancel would wipe the draft; these phrasings are not in the training data."""
    assert parse(text).intent.name == "report_content"


def test_a_link_with_a_reference_code_can_still_be_a_status_check() -> None:
    assert parse("status K7QM-2XD9 https://facebook.com/x").intent.name == "check_status"


def test_ranking_is_sorted_and_sums_to_at_most_one() -> None:
    understood = parse("mujhe ek page report karna hai")
    confidences = [i.confidence for i in understood.intent_ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert understood.intent_ranking[0] == understood.intent
    assert 0.99 <= sum(confidences) <= 1.0001 or len(confidences) == 10
    assert len({i.name for i in understood.intent_ranking}) == len(confidences) <= 10


def test_entities_urls_platforms_handles_and_references() -> None:
    text = "ye dekho https://m.facebook.com/Some.Page?ref=bookmarks aur insta pe @bad_user, code k7qm 2xd9۔"
    understood = parse(text)
    by_kind = {(e.entity, e.value) for e in understood.entities}
    assert ("platform", "instagram") in by_kind
    assert ("handle", "@bad_user") in by_kind
    assert ("reference", "K7QM-2XD9") in by_kind
    [url] = understood.urls()
    assert url.extra == {"canonical": "https://facebook.com/some.page", "platform": "facebook"}
    assert text[url.start : url.end] == url.value
    assert understood.to_dict()["entities"][0]["canonical"] == "https://facebook.com/some.page"


@pytest.mark.parametrize(
    ("text", "platforms"),
    [
        ("فیس بک پر ایک پیج", ["facebook"]),
        ("ٹک ٹاک اور ٹیلیگرام پر", ["tiktok", "telegram"]),
        ("fb aur insta dono pe hai", ["facebook", "instagram"]),
        ("یوٹیوب چینل", ["youtube"]),
        ("whatsapp group mein", ["whatsapp"]),
    ],
)
def test_platforms_named_without_a_link(text: str, platforms: list[str]) -> None:
    assert parse(text).values("platform") == platforms


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("status k7qm2xd9", "K7QM-2XD9"),
        ("mera code k7qm 2xd9 hai", "K7QM-2XD9"),
        ("status check karo M3N4-P5Q6", "M3N4-P5Q6"),
        ("میرا کوڈ K7QM-2XD9 ہے", "K7QM-2XD9"),
    ],
)
def test_reference_codes_typed_loosely(text: str, code: str) -> None:
    assert parse(text).values("reference") == [code]


def test_homoglyph_hosts_show_their_idna_form() -> None:
    [url] = parse("report fаcebook.com/page please").urls()  # Cyrillic а
    assert url.extra["canonical"].startswith("https://xn--")
    assert url.extra["platform"] == "web"


def test_links_are_found_past_the_classified_head() -> None:
    text = "x " * CLASSIFY_CHARS + "t.me/late_channel"
    understood = parse(text)
    assert [u.extra["canonical"] for u in understood.urls()] == ["https://t.me/late_channel"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😀😀😀",
        "🇵🇰🇵🇰",
        "12345 678",
        "۱۲۳۴",
        "x" * 100_000,
        "ب" * 50_000,
        "a " * 60_000,
        "http://",
        "https://.",
        "www.",
        "http://[::1",
        "http://%zz%",
        "t.me/+",
        "javascript:alert(1)",
        "data:text/html,<script>x</script>",
        "file:///etc/passwd",
        "https://xn--80ak6aa92e.com/",
        "https://例え.テスト/パス",
        "\x00\x01\x02\x1b[31m",
        "\u202e\u200b\u2066",
        "hello مدد chahiye 帮助 помощь",
        "@@@@ @ @_ @.",
        "----- ---- 0000-0000",
        "\U0010ffff\ufffe",
        "\ud800 یہ پیج \udfff بند کرو",  # lone surrogates, as json.loads can produce
    ],
)
def test_bad_input_gives_a_parse(text: str) -> None:
    understood = parse(text)
    assert understood.intent.name in INTENTS
    assert understood.language in SERVED
    assert 0.0 <= understood.intent.confidence <= 1.0
    understood.to_dict()


def test_letterless_text_is_out_of_scope_in_the_fallback_language() -> None:
    understood = parse("😀 123 !!!", fallback_language="ur")
    assert (understood.language, understood.intent.name) == ("ur", "out_of_scope")


def test_a_language_we_do_not_serve_gets_the_fallback() -> None:
    assert parse("این صفحه را گزارش کنید", fallback_language="ur-Latn").language == "ur-Latn"


URLISH = st.builds(
    "".join,
    st.lists(
        st.sampled_from(
            [
                "http",
                "https",
                "://",
                "www.",
                "m.",
                "facebook",
                "fb",
                "t.me",
                "youtu.be",
                ".com",
                ".pk",
                "/",
                "?",
                "=",
                "&",
                "#",
                "%",
                "@",
                ":",
                "۔",
                "l.php?u=",
                "utm_source",
                "xn--",
                "а",
                "..",
                " ",
                "+",
            ]
        ),
        max_size=14,
    ),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), URLISH, st.text(alphabet="abc ۔،؟ بپت😀123-", max_size=60)))
def test_any_text_gives_a_parse(text: str) -> None:
    understood = parse(text)
    assert understood.intent.name in INTENTS
    assert understood.language in SERVED
    assert understood.intent_ranking and understood.intent_ranking[0] == understood.intent
    for entity in understood.entities:
        assert text[entity.start : entity.end] == entity.value or entity.entity in (
            "platform",
            "handle",
            "reference",
        )


async def test_aparse_matches_parse_without_rasa() -> None:
    for text in ("I want to report a page", "salam", "یہ پیج بند کرو", ""):
        assert await aparse(text) == parse(text)


@pytest.mark.parametrize(
    ("text", "platform"),
    [
        ("İG pe ye page dekho, larkon ko bharti kar rahe hain", "instagram"),
        ("mera code İnsta pe nahi mila", "instagram"),
        ("TİKTOK pe ek video hai jo nafrat phaila rahi hai", "tiktok"),
    ],
)
def test_a_platform_named_with_a_dotted_capital_i_is_understood(text: str, platform: str) -> None:
    """A Turkish keyboard or an autocorrect writes "İ" for "I": the name is still the platform, and the
    message is understood, not dropped as out of scope with nothing found (its lower case is two
    characters, and the name's look-up once failed on it)."""
    understood = parse(text)
    assert [e.value for e in understood.entities if e.entity == "platform"] == [platform]
    assert understood.intent.confidence > 0


@pytest.mark.parametrize("text", ["/start", "/help", "/start@raabta_bot", "/Report_page"])
async def test_a_bare_command_is_parsed_once_and_the_same_as_afresh(text: str) -> None:
    """A bare slash command's parse is kept (a conversation begins with /start): the kept one is the one a
    fresh parse makes, for `parse` and `aparse` alike, and per fallback language."""
    parser._KEPT.clear()
    first = parse(text)
    assert parse(text) is first and await aparse(text) is first
    assert parse(text, "ur") is not first and parse(text, "ur").language in (first.language, "ur")
    prepared = parser.prepare(text)
    assert first == parser._result(prepared, parser._embedded(prepared), "en")


@pytest.mark.parametrize("text", ["/start now", "/start 0300-1234567", "/", "/1", "/start\n", " /start"])
def test_a_command_with_more_than_its_name_is_parsed_every_time(text: str) -> None:
    """Words after a command may be anyone's (a number, a name): nothing of such a message is kept."""
    parser._KEPT.clear()
    assert parse(text) == parse(text)
    assert parser._KEPT == {}


def test_the_kept_commands_are_bounded_and_follow_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    parser._KEPT.clear()
    for n in range(parser.KEPT_PARSES * 3):
        parse(f"/made_up_{n}")
        assert len(parser._KEPT) <= parser.KEPT_PARSES
    kept = parse("/start")
    retrained = dataclasses.replace(trained.get())  # another model: what was kept is not its parse
    monkeypatch.setattr(trained, "_model", retrained)
    assert parse("/start") is not kept and parser._KEPT["/start", "en"][0] is retrained
