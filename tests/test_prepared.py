"""Statements built once run on SQLite's own connection (storage.prepared) and store what SQLAlchemy stores.

- The same turns (report submits on new and existing cases, with evidence, designated organisations,
  urgent and marked, anonymous, contacts kept, callback requests, a code taken, a follow-up answered and
  one skipped, a burst, claims counted, a redelivery, a stale version, forget-me) on two SQLite storages at
  the same instants, one with the fast path, one without: the same results, every table's rows equal
  byte for byte, both audit chains verify, and the fast path did run the statements compared.
- Values of every column type the storage writes (None, Urdu and other text, bytes, datetimes with and
  without a time zone, JSON, booleans, numbers), bound by the fast path and by SQLAlchemy, store the same
  bytes and read back the same; a value SQLAlchemy refuses is refused alike.
- What the fast path cannot run exactly goes to SQLAlchemy: expanding IN, Python-side defaults, a
  statement's execution options, RETURNING in an executemany, text SQL that returns rows; the results it
  hands back answer what SQLAlchemy's would.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from cyberunit.api import render_followup
from storage import audit, cases, evidence_rows, followups, outbox, prepared, repository
from storage.engine import create_inline_engines
from storage.inline import InlineConnection, drive
from storage.records import (
    CommitResult,
    DesignatedMatch,
    EvidenceRecord,
    FollowupReply,
    NewReport,
    NewSupportRequest,
    TurnRecord,
)
from storage.repository import Storage
from storage.schema import followup_pending
from tests.conftest import SECRET

STATE = {"step": "done", "lang": "ur", "recent": [{"text": "آپ کی رپورٹ", "buttons": []}]}
SAID = [{"text": "رپورٹ موصول ہو گئی 👍", "buttons": [], "lang": "ur"}]
PAGE = "https://facebook.com/recruit.page.7"
OTHER = "https://facebook.com/other.page.8"
BURST = "https://t.me/s/brigade_channel"
MARK = DesignatedMatch("Banned Org", "NACTA", "2024-01-01", "banned org", "description")


class Clock:
    """The same instants for both storages: a turn's rows (and its audit hashes) are then comparable byte
    for byte."""

    def __init__(self) -> None:
        self.ticks = itertools.count()

    def __call__(self) -> datetime:
        return datetime(2026, 3, 1, 9, 30, tzinfo=UTC) + timedelta(seconds=7, microseconds=next(self.ticks))


def report(
    code: str,
    reporter: str | None,
    *links: str,
    category: str = "propaganda",
    urgent: bool = False,
    more: tuple[EvidenceRecord, ...] = (),
    **kw: Any,
) -> NewReport:
    evidence = tuple(EvidenceRecord("link", u, raw=u + "?ref=share", platform="facebook") for u in links)
    words = "یہ صفحہ نفرت پھیلاتا ہے"
    return NewReport(code, reporter, "webchat", "ur", category, words, urgent, evidence + more, **kw)


def first_turns() -> Iterator[TurnRecord]:
    photo = EvidenceRecord("photo", "file-1", platform=None, fingerprint="ph0t0.jpg")
    handle = EvidenceRecord("handle", "@recruiter_7", platform="x")
    yield TurnRecord("webchat", "e1", "c1", 0, STATE, SAID, (report("K7QM-2XD9", "c1", PAGE),))
    urgent = report("K7QM-2XDA", "c2", PAGE, urgent=True, scope_check=True, more=(photo, handle))
    yield TurnRecord("webchat", "e2", "c2", 0, STATE, SAID, (urgent,))
    yield TurnRecord(
        "webchat",
        "e3",
        "c3",
        0,
        STATE,
        SAID,
        (report("K7QM-2XDB", "c3", OTHER, designated=(MARK,)),),
        contact=b"sealed-c3",
    )
    yield TurnRecord(
        "webchat",
        "e4",
        "c4",
        0,
        STATE,
        SAID,
        (report("K7QM-2XDC", "c4", PAGE, designated=(MARK,)),),
        contact=b"sealed-c4",
    )
    yield TurnRecord("webchat", "e5", "anon", 0, STATE, SAID, (report("K7QM-2XDD", None, PAGE),))
    two = report("K7QM-2XDE", "c1", PAGE, "https://facebook.com/third.page.9", category="hate_speech")
    yield TurnRecord("webchat", "e6", "c1", 1, STATE, SAID, (two,))
    yield TurnRecord(
        "webchat", "e7", "c1", 2, STATE, SAID, contact=b"sealed-\x00\xff", updates_for=("K7QM-2XD9",)
    )
    yield TurnRecord("webchat", "e8", "c2", 1, STATE, SAID, contact=b"sealed-2", updates_for=("K7QM-2XDA",))
    request = NewSupportRequest(
        "FAMC-2XD9", "c5", "webchat", "ur", "signs", "شام 5 بجے کے بعد فون کریں", b"phone\x01"
    )
    yield TurnRecord("webchat", "e9", "c5", 0, STATE, SAID, support=(request,))
    taken = NewSupportRequest("K7QM-2XD9", "c6", "webchat", "ur", "signs", "taken")
    yield TurnRecord("webchat", "e10", "c6", 0, STATE, SAID, support=(taken,))
    yield TurnRecord("webchat", "e9", "c5", 1, STATE, SAID)  # redelivered
    yield TurnRecord("webchat", "e11", "c1", 1, STATE, SAID, contact=b"stale")  # stale version
    for n in range(5):  # new reporters piling onto one page: the burst flags it
        yield TurnRecord(
            "webchat", f"b{n}", f"n{n}", 0, STATE, SAID, (report(f"BRST-000{n}", f"n{n}", BURST),)
        )
    yield TurnRecord(
        "webchat",
        "e12",
        "c7",
        0,
        STATE,
        SAID,
        claims_asked=(("jihad", "ur"), ("jihad", "ur"), ("paradise", "en")),
    )
    yield TurnRecord("webchat", "e13", "c7", 1, STATE, SAID, subscribe="ur")


def last_turns(pending: dict[str, int]) -> Iterator[TurnRecord]:
    answer = (
        EvidenceRecord("answer", "ہاں، صفحہ ابھی موجود ہے"),
        EvidenceRecord("link", "https://facebook.com/new.page.10", platform="facebook"),
    )
    yield TurnRecord(
        "webchat",
        "f1",
        "c1",
        3,
        STATE,
        SAID,
        followup=FollowupReply(pending["c1"], "answered", answer, urgent=True),
    )
    yield TurnRecord("webchat", "f2", "c2", 2, STATE, SAID, followup=FollowupReply(pending["c2"], "skipped"))
    yield TurnRecord("webchat", "f3", "c1", 4, STATE, SAID, forget=True)


def table_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows as SQLite holds them (each value with its storage class)."""
    db = sqlite3.connect(path)
    try:
        names = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        found = {}
        for name in names:
            width = len(db.execute(f'SELECT * FROM "{name}" LIMIT 0').description)
            columns = ", ".join(
                f"typeof({i}), {i}" for i in [f'"{c[1]}"' for c in db.execute(f'PRAGMA table_info("{name}")')]
            )
            order = ", ".join(str(i) for i in range(1, 2 * width + 1))
            found[name] = [tuple(r) for r in db.execute(f'SELECT {columns} FROM "{name}" ORDER BY {order}')]
        return found
    finally:
        db.close()


