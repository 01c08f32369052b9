"""Accounts and near-duplicates: which cases are probably the same content as a case, and why; and the
other cases of the account that published it.

A case is one canonical link (nlu.urls), and canonical forms are kept strict on purpose: folding too much
would merge two different posts into one case, which no analyst can undo from the queue. So reports of
one thing still land on several cases now and then, and an analyst should be told:

- **the same target**: links that canonicalise differently but open the same thing (`target_of`): a video
  and the same video with `?lang=en` or a timestamp, a channel and its `/videos` or `/featured` tab, a page
  on `m.` or `www.` (youtu.be and youtube.com/watch already meet in canonical form);
- **the same handle**: an account named in reports (`@name`) that is another case's account or is named
  there too (`case_handles`, written by storage.search). A page and its posts share their account's name
  without being the same content: that is "same account", listed apart (`Duplicates.same_account`);
- **the same file**: evidence with one sha256 (a screenshot forwarded from Telegram to WhatsApp has two
  file ids and one hash) or one file fingerprint;
- **near-identical descriptions**: Jaccard over word pairs (the words as storage.search indexes them:
  nlu.normalize, letter forms and Roman Urdu spellings folded) of at least NEAR_IDENTICAL.

A handle or a description makes a suggestion only when one of the two cases has no link: two links to
different things whose reports name one @handle, or that one citizen reported with one pasted complaint,
are a network's pages, and merging them would lose one. `m` merges into the first suggestion, so a weak
reason must never put two pages there.

The work is bounded. Links: the exact variants (tabs, `m.`) by the unique index, query-string variants by
one pattern match over case links, at most CANDIDATES rows. Handles and files: by their keys. Descriptions:
only against cases whose reports hold the description's longest words (the word index, storage.search) and
the RECENT newest reports, never every report.

Suggestions are open or decided cases, never merged ones (their reports live on elsewhere). Nothing here
reads who reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from nlu.urls import platform_of
from storage import audit
from storage.casekeys import FILE_KINDS
from storage.database import Database
from storage.lifecycle import OPEN
from storage.refusal import NotFound
from storage.schema import case_handles, case_reports, cases, evidence, reports
from storage.search import Query, account_of, search_read, terms

NEAR_IDENTICAL = 0.8  # Jaccard over word pairs: one word changed in twenty still counts
SHINGLE = 2  # words per shingle
MIN_WORDS = 5  # shorter descriptions ("seen", "bad page") say nothing about being the same
SHOWN = 10  # suggestions at most
ACCOUNT_SHOWN = 20  # other cases of the account listed (all are counted, up to ACCOUNT_COUNTED)
ACCOUNT_COUNTED = 500
CANDIDATES = 200  # rows read per kind of lookup
RECENT = 200  # newest reports whose descriptions are compared
OWN = 10  # a case's newest descriptions compared
LONGEST = 3  # words of a description looked up in the word index
KINDS = ("url", "file", "handle", "text")  # strongest first: suggestions and their reasons in this order
# Reasons that say two cases are one only when one of them has no link: two links to different things
# that share a handle named in reports or a description are a network's pages, not one page.
ONLY_WITHOUT_LINK = ("handle", "text")

# Query parameters that change how a page is shown, not which page it is: language, start time, embed.
_PRESENTATION = frozenset(
    {
        "lang",
        "hl",
        "gl",
        "locale",
        "t",
        "start",
        "time_continue",
        "embed",
        "single",
        "amp",
        "app",
        "theme",
        "from",
        "src",
        "source",
    }
)
# The mobile and AMP hosts of an ordinary web site (platforms' own are folded by canonicalisation).
_HOST_PREFIXES = ("m.", "mobile.", "amp.")
# Tabs of an account's page: the account itself, not something it published.
_TABS = {
    "youtube": frozenset(
        {"videos", "featured", "shorts", "streams", "playlists", "community", "about", "channels", "podcasts"}
    ),
    "facebook": frozenset(
        {
            "about",
            "community",
            "events",
            "followers",
            "following",
            "friends",
            "groups",
            "likes",
            "live_videos",
            "mentions",
            "photos",
            "posts",
            "reels",
            "reviews",
            "videos",
        }
    ),
    "facebook_group": frozenset({"about", "announcements", "events", "files", "media", "members"}),
    "instagram": frozenset({"reels", "tagged", "guides", "followers", "following"}),
    "x": frozenset({"media", "likes", "with_replies", "highlights", "articles", "followers", "following"}),
}
_ACCOUNT_NOUN = {"youtube": "channel", "telegram": "channel", "facebook": "page"}
_HOSTS = {"facebook": "facebook.com", "instagram": "instagram.com", "x": "x.com"}


# --- links, without a database -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a link opens, as far as its spelling tells: `key` is equal for every link to the same thing;
    `noun` says what it is ("video", "channel", "page", "post", "profile", "link")."""

    key: str
    noun: str
    root: str  # the canonical link of the thing without query: the prefix its variants start with
    tabs: tuple[str, ...] = ()  # the tabs whose pages are the same thing (an account's)


