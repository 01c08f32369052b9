"""A report submit runs as few statements as it can (issue 23), and what it leaves out changes nothing.

- The statements SQLite runs for a submit turn in the turn writer are pinned, one by one: a statement
  added back (a recount, a read of the case just inserted, the audit head read again) fails here.
- A case's counts and priority, stored by a report without a recount (`storage.cases.join` for a new
  case, `count_one_more` for one that exists), equal `refresh`'s recount after random reports on new and
  shared links, by known and anonymous reporters, with designated organisations among them.
- The audit head a Storage remembers is only a guess: two Storages on one database (two processes, two
  instances) appending in turn, and a turn rolled back after its append, leave a chain that verifies.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from storage import cases as cases_
from storage.audit import as_utc
from storage.records import (
    CommitStatus,
    DesignatedMatch,
    EvidenceRecord,
    NewReport,
    NewSupportRequest,
    TurnRecord,
)
from storage.repository import Storage
from storage.schema import cases
from tests.conftest import SECRET

STATE = {"step": "done", "lang": "en"}
SAID = [{"text": "Report received", "buttons": []}]


def report(code: str, link: str, reporter: str | None, **kw: Any) -> NewReport:
    evidence = (EvidenceRecord("link", link, platform="facebook"),)
    return NewReport(code, reporter, "webchat", "en", "propaganda", "", False, evidence, **kw)


class Turns:
    """Each citizen's next turn: its event id and the version it expects."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix  # of citizens and event ids: several runs on one database
        self.versions: dict[str, int] = {}
        self.events = itertools.count(1)

    def of(self, citizen: str, **kw: Any) -> TurnRecord:
        citizen = self.prefix + citizen
        version = self.versions.get(citizen, 0)
        self.versions[citizen] = version + 1
        event_id = f"{self.prefix}e{next(self.events)}"
        return TurnRecord("webchat", event_id, citizen, version, STATE, SAID, **kw)


async def traced(storage: Storage, turn: TurnRecord) -> list[str]:
    """The statements SQLite ran for `turn` in the turn writer, from its SAVEPOINT to its RELEASE, each as
    its first words (fixed SQL and SQLAlchemy Core alike: sqlite3's trace callback sees both)."""
    group = storage.db.group
    assert group is not None
    ran: list[str] = []

    def connected(dbapi: Any, _record: Any) -> None:
        dbapi.set_trace_callback(ran.append)

    group.close()  # the writer's next connection carries the callback
    event.listen(group.engine, "connect", connected)
    try:
        result = await storage.commit_turn(turn)
    finally:
        event.remove(group.engine, "connect", connected)
        group.close()
    assert result.status is CommitStatus.OK, result
    turn_only = ran[ran.index("SAVEPOINT turn") : ran.index("RELEASE turn") + 1]
    return [" ".join(sql.split()[:3]) for sql in turn_only]


HEAD = ["SAVEPOINT turn", "INSERT INTO processed_events", "UPDATE conversations SET", "UPDATE contacts SET"]