async def run_turns(
    path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[CommitResult], list[int]]:
    """The turns' results, and how often each statement of COMPARED ran on the fast path."""
    clock = Clock()
    for module in (repository, followups, outbox):
        monkeypatch.setattr(module, "utcnow", clock)
    storage = Storage(f"sqlite+aiosqlite:///{path}", SECRET.encode())
    await storage.upgrade()
    storage.alerts = True  # urgent reports queue an alert
    if not fast:
        assert storage.db.group is not None and storage.db.inline_reader is not None
        prepared.disable(storage.db.group.engine)
        prepared.disable(storage.db.inline_reader.engine)
    try:
        results = [await storage.commit_turn(turn) for turn in first_turns()]
        case = await storage.reports.case_of("K7QM-2XD9")
        assert case is not None
        await followups.ask(storage, int(case["id"]), "کیا صفحہ ابھی موجود ہے؟", "analyst", render_followup)
        for citizen in ("c1", "c2"):
            await storage.outbox.take("webchat", citizen)  # delivered
        async with storage.db.read() as conn:
            rows = (await conn.execute(select(followup_pending.c.id, followup_pending.c.report_id))).all()
        codes = {r.report_id: r.id for r in rows}
        pending = {"c1": codes[1], "c2": codes[2]}
        results += [await storage.commit_turn(turn) for turn in last_turns(pending)]
        assert await storage.verify_audit_chain()
        ran = [prepared.runs(statement, storage.db.group.engine) for statement in COMPARED]
    finally:
        await storage.close()
    return results, ran


COMPARED = [
    repository._NEW_REPORT,
    repository._ON_CASE,
    evidence_rows._NEW,
    audit._ONTO,
    cases._COUNTS,
    cases._THEIRS,
    cases._case_by("canonical_url", False),
    cases._create_case("sqlite", "canonical_url"),
    repository._keep_contact("sqlite"),
]


