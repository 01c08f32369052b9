"""Query parameters, declared once and read in one place: the API's GET routes, the console's export and the
CLI's `queue list` and `export` all go through `read`.

Each route's parameters are `Param` rows (cyberunit.openapi documents the same rows, so the document and
the checks cannot drift apart). `read` refuses what a route does not take, naming it and what it does take:
an ignored `?code=K7QM-2XD9` used to return every case, as if it had filtered. Named values (statuses,
platforms, categories, ...) are matched ignoring case and come back in their one spelling, so
`platform=FaceBook` finds Facebook pages instead of nothing; an unknown one is refused with the list.

Days and times without an offset are Pakistan time: analysts say "the 2nd of March" meaning their day, and
a server in a container would otherwise read them as UTC, five hours off.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from cyberunit.priority import CATEGORY_WEIGHT
from nlu.urls import PLATFORMS as LINK_PLATFORMS
from responses.languages import LANGUAGES as SPOKEN
from storage.lifecycle import DECISIONS, OPEN
from storage.queue import MAX_LIMIT, SORTS, CaseFilter
from storage.refusal import Invalid

PAKISTAN = timezone(timedelta(hours=5), "PKT")  # Asia/Karachi: UTC+5 all year (no daylight saving since 2009)
INT32_MAX = 2**31 - 1
STATUSES = (*OPEN, *DECISIONS)
CATEGORIES = tuple(CATEGORY_WEIGHT)
PLATFORMS = (*LINK_PLATFORMS, "unknown")  # unknown: a case with no link (a handle, a file, a description)
LANGUAGES = tuple(SPOKEN)
ORDERS = ("asc", "desc")
EXPORT_FORMATS = ("csv", "json", "stix")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
# A day's bounds as the list's time filters: `from` D is `since` D 00:00, `to` D is `until` D+1 00:00.
DAY_BOUNDS = {"from": ("since", 0), "to": ("until", 1)}


@dataclass(frozen=True)
class Param:
    """One parameter of a route: how it is documented (`spec`) and how `read` checks it (its schema)."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    where: str = "query"
    required: bool = False
    explode: bool | None = None  # False: an array sent as one comma-separated value (style form)

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "in": self.where, "schema": self.schema}
        if self.required or self.where == "path":
            out["required"] = True
        if self.explode is not None:
            out["style"] = "form"
            out["explode"] = self.explode
        if self.description:
            out["description"] = self.description
        return out


