"""Search for analysts: the cases behind a reference code typed any way, any spelling of a link, an account's
handle, or words of their reports' descriptions in English, Urdu and Roman Urdu.

A query is read once (`read_query`) into what it can be: codes (nlu.refcode, any case, spacing or dash),
links (canonicalised by nlu.urls, as case keys are, so every variant of a link names the one case),
handles (`@name`, or the account of a profile link such as t.me/name) and words. Each part is looked up and
the cases found are merged: code matches first, then links, handles, words; words newest report first.

Two indexes, written by `index_report` in the transaction that stores the report (storage.repository), so
a report is searchable exactly when it exists:

- `report_text`: each report's description as words made once, here, in Python: nlu.normalize (NFKC,
  Arabic letter forms to the Urdu ones, ي/ی ك/ک ه/ہ, no diacritics or tatweel, folded case, elongations
  cut) then Roman Urdu spellings folded (nahin/nai -> nahi). A query's words are made by the same function,
  so an Urdu phrase typed on an Arabic keyboard or with diacritics meets the description however it was
  typed, and both databases see the same words. On SQLite it is an FTS5 table (rowid = the report's id;
  the `ascii` tokenizer splits only on ASCII spaces and punctuation and keeps every other character, so it
  takes the words as made); on PostgreSQL a tsvector per report (the words as lexemes, array_to_tsvector:
  what the 'simple' configuration gives, no stemming, since Urdu has no stemmer, without depending on the
  parser and the database's LC_CTYPE) under a GIN index. Neither is portable (a virtual table; a
  tsvector), so the table is not in storage.schema: migration 0013 creates it and this module holds each
  dialect's SQL (`KEPT_APART` names the tables a schema comparison must leave out). No positions are kept
  (FTS5 detail=none; lexemes without positions): a query is its words, all of them, in any order.
- `case_handles` (storage.schema): the account names a case is known by, the account of its link
  (t.me/NAME, x.com/NAME/status/1, tiktok.com/@NAME/video/1: `account_of`) and the @handles its reports
  name; a handle finds the account's own case, its posts', and those of reports naming it.

Reports are never deleted (forget-me leaves them, anonymous, and nothing purges them) and descriptions never
change, so the index only grows; were a report deleted, its words go with it (a trigger on SQLite, a
cascading foreign key on PostgreSQL), so a reused row id never inherits them. Results never name who
reported: no reporter column is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Text, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from nlu.entities import find_entities
from nlu.normalize import clean, normalize, tokens
from nlu.refcode import parse_code
from nlu.urls import canonicalize, find_urls
from storage import audit
from storage.casekeys import CaseKey
from storage.database import Database
from storage.locking import insert_new
from storage.records import NewReport
from storage.schema import case_handles, case_reports, cases, reports

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY = 500  # characters of a query; longer is refused (a description is not a query)
MAX_TERMS = 32  # words of a query looked up
MAX_WORD = 100  # characters of one indexed word: longer runs are not words (and a lexeme has a limit)
MAX_HANDLE = 100  # case_handles.handle
SNIPPET_WORDS = 24
SNIPPET_CHARS = 200
CODES_SHOWN = 5  # matching reports' codes listed on one case
KEPT_APART = ("report_text",)  # and FTS5's shadow tables, report_text_*: see `kept_apart`
HIT_FIELDS = frozenset(
    {
        "case_id",
        "matched_by",
        "codes",
        "platform",
        "status",
        "categories",
        "canonical_url",
        "title",
        "snippet",
        "report_count",
        "last_seen",
        "merged_into",
    }
)
KINDS = ("code", "url", "handle", "text")  # what matched, in the order results come

# Beyond nlu.normalize (which keeps the Urdu letters apart, for language identification): letters one
# writer or keyboard puts where another writes the other. An Arabic keyboard has one heh (ه) for both of
# Urdu's (ہ and ھ: normalize makes it ہ) and no yeh barree (ے); alef with madda or hamza is often typed plain.
# Search folds them so any spelling meets any other; a few minimal pairs meet too (بہت and بھت), which a
# search can afford and a classifier could not.
_INTERCHANGED = str.maketrans(
    {
        "\u06be": "\u06c1",  # ھ -> ہ
        "\u06c0": "\u06c1",  # ۀ -> ہ
        "\u06d2": "\u06cc",  # ے -> ی
        "\u06d3": "\u06cc",  # ۓ -> ی
        "\u0622": "\u0627",  # آ -> ا
        "\u0623": "\u0627",  # أ -> ا
        "\u0625": "\u0627",  # إ -> ا
        "\u0671": "\u0627",  # ٱ -> ا
        "\u0624": "\u0648",  # ؤ -> و
    }
)
_HANDLE = re.compile(r"@?([a-z0-9_.\-]{1,100})")
_BARE_HANDLE = re.compile(r"@?[A-Za-z0-9_.]{2,64}")
# Route words that stand where an account name would (t.me/joinchat/…, x.com/i/…, facebook.com/watch/…).
_NOT_ACCOUNTS = {
    "telegram": frozenset(
        {
            "joinchat",
            "addlist",
            "addstickers",
            "addemoji",
            "addtheme",
            "bg",
            "c",
            "s",
            "share",
            "proxy",
            "socks",
        }
    ),
    "instagram": frozenset({"p", "reel", "reels", "tv", "stories", "explore", "s", "accounts", "direct"}),
    "x": frozenset(
        {
            "i",
            "home",
            "search",
            "hashtag",
            "intent",
            "share",
            "explore",
            "messages",
            "settings",
            "notifications",
        }
    ),
    "facebook": frozenset(
        {
            "share",
            "reel",
            "reels",
            "stories",
            "hashtag",
            "people",
            "pages",
            "watch",
            "events",
            "marketplace",
            "gaming",
            "photo",
            "photo.php",
            "story.php",
            "permalink.php",
            "profile.php",
            "sharer",
            "sharer.php",
            "video",
            "videos",
            "media",
            "login",
            "help",
        }
    ),
}
_ACCOUNT_HOSTS = {
    "t.me": "telegram",
    "instagram.com": "instagram",
    "x.com": "x",
    "facebook.com": "facebook",
    "tiktok.com": "tiktok",
    "youtube.com": "youtube",
}


# --- words and names ---------------------------------------------------------------------------------


def terms(text_: str) -> list[str]:
    """The words of a description or a query, as indexed: normalised (nlu.normalize), the letters writers
    and keyboards interchange folded together (`_INTERCHANGED`), Roman Urdu spellings folded, each once, in
    order."""
    words = tokens(normalize(text_).translate(_INTERCHANGED))
    return [w for w in dict.fromkeys(words) if len(w) <= MAX_WORD]


def handle_name(value: str) -> str | None:
    """An account name as keyed: without the @, in lower case; None when it is not a name."""
    name = value.strip().casefold().rstrip(".")
    found = _HANDLE.fullmatch(name)
    return found.group(1) if found and len(found.group(1)) <= MAX_HANDLE else None


def account_of(canonical: str) -> tuple[str, bool] | None:
    """The account a canonical link belongs to on a platform with accounts, and whether the link is the
    account itself (its profile, channel or page) rather than something it published; None for a link
    with no account in it (a video id, an invite, any other web site)."""
    try:
        parts = urlsplit(canonical)
    except ValueError:
        return None
    platform = _ACCOUNT_HOSTS.get(parts.hostname or "")
    if platform is None:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        return None
    first, rest = segments[0], segments[1:]
    if platform in ("tiktok", "youtube"):
        if first.startswith("@"):
            name, more = first[1:], rest
        elif platform == "youtube" and first in ("c", "user") and rest:
            name, more = rest[0], rest[1:]
        else:
            return None
    elif platform == "facebook" and first == "groups" and rest:
        name, more = rest[0], rest[1:]
    elif first.startswith(("+", "@")) or first in _NOT_ACCOUNTS.get(platform, ()):
        return None
    else:
        name, more = first, rest
    key = handle_name(name)
    return (key, not more) if key else None


# --- the query ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """What a query was read as; each part is looked up."""

    codes: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()  # canonical
    handles: tuple[str, ...] = ()  # names as keyed in case_handles
    terms: tuple[str, ...] = ()  # words as indexed in report_text

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "codes": list(self.codes),
            "urls": list(self.urls),
            "handles": list(self.handles),
            "terms": list(self.terms),
        }

    @property
    def empty(self) -> bool:
        return not (self.codes or self.urls or self.handles or self.terms)


def read_query(q: str) -> Query:
    """Codes, links, handles and words of a query. A query that is a whole code (any case, spaced or not)
    is only that code; a link is not also its words ("https", "t", "me"); a query that is one bare word that
    could be a handle is looked up as both."""
    q = clean(q[:MAX_QUERY])
    whole = parse_code(q)
    if whole is not None and any(ch.isdigit() for ch in q):
        return Query(codes=(whole,))
    found = find_urls(q)
    urls = [f.canonical for f in found]
    spans = [(f.start, f.end) for f in found]
    if not found and " " not in q and not q.startswith("@") and ("/" in q or "." in q):
        canonical = canonicalize(q)
        if canonical is not None:
            urls.append(canonical)
            spans.append((0, len(q)))
    handles: list[str] = []
    codes = [whole] if whole is not None else []
    taken = list(spans)
    for entity in find_entities(q, spans):
        if entity.entity == "handle":
            name = handle_name(str(entity.value))
            if name:
                handles.append(name)
            taken.append((entity.start, entity.end))
        elif entity.entity == "reference" and whole is None:
            codes.append(str(entity.value))
            taken.append((entity.start, entity.end))
    for url in urls:
        account = account_of(url)
        if account is not None and account[1]:
            handles.append(account[0])
    if not found and " " not in q and _BARE_HANDLE.fullmatch(q):
        name = handle_name(q)
        if name:
            handles.append(name)
    rest = "".join(" " if any(s <= i < e for s, e in taken) else ch for i, ch in enumerate(q))
    words = [] if urls and not rest.strip() else terms(rest)
    return Query(
        codes=tuple(dict.fromkeys(codes)),
        urls=tuple(dict.fromkeys(urls)),
        handles=tuple(dict.fromkeys(handles)),
        terms=tuple(words[:MAX_TERMS]),
    )


# --- indexing ----------------------------------------------------------------------------------------


def kept_apart(name: str | None, kind: str, _parents: object = None) -> bool:
    """Whether a table is one this module keeps outside storage.schema (for Alembic's `include_name`: a
    schema comparison passes `not kept_apart(...)`)."""
    return kind == "table" and name is not None and (name in KEPT_APART or name.startswith("report_text_"))


def handles_of(report: NewReport) -> list[str]:
    """The @handles a report names, as keyed."""
    names = (handle_name(e.value) for e in report.evidence if e.kind == "handle")
    return [n for n in dict.fromkeys(names) if n]


async def index_report(
    conn: AsyncConnection,
    report_id: int,
    report: NewReport,
    keys: Sequence[CaseKey],
    joined: Mapping[str, tuple[int, bool]],
) -> None:
    """Index a report just stored: its description's words, and the account names of the cases it joined
    (`joined`: case key -> (case id, existed), as storage.repository made them)."""
    await add_terms(conn, [(report_id, terms(report.description))])
    named = handles_of(report)
    pairs: set[tuple[str, int]] = set()
    for key in keys:
        case_id = joined[key.key][0]
        account = account_of(key.key) if key.column == "canonical_url" else None
        pairs.update((name, case_id) for name in ([account[0]] if account else []) + named)
    await add_handles(conn, pairs)


async def add_terms(conn: AsyncConnection, rows: Iterable[tuple[int, list[str]]]) -> None:
    """Index reports' words: (report id, words); a report without words gets no row."""
    kept = [(report_id, words) for report_id, words in rows if words]
    if not kept:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(_TERMS_PG, [{"id": i, "terms": words} for i, words in kept])
    else:
        await conn.execute(_TERMS_SQLITE, [{"id": i, "terms": " ".join(words)} for i, words in kept])


