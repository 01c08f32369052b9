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


RECENCY_WEIGHT = 10.0
RECENCY_HALF_LIFE_DAYS = 3.0


def explain(case: dict[str, object]) -> dict[str, object]:
    """The case with its priority's parts, recency included (computed now from last_seen)."""
    from datetime import UTC, datetime

    categories = case.get("categories") or []
    reporters = case.get("reporter_count") or 0
    shown = parts(
        categories if isinstance(categories, list) else [],
        bool(case.get("urgent")),
        int(reporters) if isinstance(reporters, int) else 0,
    )
    last = case.get("last_seen")
    if isinstance(last, str):
        age_days = max(0.0, (datetime.now(UTC) - datetime.fromisoformat(last)).total_seconds() / 86400)
        shown["recency"] = round(RECENCY_WEIGHT * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS), 2)
    return {**case, "priority_parts": shown}