def one_of(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


DATE_TIME = {"type": "string", "format": "date-time"}
DAY = {"type": "string", "format": "date"}
BOOLEAN = {"type": "boolean"}
FOLDS = " (any case)"

FILTERS = (
    Param(
        "status",
        {"type": "array", "items": one_of(*STATUSES)},
        "Case statuses, comma-separated, e.g. `new,in_review`" + FOLDS,
        explode=False,
    ),
    Param("category", one_of(*CATEGORIES), "Cases with a report in this category" + FOLDS),
    Param(
        "platform",
        one_of(*PLATFORMS),
        "The platform of the case's link (`unknown`: a case without a link)" + FOLDS,
    ),
    Param("language", one_of(*LANGUAGES), "Cases with a report in this language" + FOLDS),
    Param("urgent", BOOLEAN, "Cases with (true) or without (false) a report marked urgent"),
    Param("min_priority", {"type": "number"}),
    Param("since", DATE_TIME, "Last report at or after (a time without an offset is Pakistan time)"),
    Param("until", DATE_TIME, "First report before (a time without an offset is Pakistan time)"),
    Param("from", DAY, "Cases with a report on or after this day, in Pakistan time (instead of since)"),
    Param("to", DAY, "Cases first reported on or before this day, in Pakistan time (instead of until)"),
    Param("needs_care", BOOLEAN),
    Param(
        "scope_check",
        BOOLEAN,
        "Cases with (true) or without (false) a report whose citizen went on past the scope notice",
    ),
)
LIST_PARAMS = (
    *FILTERS,
    Param("sort", one_of(*SORTS), "Default priority"),
    Param("order", one_of(*ORDERS), "Default desc"),
    Param("cursor", {"type": "string", "maxLength": 500}, "The `next` of the previous page"),
    Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "Default 50"),
)
EXPORT_PARAMS = (
    Param("format", one_of(*EXPORT_FORMATS), required=True),
    *FILTERS,
    Param(
        "include_monitoring",
        BOOLEAN,
        "STIX: cases under monitoring too, as unconfirmed indicators (indicator_types unknown)",
    ),
)
AUDIT_PARAMS = (
    Param("after", {"type": "integer", "minimum": 0, "maximum": INT32_MAX}, "An event id; default 0"),
    Param("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "Default 100"),
)


def listed(values: Sequence[str]) -> str:
    return ", ".join(values)


def choose(name: str, value: str, allowed: Sequence[str]) -> str:
    """`value` in its one spelling among `allowed`, matched ignoring case; refused naming the choices."""
    wanted = value.strip().casefold()
    for choice in allowed:
        if choice.casefold() == wanted:
            return choice
    raise Invalid(f"{name} must be one of {listed(allowed)}: {value!r} is not")


def agency(value: str | None, allowed: Sequence[str]) -> str | None:
    """The agency a decision names, in its configured spelling (RAABTA_AGENCIES), or None when none is."""
    if value is None or not value.strip():
        return None
    wanted = " ".join(value.split()).casefold()
    for choice in allowed:
        if choice.casefold() == wanted:
            return choice
    raise Invalid(f"agency must be one of {listed(allowed)} (RAABTA_AGENCIES): {value!r} is not")


def when(name: str, value: str) -> datetime:
    """An ISO 8601 date or time, in UTC; one without an offset is Pakistan time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be an ISO 8601 date or time, e.g. 2024-03-02T14:30+05:00") from exc
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=PAKISTAN)
    try:  # "0001-01-01T00:16+01:00" is before year 1 in UTC: no database can hold it
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise Invalid(f"{name} is out of range") from exc


def day_bound(name: str, value: str, days_after: int) -> datetime:
    """The start of the day `value` (+ `days_after`) in Pakistan, in UTC."""
    try:
        day = date.fromisoformat(value) + timedelta(days=days_after)
        return datetime.combine(day, time(), PAKISTAN).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise Invalid(f"{name} must be a date such as 2024-03-02 (a day in Pakistan time)") from exc


def whole(name: str, value: str, schema: Mapping[str, Any]) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be a whole number") from exc
    low, high = schema.get("minimum", -(2**31)), schema.get("maximum", INT32_MAX)
    if not low <= number <= high:
        raise Invalid(f"{name} must be between {low} and {high}")
    return number


def flag(name: str, value: str) -> bool:
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise Invalid(f"{name} must be true or false")


def _value(param: Param, value: str) -> Any:
    """One parameter's value, checked against its schema."""
    schema, name = param.schema, param.name
    kind = schema.get("type")
    if kind == "array":
        choices = schema["items"]["enum"]
        return tuple(choose(name, part, choices) for part in value.split(",") if part.strip())
    if "enum" in schema:
        return choose(name, value, schema["enum"])
    if kind == "integer":
        return whole(name, value, schema)
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise Invalid(f"{name} must be a number")
        return number
    if kind == "boolean":
        return flag(name, value)
    if schema.get("format") == "date-time":
        return when(name, value)
    if schema.get("format") == "date":
        return day_bound(name, value, DAY_BOUNDS[name][1] if name in DAY_BOUNDS else 0)
    if len(value) > schema.get("maxLength", len(value)):
        raise Invalid(f"{name} is longer than {schema['maxLength']} characters")
    return value


def read(params: Sequence[Param], given: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The values of the query `given` (name, value pairs, as sent) for a route taking `params`.

    Refused (storage.refusal.Invalid, a 400) and named: a parameter the route does not take, one given
    twice, a value that is not of its kind or not among its choices, a required one missing. An empty
    value is a parameter not given. `from` and `to` come back as `since` and `until` (not both of a pair).
    """
    declared = {p.name: p for p in params if p.where == "query"}
    raw: dict[str, str] = {}
    for name, value in given:
        if name not in declared:
            takes = f"it takes {listed(list(declared))}" if declared else "it takes no query parameters"
            raise Invalid(f"unknown parameter {name}: {takes}")
        if name in raw:
            raise Invalid(f"{name} is given more than once: give it once (comma-separated for several)")
        raw[name] = value
    values: dict[str, Any] = {}
    for name, param in declared.items():
        value = raw.get(name, "")
        if not value.strip():
            if param.required:
                enum = param.schema.get("enum")
                raise Invalid(f"{name} is required" + (f": one of {listed(enum)}" if enum else ""))
            continue
        values[name] = _value(param, value)
    for name, (instead, _) in DAY_BOUNDS.items():
        if name in values:
            if instead in values:
                raise Invalid(f"give {instead} or {name}, not both")
            values[instead] = values.pop(name)
    return values


def case_filter(values: Mapping[str, Any]) -> CaseFilter:
    """The storage filter for values `read` returned (unset ones filter nothing)."""
    return CaseFilter(
        status=values.get("status", ()),
        category=values.get("category"),
        platform=values.get("platform"),
        language=values.get("language"),
        min_priority=values.get("min_priority"),
        since=values.get("since"),
        until=values.get("until"),
        needs_care=values.get("needs_care"),
        scope_check=values.get("scope_check"),
        urgent=values.get("urgent"),
        sort=values.get("sort", "priority"),
        descending=values.get("order", "desc") == "desc",
    )