# Built once (every report indexes its words): building a statement costs more than running it.
_TERMS_PG = text(
    "INSERT INTO report_text (report_id, terms) VALUES (:id, array_to_tsvector(:terms))"
).bindparams(bindparam("terms", type_=ARRAY(Text)))
_TERMS_SQLITE = text("INSERT INTO report_text (rowid, terms) VALUES (:id, :terms)")


async def add_handles(conn: AsyncConnection, pairs: Iterable[tuple[str, int]]) -> None:
    """Key cases by account names: (name, case id); a pair kept already is left as it is."""
    values = [{"handle": name, "case_id": case_id} for name, case_id in sorted(set(pairs))]
    if values:
        await conn.execute(insert_new(conn.dialect.name, case_handles), values)


# --- searching ---------------------------------------------------------------------------------------


@dataclass
class _Found:
    """A case found, while the parts of the query are looked up."""

    order: tuple[int, int]  # (kind, position within the kind): the results' order
    kinds: set[str] = field(default_factory=set)
    codes: list[str] = field(default_factory=list)
    report_id: int | None = None  # the matching report to quote; None: the case's newest


class _Results:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.cases: dict[int, _Found] = {}

    @property
    def full(self) -> bool:
        return len(self.cases) >= self.limit

    def add(self, kind: str, case_id: int, code: str | None = None, report_id: int | None = None) -> None:
        found = self.cases.get(case_id)
        if found is None:
            if self.full:
                return
            found = self.cases[case_id] = _Found((KINDS.index(kind), len(self.cases)))
        found.kinds.add(kind)
        if code is not None and code not in found.codes and len(found.codes) < CODES_SHOWN:
            found.codes.append(code)
        if found.report_id is None and report_id is not None:
            found.report_id = report_id


