"""A conversation's state read from its row and written back every turn (issue 23's profile: every one of
Back's snapshots was a full draft parsed and serialised again on every turn).

Back's snapshots and the drafts set aside are kept as the stored dicts they were read from: parsed only
when Back or "Continue my report" takes one up, and written back as those same dicts. What must hold: the
stored JSON is what it was byte for byte, older rows load as before, junk is dropped as before, and a state
read back is equal to the one that was written.
"""

from __future__ import annotations

import copy
import cProfile
import json
import pstats
from collections.abc import Callable
from types import CodeType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dialogue import Attachment, State
from bot.dialogue.flows.family import FamilyDraft
from bot.dialogue.flows.report import EVIDENCE_KINDS, ReportDraft
from bot.dialogue.types import CATEGORIES, MAX_EVIDENCE, MAX_LINKS, MAX_UNDO, Draft, Link, Paused
from storage.engine import json_bytes, json_value
from tests.talk import Talk


def deep_state() -> State:
    """A report with its details written (a snapshot a step: four of Back's snapshots), then set aside
    for the family pages and the family pages left for another report: two drafts set aside."""
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.press("menu:report")
    talk.send("https://www.facebook.com/recruit.page.1")
    talk.press("cat:propaganda")
    talk.press("confirm:details")
    talk.send("They invite young men to a training camp and ask for donations.")
    assert len(talk.state.undo) >= 4, talk.state.undo
    state = talk.state
    # two drafts set aside, as leaving the report for another flow and coming back would make them
    state.paused = [
        Paused("report.category", ReportDraft(description="an older report, set aside")),
        Paused("family.time", FamilyDraft(seen=["signs"])),
    ]
    return state


def calls(run: Callable[[], object], *functions: Any) -> int:
    """How many times `run` called any of `functions` (counted by cProfile: nothing is replaced)."""
    codes: list[CodeType] = [getattr(f, "__func__", f).__code__ for f in functions]
    keys = {(c.co_filename, c.co_firstlineno, c.co_name) for c in codes}
    profile = cProfile.Profile()
    profile.runcall(run)
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return sum(stats[key][1] for key in keys if key in stats)


def test_a_stored_state_is_written_back_byte_for_byte() -> None:
    stored = json_bytes(deep_state().to_dict())
    assert json_bytes(State.from_dict(json_value(stored)).to_dict()) == stored
    again = State.from_dict(json_value(stored))
    assert again == deep_state() and again == State.from_dict(json_value(stored))
    # a state read back, then read back again from what it wrote, is the same
    assert State.from_dict(json_value(json_bytes(again.to_dict()))) == again


def test_backs_snapshots_and_drafts_set_aside_are_parsed_only_when_taken_up() -> None:
    data = json_value(json_bytes(deep_state().to_dict()))
    parsers = (ReportDraft.from_dict, FamilyDraft.from_dict)
    read: list[State] = []
    assert calls(lambda: read.append(State.from_dict(data)), *parsers) == 1  # the draft being written
    state = read[0]
    writers = (ReportDraft.to_dict, FamilyDraft.to_dict)
    written: list[dict[str, Any]] = []
    assert calls(lambda: written.append(state.to_dict()), *writers) == 1
    assert written[0] == data
    # written back as the very dicts they were read from: nothing serialised again
    for name in ("undo", "paused"):
        assert all(w["draft"] is d["draft"] for w, d in zip(written[0][name], data[name], strict=True))
    # Back takes the last snapshot up: that one is parsed, and only it
    talk = Talk()
    talk.state = state
    undone: list[object] = []
    assert calls(lambda: undone.append(talk.press("nav:back")), *parsers) == 1
    assert isinstance(talk.state.draft, ReportDraft) and talk.state.draft.description == ""


def test_a_snapshot_read_is_equal_to_the_one_written_and_compares_by_value() -> None:
    state = deep_state()
    read = State.from_dict(json_value(json_bytes(state.to_dict())))
    assert read.undo == state.undo and read.paused == state.paused
    assert read.undo[0] != read.undo[1]
    assert [p.draft for p in read.undo] == [p.draft for p in state.undo]
    assert [p.step for p in read.paused] == ["report.category", "family.time"]
    assert copy.deepcopy(read) == read
    assert "report.category" in repr(read.paused[0])


def test_a_snapshot_cannot_be_changed_in_place() -> None:
    paused = State.from_dict(json_value(json_bytes(deep_state().to_dict()))).paused[0]
    for name in ("step", "draft"):
        try:
            setattr(paused, name, None)
        except AttributeError:
            continue
        raise AssertionError(f"Paused.{name} was changed")


