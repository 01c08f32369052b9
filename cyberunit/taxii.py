"""The partner feed: a read-only TAXII 2.1 server under /taxii2/ for partner agencies.

One API root, /taxii2/raabta/, holds one collection: the cases analysts sent out of the unit (referred to a
platform or an agency, escalated to investigators) as STIX 2.1 indicators, and the producer identity they
name as their creator. The objects are cyberunit.exports' (the mapping `raabta export --format stix`
uses), under the same ids, so a partner who imported an export sees the feed update the same objects.
Nothing about reporters is in them: only the case's link, platform, categories and the decision.

What the collection holds is derived from the audit log and stored nowhere else. Each `case.decided` event
that sends a case out (referred, escalated) or withdraws a case that was out (no action, monitoring,
merged) is one version of the case's indicator: withdrawn, it comes back `revoked` with a later
`modified`, so a partner polling with `added_after` gets the revocation. Its date added is the time of
that decision in the audit log, never the time of a request, so every instance of the app, and every
request, serves the same versions with the same dates. A new report that reopens a shared case decides
nothing: the indicator stands as it was until the next decision. Revoking is permanent in STIX (no later
version of a revoked object may be made), so a case sent out again after a revocation is a new
indicator, `stix_id(..., "indicator/2")`, and the revoked one stays revoked.

Only `partner` tokens open it, sent as TAXII clients send them: HTTP Basic with the token as the password
(any user name; taxii2-client and most TAXII tools speak Basic), or `Authorization: Bearer <token>`.
Partner tokens open nothing else: the API and the console refuse the role.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import uuid
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cyberunit.exports import NAMESPACE, PRODUCER_ID, PRODUCER_SINCE, SHARED, producer, stix_id, to_stix
from storage import audit
from storage.database import StorageUnavailable
from storage.refusal import Invalid, NotFound, Refused
from storage.repository import Storage
from storage.schema import audit_events, case_reports, cases, reports
from storage.tokens import PARTNER, Tokens

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
BASE = "/taxii2/"
ROOT = "/taxii2/raabta/"
# The collection's identifier: a UUID with the version-4 bits (TAXII's `identifier` type), derived from our
# namespace so that it is the same on every instance and every deployment.
COLLECTION_ID = str(
    uuid.UUID(
        bytes=hashlib.sha256(NAMESPACE.bytes + b"raabta/taxii/collection/shared").digest()[:16], version=4
    )
)
ALIAS = "shared-cases"
DECIDED = "case.decided"
DEFAULT_PAGE = 100  # objects in a response when the client sets no limit
MAX_PAGE = 1000  # the most a response holds, whatever the limit (TAXII lets a server return fewer)
BATCH = 5000  # audit events read at a time when catching up
CACHED = 20_000  # built objects kept in memory (each version is immutable once made)
TICK = timedelta(microseconds=1)  # TAXII timestamps have microsecond precision
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RETRY_AFTER = 5
REALM = "Raabta partner feed"
# A POST or PUT body is never taken (the collection is read-only): the API root must still name a size.
MAX_CONTENT_LENGTH = 64 * 1024
KEYWORDS = ("first", "last", "all")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII)

DISCOVERY = {
    "title": "Raabta partner feed",
    "description": (
        "Web pages, channels and accounts that citizens in Pakistan reported as violent extremist content "
        "and cyber-unit analysts referred to a platform or agency or escalated to investigators; STIX 2.1, "
        "TLP:AMBER. Withdrawn cases come back revoked."
    ),
    "default": ROOT,
    "api_roots": [ROOT],
}
API_ROOT = {
    "title": "Raabta",
    "description": "Cases shared by the cyber unit, read-only.",
    "versions": [TAXII],
    "max_content_length": MAX_CONTENT_LENGTH,
}
COLLECTION = {
    "id": COLLECTION_ID,
    "title": "Referred and escalated cases",
    "description": (
        "One indicator per case a cyber-unit analyst referred or escalated, its pattern the page's "
        "canonical URL; revoked when the case is later closed with no action, kept under monitoring or "
        "merged. Nothing about who reported."
    ),
    "alias": ALIAS,
    "can_read": True,
    "can_write": False,
    "media_types": [STIX],
}


# --- the collection's history, from decisions ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """One `case.decided` audit event, as the feed reads it."""

    event_id: int
    at: datetime
    case_id: int
    status: str
    agency: str | None
    reason: str | None
    merged_into: int | None


@dataclass(frozen=True, slots=True)
class Version:
    """One version of one object in the collection: its place in the history, its id, when it was added,
    its STIX `modified`, the decision that made it (None for the producer identity) and, for an indicator,
    when its case was first sent out under this id (its `created`)."""

    index: int
    object_id: str
    added: datetime
    modified: datetime
    decision: Decision | None = None
    since: datetime | None = None
    revoked: bool = False


@dataclass(slots=True)
class _Shared:
    """Where a case stands in the feed: its indicator's generation, whether it is out, since when."""

    generation: int = 0
    live: bool = False
    since: datetime = EPOCH
    modified: datetime = EPOCH