@dataclass(frozen=True)
class Account:
    """The account or channel that published a case's link, on one platform."""

    platform: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.platform} @{self.name}"


def account(canonical: str | None) -> Account | None:
    """The account a case's canonical link belongs to (storage.search.account_of), on its platform: the
    same name on two platforms is two accounts."""
    found = account_of(canonical) if canonical else None
    return Account(platform_of(canonical), found[0]) if canonical and found else None


def _tab_dropped(platform: str, segments: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """The path of an account's page without its tab, and the tabs of that account's page ((): the path
    is not an account's page)."""
    first = segments[0] if segments else ""
    if platform == "youtube":
        depth = 1 if first.startswith("@") else 2 if first in ("c", "user", "channel") else 0
        tabs = _TABS["youtube"]
    elif platform == "facebook" and first == "groups":
        depth, tabs = 2, _TABS["facebook_group"]
    elif platform in ("facebook", "instagram", "x"):
        depth, tabs = 1, _TABS[platform]
    else:
        return segments, ()
    if not depth or len(segments) not in (depth, depth + 1):
        return segments, ()
    if platform in _HOSTS and first != "groups" and account_of(f"https://{_HOSTS[platform]}/{first}") is None:
        return segments, ()  # a route word where a name would be (facebook.com/watch, x.com/i)
    if len(segments) == depth + 1 and segments[depth] not in tabs:
        return segments, ()
    return segments[:depth], tuple(sorted(tabs))


def _noun(platform: str, host: str, segments: list[str], query: str, tabs: Sequence[str]) -> str:
    first = segments[0] if segments else ""
    if tabs:
        if platform == "facebook" and first == "groups":
            return "group"
        return _ACCOUNT_NOUN.get(platform, "profile")
    if platform == "youtube":
        return (
            "video" if first == "watch" and "v=" in query else "playlist" if first == "playlist" else "link"
        )
    if platform == "tiktok":
        if len(segments) >= 3 and segments[1] == "video":
            return "video"
        return "profile" if len(segments) == 1 and first.startswith("@") else "post"
    if platform == "facebook":
        if host == "fb.watch" or first in ("watch", "reel") or "videos" in segments[1:-1]:
            return "video"
        return "profile" if first == "profile.php" else "post"
    if platform == "instagram":
        return "video" if first in ("reel", "tv") else "post"
    if platform == "x":
        return "post" if "status" in segments else "link"
    if platform == "telegram":
        if not segments or first.startswith("+") or first == "joinchat":
            return "link"  # an invite
        return "post" if len(segments) == 2 and segments[1].isdigit() else "channel"
    return "page" if platform == "web" else "link"


def target_of(canonical: str) -> Target | None:
    """What a canonical link opens, seen through the spellings canonical forms keep apart on purpose:
    presentation parameters (`?lang=en`, `&t=42`), an account page's tab (`/videos`, `/featured`), the
    `m.`/`mobile.`/`amp.` host and the `/amp` path of an ordinary site. None for what is not a link."""
    try:
        parts = urlsplit(canonical)
    except ValueError:
        return None
    host = parts.hostname or ""
    if not host:
        return None
    platform = platform_of(canonical)
    if platform == "web":
        for prefix in _HOST_PREFIXES:
            if host.startswith(prefix) and host.count(".") >= 2:
                host = host[len(prefix) :]
    segments = [s for s in parts.path.split("/") if s]
    if platform == "web" and segments and segments[-1] == "amp":
        segments = segments[:-1]
    segments, tabs = _tab_dropped(platform, segments)
    kept = [p for p in parts.query.split("&") if p and p.split("=", 1)[0].lower() not in _PRESENTATION]
    query = "&".join(kept)
    path = "/" + "/".join(segments)
    key = host + path + ("?" + query if query else "")
    root_host = parts.hostname or host
    return Target(key, _noun(platform, host, segments, query, tabs), f"https://{root_host}{path}", tabs)


def similarity(a: str, b: str) -> float:
    """How alike two descriptions are: Jaccard over their word pairs (0.0 for a short one)."""
    left, right = _shingles(a), _shingles(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    words = terms(text)
    if len(words) < MIN_WORDS:
        return frozenset()
    return frozenset(tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))


# --- looking them up -----------------------------------------------------------------------------------


@dataclass
class Duplicates:
    """A case's likely duplicates (strongest first) and the other cases of its account."""

    case_id: int
    account: Account | None
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    same_account: list[dict[str, Any]] = field(default_factory=list)  # newest first, ACCOUNT_SHOWN at most
    same_account_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "account": {"platform": self.account.platform, "name": self.account.name}
            if self.account
            else None,
            "items": self.suggestions,
            "same_account": {"count": self.same_account_count, "items": self.same_account},
        }


