"""Case exports: CSV that opens in Excel (UTF-8 with BOM), JSON lines, and a STIX 2.1 bundle.

Every export holds case fields only: nothing about who reported.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import stix2

COLUMNS = (
    "id",
    "canonical_url",
    "fingerprint",
    "platform",
    "status",
    "categories",
    "report_count",
    "reporter_count",
    "priority",
    "urgent",
    "needs_care",
    "care_reason",
    "agency",
    "merged_into",
    "first_seen",
    "last_seen",
    "decided_at",
)
PRODUCER = stix2.Identity(
    id="identity--6f3c8a5e-2b1d-4c0e-9a57-3d2f1e0b9c41",
    name="Raabta",
    identity_class="system",
    description="Citizen reports of violent extremist content, Pakistan",
)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    text = "" if value is None else str(value)
    # Cells starting with = + - @ would run as formulas in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(cases: Sequence[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for case in cases:
        writer.writerow([_cell(case.get(column)) for column in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_jsonl(cases: Sequence[dict[str, Any]]) -> bytes:
    return "".join(
        json.dumps({k: c.get(k) for k in COLUMNS}, ensure_ascii=False) + "\n" for c in cases
    ).encode()


def to_stix(cases: Sequence[dict[str, Any]]) -> bytes:
    """A bundle: per linked case a URL observable and an indicator labelled with its categories; TLP:AMBER."""
    objects: list[Any] = [PRODUCER, stix2.TLP_AMBER]
    for case in cases:
        url = case.get("canonical_url")
        if not url:
            continue
        observable = stix2.URL(value=url, object_marking_refs=[stix2.TLP_AMBER])
        pattern = "[url:value = '" + url.replace("\\", "\\\\").replace("'", "\\'") + "']"
        indicator = stix2.Indicator(
            name=f"Raabta case {case['id']}",
            description=f"Reported by citizens {case['report_count']} time(s); status {case['status']}",
            pattern=pattern,
            pattern_type="stix",
            valid_from=datetime.fromisoformat(str(case["first_seen"])),
            labels=list(case.get("categories") or []) or ["other"],
            created_by_ref=PRODUCER.id,
            object_marking_refs=[stix2.TLP_AMBER],
            confidence=min(100, 20 + 10 * int(case.get("reporter_count") or 0)),
        )
        relation = stix2.Relationship(
            indicator,
            "based-on",
            observable,
            created_by_ref=PRODUCER.id,
            object_marking_refs=[stix2.TLP_AMBER],
        )
        objects += [observable, indicator, relation]
    bundle: str = stix2.Bundle(objects=objects, allow_custom=False).serialize(pretty=False)
    return bundle.encode()


FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv", to_csv),
    "json": ("application/x-ndjson", "jsonl", to_jsonl),
    "stix": ("application/stix+json;version=2.1", "json", to_stix),
}
