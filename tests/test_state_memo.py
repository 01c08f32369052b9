"""The state a committed turn left stands for its row on the conversation's next turn (issue 23).

The pipeline keeps the turn's `State` beside the state cache's entry of the row it wrote
(`StateCache.keep`), and the next turn takes it (`StateCache.take`) instead of reading the JSON and
building the state again. What must hold, on both backends:

- what is kept is always what a fresh `State.from_dict` of the stored row gives (so nothing a later turn
  did changed it in place, and nothing the row would not say is carried over);
- it is only ever used for the version it was kept for: another instance's turn, a conflict, forget-me,
  a purge or an eviction from the cache leave the next turn reading the row;
- two instances taking turns on one conversation answer as one instance does.
"""

from __future__ import annotations

import cProfile
import pstats
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import make_pipeline
from bot.dialogue import Attachment, Inbound, State
from bot.shared.config import Settings
from storage.engine import json_value
from storage.records import CommitStatus, Conversation, TurnRecord
from storage.repository import Storage
from storage.states import StateCache

MEMO = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
TEXTS = (
    "hello",
    "/report",
    "https://www.facebook.com/recruit.page.1",
    "bhai ye page dekho https://t.me/s/channel_abc",
    "@recruiter_handle and @another_one",
    "They invite young men to a training camp and ask for donations.",
    "back",
    "cancel",
    "yes",
    "help",
    "my son is talking to recruiters",
    "he says he will kill us tonight",
    "mera data mita do",
)
CHOICES = ("nav:back", "nav:back", "nav:cancel", "nav:menu", "lang:en", "menu:report", "resume:continue")
PHOTO = (Attachment("photo", "file-1", "fingerprint-1"),)
WALK: list[tuple[str | None, str | None]] = [  # a report with its details, Back through them, set aside
    (None, "lang:en"),
    (None, "menu:report"),
    ("https://www.facebook.com/recruit.page.9", None),
    (None, "cat:propaganda"),
    (None, "confirm:details"),
    ("They invite young men to a training camp and ask for donations.", None),
    (None, "nav:back"),
    (None, "nav:back"),
    ("my son is talking to recruiters", None),
    (None, "nav:menu"),
    (None, "resume:continue"),
    (None, "nav:back"),
]


def unlimited(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"messages_per_minute": 10**6, "reports_per_hour": 10**6, "reports_per_day": 10**6}
    )


async def kept_is_the_row(storage: Storage, conversation: str) -> State | None:
    """What is kept for the conversation equals a fresh read of its stored row (then kept again, as it
    was); None when nothing is kept."""
    row = await storage.load_conversation(conversation)  # the database's, not the cache's
    fresh = State.from_dict(row.state)
    cached = await storage.load_conversation(conversation, cached=True)
    assert cached.version == row.version and cached.state == row.state
    kept = storage.states.take(conversation, row.version)
    if kept is None:
        return None
    assert isinstance(kept, State)
    assert kept == fresh and kept.to_dict() == fresh.to_dict()
    storage.states.keep(conversation, row.version, kept)
    return kept


@MEMO
@given(data=st.data())
async def test_what_a_turn_leaves_is_what_its_row_holds_turn_after_turn(
    storage: Storage, settings: Settings, data: st.DataObject
) -> None:
    pipeline = make_pipeline(unlimited(settings), storage)
    user = uuid.uuid4().hex
    conversation = pipeline.pseudonyms.of("webchat", user)
    offered: list[str] = []
    for n in range(data.draw(st.integers(1, 25), label="turns")):
        kind = data.draw(st.sampled_from(("offered", "offered", "offered", "choice", "text", "photo")))
        text, choice, photo = None, None, False
        if kind == "offered" and offered:
            choice = data.draw(st.sampled_from(offered))
        elif kind == "choice":
            choice = data.draw(st.sampled_from(CHOICES))
        else:
            text, photo = data.draw(st.sampled_from(TEXTS)), kind == "photo"
        inbound = Inbound("webchat", user, f"{user}-{n}", text, choice, PHOTO if photo else ())
        handled = await pipeline.handle(inbound)
        assert handled.saved
        offered = [b.id for b in handled.replies[-1].buttons] if handled.replies else []
        kept = await kept_is_the_row(storage, conversation)
        row = await storage.load_conversation(conversation)
        assert kept is not None or row.state is None  # kept after every turn but forget-me


