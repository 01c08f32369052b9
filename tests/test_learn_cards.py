"""Issue 24's Learn cards: how recruitment and propaganda work, and voices of people who left or stood against
it. Each kind of question the issue names (grooming, checking a video, stories of people who left) gets its
own card in every language through the pure `handle(...)`; every card has all three languages, a source and
a button, opens from the menu and from its button, and "Read more" opens the longer text."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.dialogue.flows.learn import OWN_SHOWN, every_card, own_cards
from responses import HERE, LANGUAGES, ContentError, catalog, load
from responses.bidi import isolate
from tests.talk import Talk

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "content.md"

# The kinds of question, as people type them, and the card each must open.
ASKED = {
    "learn.recruiters": {  # the grooming steps
        "en": "how do they recruit online",
        "ur": "یہ لوگ بچوں کو آن لائن کیسے پھنساتے ہیں؟",
        "ur-Latn": "ye log bachon ko kaise phansate hain",
    },
    "propaganda.check_video": {
        "en": "is this video real? how can I check",
        "ur": "ویڈیو اصلی ہے یا نہیں کیسے پتا کریں",
        "ur-Latn": "video asli hai ya nahi kaise pata karein",
    },
    "learn.voices": {
        "en": "are there stories of people who left or stood against it?",
        "ur": "ان لوگوں کی کہانیاں سنائیں جو شدت پسندی چھوڑ کر واپس آئے",
        "ur-Latn": "un logon ki kahaniyan sunao jo shiddat pasandi chhor kar wapas aaye",
    },
    "recruiters.private_chats": {
        "en": "how do they take kids from public pages into private chats?",
        "ur": "بچوں کو پرائیویٹ چیٹ اور واٹس ایپ گروپ میں کیسے لے جاتے ہیں؟",
        "ur-Latn": "bachon ko private chat aur whatsapp group mein kaise le jate hain?",
    },
    "propaganda.video_tricks": {
        "en": "why do their videos have nasheeds?",
        "ur": "ان کی ویڈیوز میں ترانے کیوں ہوتے ہیں؟",
        "ur-Latn": "jihadi videos kaise banayi jati hain?",
    },
    "recruiters.what_to_do": {
        "en": "what should I do if I see a propaganda video?",
        "ur": "ایسی ویڈیو دیکھوں تو کیا کروں؟",
        "ur-Latn": "propaganda video dekhun to kya karna chahiye?",
    },
}
VOICES = ("voices.sabaoon", "voices.arshad", "voices.iqbal_lala", "voices.ziauddin", "voices.mossarat")
# A voice by a name people type.
NAMED = {
    "voices.iqbal_lala": "Mashal Khan ke walid kaun hain",
    "voices.ziauddin": "ملالہ کے والد",
    "voices.mossarat": "Mossarat Qadeem PAIMAN",
    "voices.sabaoon": "Sabaoon school",
}


def started(lang: str) -> Talk:
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    return talk


def key(card: str) -> str:
    return card if "." in card else f"learn.{card}"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("card", ASKED)
def test_each_kind_of_question_gets_its_card_in_each_language(lang: str, card: str) -> None:
    talk = started(lang)
    talk.send(ASKED[card][lang])
    assert talk.said == catalog().text(card, lang), talk.said[:120]
    assert talk.said.endswith(isolate(catalog().sources[card][lang], lang))
    assert not talk.effects, "learning never reports anything"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_grooming_card_offers_read_more_and_its_own_cards(lang: str) -> None:
    talk = started(lang)
    talk.press("menu:learn")
    talk.press("learn:recruiters")
    assert talk.state.offered[:3] == [
        "learn:recruiters:more",
        "learn:recruiters.private_chats",
        "learn:recruiters.what_to_do",
    ]
    talk.press("learn:recruiters:more")
    assert talk.said == catalog().text("learn.recruiters_more", lang)
    assert talk.said.endswith(isolate(catalog().sources["learn.recruiters"][lang], lang))
    talk.press("learn:recruiters.what_to_do")
    assert talk.said == catalog().text("recruiters.what_to_do", lang)
    assert catalog().numbers(lang)["police"] in talk.said  # the number, from helplines.yaml


@pytest.mark.parametrize("lang", LANGUAGES)
def test_spot_propaganda_leads_to_the_video_tricks_and_checking_a_clip(lang: str) -> None:
    talk = started(lang)
    talk.press("menu:learn")
    talk.press("learn:propaganda")
    assert talk.state.offered[:2] == ["learn:propaganda.video_tricks", "learn:propaganda.check_video"]
    for card in ("video_tricks", "check_video"):
        talk.press(f"learn:propaganda.{card}")
        assert talk.said == catalog().text(f"propaganda.{card}", lang)
        assert talk.state.offered[0] == f"learn:propaganda.{card}:more"
        talk.press(f"learn:propaganda.{card}:more")
        assert talk.said == catalog().text(f"propaganda.{card}_more", lang)
        assert "learn:propaganda" in talk.state.offered


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_voice_opens_from_the_voices_card_with_its_source(lang: str) -> None:
    talk = started(lang)
    talk.press("menu:learn")
    talk.press("learn:voices")
    shown = [f"learn:{v}" for v in VOICES[:OWN_SHOWN]]
    assert talk.state.offered[:OWN_SHOWN] == shown
    for voice in VOICES:
        offered = talk.state.offered
        if f"learn:{voice}" not in offered:  # the rest are offered under any voice
            talk.press(shown[0])
        talk.press(f"learn:{voice}")
        assert talk.said == catalog().text(voice, lang)
        assert talk.said.endswith(isolate(catalog().sources[voice][lang], lang))
        assert {f"learn:{v}" for v in VOICES if v != voice} <= set(talk.state.offered)
        assert talk.state.offered[-3:] == ["learn:voices", "menu:learn", "nav:menu"]


@pytest.mark.parametrize("voice", NAMED)
def test_a_voice_by_the_name_people_type(voice: str) -> None:
    talk = Talk()
    talk.send(NAMED[voice])
    assert talk.answer.startswith(catalog().text(voice, talk.state.lang or "en"))


def test_every_new_card_has_every_language_a_dated_source_a_button_and_keywords() -> None:
    texts = catalog()
    own = [c for c in every_card(texts) if "." in c]
    assert set(VOICES) <= set(own) and set(ASKED) - {"learn.recruiters", "learn.voices"} <= set(own)
    for card in own:
        parent, _, name = card.partition(".")
        assert texts.keywords[card], card
        for lang in LANGUAGES:
            assert texts.texts[card][lang].strip(), (card, lang)
            source = texts.sources[card][lang]
            assert source.split(":")[0] in ("Source", "Sources", "ماخذ"), (card, lang)
            assert re.search(r"(19|20)\d\d", source), f"{card}: a source names its date ({lang})"
            assert texts.texts[f"buttons.{parent}_{name}"][lang].strip()


def open_card(lang: str, card: str) -> Talk:
    """A conversation that opened `card` by its buttons: Learn, its Learn card, a sibling if need be."""
    talk = started(lang)
    talk.press("menu:learn")
    parent = card.partition(".")[0]
    talk.press(f"learn:{parent}")
    if card != parent and f"learn:{card}" not in talk.state.offered:
        talk.press(next(b for b in talk.state.offered if b.startswith(f"learn:{parent}.")))
    if card != parent:
        talk.press(f"learn:{card}")
    return talk


def test_a_card_never_offers_more_than_ten_buttons() -> None:
    """WhatsApp lists at most 10 rows (bot/channels/whatsapp_render.py)."""
    for card in every_card(catalog()):
        talk = open_card("ur", card)
        assert talk.said.startswith(catalog().text(key(card), "ur")), card
        assert len(talk.state.offered) <= 10, (card, talk.state.offered)
        if f"learn:{card}:more" in talk.state.offered:
            talk.press(f"learn:{card}:more")
            assert talk.said == catalog().text(f"{key(card)}_more", "ur")
            assert len(talk.state.offered) <= 10, card


def test_every_voice_is_recorded_in_docs_with_its_address_and_mark() -> None:
    """docs/content.md keeps, for each voice, the outlets with their addresses and a confidence mark."""
    docs = DOCS.read_text(encoding="utf-8")
    section = docs[docs.index("### Voices of people who left") :]
    for voice in VOICES:
        name = voice.split(".")[1]
        row = next((line for line in section.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"{voice} is not recorded in docs/content.md"
        assert "https://" in row and ("**V-high**" in row or "**V-med**" in row), row


def test_a_stale_or_unknown_card_button_is_answered_as_stale() -> None:
    talk = started("en")
    talk.send(choice="learn:voices.nobody")
    assert catalog().text("common.stale_button", "en") in [r.text for r in talk.last.replies]
    talk = open_card("en", "law")
    talk.state.offered.append("learn:law:more")  # an old keyboard's button: the law card has no longer text
    talk.press("learn:law:more")
    assert catalog().text("common.stale_button", "en") in [r.text for r in talk.last.replies]


def test_a_cards_own_cards_come_from_its_file() -> None:
    texts = catalog()
    assert own_cards(texts, "recruiters") == ("recruiters.private_chats", "recruiters.what_to_do")
    assert own_cards(texts, "propaganda") == ("propaganda.video_tricks", "propaganda.check_video")
    assert own_cards(texts, "voices") == VOICES
    assert own_cards(texts, "law") == ()


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda d: d["arshad"]["source"].pop("ur"), "voices.arshad.source: missing ur"),
        (lambda d: d["arshad"].pop("source"), "voices.arshad: a card without a source"),
        (lambda d: d["iqbal_lala"].pop("ur-Latn"), "voices.iqbal_lala: missing ur-Latn"),
        (lambda d: d["_cards"].append("someone"), "voices.someone: listed in _cards but not written"),
    ],
)
def test_content_check_refuses_a_voice_without_a_language_or_a_source(
    tmp_path: Path, spoil: Callable[[dict[str, Any]], object], message: str
) -> None:
    target = tmp_path / "responses"
    shutil.copytree(HERE, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "voices.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    spoil(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError) as error:
        load(target)
    assert message in str(error.value)
