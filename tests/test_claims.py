"""The recruiters' claims (issue 24): the library and its checks, the matcher, the Learn flow's answers.

Each claim of responses/claims.yaml has a short answer, a longer one and a button in every language, sources
the research verified, and phrasings people type; a question about a claim gets that claim's answer with its
sources and "Read more", "Another question", "Talk to someone"; a question that may be one of two claims
gets both offered. The issue's three examples get their own answer in every language.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.dialogue import ClaimAsked
from nlu import parse
from nlu.claims import ClaimMatcher, matcher_for
from nlu.evaluate import CLAIMS_TEST, evaluate_claims, format_claims
from responses import HERE, LANGUAGES, ContentError, catalog, load
from responses.bidi import isolate
from responses.claims import MAX_SHORT, MIN_EXAMPLES, SHIPPED, Library
from tests.talk import Talk

# The issue's examples, as citizens typed them, and the claim each is about.
ISSUE = {
    "جمہوریت حرام ہے؟": "democracy_kufr",
    "is it true that killing non muslims in a 'kafir' country is jihad?": "kill_non_muslims",
    "ye log kehte hain jamhooriyat kufr hai, is baat ka jawab kya hai": "democracy_kufr",
}
# The same two claims asked in the other languages.
ASKED = {
    "democracy_kufr": {
        "en": "they say democracy is kufr, what is the answer to that?",
        "ur": "جمہوریت حرام ہے؟",
        "ur-Latn": "ye log kehte hain jamhooriyat kufr hai, is baat ka jawab kya hai",
    },
    "kill_non_muslims": {
        "en": "is it true that killing non muslims in a 'kafir' country is jihad?",
        "ur": "کیا کافر ملک میں غیر مسلموں کو قتل کرنا جہاد ہے؟",
        "ur-Latn": "kya kafir mulk mein ghair muslimon ko qatl karna jihad hai?",
    },
}
# The claims the issue names, by the ids the library gives them.
NAMED = (
    "democracy_kufr",  # democracy or the constitution is kufr
    "state_murtad",  # the army and state are murtad or taghut
    "suicide_martyrdom",  # suicide attacks are martyrdom
    "takfir_muslims",  # takfir of other Muslims
    "sects_kafir",  # ... and of other sects
    "hijrat",  # hijrat to a "true" land is obligatory
    "kill_non_muslims",  # killing non-Muslims is jihad
    "minorities_worship",  # attacking minorities and their places of worship
    "group_jihad",  # only a "true" group may declare jihad
    "women_join",  # women must join or fund
    "zakat_group",  # paying the group is zakat
    "ghazwa_hind",  # end times and Ghazwa-e-Hind demand joining now
    "ulema_paid",  # the ulema who disagree are paid by the state
)


def started(lang: str) -> Talk:
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    return talk


def library() -> Library:
    found = catalog().claims
    assert found is not None
    return found


# --- the library ----------------------------------------------------------------------------------


def test_at_least_twenty_claims_among_them_every_one_the_issue_names() -> None:
    ids = library().ids()
    assert len(ids) >= 20
    assert set(NAMED) <= set(ids)


def test_every_claim_has_both_answers_a_button_and_examples_in_every_language() -> None:
    texts = catalog()
    for claim in library().claims:
        for lang in LANGUAGES:
            for key in (f"claims.{claim.id}", f"claims.{claim.id}.more", f"claims.{claim.id}.claim"):
                assert texts.texts[key][lang].strip(), (key, lang)
            assert len(texts.texts[f"claims.{claim.id}"][lang]) <= MAX_SHORT, (claim.id, lang)
            assert len(isolate(texts.texts[f"claims.{claim.id}.button"][lang], lang)) <= 20, (claim.id, lang)
            assert len(claim.examples[lang]) >= MIN_EXAMPLES and claim.keywords[lang], (claim.id, lang)


def test_every_answer_ends_with_the_names_of_its_sources_in_its_language() -> None:
    texts = catalog()
    sources = library().sources
    for claim in library().claims:
        assert claim.sources, claim.id
        assert all(sources[s].confidence in SHIPPED for s in claim.sources), claim.id
        for lang in LANGUAGES:
            line = texts.sources[f"claims.{claim.id}"][lang]
            assert line.split(":")[0] in ("Source", "Sources", "ماخذ"), (claim.id, lang)
            assert all(sources[s].name[lang] in line for s in claim.sources), (claim.id, lang)
            for key in (f"claims.{claim.id}", f"claims.{claim.id}.more"):
                assert texts.text(key, lang).endswith(isolate(line, lang)), (key, lang)


def test_the_answers_say_what_scholars_and_documents_say() -> None:
    """No ruling of our own: every short answer names a declaration, a fatwa, a law or a programme."""
    names = (
        "Paigham-e-Pakistan",
        "Qadri",
        "Amman",
        "Marrakesh",
        "scholars",
        "Constitution",
        "Act",
        "ACT Early",
    )
    for claim in library().claims:
        short = catalog().texts[f"claims.{claim.id}"]["en"]
        assert any(name in short for name in names), claim.id


# --- content check: what it refuses -------------------------------------------------------------------


@pytest.fixture
def content(tmp_path: Path) -> Path:
    target = tmp_path / "responses"
    shutil.copytree(HERE, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def spoil(directory: Path, change: Callable[[dict[str, Any]], object]) -> None:
    path = directory / "claims.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def fails(directory: Path, message: str) -> None:
    with pytest.raises(ContentError) as error:
        load(directory)
    assert message in str(error.value), str(error.value)


def test_the_copy_loads_before_it_is_spoilt(content: Path) -> None:
    assert load(content).claims is not None


@pytest.mark.parametrize("part", ["short", "more"])
def test_an_answer_missing_a_language_fails(content: Path, part: str) -> None:
    spoil(content, lambda d: d["democracy_kufr"][part].pop("ur-Latn"))
    fails(content, f"claims.yaml: democracy_kufr.{part}: missing ur-Latn")


def test_a_claim_without_sources_fails(content: Path) -> None:
    spoil(content, lambda d: d["hijrat"].update(sources=[]))
    fails(content, "claims.yaml: hijrat: sources must name at least one entry of _sources")


def test_a_source_not_listed_fails(content: Path) -> None:
    spoil(content, lambda d: d["hijrat"].update(sources=["paigham", "a_blog"]))
    fails(content, "claims.yaml: hijrat: unknown source a_blog")


@pytest.mark.parametrize("mark", ["V-low", "U"])
def test_a_source_the_research_did_not_verify_may_not_stand_behind_an_answer(
    content: Path, mark: str
) -> None:
    spoil(content, lambda d: d["_sources"]["cii"].update(confidence=mark))
    fails(content, f"_sources.cii: confidence {mark} may not stand behind an answer")


def test_too_few_phrasings_in_a_language_fails(content: Path) -> None:
    spoil(content, lambda d: d["polio"]["examples"].update(ur=["پولیو کے قطرے حرام ہیں؟"]))
    fails(content, f"polio.examples.ur: 1 given, at least {MIN_EXAMPLES} needed")


def test_phrasings_missing_for_a_language_fail(content: Path) -> None:
    spoil(content, lambda d: d["polio"]["examples"].pop("ur-Latn"))
    fails(content, "polio.examples.ur-Latn: expected a list of phrases")


def test_one_phrasing_for_two_claims_fails(content: Path) -> None:
    spoil(content, lambda d: d["polio"]["examples"]["en"].append("democracy is kufr"))
    fails(content, "'democracy is kufr' is an example of both democracy_kufr and polio")


def test_a_short_answer_too_long_for_a_phone_fails(content: Path) -> None:
    spoil(content, lambda d: d["polio"]["short"].update(en="Scholars say no. " * 40))
    fails(content, "polio.short: en is")


def test_a_long_button_label_fails(content: Path) -> None:
    spoil(content, lambda d: d["polio"]["button"].update(en="Are polio drops really haram?"))
    fails(content, "claims.polio.button: button label over 20 characters in en")


def test_arabic_letters_in_an_urdu_answer_fail(content: Path) -> None:
    spoil(content, lambda d: d["polio"]["short"].update(ur="پولیو کے قطرے حلال هیں۔"))
    fails(content, "claims.polio: Arabic letters")


# --- the matcher ---------------------------------------------------------------------------------------


def test_claim_match_accuracy_on_the_held_out_phrasings_is_at_least_ninety_percent() -> None:
    report = evaluate_claims()
    assert report.examples >= 3 * report.claims
    assert report.accuracy >= 0.90, format_claims(report)
    assert report.top_two >= 0.95, format_claims(report)
    assert not report.not_claims_answered, format_claims(report)


def test_the_held_out_phrasings_are_not_the_examples() -> None:
    held = yaml.safe_load(CLAIMS_TEST.read_text(encoding="utf-8"))["claims"]
    seen = {" ".join(p.casefold().split()) for c in library().claims for p in c.phrasings()}
    for claim, languages in held.items():
        assert sum(len(texts) for texts in languages.values()) >= 3, claim
        for texts in languages.values():
            assert not {" ".join(t.casefold().split()) for t in texts} & seen, claim


def test_a_topic_word_alone_is_no_claim() -> None:
    matcher = matcher_for(library())
    for text in ("kab police ko batana chahiye?", "how do I pay zakat", "should I vote for PTI"):
        assert not matcher.match(text).sure, text


def test_the_matcher_learns_from_the_examples_it_is_given() -> None:
    matcher = ClaimMatcher(
        {"a": ["democracy is kufr", "voting is shirk"], "b": ["polio drops are haram", "polio is a plot"]},
        {"a": ["democracy"], "b": ["polio"]},
        ["hello there", "how do I report a page"],
    )
    assert matcher.match("is democracy kufr?").best == "a"
    assert matcher.match("are the polio drops haram?").best == "b"
    assert not matcher.match("hello").sure


# --- the Learn flow ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("text", ISSUE)
def test_the_issues_examples_get_their_own_answer_in_every_language(lang: str, text: str) -> None:
    claim = ISSUE[text]
    talk = started(lang)
    talk.send(text)
    assert talk.said == catalog().text(f"claims.{claim}", lang)
    assert talk.said.endswith(isolate(catalog().sources[f"claims.{claim}"][lang], lang))
    assert talk.state.offered == [f"claim:{claim}:more", "claim:ask", "claim:talk", "nav:menu"]
    labels = [b.label for b in talk.last.replies[-1].buttons]
    assert labels[:3] == [
        catalog().text(key, lang)
        for key in ("claims.button_more", "claims.button_another", "claims.button_talk")
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("claim", ASKED)
def test_each_claim_asked_in_each_language(lang: str, claim: str) -> None:
    talk = started(lang)
    talk.send(ASKED[claim][lang])
    assert talk.said == catalog().text(f"claims.{claim}", lang)


@pytest.mark.parametrize("text", ISSUE)
def test_a_first_message_gets_the_answer_in_its_own_language(text: str) -> None:
    talk = Talk()
    talk.send(text)
    lang = parse(text).language
    assert talk.answer == catalog().text(f"claims.{ISSUE[text]}", lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_read_more_gives_the_longer_answer_with_its_sources_and_people_to_talk_to(lang: str) -> None:
    talk = started(lang)
    talk.send(ASKED["kill_non_muslims"][lang])
    talk.press("claim:kill_non_muslims:more")
    more = catalog().text("claims.kill_non_muslims.more", lang)
    assert talk.said == more + "\n\n" + catalog().text("claims.more_footer", lang)
    assert talk.state.offered == ["claim:ask", "claim:talk", "menu:learn", "nav:menu"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_another_question_takes_the_claim_in_the_citizens_own_words(lang: str) -> None:
    talk = started(lang)
    talk.press("menu:learn")
    assert "claim:ask" in talk.state.offered
    talk.press("claim:ask")
    assert talk.said == catalog().text("claims.ask", lang)
    talk.send(ASKED["democracy_kufr"][lang])
    assert talk.said == catalog().text("claims.democracy_kufr", lang)
    talk.press("claim:ask")
    talk.send("what is the capital of france?")
    assert talk.said == catalog().text("claims.unknown", lang)


def test_every_claim_opens_from_its_button() -> None:
    for claim in library().ids():
        talk = started("ur")
        talk.press("menu:learn")
        talk.press("claim:ask")
        found = library().get(claim)
        assert found is not None
        talk.send(found.examples["ur"][0])
        talk.press(f"claim:{claim}:more")
        assert talk.said.startswith(catalog().text(f"claims.{claim}.more", "ur")), claim


@pytest.mark.parametrize("lang", LANGUAGES)
def test_talk_to_someone_offers_a_counsellor_and_family_help_and_reports_nothing(lang: str) -> None:
    talk = started(lang)
    talk.send(ASKED["democracy_kufr"][lang])
    talk.press("claim:talk")
    assert talk.said == catalog().text("claims.talk", lang)
    assert talk.state.offered[:2] == ["at_risk:callback", "menu:family"]
    talk.press("at_risk:callback")
    assert talk.step == "family.consent", "the counsellor's callback asks for consent first"
    assert talk.effects == [ClaimAsked("democracy_kufr", lang)], "counted as asked; nothing reported"


def test_a_question_that_may_be_either_of_two_claims_gets_both_offered() -> None:
    text = "kya jihad farz hai?"
    match = matcher_for(library()).match(text)
    assert match.near and not match.sure
    talk = started("ur-Latn")
    talk.send(text)
    first, second = match.two()
    assert talk.said.startswith(catalog().text("claims.not_sure", "ur-Latn"))
    assert catalog().text(f"claims.{first}.claim", "ur-Latn") in talk.said
    assert catalog().text(f"claims.{second}.claim", "ur-Latn") in talk.said
    assert talk.state.offered[:2] == [f"claim:{first}", f"claim:{second}"]
    talk.press(f"claim:{second}")
    assert talk.said == catalog().text(f"claims.{second}", "ur-Latn")


def test_a_claim_read_as_an_emergency_gets_the_directions_first_then_the_answer() -> None:
    talk = started("ur-Latn")
    outcome = talk.send("khudkush hamla shahadat hai?")
    assert outcome.replies[0].kind == "emergency"
    assert outcome.replies[-1].text == catalog().text("claims.suicide_martyrdom", "ur-Latn")


def test_an_unmistakable_danger_is_an_emergency_and_nothing_else() -> None:
    talk = started("en")
    outcome = talk.send("bomb blast at the church now, is it jihad?")
    assert outcome.replies[0].kind == "emergency"
    assert not any(b.startswith("claim:") for b in talk.state.offered)


def test_a_page_to_report_is_not_taken_for_a_question() -> None:
    talk = started("en")
    talk.send("this page says democracy is kufr https://t.me/some_channel")
    assert talk.step.startswith("report.")
    talk = started("en")
    talk.send("I want to report a page that says shias are kafir")
    assert talk.step.startswith("report.")


def test_a_worried_relative_gets_the_family_guidance() -> None:
    talk = started("ur-Latn")
    talk.send("mera beta kehta hai jamhooriyat kufr hai")
    assert talk.step.startswith("family")


def test_a_stale_claim_button_is_answered_as_stale() -> None:
    talk = started("en")
    talk.send(ASKED["democracy_kufr"]["en"])
    talk.send(choice="claim:no_such_claim")
    assert catalog().text("common.stale_button", "en") in [r.text for r in talk.last.replies]


# --- raabta nlu eval -------------------------------------------------------------------------------


def test_nlu_eval_prints_claim_match_accuracy(tmp_path: Path) -> None:
    (tmp_path / "en.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hello there\n', encoding="utf-8"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "nlu",
            "eval",
            "--data",
            str(tmp_path),
            "--claims",
            str(CLAIMS_TEST),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("claim-match accuracy: "))
    assert float(line.split()[2]) >= 0.90
    assert "claim-match top two: " in result.stdout and "claim-match misses" in result.stdout


def test_content_check_names_the_claims_it_checked() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "content", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"claims OK: {len(library().claims)} claims" in result.stdout
