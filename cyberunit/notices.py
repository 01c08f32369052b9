"""Takedown notices on the analysts' side: a template filled in from a case, and the checks the API and the
console make on what an analyst records (the configured agencies, the templates of notices.yaml).

A notice is filled from the case's own facts only (responses.notices.NOTICE_PARAMS): its link, platform,
categories, first day reported, report count and the reference of an earlier notice. The case dict also
holds reports, descriptions and reference codes; none of them is read here, so none can reach a platform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from cyberunit import params as P
from responses.notices import Filled, Notice, Notices, notices
from storage.refusal import Invalid
from storage.takedowns import RESULTS

RESULT_LABELS = {"still_online": "Still online", "removed": "Removed", "geo_blocked": "Geo-blocked"}
NONE_YET = "none"


def target(case: Mapping[str, Any]) -> str:
    """What the notice points at: the link, else what the case is known by (a handle, first words)."""
    for key in ("canonical_url", "title", "fingerprint"):
        value = case.get(key)
        if isinstance(value, str) and value:
            return value
    return f"case {case.get('id')}"


def first_day(value: object, zone: tzinfo) -> str:
    """The day of an ISO time in the console's zone (YYYY-MM-DD)."""
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone).date().isoformat()


def earlier_reference(notice: Notice, case: Mapping[str, Any], sent: Sequence[Mapping[str, Any]]) -> str:
    """The reference given with the latest notice to the agency this template is for, or "none"."""
    agencies = {a.casefold() for a in notice.agencies}
    for referral in reversed(sent):
        agency = str(referral.get("agency") or "").casefold()
        fits = agency in agencies or (agency == "platform" and case.get("platform") in notice.platforms)
        if fits and referral.get("reference"):
            return str(referral["reference"])
    return NONE_YET


def fill(
    notice: Notice, case: Mapping[str, Any], sent: Sequence[Mapping[str, Any]], zone: tzinfo = UTC
) -> Filled:
    """`notice` filled in from `case` (and the notices already `sent` about it)."""
    categories = case.get("categories") or []
    values = {
        "case_id": case.get("id"),
        "canonical_url": target(case),
        "platform": case.get("platform") or "unknown",
        "categories": ", ".join(str(c).replace("_", " ") for c in categories) or "unspecified",
        "first_seen": first_day(case.get("first_seen"), zone),
        "report_count": case.get("report_count", 0),
        "agency_reference": earlier_reference(notice, case, sent),
    }
    return notice.fill(values)


def template(value: object, shipped: Notices | None = None) -> str:
    """The name of a template of notices.yaml (matched ignoring case); refused naming the choices."""
    known = (shipped or notices()).ids()
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"template is required: one of {', '.join(known)}")
    return P.choose("template", value, known)


def agency(value: object, allowed: Sequence[str]) -> str:
    """The agency a notice went to, in its configured spelling (RAABTA_AGENCIES); required."""
    if value is not None and not isinstance(value, str):
        raise Invalid("agency must be a string")
    named = P.agency(value, allowed)
    if named is None:
        raise Invalid(f"agency is required: one of {', '.join(allowed)}")
    return named


def result(value: object) -> str:
    """A check's result (still_online, removed, geo_blocked; any case)."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"result is required: one of {', '.join(RESULTS)}")
    return P.choose("result", value, RESULTS)


def text(name: str, value: object) -> str | None:
    """An optional text field of a body: None, or a string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string")
    return value
