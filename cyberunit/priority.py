"""A case's priority as analysts see it: the stored parts whose sum the queue orders by (storage.priority),
and the designated organisations its reports name (the reason for the `designated` part)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from storage.priority import CATEGORY_WEIGHT, DESIGNATED_WEIGHT, parts

__all__ = ["CATEGORY_WEIGHT", "DESIGNATED_WEIGHT", "explain"]


def explain(case: dict[str, Any]) -> dict[str, Any]:
    """The case with `priority_parts`: the parts stored with its priority (they add up to it), and with
    `designated` as a list (empty when its reports name no designated organisation, or were stored before
    reports were matched). A case scored before parts were stored gets them computed now."""
    designated = case.get("designated") or []
    if case.get("priority_parts"):
        return {**case, "designated": designated}
    categories = case.get("categories") or []
    last = case.get("last_seen")
    now = datetime.now(UTC)
    shown = parts(
        categories if isinstance(categories, list) else [],
        bool(case.get("urgent")),
        int(case.get("reporter_count") or 0),
        datetime.fromisoformat(last) if isinstance(last, str) else now,
        now,
        designated=len(designated),
    )
    return {**case, "designated": designated, "priority_parts": shown}