async def test_the_same_turns_store_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, fast_ran = await run_turns(tmp_path / "fast.db", True, monkeypatch)
    core, core_ran = await run_turns(tmp_path / "core.db", False, monkeypatch)
    assert all(fast_ran), fast_ran  # each statement compared ran on the fast path (from its third time)
    assert not any(core_ran), core_ran  # and the other storage's all through SQLAlchemy
    assert fast == core
    statuses = [r.status.value for r in fast]
    assert statuses.count("ok") == len(statuses) - 3
    assert statuses[9:12] == ["code_taken", "duplicate", "conflict"]
    a, b = table_rows(tmp_path / "fast.db"), table_rows(tmp_path / "core.db")
    assert a.keys() == b.keys()
    for table in a:
        assert a[table] == b[table], table
    assert len(a["reports"]) == 11 and len(a["evidence"]) > 11 and len(a["audit_events"]) > 12
    assert any(row[-1] for row in a["followups"])  # answered and skipped, counted


# --- binding -------------------------------------------------------------------------------------------

probes = MetaData()
probe = Table(
    "probe",
    probes,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("s", String(64)),
    Column("words", Text),
    Column("b", LargeBinary),
    Column("at", DateTime(timezone=True)),
    Column("day", Date),
    Column("j", JSON),
    Column("flag", Boolean),
    Column("f", Float),
    Column("n", BigInteger),
)
_ADD = probe.insert().returning(probe.c.id, probe.c.at, probe.c.j)
_ADD_MANY = probe.insert()
_EMPTY = delete(probe)
_GET = select(probe).where(probe.c.id == bindparam("pid"))
_SET = update(probe).where(probe.c.id == bindparam("pid"))
_COUNT = select(probe.c.id).where(
    probe.c.s == bindparam("s"), probe.c.at <= bindparam("at", type_=probe.c.at.type)
)


class Probe:
    """A database of the probe table on the project's SQLite engine (its JSON serialiser and pragmas)."""

    def __init__(self, path: Path, fast: bool) -> None:
        engines = create_inline_engines(f"sqlite:///{path}", b"key")
        assert engines is not None
        self.engine: Engine = engines[0]
        engines[1].dispose()
        probes.create_all(self.engine)
        if not fast:
            prepared.disable(self.engine)

    def run(self, work: Any) -> Any:
        with self.engine.connect() as sync:
            sync.begin()
            try:
                return drive(work(InlineConnection(sync)))
            finally:
                sync.commit()


TZ = st.sampled_from([None, UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-3, minutes=-30))])
JSONS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
TEXT = st.text() | st.sampled_from(["رپورٹ موصول ہو گئی", "👍🏽", "a\x00b", "\ud800", ""])
VALUES = st.fixed_dictionaries(
    {},
    optional={
        "s": st.none() | TEXT,
        "words": st.none() | TEXT,
        "b": st.none() | st.binary(max_size=20),
        "at": st.none() | st.builds(lambda d, tz: d.replace(tzinfo=tz), st.datetimes(), TZ),
        "day": st.none() | st.dates(),
        "j": st.none() | JSONS | st.just(2**70) | st.just({1: "a", "b": [1.5, None]}),
        "flag": st.none() | st.booleans(),
        "f": st.none() | st.floats(allow_nan=False),
        "n": st.none() | st.integers(-(2**63), 2**63 - 1),
    },
)


def outcome(work: Any) -> tuple[str, Any]:
    try:
        return "ok", work()
    except Exception as error:
        return type(error).__name__, None


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[Probe, Probe]]:
    fast, core = Probe(tmp_path / "fast.db", True), Probe(tmp_path / "core.db", False)
    for _ in range(prepared.PROMOTE_AT):  # each probe statement compiled for the fast path
        for side in (fast, core):
            side.run(lambda conn: conn.scalar(_ADD, {"s": "warm"}))
    yield fast, core
    fast.engine.dispose()
    core.engine.dispose()


def raw(probe_: Probe) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(probe_.engine.url.database or "")
    try:
        cols = "id, s, typeof(s), words, typeof(words), b, typeof(b), at, typeof(at), day, j, typeof(j)"
        cols += ", flag, f, typeof(f), n"
        return [tuple(r) for r in db.execute(f"SELECT {cols} FROM probe ORDER BY id")]
    finally:
        db.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(values=VALUES, again=VALUES, many=st.lists(VALUES.map(lambda v: {**v, "s": "many"}), max_size=3))
def test_values_are_bound_as_sqlalchemy_binds_them(
    both: tuple[Probe, Probe], values: dict[str, Any], again: dict[str, Any], many: list[dict[str, Any]]
) -> None:
    fast, core = both
    for side in (fast, core):
        side.run(lambda conn: conn.execute(_EMPTY))
    before = sum(prepared.runs(s, fast.engine) for s in (_ADD, _GET, _SET))

    async def write(conn: InlineConnection) -> Any:
        added = (await conn.execute(_ADD, values)).one()
        await conn.execute(_SET, {"pid": added.id, **again})
        if many:
            same_keys = [{**many[0], **{k: None for k in m.keys() | many[0].keys()}, **m} for m in many]
            await conn.execute(_ADD_MANY, same_keys)
        row = (await conn.execute(_GET, {"pid": added.id})).first()
        return tuple(added), tuple(row) if row is not None else None, dict(row._mapping) if row else None

    a = outcome(lambda: fast.run(write))
    b = outcome(lambda: core.run(write))
    assert a == b
    assert raw(fast) == raw(core)  # the same bytes
    if a[0] == "ok":
        assert sum(prepared.runs(s, fast.engine) for s in (_ADD, _GET, _SET)) > before


