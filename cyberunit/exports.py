"""Case exports: CSV that opens in Excel (UTF-8 with BOM), JSON lines, and a STIX 2.1 bundle.

Every export holds case fields only: nothing about who reported.

The STIX bundle is what partners keep: one indicator per case an analyst shared with them (referred or
escalated), under an id that never changes, so a later export updates the same object (`modified`) or
revokes it (`revoked: true`) instead of adding a duplicate. It passes the OASIS validator with `--strict
--interop` (tests/test_stix.py).

What the analyst decided is said in words: the indicator's description says the decision and, when one was
picked, its reason (storage.lifecycle.REASONS, in the console's words). What the reports were is said in
labels: the categories, and `scope-check` when a report went on past the scope notice (it was about
opinion, criticism of the state or army, sectarian disagreement or a blasphemy accusation): a partner who
acts on the indicator knows the page touches speech that must not be taken down as extremism by mistake.
Both are standard properties (no custom ones: the bundle is built with `allow_custom=False`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from cyberunit.labels import REASON_LABELS

if TYPE_CHECKING:  # imported when an export is made: stix2 brings requests and antlr4, ~8 MB of every
    import stix2  # process that never exports (the bot's web chat and webhooks; issue 23's memory target)

COLUMNS = (
    "id",
    "canonical_url",
    "fingerprint",
    "title",
    "reported_as",
    "platform",
    "status",
    "categories",
    "report_count",
    "reporter_count",
    "priority",
    "urgent",
    "needs_care",
    "scope_check",
    "care_reason",
    "agency",
    "reason",
    "merged_into",
    "first_seen",
    "last_seen",
    "decided_at",
    "updated_at",
    "shared_at",
)
LISTS = ("categories", "reported_as")  # a list in JSON, joined with ";" in CSV, [] when missing

# Our producer identity; its UUID is also the namespace every other id of ours is derived from.
NAMESPACE = uuid.UUID("6f3c8a5e-2b1d-4c0e-9a57-3d2f1e0b9c41")
PRODUCER_ID = f"identity--{NAMESPACE}"
PRODUCER_SINCE = datetime(2024, 1, 1, tzinfo=UTC)  # fixed: the identity object is the same in every bundle

# TLP:AMBER, the predefined marking definition of STIX 2.1 (section 7.2.1.4), referenced by its id. The
# object itself is not put in bundles: consumers know the four predefined TLP markings by id, they must not
# be altered, and `--interop` requires `created_by_ref` and `modified` on every marking definition in a
# bundle, which the predefined ones do not have.
TLP_ID = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"  # stix2.TLP_AMBER.id
MARKINGS = [TLP_ID]


@cache
def producer() -> stix2.Identity:
    """Our producer identity object, the same in every bundle."""
    import stix2

    return stix2.Identity(
        id=PRODUCER_ID,
        created=PRODUCER_SINCE,
        modified=PRODUCER_SINCE,
        created_by_ref=PRODUCER_ID,  # --interop: a producer identity names itself as creator
        name="Raabta",
        identity_class="system",
        description="Citizen reports of violent extremist content, Pakistan, decided by cyber-unit analysts",
        object_marking_refs=MARKINGS,
    )


# Confidence is the analyst's decision, never how many people reported (a brigaded page would score high).
# Values on the None/Low/Med/High scale of the STIX 2.1 confidence-scales appendix (Low 1-29, Med 30-69,
# High 70-100): escalated to investigators = High (85, the scale's own value for High); referred to the
# platform or an agency = High, its lower edge (70); kept under monitoring, not confirmed = Med, its lower
# edge (30).
CONFIDENCE = {"escalated": 85, "referred": 70, "monitoring": 30}
SHARED = ("referred", "escalated")  # what partners receive as a live indicator
SCOPE_CHECK_LABEL = "scope-check"  # a case with a report that went on past the scope notice
DECIDED = ("monitoring", "no_action", "merged")  # once shared, these come back revoked


def stix_id(kind: str, case_id: object, part: str) -> str:
    """A stable id for one object of a case: the same case gives the same id in every export.

    Name-based like UUIDv5 (SHA-256 over our namespace and `raabta/case/<id>/<part>`), carrying the version-4
    bits: STIX 2.1 (section 2.9) says SDO and SRO ids SHOULD be UUIDv4, and `--strict` holds us to it. The
    122 other bits are a hash no one else can collide with by accident, which is what v4 promises.
    """
    digest = hashlib.sha256(NAMESPACE.bytes + f"raabta/case/{case_id}/{part}".encode()).digest()
    return f"{kind}--{uuid.UUID(bytes=digest[:16], version=4)}"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    return value


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        text = ";".join(str(v) for v in value)
    else:
        text = "" if value is None else str(_plain(value))
    # Cells starting with = + - @ would run as formulas in a spreadsheet (a joined list too).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _field(case: dict[str, Any], column: str) -> Any:
    value = case.get(column)
    if column in LISTS:
        return list(value or [])
    return _plain(value)


def _csv_rows(cases: Sequence[dict[str, Any]], header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for case in cases:
        writer.writerow([_cell(_field(case, column)) for column in COLUMNS])
    # The byte order mark is how Excel knows the file is UTF-8: without it, Urdu comes out as mojibake.
    return (("\ufeff" if header else "") + out.getvalue()).encode("utf-8")


def to_csv(cases: Sequence[dict[str, Any]]) -> bytes:
    return _csv_rows(cases, header=True)


def to_jsonl(cases: Sequence[dict[str, Any]]) -> bytes:
    return "".join(
        json.dumps({k: _field(c, k) for k in COLUMNS}, ensure_ascii=False) + "\n" for c in cases
    ).encode()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _utc(value)
    return _utc(datetime.fromisoformat(str(value)))


def _pattern(url: str) -> str:
    return "[url:value = '" + url.replace("\\", "\\\\").replace("'", "\\'") + "']"


def _indicator(case: dict[str, Any], include_monitoring: bool) -> stix2.Indicator | None:
    """The case's indicator as partners should now hold it, or None when it is not theirs to see."""
    status = str(case.get("status"))
    url = case.get("canonical_url")
    shared_at = _time(case.get("shared_at"))
    live = status in SHARED or (status == "monitoring" and include_monitoring)
    revoked = not live and status in DECIDED and shared_at is not None
    if not url or not (live or revoked):
        return None  # new, in review, or decided without ever being shared: partners never saw it
    first_seen = _time(case.get("first_seen"))
    created = shared_at or _time(case.get("decided_at")) or first_seen or _time(case.get("updated_at"))
    if created is None:
        return None  # a case row always has first_seen; nothing to date the object by otherwise
    updated = _time(case.get("updated_at")) or created
    categories = sorted({str(c) for c in case.get("categories") or []}) or ["other"]
    platform = case.get("platform") or "web"
    if status == "monitoring" and live:
        types = ["unknown"]
        about = (
            "Kept under monitoring by a cyber-unit analyst: not confirmed, not referred. "
            "Shared for awareness only; do not act on it as a confirmed indicator."
        )
    else:
        types = ["malicious-activity"]
        if status == "escalated":
            to = f" ({case['agency']})" if case.get("agency") else ""
            about = f"Confirmed by a cyber-unit analyst and escalated to investigators{to}."
        elif status == "referred":
            about = f"Confirmed by a cyber-unit analyst and referred to {case.get('agency') or 'an agency'}."
        elif status == "merged":
            about = f"Revoked: merged into Raabta case {case.get('merged_into')}."
        elif status == "no_action":
            about = "Revoked: on review, no action is warranted."
        else:
            about = "Revoked: no longer shared; kept under monitoring, not confirmed."
    reason = case.get("reason")
    if reason:
        about += f" Reason: {REASON_LABELS.get(str(reason), str(reason))}."
    labels = categories + ([SCOPE_CHECK_LABEL] if case.get("scope_check") else [])
    properties: dict[str, Any] = {
        "id": stix_id("indicator", case["id"], "indicator"),
        "created_by_ref": PRODUCER_ID,
        "created": created,
        "modified": max(updated, created),
        "name": f"Raabta case {case['id']}: {platform} page reported for {', '.join(categories)}",
        "description": about,
        "indicator_types": types,
        "pattern": _pattern(str(url)),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": min(first_seen or created, created),
        "labels": labels,
        "object_marking_refs": MARKINGS,
    }
    if revoked:
        properties["revoked"] = True
    else:
        properties["confidence"] = CONFIDENCE[status]
    import stix2

    return stix2.Indicator(**properties)


