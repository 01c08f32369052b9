"""The engine's two entry points agree, and the copying one stays pure.

`handle` copies the state it is given (for callers that keep theirs: these tests, the reach evaluation);
`handle_owned` changes it in place (the pipeline, which builds a state from storage every turn and never
uses it again). The copies are cheap because drafts set aside and Back's snapshots are shared, never
changed in place, and copied when taken up again: what is checked here is that no turn sequence can tell
the difference. Three conversations run side by side on the same messages: one through `handle` with its
state kept between turns (checked unchanged after each turn), one through `handle_owned` with the state
read back from its stored dict each turn (as the pipeline does), and one through `handle_owned` with the
previous outcome's state carried over as it is (so that any object shared between turns would show).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogue import Attachment, Context, Draft, Inbound, Outcome, State, handle, handle_owned, words
from nlu import parse
from tests.talk import status

REPORTS = {"ABCD-2345": status("received"), "WXYZ-6789": status("action_taken")}
TEXTS = (
    "hello",
    "/start",
    "/report",
    "https://www.facebook.com/recruit.page.1",
    "bhai ye page dekho https://t.me/s/channel_abc",
    "@recruiter_handle and @another_one",
    "They invite young men to a training camp and ask for donations.",
    "ye log naujawanon ko camp mein bula rahe hain, bohat khatarnak",
    "back",
    "cancel",
    "yes",
    "no",
    "help",
    "thanks",
    "status ABCD-2345",
    "WXYZ-6789",
    "he says he will kill us tonight",
    "mera data mita do",
    "urdu mein baat karo",
    "my son is talking to recruiters",
    "",
)
# Buttons pressed whatever was offered: global ones, and some that are stale at most steps.
CHOICES = (
    "nav:back",
    "nav:cancel",
    "nav:menu",
    "lang:en",
    "lang:ur-Latn",
    "menu:report",
    "resume:continue",
    "resume:new",
    "cat:propaganda",
    "confirm:submit",
)
PHOTO = (Attachment("photo", "file-1", "fingerprint-1"),)


def _parts(draft: Draft | None) -> set[int]:
    """The ids of a draft and of its lists: what changing it in place changes."""
    if draft is None:
        return set()
    return {id(draft), *(id(v) for v in vars(draft).values() if isinstance(v, list))}


def _put_by(state: State) -> set[int]:
    """The ids of the drafts set aside and of Back's snapshots, which no turn may change."""
    return {i for p in (*state.paused, *state.undo) for i in _parts(p.draft)}


def _live_draft_is_its_own(state: State, given: State | None = None) -> None:
    """The draft being written shares nothing with the drafts put by, nor (for `handle`) with the state
    the turn was given: the next turn may change it in place without touching them."""
    assert not _parts(state.draft) & _put_by(state)
    if given is not None:
        assert not _parts(state.draft) & (_parts(given.draft) | _put_by(given))


def _same(one: Outcome, other: Outcome) -> None:
    assert other.replies == one.replies
    assert other.effects == one.effects
    assert other.state.to_dict() == one.state.to_dict()


class Sides:
    """The three conversations of the module docstring, fed the same messages."""

    def __init__(self) -> None:
        self.kept = State()
        self.stored: dict[str, Any] = {}
        self.carried = State()
        self.count = 0

    def send(self, text: str | None = None, choice: str | None = None, photo: bool = False) -> Outcome:
        self.count += 1
        inbound = Inbound("test", "user-1", str(self.count), text, choice, PHOTO if photo else ())
        understood = parse(text or "")
        context = Context(f"TEST-{self.count:04d}", REPORTS)
        frozen, stored = copy.deepcopy(self.kept), self.kept.to_dict()
        copied = handle(inbound, understood, self.kept, context)
        assert self.kept == frozen and self.kept.to_dict() == stored  # handle changed nothing it was given
        owned = handle_owned(inbound, understood, State.from_dict(self.stored), context)
        carried = handle_owned(inbound, understood, self.carried, context)
        _same(copied, owned)
        _same(copied, carried)
        _live_draft_is_its_own(copied.state, self.kept)
        _live_draft_is_its_own(owned.state)
        _live_draft_is_its_own(carried.state)
        self.kept, self.stored, self.carried = copied.state, owned.state.to_dict(), carried.state
        return copied


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_owned_and_copying_turns_agree_and_handle_changes_nothing(data: st.DataObject) -> None:
    sides = Sides()
    for _ in range(data.draw(st.integers(1, 30), label="turns")):
        kind = data.draw(st.sampled_from(("offered", "offered", "offered", "choice", "text", "photo")))
        if kind == "offered" and sides.kept.offered:
            sides.send(choice=data.draw(st.sampled_from(sides.kept.offered)))
        elif kind == "choice":
            sides.send(choice=data.draw(st.sampled_from(CHOICES)))
        else:
            sides.send(data.draw(st.sampled_from(TEXTS)), photo=kind == "photo")