class History:
    """The collection's versions in the order they were added, built from decisions in audit order.

    Audit events are appended one transaction after another (storage.audit serialises appends), so their
    ids are the order they became visible; but each carries the clock of its own transaction, and a
    decision committed later can carry an earlier time. A partner who pulled up to one date must still get
    everything committed afterwards, so a version's date added is its decision's time, or one microsecond
    after the previous version's when that is later: dates only grow, and no two are equal (a client that
    pages by `added_after` with the last date it saw neither misses nor repeats an object). The producer
    identity comes first, added when it was made.
    """

    def __init__(self) -> None:
        identity = Version(0, PRODUCER_ID, PRODUCER_SINCE, PRODUCER_SINCE)
        self.versions: list[Version] = [identity]
        self.added: list[datetime] = [identity.added]  # for bisecting by added_after
        self.of_object: dict[str, list[int]] = {PRODUCER_ID: [0]}
        self.cases: dict[int, _Shared] = {}

    def take(self, decision: Decision, linked: bool) -> Version | None:
        """Apply one decision (`linked`: its case has a link, the only thing an indicator can carry); the
        version it adds to the collection, or None when partners have nothing to learn from it."""
        state = self.cases.get(decision.case_id)
        if decision.status in SHARED:
            if not linked:
                return None
            if state is None:
                state = self.cases[decision.case_id] = _Shared()
            if not state.live:  # sent out (again): a new indicator, created now
                state.generation += 1
                state.live = True
                state.since = decision.at
                state.modified = decision.at - TICK
            return self._add(decision, state, revoked=False)
        if state is None or not state.live:
            return None  # never sent out, or withdrawn already: partners hold nothing to take back
        state.live = False
        return self._add(decision, state, revoked=True)

    def _add(self, decision: Decision, state: _Shared, revoked: bool) -> Version:
        part = "indicator" if state.generation == 1 else f"indicator/{state.generation}"
        object_id = stix_id("indicator", decision.case_id, part)
        # A later version must have a later `modified`, even if two decisions shared a microsecond.
        state.modified = max(decision.at, state.modified + TICK)
        index = len(self.versions)
        version = Version(
            index,
            object_id,
            max(decision.at, self.added[-1] + TICK),
            state.modified,
            decision,
            state.since,
            revoked,
        )
        self.versions.append(version)
        self.added.append(version.added)
        self.of_object.setdefault(object_id, []).append(index)
        return version


def _decision(row: Any) -> Decision | None:
    """A `case.decided` audit row as a Decision; None for one the feed cannot read (never expected)."""
    detail = row.detail if isinstance(row.detail, dict) else {}
    kind, _, number = str(row.subject).partition(":")
    status = detail.get("status")
    if kind != "case" or not number.isdigit() or not isinstance(status, str):
        return None
    merged = detail.get("merge_into")
    return Decision(
        int(row.id),
        audit.as_utc(row.at),
        int(number),
        status,
        detail.get("agency") if isinstance(detail.get("agency"), str) else None,
        detail.get("reason") if isinstance(detail.get("reason"), str) else None,
        merged if isinstance(merged, int) else None,
    )


