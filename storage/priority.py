"""A case's priority: the sum of named parts, so analysts can see why a case ranks where it does.

One function serves the queue order (the stored `priority` column), the API and the console (the stored
`priority_parts`). Recency decays with time, so open cases are scored again periodically
(`Queue.rescore`); a case's stored parts and priority are always from the same moment.

A case whose reports name a designated (proscribed) organisation (cases.designated) gets a part of its own,
`designated`, present only then: the same weight however many organisations are named, so a description
that lists every banned group ranks no higher than one that names the page's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

CATEGORY_WEIGHT = {
    "violent_threat": 50.0,
    "instructions": 35.0,
    "recruitment": 30.0,
    "financing": 30.0,
    "illicit_trade": 25.0,
    "hate_speech": 20.0,
    "propaganda": 15.0,
    "other": 5.0,
}
URGENT_WEIGHT = 40.0
REPORTERS_WEIGHT = 10.0
RECENCY_WEIGHT = 10.0
RECENCY_HALF_LIFE_DAYS = 3.0
# Naming a designated organisation: between hate speech (20) and recruitment (30), so a propaganda report
# that names one (15 + 25) ranks with an urgent one (40); it never outranks a violent threat alone (50).
DESIGNATED_WEIGHT = 25.0


def parts(
    categories: Iterable[str],
    urgent: bool,
    reporters: int,
    last_seen: datetime,
    now: datetime,
    designated: int = 0,
) -> dict[str, float]:
    """Each part, rounded to hundredths: category weight, urgency, distinct reporters (log scale),
    recency (halving every three days since the last report) and, when the reports name `designated`
    organisations of the designated list (one or more), the designated part."""
    age_days = max(0.0, (now - last_seen).total_seconds() / 86400)
    shown = {
        "category": max((CATEGORY_WEIGHT.get(c, 5.0) for c in categories), default=5.0),
        "urgency": URGENT_WEIGHT if urgent else 0.0,
        "reporters": round(REPORTERS_WEIGHT * math.log2(1 + max(reporters, 1)), 2),
        "recency": round(RECENCY_WEIGHT * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS), 2),
    }
    if designated > 0:
        shown["designated"] = DESIGNATED_WEIGHT
    return shown


def total(shown: dict[str, float]) -> float:
    """The priority: exactly the sum of its parts (to hundredths)."""
    return round(sum(shown.values()), 2)