async def search(db: Database, q: str, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """The cases `q` finds, at most `limit`: by code, link, handle, then words (newest report first)."""
    return await search_read(db, read_query(q), limit)


async def search_read(db: Database, query: Query, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """`search` for a query read already (the API and the console show how it was read)."""
    found = _Results(max(1, min(limit, MAX_LIMIT)))
    if query.empty:
        return []
    async with db.read() as conn:
        if query.codes:
            rows = await conn.execute(
                select(case_reports.c.case_id, reports.c.id, reports.c.code)
                .join(case_reports, case_reports.c.report_id == reports.c.id)
                .where(reports.c.code.in_(query.codes))
                .order_by(
                    reports.c.id.desc(), (case_reports.c.case_id != reports.c.case_id), case_reports.c.case_id
                )
            )
            for row in rows:
                found.add("code", row.case_id, row.code, row.id)
        if query.urls:
            rows = await conn.execute(
                select(cases.c.id).where(cases.c.canonical_url.in_(query.urls)).order_by(cases.c.id)
            )
            for row in rows:
                found.add("url", row.id)
        if query.handles:
            rows = await conn.execute(
                select(cases.c.id)
                .join(case_handles, case_handles.c.case_id == cases.c.id)
                .where(case_handles.c.handle.in_(query.handles))
                .group_by(cases.c.id, cases.c.last_seen)
                .order_by(cases.c.last_seen.desc(), cases.c.id.desc())
                .limit(MAX_LIMIT)
            )
            for row in rows:
                found.add("handle", row.id)
        if query.terms:
            await _by_words(conn, query.terms, found)
        return await _hits(conn, found)


async def _by_words(conn: AsyncConnection, words: Sequence[str], found: _Results) -> None:
    """Cases with reports holding every word, newest report first. The newest matching reports are read
    in a window that grows until it holds enough cases (one case may hold hundreds of reports), so a
    common word does not read every report it is in."""
    if conn.dialect.name == "postgresql":
        # Each word a quoted lexeme, all of them required. Words are letters and digits only
        # (nlu.normalize.tokens), so nothing in them is tsquery syntax; quoted as if they could be.
        match = " & ".join("'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in words)
        newest = "SELECT report_id AS id FROM report_text WHERE terms @@ CAST(:match AS tsquery)"
        newest += " ORDER BY report_id DESC LIMIT :window"
    else:
        # Each word a quoted FTS5 string, all of them required: no operator, column filter or prefix.
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        newest = "SELECT rowid AS id FROM report_text WHERE report_text MATCH :match"
        newest += " ORDER BY rowid DESC LIMIT :window"
    statement = text(
        f"SELECT cr.case_id, r.id, r.code FROM ({newest}) AS hit "  # noqa: S608 - no value is formatted in
        "JOIN reports r ON r.id = hit.id JOIN case_reports cr ON cr.report_id = r.id "
        "ORDER BY r.id DESC, cr.case_id"
    )
    window = max(4 * found.limit, 200)
    while True:
        rows = (await conn.execute(statement, {"match": match, "window": window})).all()
        for row in rows:  # newest first, as the last pass did: a case keeps its place
            found.add("text", row.case_id, row.code, row.id)
        if found.full or len({row.id for row in rows}) < window:
            return
        window *= 4  # every report in the window was on the few cases found: look further back


async def _hits(conn: AsyncConnection, found: _Results) -> list[dict[str, Any]]:
    """The cases found, as results: what they are, how they matched, the first words of a report."""
    if not found.cases:
        return []
    ids = list(found.cases)
    rows = {
        row.id: row
        for row in await conn.execute(
            select(
                cases.c.id,
                cases.c.platform,
                cases.c.status,
                cases.c.categories,
                cases.c.canonical_url,
                cases.c.title,
                cases.c.report_count,
                cases.c.last_seen,
                cases.c.merged_into,
            ).where(cases.c.id.in_(ids))
        )
    }
    quoted = {case_id: f.report_id for case_id, f in found.cases.items() if f.report_id is not None}
    newest = [case_id for case_id in ids if case_id not in quoted]
    if newest:
        for pair in await conn.execute(
            select(case_reports.c.case_id, func.max(case_reports.c.report_id))
            .where(case_reports.c.case_id.in_(newest))
            .group_by(case_reports.c.case_id)
        ):
            quoted[pair[0]] = pair[1]
    texts = {
        said.id: said.description
        for said in await conn.execute(
            select(reports.c.id, reports.c.description).where(reports.c.id.in_(set(quoted.values())))
        )
    }
    hits = []
    for case_id, f in sorted(found.cases.items(), key=lambda item: item[1].order):
        row = rows.get(case_id)
        if row is None:
            continue
        hits.append(
            {
                "case_id": case_id,
                "matched_by": [k for k in KINDS if k in f.kinds],
                "codes": f.codes,
                "platform": row.platform,
                "status": row.status,
                "categories": list(row.categories or []),
                "canonical_url": row.canonical_url,
                "title": row.title,
                "snippet": snippet(texts.get(quoted.get(case_id, -1), "")),
                "report_count": row.report_count,
                "last_seen": audit.as_utc(row.last_seen).isoformat(),
                "merged_into": row.merged_into,
            }
        )
    return hits


def snippet(description: str) -> str:
    """The first words of a description, on one line."""
    words = description.split()
    shown = " ".join(words[:SNIPPET_WORDS])
    if len(shown) > SNIPPET_CHARS:
        shown = shown[: SNIPPET_CHARS - 1].rstrip()
    return shown + ("…" if shown != " ".join(words) else "")
