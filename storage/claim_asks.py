"""Which recruiters' claims people ask about: counts by day and language, never who asked (issue 24).

`count_in` runs inside `Storage.commit_turn`'s transaction: the turn that answered a claim counts it, or
neither is kept. A row is a day in Pakistan, a claim's id (responses/claims.yaml) and a language, with how
many answers were asked for; nothing in it names a citizen, a conversation or a channel, so forget-me has
nothing here to delete. `top` gives the console's overview its "claims people ask about" charts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.locking import upsert
from storage.schema import claim_asks
from storage.support import PAKISTAN

if TYPE_CHECKING:
    from storage.repository import Storage

TOP = 10  # claims a chart shows


def day_of(now: datetime) -> date:
    """The day in Pakistan (UTC+5 all year) of an aware `now`: the console counts in Pakistan's days."""
    return now.astimezone(PAKISTAN).date()


async def count_in(conn: AsyncConnection, asked: Iterable[tuple[str, str]], now: datetime) -> None:
    """Add the turn's (claim, language) asks to today's counts; nothing at all for a turn that asked none.

    The rows of one statement are distinct (PostgreSQL refuses to update one row twice in a statement)
    and sorted, so two turns counting the same claims lock their rows in the same order."""
    counted = Counter(asked)
    if not counted:
        return
    day = day_of(now)
    rows = [
        {"day": day, "claim": claim, "language": language, "count": n}
        for (claim, language), n in sorted(counted.items())
    ]
    stmt = upsert(conn, claim_asks).values(rows)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[claim_asks.c.day, claim_asks.c.claim, claim_asks.c.language],
            set_={"count": claim_asks.c.count + stmt.excluded.count},
        )
    )


async def top(storage: Storage, days: int, now: datetime, limit: int = TOP) -> list[tuple[str, int]]:
    """The claims most asked about in the last `days` days (today in Pakistan included), every language
    together, most first (then by id): at most `limit` of (claim, count)."""
    since = day_of(now) - timedelta(days=days - 1)
    total = func.sum(claim_asks.c.count).label("total")
    query = (
        select(claim_asks.c.claim, total)
        .where(claim_asks.c.day >= since)
        .group_by(claim_asks.c.claim)
        .order_by(total.desc(), claim_asks.c.claim)
        .limit(limit)
    )
    async with storage.db.read() as conn:
        return [(str(row.claim), int(row.total)) for row in await conn.execute(query)]