class _Reasons:
    """Why each case found is a suggestion: one saying per kind, the first found."""

    def __init__(self, case_id: int) -> None:
        self.own = case_id
        self.found: dict[int, dict[str, str]] = {}

    def add(self, case_id: int, kind: str, says: str) -> None:
        if case_id != self.own:
            self.found.setdefault(case_id, {}).setdefault(kind, says)


def _summary(row: Any) -> dict[str, Any]:
    return {
        "case_id": row.id,
        "status": row.status,
        "platform": row.platform,
        "canonical_url": row.canonical_url,
        "title": row.title,
        "report_count": row.report_count,
        "last_seen": audit.as_utc(row.last_seen).isoformat(),
    }


def _shown(*columns: Any) -> Select[Any]:
    return select(
        cases.c.id,
        cases.c.status,
        cases.c.platform,
        cases.c.canonical_url,
        cases.c.title,
        cases.c.report_count,
        cases.c.last_seen,
        *columns,
    )


async def find(db: Database, case_id: int, limit: int = SHOWN) -> Duplicates:
    """The likely duplicates of a case and its account's other cases; NotFound when there is no case."""
    reasons = _Reasons(case_id)
    async with db.read() as conn:
        row = (await conn.execute(select(cases).where(cases.c.id == case_id))).first()
        if row is None:
            raise NotFound(f"no case {case_id}")
        own_account = account(row.canonical_url)
        if row.canonical_url:
            await _same_target(conn, row.canonical_url, reasons)
        await _same_handle(conn, case_id, own_account, reasons)
        await _same_file(conn, case_id, reasons)
        own_texts = await _descriptions(conn, [case_id], OWN)
        same = await _same_account(conn, case_id, own_account)
    texts = [t for t in dict.fromkeys(text for _, text in own_texts) if _shingles(t)]
    if texts:
        await _near_text(db, texts, reasons)
    found = Duplicates(case_id, own_account, same_account=same[:ACCOUNT_SHOWN], same_account_count=len(same))
    if not reasons.found:
        return found
    async with db.read() as conn:
        rows = (
            await conn.execute(
                _shown().where(cases.c.id.in_(list(reasons.found)), cases.c.status != "merged")
            )
        ).all()
    listed = []
    for other in rows:
        said = reasons.found[other.id]
        kinds = [k for k in KINDS if k in said]
        if row.canonical_url and other.canonical_url:
            kinds = [k for k in kinds if k not in ONLY_WITHOUT_LINK]  # two pages: a handle or words
        if not kinds:  # do not make them one (a citizen pasting one complaint about a network's pages)
            continue
        listed.append(
            _summary(other)
            | {
                "reasons": [{"kind": k, "says": said[k]} for k in kinds],
                "mergeable": other.status in OPEN,
                "_order": (
                    KINDS.index(kinds[0]),
                    -len(kinds),
                    other.status not in OPEN,
                    -audit.as_utc(other.last_seen).timestamp(),
                    -other.id,
                ),
            }
        )
    listed.sort(key=lambda s: s.pop("_order"))
    found.suggestions = listed[:limit]
    return found