@dataclass(slots=True)
class Feed:
    """The collection as this process knows it: the history, caught up with the audit log before each
    request (reading only events newer than the last one read), and the objects built so far.

    Nothing is stored: a fresh process reads the audit log's decisions once, then only what is new. The
    audit log is append-only, so what was read stays true.
    """

    storage: Storage
    history: History = field(default_factory=History)
    seen: int = 0  # the last audit event id read
    links: dict[int, tuple[str, str] | None] = field(default_factory=dict)  # case id: (link, platform)
    built: OrderedDict[int, dict[str, Any]] = field(default_factory=OrderedDict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current(self) -> History:
        async with self.lock:
            await self._catch_up()
        return self.history

    async def _catch_up(self) -> None:
        while True:
            async with self.storage.db.read() as conn:
                top = int(await conn.scalar(select(func.max(audit_events.c.id))) or 0)
                if top <= self.seen:
                    return
                rows = (
                    await conn.execute(
                        select(
                            audit_events.c.id,
                            audit_events.c.at,
                            audit_events.c.subject,
                            audit_events.c.detail,
                        )
                        .where(
                            audit_events.c.id > self.seen,
                            audit_events.c.id <= top,
                            audit_events.c.action == DECIDED,
                        )
                        .order_by(audit_events.c.id)
                        .limit(BATCH)
                    )
                ).all()
                decisions = [d for d in (_decision(r) for r in rows) if d is not None]
                unknown = {d.case_id for d in decisions if d.status in SHARED and d.case_id not in self.links}
                if unknown:
                    found = await conn.execute(
                        select(cases.c.id, cases.c.canonical_url, cases.c.platform).where(
                            cases.c.id.in_(unknown)
                        )
                    )
                    for row in found:
                        self.links[int(row.id)] = (
                            (str(row.canonical_url), str(row.platform)) if row.canonical_url else None
                        )
            for d in decisions:
                self.history.take(d, linked=self.links.get(d.case_id) is not None)
            if len(rows) < BATCH:
                self.seen = top
                return
            self.seen = int(rows[-1].id)

    async def objects(self, versions: Sequence[Version]) -> list[dict[str, Any]]:
        """The STIX objects of these versions, each built once (a version never changes once made)."""
        found: dict[int, dict[str, Any]] = {}
        for v in versions:  # before any await: another request may evict meanwhile
            hit = self.built.get(v.index)
            if hit is not None:
                self.built.move_to_end(v.index)
                found[v.index] = hit
        missing = [v for v in versions if v.index not in found]
        if missing:
            made = await self._build(missing)
            for v in missing:
                self.built[v.index] = found[v.index] = made[v.index]
            while len(self.built) > CACHED:
                self.built.popitem(last=False)
        return [found[v.index] for v in versions]

    async def _build(self, versions: Sequence[Version]) -> dict[int, dict[str, Any]]:
        ids = {v.decision.case_id for v in versions if v.decision is not None}
        received: dict[int, list[tuple[str, bool, datetime]]] = {}
        if ids:
            async with self.storage.db.read() as conn:
                rows = await conn.execute(
                    select(
                        case_reports.c.case_id,
                        reports.c.category,
                        reports.c.scope_check,
                        reports.c.created_at,
                    )
                    .select_from(case_reports.join(reports, reports.c.id == case_reports.c.report_id))
                    .where(case_reports.c.case_id.in_(ids))
                )
                for r in rows:
                    received.setdefault(int(r.case_id), []).append(
                        (str(r.category), bool(r.scope_check), audit.as_utc(r.created_at))
                    )
        made: dict[int, dict[str, Any]] = {}
        for v in versions:
            if v.decision is None:
                made[v.index] = json.loads(producer().serialize())
            else:
                link = self.links[v.decision.case_id]
                assert link is not None  # History.take admits linked cases only
                made[v.index] = indicator(v, link, received.get(v.decision.case_id, []))
        return made


def indicator(
    version: Version, link: tuple[str, str], received: Iterable[tuple[str, bool, datetime]]
) -> dict[str, Any]:
    """The indicator as the version's decision left it: cyberunit.exports' mapping of the case as it stood
    then. Categories, the scope check mark and the first report are those of the reports received by the
    time of the decision, so a report arriving later never changes a version partners already hold."""
    decision = version.decision
    assert decision is not None
    before = [r for r in received if r[2] <= decision.at]
    case = {
        "id": decision.case_id,
        "canonical_url": link[0],
        "platform": link[1],
        "status": decision.status,
        "agency": decision.agency,
        "reason": decision.reason,
        "merged_into": decision.merged_into,
        "categories": sorted({r[0] for r in before}),
        "scope_check": any(r[1] for r in before),
        "first_seen": min((r[2] for r in before), default=None),
        "shared_at": version.since,
        "decided_at": version.modified,
        "updated_at": version.modified,
    }
    bundle = json.loads(to_stix([case]))
    made: dict[str, Any] = next(o for o in bundle["objects"] if o["type"] == "indicator")
    made["id"] = version.object_id  # a case sent out again after a revocation is a new indicator
    return made


# --- requests ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """What a request asked for: its filters (TAXII 2.1 section 3.4) and its page."""

    after: datetime | None = None
    limit: int = DEFAULT_PAGE
    ids: frozenset[str] | None = None
    types: frozenset[str] | None = None
    keywords: frozenset[str] = frozenset({"last"})
    stamps: frozenset[datetime] = frozenset()
    spec_versions: frozenset[str] | None = None

    def admits(self, version: Version, history: History) -> bool:
        if self.ids is not None and version.object_id not in self.ids:
            return False
        if self.types is not None and version.object_id.partition("--")[0] not in self.types:
            return False
        if self.spec_versions is not None and "2.1" not in self.spec_versions:
            return False  # every object here is STIX 2.1
        if "all" in self.keywords or version.modified in self.stamps:
            return True
        versions = history.of_object[version.object_id]
        return ("last" in self.keywords and versions[-1] == version.index) or (
            "first" in self.keywords and versions[0] == version.index
        )


def timestamp(value: str, name: str) -> datetime:
    """A timestamp parameter: RFC 3339 with a zone (TAXII sends `Z`); fractions past microseconds dropped."""
    if len(value) > 40 or not TIMESTAMP.fullmatch(value):
        raise Invalid(f"{name} must be a timestamp such as 2025-03-01T08:00:00.000000Z")
    head, dot, rest = value.partition(".")
    if dot:
        digits = re.match(r"\d+", rest)
        assert digits is not None
        value = f"{head}.{digits.group()[:6].ljust(6, '0')}{rest[digits.end() :]}"
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:  # a 13th month, a 31st of April
        raise Invalid(f"{name} is not a date and time that exists") from exc


def stamp(when: datetime) -> str:
    """A TAXII timestamp: UTC, microseconds, `Z` (TAXII 2.1 section 2)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cursor(after: datetime) -> str:
    """The `next` of a page: where it ended (dates added are unique, so the rest is what came after)."""
    return format((after - EPOCH) // TICK, "x")


def uncursor(value: str) -> datetime:
    if not 0 < len(value) <= 16 or not re.fullmatch(r"[0-9a-f]+", value):
        raise Invalid("next must be the value of `next` in a previous response")
    try:
        return EPOCH + int(value, 16) * TICK
    except OverflowError as exc:
        raise Invalid("next must be the value of `next` in a previous response") from exc


def read_query(items: Sequence[tuple[str, str]], matches: Sequence[str], paging: bool) -> Query:
    """The request's parameters, checked: a malformed one is a 400 (section 3.4), and so is a parameter
    this endpoint does not take, as in the analysts' API; `match[...]` fields the endpoint does not
    filter by are ignored, which the standard allows."""
    seen: set[str] = set()
    values: dict[str, Any] = {}
    lower: list[datetime] = []
    for name, value in items:
        if name in seen:
            raise Invalid(f"{name} must be given once")
        seen.add(name)
        if "\x00" in value or len(value) > 4000:
            raise Invalid(f"{name} is not a value this server reads")
        if name.startswith("match[") and name.endswith("]"):
            key = name[6:-1]
            if key not in matches:
                continue
            parts = value.split(",")
            if not all(parts) or len(set(parts)) != len(parts):
                raise Invalid(f"{name} takes values separated by commas, each once")
            if key == "version":
                words = frozenset(p for p in parts if p in KEYWORDS)
                if "all" in words and len(parts) > 1:
                    raise Invalid("match[version]=all goes with no other version")
                values["keywords"] = words
                values["stamps"] = frozenset(timestamp(p, name) for p in parts if p not in KEYWORDS)
            else:
                values[{"id": "ids", "type": "types", "spec_version": "spec_versions"}[key]] = frozenset(
                    parts
                )
        elif paging and name == "added_after":
            lower.append(timestamp(value, name))
        elif paging and name == "limit":
            if not re.fullmatch(r"[0-9]{1,12}", value) or int(value) < 1:
                raise Invalid("limit must be a whole number above zero")
            values["limit"] = min(int(value), MAX_PAGE)
        elif paging and name == "next":
            lower.append(uncursor(value))
        else:
            takes = [*(("added_after", "limit", "next") if paging else ()), *(f"match[{m}]" for m in matches)]
            raise Invalid(f"unknown parameter {name!r}; this endpoint takes {', '.join(takes) or 'none'}")
    if lower:
        values["after"] = max(lower)
    return Query(**values)


def select_page(history: History, query: Query, only: str | None = None) -> tuple[list[Version], bool]:
    """The versions a request gets, oldest added first, at most `limit`, and whether more follow."""
    if only is not None:
        candidates: Iterator[Version] = (
            history.versions[i]
            for i in history.of_object.get(only, [])
            if query.after is None or history.versions[i].added > query.after
        )
    else:
        start = bisect_right(history.added, query.after) if query.after is not None else 0
        candidates = (history.versions[i] for i in range(start, len(history.versions)))
    picked: list[Version] = []
    for version in candidates:
        if query.admits(version, history):
            picked.append(version)
            if len(picked) > query.limit:
                break
    return picked[: query.limit], len(picked) > query.limit


def taxii(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A TAXII answer: its media type exactly (taxii2-client checks it), never cached (TLP:AMBER)."""
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type=TAXII,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    406: "Not acceptable",
    503: "Unavailable",
}


