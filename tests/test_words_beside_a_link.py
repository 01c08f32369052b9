"""The words a citizen types around a link are what they saw: kept with the report, never dropped.

Tried in the web chat: "ye page naujawanon ko bharti kar raha hai https://www.facebook.com/..." became a
report whose summary said "What you saw: (none)", and the analyst got a link with no words.
"""

from __future__ import annotations

import pytest

from tests.talk import Talk

LINK = "https://www.facebook.com/some.page.pk?ref=share"


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("ur-Latn", "ye page naujawanon ko bharti kar raha hai"),
        ("en", "this page is recruiting young boys for a camp"),
        ("ur", "یہ پیج لڑکوں کو بھرتی کر رہا ہے"),
    ],
)
def test_words_typed_with_a_link_reach_the_summary_and_the_report(lang: str, words: str) -> None:
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    talk.send(f"{words} {LINK}")  # straight from the menu, as people paste
    talk.press("cat:recruitment")
    assert words in talk.said  # the summary shows them under what was seen
    talk.press("confirm:submit")
    [report] = talk.submitted
    assert words in report.description


def test_a_word_or_two_beside_a_link_is_not_a_description() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.send(f"report {LINK}")
    talk.press("cat:recruitment")
    talk.press("confirm:submit")
    [report] = talk.submitted
    assert "report" not in report.description
