"""A case's base priority, explainable part by part (category weight, urgency, distinct reporters)."""

from __future__ import annotations

import math
from collections.abc import Iterable

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


def parts(categories: Iterable[str], urgent: bool, reporters: int) -> dict[str, float]:
    """Each part of the priority, named, so analysts can see why a case ranks where it does."""
    weight = max((CATEGORY_WEIGHT.get(c, 5.0) for c in categories), default=5.0)
    return {
        "category": weight,
        "urgency": URGENT_WEIGHT if urgent else 0.0,
        "reporters": round(REPORTERS_WEIGHT * math.log2(1 + max(reporters, 1)), 2),
    }


def priority(categories: Iterable[str], urgent: bool, reporters: int) -> float:
    return round(sum(parts(categories, urgent, reporters).values()), 2)
