"""SQLite's DATETIME binds in fixed SQL (storage.engine.SqliteTimes) store the text SQLAlchemy stores.

The fixed SQL of the turn writer (storage.plainturn, storage.prepared, storage.fixedreads) binds datetimes
through `SqliteTimes`, which formats by position and keeps the last value's text. A row written that way
must be byte for byte the row SQLAlchemy Core writes, and a turn's later rows must never get an earlier
turn's time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite

from storage.engine import SqliteTimes, binder
from storage.prepared import _compiled_plan
from storage.schema import cases, conversations, processed_events

DIALECT = sqlite.dialect()
SQLALCHEMY = processed_events.c.created_at.type.dialect_impl(DIALECT).bind_processor(DIALECT)

zones = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)
times = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(),  # naive, year 1 to 9999
    zones,
)
values = st.one_of(times, st.dates(), st.none())


@given(st.lists(st.one_of(values, st.sampled_from(["same", "copy"])), max_size=12))
def test_the_text_is_sqlalchemys_for_every_value_in_any_order(steps: list[object]) -> None:
    """ "same" binds the previous value again (the memo's case), "copy" an equal datetime that is another
    object (a naive and an aware time of the same digits print the same; two aware times of one instant
    in different zones do not)."""
    fast = SqliteTimes(SQLALCHEMY)
    previous: object = None
    for step in steps:
        value = step
        if step == "same":
            value = previous
        elif step == "copy":
            value = previous.replace() if isinstance(previous, datetime) else previous
        assert fast(value) == SQLALCHEMY(value), value
        previous = value


def test_an_equal_instant_in_another_zone_is_not_taken_for_the_last_one() -> None:
    fast, other = SqliteTimes(SQLALCHEMY), SqliteTimes(SQLALCHEMY)  # two columns: the last text is shared
    utc = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    karachi = utc.astimezone(timezone(timedelta(hours=5)))
    assert utc == karachi
    assert fast(utc) == other(utc) == "2026-12-06 12:00:00.000000"
    assert other(karachi) == "2026-12-06 17:00:00.000000" == SQLALCHEMY(karachi)
    assert fast(utc) == "2026-12-06 12:00:00.000000"
    assert fast(date(2026, 12, 6)) == SQLALCHEMY(date(2026, 12, 6))


def test_fixed_sql_binds_sqlite_datetimes_through_it_and_nothing_else() -> None:
    for column in (processed_events.c.created_at, conversations.c.updated_at, cases.c.decided_at):
        assert isinstance(binder(column, DIALECT), SqliteTimes)
    assert not isinstance(binder(conversations.c.state, DIALECT), SqliteTimes)
    assert not isinstance(binder(processed_events.c.created_at, postgresql.asyncpg.dialect()), SqliteTimes)


def test_prepared_statements_bind_their_datetimes_through_it_and_keep_the_other_processors() -> None:
    """storage.prepared takes SQLAlchemy's compiled processors and puts SqliteTimes in place of the
    DATETIME ones only (a JSON column keeps its serialiser)."""
    plan = _compiled_plan(
        insert(processed_events), DIALECT, ("channel", "created_at", "event_id", "response"), False
    )
    processors = {name: process for name, _, process in plan.sources}
    assert isinstance(processors["created_at"], SqliteTimes)
    assert processors["response"] is not None and not isinstance(processors["response"], SqliteTimes)
    assert processors["channel"] is None