async def test_a_turn_after_a_kept_one_reads_no_json_and_builds_no_state(
    storage: Storage, settings: Settings
) -> None:
    pipeline = make_pipeline(unlimited(settings), storage)
    await pipeline.handle(Inbound("webchat", "u1", "e1", choice="lang:en"))
    await pipeline.handle(Inbound("webchat", "u1", "e2", choice="menu:report"))
    hit = pipeline.handle(Inbound("webchat", "u1", "e3", choice="link:none"))
    assert await counted(hit, State.from_dict) == 0
    hit = pipeline.handle(Inbound("webchat", "u1", "e4", choice="nav:back"))
    hit_json = await counted(hit, json_value)
    storage.states.clear()  # a purge: the next turn reads the row again
    missed = pipeline.handle(Inbound("webchat", "u1", "e5", choice="link:none"))
    assert await counted(missed, State.from_dict) == 1
    storage.states.clear()
    missed = pipeline.handle(Inbound("webchat", "u1", "e6", choice="nav:back"))
    assert await counted(missed, json_value) == hit_json + 1  # the row's state
    conversation = pipeline.pseudonyms.of("webchat", "u1")
    assert await kept_is_the_row(storage, conversation) is not None


async def counted(turn: Any, *functions: Any) -> int:
    """How many times the awaited `turn` called `functions` (cProfile counts them: nothing is replaced)."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        await turn
    finally:
        profile.disable()
    codes = [f.__code__ for f in (getattr(f, "__func__", f) for f in functions)]
    keys = {(c.co_filename, c.co_firstlineno, c.co_name) for c in codes}
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return sum(stats[key][1] for key in keys if key in stats)


async def test_two_instances_taking_turns_answer_as_one_does(storage: Storage, settings: Settings) -> None:
    """Two pipelines on one database, each with its own state cache, as two instances: the messages of
    one conversation go to one and the other in turn (each one's kept state is stale by then, so each
    turn's commit conflicts once and reads the row), and the replies are those of one instance alone."""
    other = Storage(storage.url, storage.secret)
    try:
        alone = make_pipeline(unlimited(settings), storage)
        pair = [make_pipeline(unlimited(settings), storage), make_pipeline(unlimited(settings), other)]
        # the pair's turns run on storage's twin databases: `alone` runs a conversation of its own
        said_alone, said_pair = [], []
        for n, (text, choice) in enumerate(WALK):
            one = await alone.handle(Inbound("webchat", "alone", f"a{n}", text, choice))
            two = await pair[n % 2].handle(Inbound("webchat", "pair", f"p{n}", text, choice))
            assert one.saved and two.saved
            said_alone.append([(r.text, r.buttons) for r in one.replies])
            said_pair.append([(r.text, r.buttons) for r in two.replies])
            acted = pair[n % 2]  # the other one's cache and kept state are stale: its next turn conflicts
            assert await kept_is_the_row(acted.storage, acted.pseudonyms.of("webchat", "pair")) is not None
        assert said_pair == said_alone
    finally:
        await other.close()


async def test_a_turn_that_conflicts_keeps_nothing_and_the_retry_reads_the_row(
    storage: Storage, settings: Settings
) -> None:
    """This instance kept the state of its last turn; another instance moves the conversation on; this
    instance's next turn conflicts once, reads the row, and answers from what the other instance did."""
    pipeline = make_pipeline(unlimited(settings), storage)
    conversation = pipeline.pseudonyms.of("webchat", "u1")
    for n, (text, choice) in enumerate(WALK[:4]):  # at the confirmation, a snapshot a step
        await pipeline.handle(Inbound("webchat", "u1", f"e{n}", text, choice))
    assert await kept_is_the_row(storage, conversation) is not None
    other = Storage(storage.url, storage.secret)
    try:
        elsewhere = make_pipeline(unlimited(settings), other)
        moved = await elsewhere.handle(Inbound("webchat", "u1", "other", choice="nav:back"))
        assert moved.saved
    finally:
        await other.close()
    handled = await pipeline.handle(Inbound("webchat", "u1", "mine", choice="nav:back"))
    assert handled.saved
    row = State.from_dict((await storage.load_conversation(conversation)).state)
    assert row.step == "report.link"  # two steps back: the other instance's Back, then this one's
    assert row.draft is not None and row.draft.to_dict()["links"] == []
    assert await kept_is_the_row(storage, conversation) == row


async def test_forget_me_keeps_nothing(storage: Storage, settings: Settings) -> None:
    pipeline = make_pipeline(unlimited(settings), storage)
    conversation = pipeline.pseudonyms.of("webchat", "u1")
    await pipeline.handle(Inbound("webchat", "u1", "e1", choice="lang:en"))
    await pipeline.handle(Inbound("webchat", "u1", "e2", choice="menu:privacy"))
    assert await kept_is_the_row(storage, conversation) is not None
    asked = await pipeline.handle(Inbound("webchat", "u1", "e3", choice="forget:ask"))
    assert "forget:yes" in [b.id for r in asked.replies for b in r.buttons]
    assert await kept_is_the_row(storage, conversation) is not None
    await pipeline.handle(Inbound("webchat", "u1", "e4", choice="forget:yes"))
    assert storage.states.take(conversation, 0) is None and storage.states.take(conversation, 4) is None
    assert await kept_is_the_row(storage, conversation) is None


def test_the_cache_hands_out_what_was_kept_once_and_only_for_its_entry() -> None:
    cache = StateCache(size=2)
    made = object()
    cache.keep("c1", 1, made)  # no entry: nothing kept
    assert cache.take("c1", 1) is None
    cache.put("c1", Conversation({"step": "menu"}, 1))
    cache.keep("c1", 2, made)  # not the entry's version
    assert cache.take("c1", 2) is None and cache.take("c1", 1) is None
    cache.keep("c1", 1, made)
    assert cache.take("c1", 2) is None  # asked for another version: dropped
    assert cache.take("c1", 1) is None
    cache.keep("c1", 1, made)
    assert cache.take("c1", 1) is made
    assert cache.take("c1", 1) is None  # once
    for drop in (
        lambda: cache.put("c1", Conversation({"step": "menu"}, 1)),  # replaced, even at the same version
        lambda: cache.drop("c1"),
        lambda: cache.clear(),
        lambda: [cache.put(c, Conversation({"step": "menu"}, 1)) for c in ("c2", "c3")],  # evicted
    ):
        cache.put("c1", Conversation({"step": "menu"}, 1))
        cache.keep("c1", 1, made)
        drop()
        assert cache.take("c1", 1) is None
    bounded = StateCache(kept=2)
    for c in ("c1", "c2", "c3"):
        bounded.put(c, Conversation({"step": "menu"}, 1))
        bounded.keep(c, 1, made)
    assert [bounded.take(c, 1) for c in ("c1", "c2", "c3")] == [None, made, made]


def test_a_cached_conversation_reads_its_json_only_when_asked() -> None:
    cache = StateCache()
    cache.put("c1", Conversation({"step": "menu", "lang": "ur"}, 3))
    found = cache.get("c1")
    assert found is not None and found.version == 3
    assert found == Conversation({"step": "menu", "lang": "ur"}, 3)
    assert found.state == {"step": "menu", "lang": "ur"}
    assert "'lang': 'ur'" in repr(found)
    cache.put("c2", Conversation(None, 1))
    assert cache.get("c2") == Conversation(None, 1)


async def test_a_conflicting_commit_drops_what_was_kept(storage: Storage) -> None:
    turn = TurnRecord("webchat", "e1", "c1", 0, {"step": "menu"}, [])
    assert (await storage.commit_turn(turn)).status is CommitStatus.OK
    storage.states.keep("c1", 1, "made")
    late = TurnRecord("webchat", "e2", "c1", 0, {"step": "menu"}, [])
    assert (await storage.commit_turn(late)).status is CommitStatus.CONFLICT
    assert storage.states.take("c1", 1) is None