async def _same_target(conn: AsyncConnection, canonical: str, reasons: _Reasons) -> None:
    """Cases whose link opens the same thing: the exact variants by the unique index (tabs, mobile hosts,
    /amp), query-string variants by one pattern match (the identifying parameters must be in it)."""
    target = target_of(canonical)
    if target is None:
        return
    parts = urlsplit(target.root)
    hosts = [parts.netloc]
    if platform_of(canonical) == "web":
        bare = target.key.split("/", 1)[0]
        hosts = list(dict.fromkeys([bare, *(p + bare for p in _HOST_PREFIXES)]))
    roots = [f"https://{h}{parts.path}" for h in hosts]
    exact = {*roots, *(f"{r}/{tab}" for r in roots for tab in target.tabs)}
    if platform_of(canonical) == "web":
        exact |= {f"{r}/amp" for r in roots}
    identifying = target.key.partition("?")[2]
    variants = [
        and_(
            cases.c.canonical_url.startswith(root + "?", autoescape=True),
            *(
                cases.c.canonical_url.contains(pair, autoescape=True)
                for pair in identifying.split("&")
                if pair
            ),
        )
        for root in roots
    ]
    if identifying:
        exact |= {f"{r}?{identifying}" for r in roots}
    query = (
        select(cases.c.id, cases.c.canonical_url)
        .where(or_(cases.c.canonical_url.in_(sorted(exact)), *variants), cases.c.status != "merged")
        .limit(CANDIDATES)
    )
    for other in await conn.execute(query):
        seen = target_of(other.canonical_url) if other.canonical_url else None
        if seen is not None and seen.key == target.key and other.canonical_url != canonical:
            reasons.add(other.id, "url", f"same {target.noun}")


async def _same_handle(conn: AsyncConnection, case_id: int, own: Account | None, reasons: _Reasons) -> None:
    """Cases keyed by one of this case's account names, where the name is more than the account both
    links belong to (that is the same account, not the same content)."""
    names = (await conn.scalars(select(case_handles.c.handle).where(case_handles.c.case_id == case_id))).all()
    if not names:
        return
    rows = await conn.execute(
        select(case_handles.c.case_id, case_handles.c.handle, cases.c.canonical_url)
        .join(cases, cases.c.id == case_handles.c.case_id)
        .where(
            case_handles.c.handle.in_(names), case_handles.c.case_id != case_id, cases.c.status != "merged"
        )
        .order_by(case_handles.c.handle, cases.c.id.desc())
        .limit(CANDIDATES)
    )
    for other in rows:
        theirs = account(other.canonical_url)
        if own is not None and theirs is not None and own.name == theirs.name == other.handle:
            continue  # the name of both links' accounts: the same account (or a namesake elsewhere)
        reasons.add(other.case_id, "handle", f"same handle @{other.handle}")


