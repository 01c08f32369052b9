"""Recording that an event's replies went out (storage/replied.py): the marks made together are written
together, the first record stands, and each caller returns once its mark is committed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import utcnow
from storage.replied import marks_of
from storage.repository import Storage
from storage.schema import processed_events


async def stored(storage: Storage, *event_ids: str, channel: str = "telegram") -> None:
    """Events as the pipeline stores them (their replies not yet recorded as sent)."""

    async def add(conn: AsyncConnection) -> None:
        for event_id in event_ids:
            await conn.execute(
                insert(processed_events).values(
                    channel=channel, event_id=event_id, response=[], created_at=utcnow()
                )
            )

    await storage.db.write(add)


async def replied_at(storage: Storage, event_id: str, channel: str = "telegram") -> object:
    async with storage.db.read() as conn:
        query = select(processed_events.c.replied_at).where(
            processed_events.c.channel == channel, processed_events.c.event_id == event_id
        )
        return (await conn.execute(query)).scalar_one()


async def test_marks_made_together_are_written_together_and_each_caller_sees_its_own(
    storage: Storage,
) -> None:
    ids = [f"{n}" for n in range(40)]
    await stored(storage, *ids, channel="unmarked")
    await stored(storage, *ids)
    assert not any([(await storage.replied("telegram", i))[0] for i in ids])
    batches = marks_of(storage.db).batches
    await asyncio.gather(*(storage.mark_replied("telegram", i) for i in ids))
    assert marks_of(storage.db).batches == batches + 1  # one write for the forty
    for i in ids:
        assert (await storage.replied("telegram", i))[0]  # committed when mark_replied returned
        assert not (await storage.replied("unmarked", i))[0]  # the same ids of another channel: untouched


async def test_the_first_record_stands(storage: Storage) -> None:
    await stored(storage, "first")
    await storage.mark_replied("telegram", "first")
    first = await replied_at(storage, "first")
    assert first is not None
    await asyncio.sleep(0.01)
    await storage.mark_replied("telegram", "first")  # a second instance sent them too, later
    await asyncio.gather(storage.mark_replied("telegram", "first"), storage.mark_replied("telegram", "first"))
    assert await replied_at(storage, "first") == first


async def test_marks_keep_coming_while_one_batch_is_written(storage: Storage) -> None:
    ids = [f"wave-{n}" for n in range(120)]
    await stored(storage, *ids)

    async def later(event_id: str, pause: float) -> None:
        await asyncio.sleep(pause)
        await storage.mark_replied("telegram", event_id)

    await asyncio.gather(*(later(i, (n % 6) * 0.002) for n, i in enumerate(ids)))
    assert all([(await storage.replied("telegram", i))[0] for i in ids])


async def test_an_unknown_event_marks_nothing_and_reads_as_answered(storage: Storage) -> None:
    await storage.mark_replied("telegram", "never-stored")  # forgotten by retention, say: no error
    answered, age = await storage.replied("telegram", "never-stored")
    assert answered and age == 0.0
    await stored(storage, "young")
    answered, age = await storage.replied("telegram", "young")
    assert not answered and timedelta(seconds=age) < timedelta(seconds=30)