def test_results_answer_as_sqlalchemys(both: tuple[Probe, Probe]) -> None:
    fast, core = both
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)

    async def work(conn: InlineConnection) -> list[Any]:
        ids = [await conn.scalar(_ADD, {"s": "x", "at": at, "j": {"k": [n]}}) for n in range(3)]
        got: list[Any] = [ids]
        for _ in range(prepared.PROMOTE_AT):
            result = await conn.execute(_COUNT, {"s": "x", "at": at})
            got.append([tuple(r) for r in result])
        got.append((await conn.scalars(_COUNT, {"s": "x", "at": at})).all())
        got.append((await conn.execute(_COUNT, {"s": "x", "at": at})).scalars().first())
        got.append(list(await conn.scalars(_COUNT, {"s": "none", "at": at})))
        got.append((await conn.execute(_COUNT, {"s": "x", "at": at})).keys())
        got.append([dict(m) for m in (await conn.execute(_COUNT, {"s": "x", "at": at})).mappings()])
        got.append(outcome(lambda: drive(_one(conn, {"s": "x", "at": at}))))
        got.append(outcome(lambda: drive(_one(conn, {"s": "none", "at": at}))))
        got.append((await conn.execute(_SET, {"pid": ids[0], "words": "changed"})).rowcount)
        got.append((await conn.execute(_SET, {"pid": -1, "words": "changed"})).rowcount)
        row = (await conn.execute(_GET, {"pid": ids[0]})).one()
        got.append((row.at, row.j, row.words, row._mapping[probe.c.j], row._fields))
        got.append(outcome(lambda: drive(conn.execute(_GET, {"pid": ids[0]})).first().nothing))
        return got

    assert fast.run(work) == core.run(work)
    assert prepared.runs(_COUNT, fast.engine) > 0


async def _one(conn: InlineConnection, params: dict[str, Any]) -> Any:
    return tuple((await conn.execute(_COUNT, params)).one())


# --- what goes to SQLAlchemy ---------------------------------------------------------------------------

_IN = select(probe.c.id).where(probe.c.s.in_(["a", "b"]))
_DEFAULTED = Table(
    "defaulted", MetaData(), Column("id", Integer, primary_key=True), Column("d", String, default="x")
).insert()
_OPTIONED = select(probe.c.id).execution_options(yield_per=5)
_TEXT_ROWS = text("SELECT id FROM probe")
_TEXT_WRITE = text("DELETE FROM probe WHERE s = :s")


def test_what_it_cannot_run_exactly_goes_to_sqlalchemy(both: tuple[Probe, Probe]) -> None:
    fast, _ = both

    async def work(conn: InlineConnection) -> None:
        for _ in range(prepared.PROMOTE_AT + 1):
            await conn.execute(_IN)
            await conn.execute(_OPTIONED)
            await conn.execute(_TEXT_ROWS)
            await conn.execute(_TEXT_WRITE, {"s": "nothing"})
            await conn.execute(_GET, {"pid": 1, "unused": 2})
            await conn.execute(delete(probe).where(probe.c.s == "per call"))  # built per call

    fast.run(work)
    assert [prepared.runs(s, fast.engine) for s in (_IN, _OPTIONED, _TEXT_ROWS)] == [0, 0, 0]
    assert prepared.runs(_TEXT_WRITE, fast.engine) > 0  # text SQL that returns no rows runs fast
    assert prepared.runs(_GET, fast.engine) > 0  # a parameter it does not name changes nothing
    assert prepared._plan(_DEFAULTED, fast.engine.dialect, ("id",), False) is prepared._NO
    many = prepared._plan(_ADD, fast.engine.dialect, ("s",), True)
    assert many is prepared._NO  # RETURNING in an executemany


def test_a_failing_statement_raises_what_sqlalchemy_raises(both: tuple[Probe, Probe]) -> None:
    fast, core = both

    async def work(conn: InlineConnection) -> Any:
        await conn.execute(_ADD, {"id": 1000, "s": "dup"})
        await conn.execute(_ADD, {"id": 1000, "s": "dup"})

    for side in (fast, core):
        with pytest.raises(IntegrityError) as raised:
            side.run(work)
        assert "UNIQUE" in str(raised.value.orig)