async def _same_file(conn: AsyncConnection, case_id: int, reasons: _Reasons) -> None:
    """Cases with a file of the same sha256 (any channel's copy) or the same file fingerprint."""
    own = (
        await conn.execute(
            select(evidence.c.sha256, evidence.c.fingerprint)
            .join(case_reports, case_reports.c.report_id == evidence.c.report_id)
            .where(case_reports.c.case_id == case_id, evidence.c.kind.in_(FILE_KINDS))
        )
    ).all()
    hashes = sorted({r.sha256 for r in own if r.sha256})
    prints = sorted({r.fingerprint for r in own if r.fingerprint})
    if not hashes and not prints:
        return
    match: list[ColumnElement[bool]] = []
    if hashes:
        match.append(evidence.c.sha256.in_(hashes))
    if prints:
        match.append(and_(evidence.c.kind.in_(FILE_KINDS), evidence.c.fingerprint.in_(prints)))
    rows = await conn.execute(
        select(case_reports.c.case_id, evidence.c.kind)
        .join(case_reports, case_reports.c.report_id == evidence.c.report_id)
        .join(cases, cases.c.id == case_reports.c.case_id)
        .where(or_(*match), case_reports.c.case_id != case_id, cases.c.status != "merged")
        .limit(CANDIDATES)
    )
    for other in rows:
        reasons.add(other.case_id, "file", "same screenshot" if other.kind == "photo" else "same file")


async def _descriptions(
    conn: AsyncConnection, case_ids: Iterable[int] | None, limit: int
) -> list[tuple[int, str]]:
    """(case id, description) of the newest reports of these cases (None: of any case not merged)."""
    query = (
        select(case_reports.c.case_id, reports.c.description)
        .join(case_reports, case_reports.c.report_id == reports.c.id)
        .order_by(reports.c.id.desc())
        .limit(limit)
    )
    if case_ids is not None:
        query = query.where(case_reports.c.case_id.in_(list(case_ids)))
    else:
        query = query.join(cases, cases.c.id == case_reports.c.case_id).where(cases.c.status != "merged")
    return [(r.case_id, r.description) for r in await conn.execute(query)]


async def _near_text(db: Database, texts: Sequence[str], reasons: _Reasons) -> None:
    """Cases with a near-identical description, among those whose reports hold a description's longest
    words (the word index) and the newest reports."""
    hit: set[int] = set()
    for text in texts[:LONGEST]:
        longest = sorted(terms(text), key=lambda w: (-len(w), w))[:LONGEST]
        hits = await search_read(db, Query(terms=tuple(longest)), 50)
        hit.update(int(h["case_id"]) for h in hits if h["status"] != "merged")
    hit.discard(reasons.own)
    async with db.read() as conn:
        pairs = await _descriptions(conn, None, RECENT)
        if hit:
            pairs += await _descriptions(conn, sorted(hit), CANDIDATES)
    own = [_shingles(t) for t in texts]
    for other_id, description in pairs:
        if other_id == reasons.own or "text" in reasons.found.get(other_id, {}):
            continue
        theirs = _shingles(description)
        if theirs and any(len(mine & theirs) / len(mine | theirs) >= NEAR_IDENTICAL for mine in own):
            reasons.add(other_id, "text", "near-identical description")


async def _same_account(conn: AsyncConnection, case_id: int, own: Account | None) -> list[dict[str, Any]]:
    """The other cases (not merged) whose link belongs to this case's account, newest first."""
    if own is None:
        return []
    rows = await conn.execute(
        _shown()
        .join(case_handles, case_handles.c.case_id == cases.c.id)
        .where(case_handles.c.handle == own.name, cases.c.id != case_id, cases.c.status != "merged")
        .order_by(cases.c.last_seen.desc(), cases.c.id.desc())
        .limit(ACCOUNT_COUNTED)
    )
    return [_summary(r) for r in rows if account(r.canonical_url) == own]


def group_by_account(items: Sequence[dict[str, Any]]) -> list[tuple[Account | None, list[dict[str, Any]]]]:
    """A page of cases grouped under the account that published each one, the groups in the order of their
    first case; the cases with no account (a video id, an invite, another site, no link) last."""
    groups: dict[Account | None, list[dict[str, Any]]] = {}
    for item in items:
        link = item.get("canonical_url")
        groups.setdefault(account(link if isinstance(link, str) else None), []).append(item)
    loose = groups.pop(None, [])
    return [*groups.items(), *([(None, loose)] if loose else [])]