def test_back_through_a_report_and_a_draft_set_aside_agree() -> None:
    """The paths that take a shared draft back (Back's snapshots, "Continue my report") copy it first."""
    sides = Sides()
    sides.send("/start")
    sides.send(choice="lang:en")
    sides.send(choice="menu:report")
    sides.send("https://www.facebook.com/recruit.page.1")
    sides.send("https://www.facebook.com/recruit.page.2")
    assert sides.kept.undo
    sides.send(choice="nav:back")
    sides.send(choice="nav:back")
    sides.send("https://www.facebook.com/recruit.page.3")
    sides.send("my son is talking to recruiters")  # another flow: the report is set aside
    sides.send(choice="nav:back")
    sides.send(choice="nav:menu")
    assert sides.kept.paused
    sides.send("/start")
    sides.send(choice="resume:continue")
    assert sides.kept.draft is not None and sides.kept.draft.unfinished
    sides.send("https://www.facebook.com/recruit.page.4", photo=True)
    sides.send(choice="nav:back")
    sides.send(choice="nav:back")


def _immutable(hint: Any) -> bool:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return all(_immutable(h) for h in typing.get_args(hint))
    if hint in (str, int, float, bool, type(None)):
        return True
    params = getattr(hint, "__dataclass_params__", None)
    return params is not None and params.frozen


def test_every_draft_holds_immutable_values_or_lists_of_them() -> None:
    """What `Draft.copied` relies on: new lists of the same items are a full copy of a draft."""
    for kind in Draft.KINDS.values():
        hints = typing.get_type_hints(kind)
        for f in dataclasses.fields(kind):  # type: ignore[arg-type]  # every kind is a dataclass
            hint = hints[f.name]
            if typing.get_origin(hint) is list:
                (hint,) = typing.get_args(hint)
            assert _immutable(hint), f"{kind.__name__}.{f.name}: {hints[f.name]}"


def test_a_drafts_copy_is_equal_and_shares_no_list() -> None:
    for kind in Draft.KINDS.values():
        draft = kind()
        twin = draft.copied()
        assert twin == draft and type(twin) is kind and twin is not draft
        for name, value in vars(draft).items():
            if isinstance(value, list):
                assert getattr(twin, name) is not value


VOCAB = ["ye", "page", "bharti", "kar", "hai", "help", "call", "me", "back", "pehchan", "pehchanein", "پیج"]
PHRASE = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3).map(" ".join)
PHRASES = st.lists(PHRASE.flatmap(lambda p: st.sampled_from([p, p + "*"])), max_size=5)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(VOCAB), max_size=10).map(" ".join),
    st.dictionaries(st.sampled_from("abcdef"), PHRASES, max_size=5),
)
def test_best_picks_the_option_scoring_most_first_on_a_tie(text: str, options: dict[str, list[str]]) -> None:
    """`words.best` scores all the options with one matcher: the same pick as scoring each on its own."""
    scores = {name: words.score(text, phrases) for name, phrases in options.items()}
    top = max(scores.values(), default=0)
    expected = next(name for name, value in scores.items() if value == top) if top else None
    assert words.best(text, options) == expected