def to_stix(cases: Sequence[dict[str, Any]], include_monitoring: bool = False) -> bytes:
    """A bundle, TLP:AMBER: the producer identity, then one indicator per case shared with partners.

    Referred and escalated cases are live indicators (`malicious-activity`); monitoring cases only with
    `include_monitoring`, typed `unknown` and described as not confirmed. A case that was shared and is now
    decided otherwise (no action, merged, or monitoring left out) comes back revoked under the same id. The
    indicator's pattern carries the URL: there is no URL observable or relationship, because every object in
    an `--interop` bundle needs `created_by_ref`, which STIX 2.1 cyber-observables cannot carry, and an
    indicator's `based-on` points at observed-data, not at an observable.
    """
    import stix2

    objects: list[Any] = [producer()]
    for case in cases:
        indicator = _indicator(case, include_monitoring)
        if indicator is not None:
            objects.append(indicator)
    bundle: str = stix2.Bundle(objects=objects, allow_custom=False).serialize(pretty=False)
    return bundle.encode()


def in_parts(
    kind: str, cases: Sequence[dict[str, Any]], step: int = 500, include_monitoring: bool = False
) -> Iterator[tuple[bytes, int]]:
    """The export of `cases` as `kind` (csv, json or stix) in pieces, each with the number of cases done,
    so a long export can show its progress; the pieces joined are the whole export. A STIX bundle is one
    JSON document, built whole: one piece."""
    if kind == "stix":
        yield to_stix(cases, include_monitoring=include_monitoring), len(cases)
        return
    for start in range(0, max(1, len(cases)), step):
        part = cases[start : start + step]
        yield (_csv_rows(part, header=start == 0) if kind == "csv" else to_jsonl(part)), start + len(part)


FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv", to_csv),
    "json": ("application/x-ndjson", "jsonl", to_jsonl),
    "stix": ("application/stix+json;version=2.1", "json", to_stix),
}