def test_junk_set_aside_is_dropped_and_old_drafts_are_read_as_before() -> None:
    report = {"kind": "report", "links": [], "description": "kept", "category": "propaganda"}
    junk: list[object] = [
        "junk",
        {"step": 7, "draft": report},
        {"step": "report.link"},
        {"step": "report.link", "draft": {}},
        {"step": "report.link", "draft": {"kind": "gone"}},
        {"step": "report.link", "draft": {"kind": ["unhashable"]}},
        {"step": "report.link", "draft": {"untyped": "and no key of any kind"}},
        {"step": "report.link", "draft": ["junk"]},
    ]
    for item in junk:
        assert State.from_dict({"step": "menu", "paused": [item], "undo": [item]}) == State(step="menu")
    data = {
        "version": 2,
        "step": "menu",
        "paused": [{"step": "x" * 100, "draft": report}],
        "undo": [{"step": "report.link", "draft": {"description": "untyped, version 1", "urgent": 1}}],
    }
    state = State.from_dict(data)
    assert [p.step for p in state.paused] == ["x" * 64]  # cut to 64
    assert state.paused[0].draft == ReportDraft(description="kept", category="propaganda")
    (undo,) = state.undo
    assert undo.draft == ReportDraft(description="untyped, version 1", urgent=True)
    written = state.to_dict()
    assert written["undo"][0]["draft"]["kind"] == "report"  # an untyped draft is written as today's
    assert State.from_dict(json.loads(json.dumps(written))) == state


def test_only_the_last_snapshots_are_read() -> None:
    snapshot = {"step": "report.link", "draft": {"kind": "report", "description": ""}}
    many = [{**snapshot, "step": f"s{i}"} for i in range(MAX_UNDO + 3)]
    state = State.from_dict({"step": "report.link", "undo": many})
    assert [p.step for p in state.undo] == [f"s{i}" for i in range(3, MAX_UNDO + 3)]


# --- `settled`: the state a turn left may stand for its row only if reading the row gives it back ------

TEXT = st.text(alphabet="ab ک😀", max_size=5) | st.text(min_size=990, max_size=1010) | st.just("x" * 4001)
LINKS = st.builds(Link, TEXT, TEXT, st.sampled_from(("web", "facebook", "telegram")))
ATTACHMENTS = st.builds(
    Attachment, st.sampled_from((*EVIDENCE_KINDS, "virus")), TEXT, st.none() | st.text(max_size=3)
)


@settings(max_examples=400, deadline=None)
@given(
    links=st.lists(LINKS, max_size=MAX_LINKS + 2),
    handles=st.lists(TEXT, max_size=MAX_LINKS + 2),
    evidence=st.lists(ATTACHMENTS, max_size=MAX_EVIDENCE + 2),
    notes=st.lists(TEXT, max_size=MAX_EVIDENCE + 2),
    description=TEXT,
    category=st.none() | st.sampled_from((*CATEGORIES, "gossip")),
    urgent=st.booleans(),
    scope_check=st.booleans(),
)
def test_a_report_draft_is_settled_exactly_when_reading_what_it_wrote_gives_it_back(
    links: list[Link],
    handles: list[str],
    evidence: list[Attachment],
    notes: list[str],
    description: str,
    category: str | None,
    urgent: bool,
    scope_check: bool,
) -> None:
    """`ReportDraft.settled` says cheaply what reading the draft back would show; a flow changes a draft
    in place after it was checked when made, so any value may be found in it."""
    draft = ReportDraft()
    draft.links, draft.handles, draft.evidence, draft.notes = links, handles, evidence, notes
    draft.description, draft.category, draft.urgent, draft.scope_check = (
        description,
        category,
        urgent,
        scope_check,
    )
    written = json.loads(json.dumps(draft.to_dict()))
    assert draft.settled(written) == (ReportDraft.from_dict(written) == draft)


def test_every_kind_of_draft_writes_its_kind_and_is_settled_as_made() -> None:
    """A snapshot written once is read back by the `kind` it wrote (`Paused.to_dict`)."""
    for kind in Draft.KINDS.values():
        draft = kind()
        written = draft.to_dict()
        assert written["kind"] == kind.kind and draft.settled(written)


def test_a_state_beyond_what_its_row_would_give_back_is_not_settled() -> None:
    state = deep_state()
    assert state.settled(state.to_dict())
    for change in (
        lambda s: s.history.extend(["report.link"] * 60),
        lambda s: s.offered.append("x" * 65),
        lambda s: setattr(s, "step", ""),
        lambda s: s.undo.extend(s.undo * 3),
        lambda s: setattr(s.draft, "description", "x" * 1001),
    ):
        changed = copy.deepcopy(state)
        change(changed)
        written = json.loads(json.dumps(changed.to_dict()))
        assert not changed.settled(written)
        assert State.from_dict(written) != changed