async def test_a_submit_runs_its_pinned_statements(tmp_path: Path) -> None:
    storage = Storage(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", SECRET.encode())
    await storage.upgrade()
    turns = Turns()
    try:
        for citizen in ("c1", "c2"):  # each citizen's first turn; the process's first audit append
            first = report(f"WARM-{citizen}", f"https://facebook.com/warm.{citizen}", citizen)
            assert (await storage.commit_turn(turns.of(citizen, reports=(first,)))).status is CommitStatus.OK

        link = "https://facebook.com/recruit.page.1"
        new_case = await traced(storage, turns.of("c1", reports=(report("K7QM-2XD9", link, "c1"),)))
        assert new_case == [
            *HEAD,
            "INSERT INTO reporters",
            "INSERT INTO cases",  # counted as its one report (storage.cases.join)
            "INSERT INTO reports",
            "INSERT INTO case_reports",
            "INSERT INTO case_handles",
            "INSERT INTO evidence",
            "INSERT INTO audit_events",  # onto the head this writer appended last
            "RELEASE turn",
        ]

        same_case = await traced(storage, turns.of("c2", reports=(report("K7QM-2XDA", link, "c2"),)))
        assert same_case == [
            *HEAD,
            "INSERT INTO reporters",
            "INSERT INTO cases",  # there already: nothing
            "SELECT cases.id, cases.canonical_url,",  # the case by its link, once
            "INSERT INTO reports",
            "INSERT INTO case_reports",
            "INSERT INTO case_handles",
            "INSERT INTO evidence",
            "SELECT count(*) AS",  # is c2 new on the case?
            "UPDATE cases SET",
            "INSERT INTO audit_events",
            # no burst check: two reports cannot weigh enough
            "RELEASE turn",
        ]

        async with storage.db.read() as conn:
            row = (await conn.execute(select(cases).where(cases.c.canonical_url == link))).one()
        assert (row.report_count, row.reporter_count, row.needs_care) == (2, 2, False)
        assert await storage.verify_audit_chain()
    finally:
        await storage.close()


async def test_a_burst_is_still_weighed_once_a_case_has_enough_reports(tmp_path: Path) -> None:
    storage = Storage(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", SECRET.encode())
    await storage.upgrade()
    turns = Turns()
    link = "https://facebook.com/brigaded.page"
    try:
        for i in range(5):  # five new reporters within the hour: weight 5 marks the case
            turn = turns.of(f"n{i}", reports=(report(f"BRST-00{i}", link, f"n{i}"),))
            assert (await storage.commit_turn(turn)).status is CommitStatus.OK
            async with storage.db.read() as conn:
                flagged = await conn.scalar(select(cases.c.needs_care).where(cases.c.canonical_url == link))
            assert flagged is (i == 4), i
        assert await storage.verify_audit_chain()
    finally:
        await storage.close()


# --- counts without a recount equal the recount -------------------------------------------------------

LINKS = [f"https://facebook.com/shared.{i}" for i in range(3)]
MARK = DesignatedMatch("Banned Org", "list", "2024-01-01", "banned org", "description")
REPORTS = st.lists(
    st.tuples(
        st.sets(st.sampled_from([*LINKS, "new", "new2"]), min_size=1, max_size=2),  # new: a link of its own
        st.sampled_from(["r1", "r2", "r3", None]),
        st.sampled_from(["propaganda", "hate_speech", "violent_threat"]),
        st.booleans(),  # urgent
        st.integers(0, 5),  # 0: names a designated organisation
    ),
    min_size=1,
    max_size=8,
)
RUNS = itertools.count(1)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(program=REPORTS)
async def test_counts_without_a_recount_are_the_recount(storage: Storage, program: list[Any]) -> None:
    run = next(RUNS)  # every example on the same database: links, codes and events of its own
    turns = Turns(f"run{run}.")
    mine: set[str] = set()
    for n, (links, reporter, category, urgent, designated) in enumerate(program):
        urls = sorted(
            f"https://facebook.com/own.{run}.{n}.{link}" if link.startswith("new") else f"{link}.{run}"
            for link in links
        )
        mine.update(urls)
        evidence = tuple(EvidenceRecord("link", url, platform="facebook") for url in urls)
        new = NewReport(
            f"R{run:03d}-{n:04d}",
            reporter,
            "webchat",
            "en",
            category,
            "",
            urgent,
            evidence,
            designated=(MARK,) if designated == 0 else (),
        )
        note(repr(new))
        turn = turns.of(reporter or f"anon{n}", reports=(new,))
        assert (await storage.commit_turn(turn)).status is CommitStatus.OK
    async with storage.writer.connect() as conn:
        transaction = await conn.begin()
        stored = (await conn.execute(select(cases).where(cases.c.canonical_url.in_(mine)))).all()
        assert len(stored) == len(mine)
        for row in stored:  # the recount at the moment of the case's last report
            await cases_.refresh(conn, row.id, as_utc(row.last_seen))
        again = await conn.execute(select(cases).where(cases.c.canonical_url.in_(mine)))
        recounted = {r.id: r for r in again}
        await transaction.rollback()
    for row in stored:
        for column in (c.name for c in cases.c if c.name != "updated_at"):
            assert getattr(row, column) == getattr(recounted[row.id], column), (row.canonical_url, column)
    assert await storage.verify_audit_chain()


# --- the remembered audit head ------------------------------------------------------------------------


async def test_two_storages_on_one_database_keep_one_chain(storage: Storage) -> None:
    """Two Storages (two processes, or two instances on PostgreSQL) append in turn, each onto the head
    it remembers when that is still the newest; a turn whose append was rolled back (its callback
    request's code was taken) leaves a remembered head that is not in the chain at all."""
    other = Storage(storage.url, SECRET.encode())
    turns = Turns()
    taken = NewSupportRequest("FAMC-2XD9", "s1", "webchat", "en", "signs", "call after 5")
    try:
        assert (await storage.commit_turn(turns.of("s1", support=(taken,)))).status is CommitStatus.OK
        for i in range(6):
            which = (storage, storage, other, storage, other, other)[i]
            link = f"https://facebook.com/chain.{i % 3}"
            turn = turns.of(f"t{i}", reports=(report(f"CHAN-{i:04d}", link, f"t{i}"),))
            assert (await which.commit_turn(turn)).status is CommitStatus.OK
            assert await storage.verify_audit_chain(), i
            # ... and a turn that appended, then rolled back: its report's event is gone with it
            failing = turns.of(f"f{i}", reports=(report(f"FAIL-{i:04d}", link, f"f{i}"),), support=(taken,))
            assert (await which.commit_turn(failing)).status is CommitStatus.CODE_TAKEN
            assert await storage.verify_audit_chain(), i
        async with storage.db.read() as conn:
            events = (await conn.execute(select(cases.c.report_count).order_by(cases.c.id))).scalars().all()
        assert list(events) == [2, 2, 2]
    finally:
        await other.close()
