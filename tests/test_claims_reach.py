"""Issue 24: claim questions reach their answer end to end. The intent classifier reads the held-out claim
phrasings as counter_narrative, the dialogue engine gives each its claim's answer (or offers it among the two
nearest), and `raabta nlu eval` prints both counts. The held-out phrasings are never training examples."""

from __future__ import annotations

from bot.dialogue.reach import ANSWERED, MISSED, OFFERED, reach
from nlu.claims import matcher_for
from nlu.data import TRAIN_DIR, load_dir
from nlu.evaluate import evaluate_claims, format_claims, load_claim_tests
from responses import catalog

# Floors under the figures of issue 24 (109 read as counter_narrative, 125 reached, of 133): a change to the
# training data or the routes that loses more than a few fails here, with every miss printed.
READ_AS_CLAIMS = 100
REACHED = 120


def test_no_held_out_claim_phrasing_is_a_training_example() -> None:
    """The intent model never trains on a held-out claim phrasing (its questions about no claim, "who are
    you", are other intents' everyday examples and may be)."""
    items, _ = load_claim_tests()
    held = {" ".join(text.casefold().split()) for _, _, text in items}
    train = {" ".join(e.text.casefold().split()) for e in load_dir(TRAIN_DIR)}
    assert not held & train, sorted(held & train)


def test_most_claim_questions_are_read_as_counter_narrative_and_reach_their_answer() -> None:
    report = evaluate_claims(reach=reach)
    assert report.examples == len(load_claim_tests()[0])
    assert report.counter_narrative >= READ_AS_CLAIMS, format_claims(report)
    assert report.reached is not None and report.reached >= REACHED, format_claims(report)
    assert report.reached + len(report.unreached) == report.examples
    text = format_claims(report)
    assert f"claims read as counter_narrative by the intent classifier: {report.counter_narrative} of" in text
    assert f"claims reaching their answer end to end: {report.reached} of {report.examples}" in text


def test_without_a_reach_only_the_classifier_count_is_printed() -> None:
    report = evaluate_claims()
    assert report.reached is None and report.counter_narrative > 0
    assert "end to end" not in format_claims(report)


def test_reach_tells_an_answer_from_an_offer_from_a_miss() -> None:
    assert reach("democracy_kufr", "ur", "جمہوریت حرام ہے؟") == ANSWERED
    assert reach("polio", "en", "hello, what can you do?") == MISSED
    # "kya jihad farz hai?" may be either of two claims: both are offered (tests/test_claims.py).
    library = catalog().claims
    assert library is not None
    match = matcher_for(library).match("kya jihad farz hai?")
    assert match.near and not match.sure
    for claim in match.two():
        assert reach(claim, "ur-Latn", "kya jihad farz hai?") == OFFERED