def error(status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    """A TAXII error message (section 3.6.1)."""
    body = {"title": TITLES.get(status, "Error"), "description": description, "http_status": str(status)}
    return taxii(body, status, headers)


def unauthorized(description: str) -> Response:
    """401 with the schemes this server takes: Basic (the token as the password) and Bearer."""
    answer = error(401, description)
    answer.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    answer.headers.append("WWW-Authenticate", f'Bearer realm="{REALM}"')
    return answer


def presented(header: str) -> str | None:
    """The token an Authorization header carries: HTTP Basic's password (any user name), or a Bearer
    credential (also as taxii2-client's `Token` scheme)."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value or len(value) > 512:
        return None
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        _user, colon, password = decoded.partition(":")
        return password if colon and password else None
    return value if scheme in ("bearer", "token") else None


def acceptable(header: str | None) -> bool:
    """Whether a TAXII 2.1 answer suits the Accept header (RFC 7231 section 5.3.2: the most specific range
    that matches decides, and q=0 refuses). No header accepts anything; `application/taxii+json` without
    a version means the latest, 2.1; another version, or only other types, is a 406."""
    if header is None or not header.strip():
        return True
    best: tuple[int, float] | None = None
    for part in header.split(","):
        media, *parameters = (p.strip() for p in part.split(";"))
        named = {}
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            named[key.strip().lower()] = value.strip().strip('"')
        media = media.lower()
        version = named.get("version")
        if media == "application/taxii+json":
            if version is not None and version != "2.1":
                continue
            rank = 3 if version == "2.1" else 2
        elif media == "application/*":
            rank = 1
        elif media == "*/*":
            rank = 0
        else:
            continue
        try:
            weight = float(named.get("q", "1"))
        except ValueError:
            weight = 0.0
        if best is None or rank > best[0]:
            best = (rank, weight)
    return best is not None and best[1] > 0


Handler = Callable[[Request, Query], Awaitable[Response]]

OBJECT_MATCHES = ("id", "type", "version", "spec_version")


def routes(storage: Storage) -> list[Route]:
    """The feed's routes, for bot/app.py to mount."""
    tokens = Tokens(storage)
    feed = Feed(storage)

    def guarded(
        handler: Handler, matches: Sequence[str] = (), paging: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                token = presented(request.headers.get("authorization", ""))
                who = await tokens.verify(token) if token else None
                if who is None:
                    why = (
                        "the token is unknown or revoked" if token else "send a partner token as the password"
                    )
                    return unauthorized(why)
                if who.role != PARTNER:
                    return error(403, f"the feed is for partner tokens; a {who.role} token does not open it")
                if not acceptable(request.headers.get("accept")):
                    return error(406, f"this server answers in {TAXII} only")
                if request.method not in ("GET", "HEAD"):
                    return error(403, "the collection is read-only")
                query = read_query(request.query_params.multi_items(), matches, paging)
                return await handler(request, query)
            except NotFound as refused:
                return error(404, refused.message)
            except Refused as refused:
                return error(400, refused.message)
            except StorageUnavailable:
                retry = {"Retry-After": str(RETRY_AFTER)}
                return error(503, "the database is unreachable; try again shortly", retry)

        endpoint.__name__ = handler.__name__
        return endpoint

    def collection_of(request: Request) -> None:
        if request.path_params["collection_id"] not in (COLLECTION_ID, ALIAS):
            raise NotFound("no such collection under this API root")

    async def discovery(_request: Request, _query: Query) -> Response:
        return taxii(DISCOVERY)

    async def api_root(_request: Request, _query: Query) -> Response:
        return taxii(API_ROOT)

    async def collections(_request: Request, _query: Query) -> Response:
        return taxii({"collections": [COLLECTION]})

    async def collection(request: Request, _query: Query) -> Response:
        collection_of(request)
        return taxii(COLLECTION)

    def page_headers(page: Sequence[Version]) -> dict[str, str]:
        if not page:
            return {}
        return {
            "X-TAXII-Date-Added-First": stamp(page[0].added),
            "X-TAXII-Date-Added-Last": stamp(page[-1].added),
        }

    def envelope(key: str, items: list[Any], more: bool, page: Sequence[Version]) -> dict[str, Any]:
        if not items:
            return {}
        body: dict[str, Any] = {"more": more}
        if more:
            body["next"] = cursor(page[-1].added)
        body[key] = items
        return body

    async def get_objects(request: Request, query: Query) -> Response:
        collection_of(request)
        page, more = select_page(await feed.current(), query)
        return taxii(envelope("objects", await feed.objects(page), more, page), headers=page_headers(page))

    async def manifest(request: Request, query: Query) -> Response:
        collection_of(request)
        page, more = select_page(await feed.current(), query)
        records = [
            {"id": v.object_id, "date_added": stamp(v.added), "version": obj["modified"], "media_type": STIX}
            for v, obj in zip(page, await feed.objects(page), strict=True)
        ]
        return taxii(envelope("objects", records, more, page), headers=page_headers(page))

    def known(history: History, request: Request) -> str:
        object_id = str(request.path_params["object_id"])
        if object_id not in history.of_object:
            raise NotFound(f"no object {object_id} in this collection")
        return object_id

    async def get_object(request: Request, query: Query) -> Response:
        collection_of(request)
        history = await feed.current()
        page, more = select_page(history, query, only=known(history, request))
        return taxii(envelope("objects", await feed.objects(page), more, page), headers=page_headers(page))

    async def versions(request: Request, query: Query) -> Response:
        collection_of(request)
        history = await feed.current()
        every = Query(
            query.after, query.limit, keywords=frozenset({"all"}), spec_versions=query.spec_versions
        )
        page, more = select_page(history, every, only=known(history, request))
        listed = [obj["modified"] for obj in await feed.objects(page)]
        return taxii(envelope("versions", listed, more, page), headers=page_headers(page))

    async def nothing(_request: Request, _query: Query) -> Response:
        raise NotFound("nothing here: this server has the API root /taxii2/raabta/ and no pending requests")

    collection_path = ROOT + "collections/{collection_id}/"
    objects_path = collection_path + "objects/"
    return [
        Route(BASE, guarded(discovery), methods=["GET"]),
        Route(ROOT, guarded(api_root), methods=["GET"]),
        Route(ROOT + "collections/", guarded(collections), methods=["GET"]),
        Route(collection_path, guarded(collection), methods=["GET"]),
        Route(collection_path + "manifest/", guarded(manifest, OBJECT_MATCHES, True), methods=["GET"]),
        # POST (add objects) and DELETE reach the guard, which answers 403: the collection is read-only.
        Route(objects_path, guarded(get_objects, OBJECT_MATCHES, True), methods=["GET", "POST"]),
        Route(
            objects_path + "{object_id}/",
            guarded(get_object, ("version", "spec_version"), True),
            methods=["GET", "DELETE"],
        ),
        Route(
            objects_path + "{object_id}/versions/",
            guarded(versions, ("spec_version",), True),
            methods=["GET"],
        ),
        Route(BASE + "{rest:path}", guarded(nothing), methods=["GET"]),
    ]
