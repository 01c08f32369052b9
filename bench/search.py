"""Search at 100,000 reports: how long `storage.search.search` takes for each kind of query.

Usage: .venv/bin/python -m bench.search [--reports 100000] [--queries 200] [--pg URL]

Builds a database of `--reports` synthetic reports (SQLite in a temporary file; with `--pg`, the same data in
a PostgreSQL database created on that server and dropped at the end): descriptions in English, Urdu (a
third typed with Arabic letter forms ي ك ه, some with diacritics) and Roman Urdu (spelling variants), links
of every platform (profiles, posts, videos, web sites), @handles, a few reports naming two links, and cases
of very different sizes (most reported once, a few hundreds of times). Rows go in with SQLAlchemy Core in
one transaction, and the search indexes through storage.search's own writers (`add_terms`,
`add_handles`), so they hold what the app would write. Then `--queries` searches of each kind, through
the app's read engine: a code typed in lower case with a space, a link in another variant (www./m.,
tracking parameters, youtu.be), an @handle, an English word (common and rare), an Urdu phrase typed with
the other letter forms, a Roman Urdu phrase with other spellings. Printed per kind: p50, p95 and max in
milliseconds, and the mean number of cases found (limit 20). Target: under 100 ms (issue 22).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from nlu.refcode import new_code
from nlu.urls import canonicalize, platform_of
from storage import search
from storage.repository import Storage
from storage.schema import case_reports, cases, evidence, reports
from tests.pgdb import scratch_database

TARGET_MS = 100.0
SEED = 22
CATEGORIES = (
    "recruitment",
    "propaganda",
    "financing",
    "violent_threat",
    "hate_speech",
    "illicit_trade",
    "other",
)

EN_TEMPLATES = (
    "This {p} channel is recruiting young men for {thing} near {place}",
    "They share videos of {thing} and ask people to send donations to {name}",
    "The page posts hate speech against {group} every day and calls for attacks",
    "Someone is selling weapons and smuggled vehicles here, contact {name} in {place}",
    "Propaganda videos praising {thing}, thousands of followers, comments from {place}",
    "My cousin was added to this group, they talk about {thing} and training camps",
    "Threatening messages to {group} in {place}, they name a date",
)
EN_WORDS = (
    "jihad martyrs camp training funds bitcoin easypaisa jazzcash donation brothers sisters youth students "
    "university madrassa mosque police army border afghanistan waziristan karachi lahore peshawar quetta "
    "video audio poster leaflet speech sermon lecture attack blast bomb suicide revenge enemy infidel "
    "apostate traitor secret meeting group channel page account admin member join link invite"
).split()
PLACES = (
    "Karachi",
    "Lahore",
    "Peshawar",
    "Quetta",
    "Multan",
    "Swat",
    "Bannu",
    "Gilgit",
    "Sialkot",
    "Hyderabad",
)
NAMES = ("Abu Hamza", "Usman", "Bilal", "Abdullah", "Khalid", "Tariq", "Hamid", "Zubair", "Salman", "Imran")
GROUPS = ("Shias", "Ahmadis", "Christians", "Hindus", "police officers", "journalists", "teachers")

UR_TEMPLATES = (
    "یہ چینل نوجوانوں کو بھرتی کر رہا ہے اور {ur} کی تربیت دیتا ہے",
    "اس پیج پر نفرت انگیز مواد شیئر کیا جا رہا ہے {ur} کے خلاف",
    "یہ لوگ {ur} کے نام پر چندہ مانگ رہے ہیں اور اکاؤنٹ نمبر دیتے ہیں",
    "یہاں اسلحہ فروخت کیا جا رہا ہے {ur} میں رابطہ کریں",
    "ہمیں دھمکی دی گئی ہے کہ {ur} پر حملہ ہوگا",
    "میرے بھائی کو اس گروپ میں شامل کیا گیا ہے وہ {ur} کی باتیں کرتے ہیں",
)
UR_WORDS = (
    "جہاد شہادت کیمپ تربیت چندہ بھائی بہن طلبہ یونیورسٹی مدرسہ مسجد پولیس فوج سرحد افغانستان کراچی "
    "لاہور پشاور کوئٹہ ویڈیو آڈیو پوسٹر تقریر بیان حملہ دھماکہ بدلہ دشمن کافر غدار خفیہ ملاقات"
).split()
ARABIC_FORMS = str.maketrans({"ی": "ي", "ک": "ك", "ہ": "ه"})
DIACRITICS = ("\u064e", "\u0650", "\u064f", "\u0651")

RO_TEMPLATES = (
    "ye channel larkon ko bharti kar raha hai aur {ro} ki training deta hai",
    "is page pe nafrat phelai ja rahi hai {ro} ke khilaf",
    "ye log {ro} ke naam pe chanda mang rahe hain, account number dete hain",
    "yahan asla bech rahe hain, {ro} mein rabta karo",
    "humein dhamki di gayi hai ke {ro} pe hamla hoga",
    "mere bhai ko is group mein shamil kiya gaya hai, woh {ro} ki baatein karte hain nahi rukte",
)
RO_WORDS = (
    "jihad shahadat camp tarbiyat chanda bhai behen talba university madrasa masjid police fauj sarhad "
    "karachi lahore peshawar quetta video audio poster taqreer bayan hamla dhamaka badla dushman kafir "
    "ghaddar khufia mulaqat"
).split()
RO_VARIANTS = {"hai": "hy", "hain": "hn", "nahi": "nahin", "kya": "kia", "mujhe": "mujhay"}


@dataclass
class Data:
    """What the bench stored, to draw queries from."""

    codes: list[str] = field(default_factory=list)
    raw_links: list[str] = field(default_factory=list)  # one spelling per case with a link
    accounts: list[str] = field(default_factory=list)  # account names
    ur_texts: list[str] = field(default_factory=list)  # Urdu descriptions as stored
    ro_texts: list[str] = field(default_factory=list)
    cases: int = 0


def link_for(rng: random.Random, account: int) -> tuple[str, str | None]:
    """A link as a citizen would paste it, and the account it belongs to (None: no account)."""
    kind = rng.random()
    n = account
    if kind < 0.25:
        name = f"chan_{n}"
        return (f"https://t.me/{name}" if rng.random() < 0.5 else f"t.me/{name}/{rng.randint(1, 9999)}"), name
    if kind < 0.45:
        name = f"page.{n}"
        if rng.random() < 0.5:
            return f"https://www.facebook.com/{name}/", name
        return f"https://facebook.com/{name}/posts/pfbid0{uuid.UUID(int=rng.getrandbits(128)).hex[:20]}", name
    if kind < 0.60:
        if rng.random() < 0.6:
            vid = "".join(rng.choice("abcdefghijkABCDEFGHIJK0123456789_-") for _ in range(11))
            return f"https://www.youtube.com/watch?v={vid}", None
        return f"https://youtube.com/@tube{n}", f"tube{n}"
    if kind < 0.72:
        name = f"user_{n}"
        return f"https://x.com/{name}/status/{rng.getrandbits(60)}", name
    if kind < 0.82:
        name = f"insta.{n}"
        return f"https://instagram.com/{name}/", name
    if kind < 0.90:
        name = f"tok{n}"
        return f"https://www.tiktok.com/@{name}/video/{rng.getrandbits(60)}", name
    return f"https://site-{n}.pk/news/{rng.randint(1, 99999)}", None


def variant(rng: random.Random, raw: str) -> str:
    """Another spelling of the same link: www./m., tracking parameters, youtu.be, a trailing slash."""
    canonical = canonicalize(raw) or raw
    if "youtube.com/watch?v=" in canonical:
        vid = canonical.split("v=", 1)[1]
        return rng.choice([f"https://youtu.be/{vid}?si=abc", f"m.youtube.com/watch?v={vid}&feature=share"])
    bare = canonical.removeprefix("https://")
    if bare.startswith(("facebook.com", "instagram.com", "x.com")):
        return rng.choice([f"https://m.{bare}/?utm_source=wa", f"www.{bare}?fbclid=IwAR0xyz"])
    return f"https://www.{bare}?utm_source=share"


def description(rng: random.Random, language: str) -> str:
    if language == "en":
        text = rng.choice(EN_TEMPLATES).format(
            p=rng.choice(("Telegram", "Facebook", "TikTok", "YouTube")),
            thing=" ".join(rng.sample(EN_WORDS, 2)),
            place=rng.choice(PLACES),
            name=rng.choice(NAMES),
            group=rng.choice(GROUPS),
        )
        return text + " " + " ".join(rng.sample(EN_WORDS, rng.randint(0, 6)))
    if language == "ur":
        text = rng.choice(UR_TEMPLATES).format(ur=" ".join(rng.sample(UR_WORDS, 2)))
        text += " " + " ".join(rng.sample(UR_WORDS, rng.randint(0, 5)))
        if rng.random() < 0.33:
            text = text.translate(ARABIC_FORMS)
        if rng.random() < 0.2:
            words = text.split()
            i = rng.randrange(len(words))
            words[i] = words[i][0] + rng.choice(DIACRITICS) + words[i][1:]
            text = " ".join(words)
        return text
    text = rng.choice(RO_TEMPLATES).format(ro=" ".join(rng.sample(RO_WORDS, 2)))
    text += " " + " ".join(rng.sample(RO_WORDS, rng.randint(0, 5)))
    if rng.random() < 0.4:
        text = " ".join(RO_VARIANTS.get(w, w) for w in text.split())
    return text


async def build(storage: Storage, count: int, rng: random.Random) -> Data:
    """`count` reports on cases of very different sizes, with the search index written as the app would."""
    data = Data()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    codes: set[str] = set()
    case_rows: list[dict[str, Any]] = []
    case_by_key: dict[str, int] = {}
    report_rows: list[dict[str, Any]] = []
    links_of: list[list[tuple[int, str, str]]] = []  # per report: (case id, canonical, raw)
    named: list[list[str]] = []
    accounts = 40_000

    def case_for(key: str, platform: str, canonical: str | None, at: datetime) -> int:
        found = case_by_key.get(key)
        if found is not None:
            row = case_rows[found - 1]
            row["report_count"] += 1
            row["reporter_count"] += 1
            row["last_seen"] = at
            return found
        case_rows.append(
            {
                "canonical_url": canonical,
                "fingerprint": None if canonical else key,
                "platform": platform,
                "status": rng.choice(
                    ("new", "new", "new", "in_review", "referred", "monitoring", "no_action")
                ),
                "urgent": rng.random() < 0.05,
                "priority": rng.random() * 10,
                "categories": [rng.choice(CATEGORIES)],
                "report_count": 1,
                "reporter_count": 1,
                "first_seen": at,
                "last_seen": at,
                "updated_at": at,
                "title": None if canonical else key[:80],
            }
        )
        case_by_key[key] = len(case_rows)
        return len(case_rows)

    popular = [rng.randrange(accounts) for _ in range(60)]  # viral pages, reported hundreds of times
    for n in range(count):
        at = now + timedelta(seconds=30 * n)
        language = rng.choices(("en", "ur", "ur-Latn"), (0.35, 0.35, 0.30))[0]
        text = description(rng, language)
        code = new_code()
        while code in codes:
            code = new_code()
        codes.add(code)
        account = rng.choice(popular) if rng.random() < 0.25 else rng.randrange(accounts)
        links: list[tuple[int, str, str]] = []
        handles: list[str] = []
        shape = rng.random()
        if shape < 0.85:
            raws = [link_for(rng, account)[0]]
            if rng.random() < 0.05:
                raws.append(link_for(rng, rng.randrange(accounts))[0])
            for raw in raws:
                canonical = canonicalize(raw)
                assert canonical is not None, raw
                if all(c != canonical for _, c, _ in links):
                    links.append((case_for(canonical, platform_of(canonical), canonical, at), canonical, raw))
            if rng.random() < 0.05:
                handles.append(f"@user_{rng.randrange(accounts)}")
        elif shape < 0.93:
            handle = f"@user_{account}"
            handles.append(handle)
            links.append((case_for(f"handle:{handle}", "unknown", None, at), "", ""))
        else:
            links.append((case_for(f"text:{n}", "unknown", None, at), "", ""))
        report_rows.append(
            {
                "code": code,
                "case_id": links[0][0],
                "reporter_id": None,
                "channel": rng.choice(("telegram", "messenger", "whatsapp", "webchat")),
                "language": language,
                "category": rng.choice(CATEGORIES),
                "description": text,
                "urgent": False,
                "created_at": at,
            }
        )
        links_of.append(links)
        named.append(handles)
        if language == "ur":
            data.ur_texts.append(text)
        elif language == "ur-Latn":
            data.ro_texts.append(text)
    data.codes = rng.sample(sorted(codes), min(5_000, len(codes)))
    async with storage.db.transaction() as conn:
        for start in range(0, len(case_rows), 5_000):
            await conn.execute(insert(cases), case_rows[start : start + 5_000])
        for start in range(0, len(report_rows), 5_000):
            await conn.execute(insert(reports), report_rows[start : start + 5_000])
        # ids are 1..n in insertion order on a fresh database
        pairs = [
            {"case_id": case_id, "report_id": i + 1}
            for i, links in enumerate(links_of)
            for case_id in dict.fromkeys(c for c, _, _ in links)
        ]
        for start in range(0, len(pairs), 5_000):
            await conn.execute(insert(case_reports), pairs[start : start + 5_000])
        items = [
            {
                "report_id": i + 1,
                "kind": "link",
                "value": canonical,
                "raw": raw,
                "platform": platform_of(canonical),
                "created_at": now,
            }
            for i, links in enumerate(links_of)
            for _, canonical, raw in links
            if canonical
        ] + [
            {"report_id": i + 1, "kind": "handle", "value": h, "raw": h, "platform": None, "created_at": now}
            for i, handles in enumerate(named)
            for h in handles
        ]
        for start in range(0, len(items), 5_000):
            await conn.execute(insert(evidence), items[start : start + 5_000])
        words = [(i + 1, search.terms(row["description"])) for i, row in enumerate(report_rows)]
        for start in range(0, len(words), 5_000):
            await search.add_terms(conn, words[start : start + 5_000])
        keyed: set[tuple[str, int]] = set()
        for links, handles in zip(links_of, named, strict=True):
            for case_id, canonical, _ in links:
                account_name = search.account_of(canonical) if canonical else None
                if account_name:
                    keyed.add((account_name[0], case_id))
                for h in handles:
                    name = search.handle_name(h)
                    if name:
                        keyed.add((name, case_id))
        await search.add_handles(conn, keyed)
    data.cases = len(case_rows)
    data.raw_links = [raw for links in links_of for _, _, raw in links if raw]
    data.accounts = sorted({name for name, _ in keyed})
    return data


def phrase(rng: random.Random, text: str, size: int) -> str:
    words = text.split()
    start = rng.randrange(max(1, len(words) - size))
    return " ".join(words[start : start + size])


def queries(rng: random.Random, data: Data, n: int) -> dict[str, list[str]]:
    """`n` queries of each kind, drawn from what was stored and typed differently."""
    urdu_other_forms = str.maketrans({"ی": "ي", "ک": "ك", "ي": "ی", "ك": "ک", "ه": "ہ"})
    common = ("channel", "video", "training", "police", "donations")
    return {
        "code": [rng.choice(data.codes).replace("-", " ").lower() for _ in range(n)],
        "url variant": [variant(rng, rng.choice(data.raw_links)) for _ in range(n)],
        "handle": ["@" + rng.choice(data.accounts) for _ in range(n)],
        "English word": [rng.choice(common) if i % 2 else rng.choice(EN_WORDS) for i in range(n)],
        "Urdu phrase": [
            phrase(rng, rng.choice(data.ur_texts), rng.randint(2, 3)).translate(urdu_other_forms)
            for _ in range(n)
        ],
        "Roman Urdu phrase": [
            " ".join(
                {v: k for k, v in RO_VARIANTS.items()}.get(w, RO_VARIANTS.get(w, w))
                for w in phrase(rng, rng.choice(data.ro_texts), rng.randint(2, 3)).split()
            )
            for _ in range(n)
        ],
    }


async def measure(
    storage: Storage, asked: dict[str, list[str]]
) -> list[tuple[str, float, float, float, float]]:
    """(kind, p50 ms, p95 ms, max ms, mean cases found) per kind."""
    out = []
    for kind, qs in asked.items():
        for q in qs[:5]:  # warm the caches the way a running server has them warm
            await search.search(storage.db, q)
        times, found = [], []
        for q in qs:
            began = time.perf_counter()
            hits = await search.search(storage.db, q)
            times.append(1000 * (time.perf_counter() - began))
            found.append(len(hits))
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        out.append((kind, statistics.median(times), p95, times[-1], statistics.mean(found)))
    return out


async def run(url: str, count: int, n: int, label: str, size: Callable[[], int]) -> None:
    rng = random.Random(SEED)
    storage = Storage(url, b"bench-secret-" * 3)
    try:
        await storage.upgrade()
        began = time.perf_counter()
        data = await build(storage, count, rng)
        built = time.perf_counter() - began
        print(f"\n{label}: {count:,} reports on {data.cases:,} cases, built in {built:.1f} s")
        if storage.dialect == "postgresql":
            async with storage.db.transaction() as conn:
                await conn.exec_driver_sql("ANALYZE")
        megabytes = size() / 1e6
        if megabytes:
            print(f"database file: {megabytes:.0f} MB")
        rows = await measure(storage, queries(random.Random(SEED + 1), data, n))
    finally:
        await storage.close()
    print(f"{'query':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cases found':>12}")
    for kind, p50, p95, worst, mean in rows:
        mark = "" if p95 < TARGET_MS else "  over the 100 ms target"
        print(f"{kind:<20} {p50:>8.2f} {p95:>8.2f} {worst:>8.2f} {mean:>12.1f}{mark}")


async def main(count: int, n: int, pg: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="raabta_bench_") as tmp:
        path = f"{tmp}/search.db"

        def file_size() -> int:
            return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))

        await run(f"sqlite+aiosqlite:///{path}", count, n, "SQLite", file_size)
    if pg:
        async with scratch_database(pg, "raabta_bench") as url:
            await run(url, count, n, "PostgreSQL", lambda: 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200, help="searches of each kind")
    parser.add_argument("--pg", help="a PostgreSQL URL (postgresql+asyncpg://...) to run the same on")
    args = parser.parse_args()
    asyncio.run(main(args.reports, args.queries, args.pg))
