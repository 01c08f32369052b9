"""Search (issue 22): by reference code, URL variant, handle and the words of descriptions in English, Urdu
and Roman Urdu, in storage, `GET /api/v1/search` and the console, on SQLite (FTS5) and PostgreSQL.

Never who reported; no query, however it is written, is a 500."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection

from nlu.urls import canonicalize, platform_of
from storage import migrate
from storage import search as S
from storage.queue import Queue
from storage.records import EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage, utcnow
from storage.schema import case_reports, cases, evidence, reports
from tests import test_console as security
from tests.conftest import SECRET
from tests.test_api import API, auth
from tests.test_console import Signed
from tests.test_openapi import conforms, fetch

app, signed, tokens = security.app, security.signed, security.tokens  # the console tests' fixtures

REPORTER = "reporter-pseudonym-that-must-never-show"
FTS_SYNTAX = [
    '"',
    '"unterminated phrase',
    "a* OR b",
    "NEAR(bharti kar)",
    "(",
    ")",
    "AND",
    "OR NOT",
    "-recruiting",
    "terms:recruiting",
    "^recruiting",
    "'",
    "\\",
    "{a b} : *",
    "*",
    "recruit*",
    "a & b | !c <-> d",
    "'' & ''",
    ":*",
    "\u064b",  # a lone diacritic: nothing is left after normalising
    "@",
    "@@",
    "https://",
    "----",
]


async def submit(
    storage: Storage,
    description: str,
    links: tuple[str, ...] = (),
    handles: tuple[str, ...] = (),
    language: str = "en",
    code: str | None = None,
    reporter: str | None = REPORTER,
    category: str = "recruitment",
) -> str:
    """Store a report as the pipeline does (links canonicalised first); its code."""
    code = code or new_code()
    items: list[EvidenceRecord] = []
    for raw in links:
        canonical = canonicalize(raw)
        assert canonical is not None, raw
        items.append(EvidenceRecord("link", canonical, raw, platform_of(canonical)))
    items += [EvidenceRecord("handle", h) for h in handles]
    report = NewReport(code, reporter, "webchat", language, category, description, False, tuple(items))
    turn = TurnRecord("test", uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], (report,))
    result = await storage.commit_turn(turn)
    assert result.status.value == "ok", result
    return code


def new_code() -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    raw = uuid.uuid4().int
    chars = "".join(alphabet[(raw >> (5 * i)) % 32] for i in range(8))
    return f"{chars[:4]}-{chars[4:]}"


async def case_of_url(storage: Storage, raw: str) -> int:
    async with storage.reader.connect() as conn:
        found = await conn.scalar(select(cases.c.id).where(cases.c.canonical_url == canonicalize(raw)))
    assert found is not None
    return int(found)


async def find(storage: Storage, q: str, limit: int = S.DEFAULT_LIMIT) -> list[dict[str, Any]]:
    return await S.search(storage.db, q, limit)


def ids(hits: list[dict[str, Any]]) -> list[int]:
    return [h["case_id"] for h in hits]


# --- reading the query -------------------------------------------------------------------------------


def test_a_query_is_read_as_codes_links_handles_and_words() -> None:
    assert S.read_query("k7qm 2xd9").codes == ("K7QM-2XD9",)
    assert S.read_query("K7QM-2XD9").codes == ("K7QM-2XD9",)
    assert S.read_query("k7qm2xd9").codes == ("K7QM-2XD9",)
    assert S.read_query("status of K7QM-2XD9 please").codes == ("K7QM-2XD9",)
    link = S.read_query("https://m.youtube.com/watch?v=AbC123xyz&lang=en")
    assert link.urls == ("https://youtube.com/watch?v=AbC123xyz",) and link.terms == ()
    assert S.read_query("@Jihad_Chan").handles == ("jihad_chan",)
    assert S.read_query("@bad.one") == S.Query(handles=("bad.one",))  # not the web site bad.one
    assert S.read_query("t.me/Jihad_Chan").handles == ("jihad_chan",)  # a profile link names its account
    assert S.read_query("t.me/jihad_chan/45").handles == ()  # a post is that post
    assert S.read_query("بھرتي   كر رہا").terms == tuple(S.terms("بھرتی کر رہا")) == ("بہرتی", "کر", "رہا")
    assert S.read_query("Bharti nahin").terms == ("bharti", "nahi")


def test_the_account_of_a_canonical_link() -> None:
    account = S.account_of
    assert account("https://t.me/jihad_chan") == ("jihad_chan", True)
    assert account("https://t.me/jihad_chan/45") == ("jihad_chan", False)
    assert account("https://t.me/+AbCdEf") is None
    assert account("https://x.com/bad_one/status/1") == ("bad_one", False)
    assert account("https://x.com/i/spaces/1") is None
    assert account("https://instagram.com/bad.one") == ("bad.one", True)
    assert account("https://instagram.com/p/CoDe") is None
    assert account("https://tiktok.com/@bad/video/1") == ("bad", False)
    assert account("https://youtube.com/@badtube/videos") == ("badtube", False)
    assert account("https://youtube.com/watch?v=AbC") is None
    assert account("https://facebook.com/profile.php?id=100012345") is None
    assert account("https://x.com/bad_one?lang=en") == ("bad_one", True)
    assert account("https://facebook.com/some.page") == ("some.page", True)
    assert account("https://facebook.com/groups/some.group/posts/1") == ("some.group", False)
    assert account("https://example.com/someone") is None


def test_indexed_words_fold_letter_forms_diacritics_case_and_roman_spellings() -> None:
    urdu = "یہ چینل نوجوانوں کو بھرتی کر رہا ہے"
    arabic_forms = "يہ چينل نوجوانوں كو بَھرتي كر رہا ہے"
    assert S.terms(urdu) == S.terms(arabic_forms)
    assert S.terms("Recruiting BOYS!!") == ["recruiting", "boys"]
    assert S.terms("woh nahin ruk rahe") == S.terms("woh nahi ruk rahe")
    assert S.terms("") == []


# --- storage, both backends ---------------------------------------------------------------------------


async def test_a_code_typed_any_way_finds_its_case(storage: Storage) -> None:
    code = await submit(storage, "a page", links=("https://t.me/coded_channel",))
    case_id = await case_of_url(storage, "https://t.me/coded_channel")
    await submit(storage, "another", links=("https://t.me/other_channel",))
    compact = code.replace("-", "")
    for typed in (code, code.lower(), f"{compact[:4].lower()} {compact[4:].lower()}", compact.lower()):
        [hit] = await find(storage, typed)
        assert hit["case_id"] == case_id and hit["codes"] == [code] and hit["matched_by"] == ["code"], typed
        assert hit["platform"] == "telegram" and hit["status"] == "new"


async def test_a_code_finds_every_case_of_a_report_with_several_links(storage: Storage) -> None:
    code = await submit(storage, "two pages", links=("https://t.me/first_one", "https://x.com/second_one"))
    hits = await find(storage, code)
    assert set(ids(hits)) == {
        await case_of_url(storage, "https://t.me/first_one"),
        await case_of_url(storage, "https://x.com/second_one"),
    }


async def test_any_variant_of_a_link_finds_its_case(storage: Storage) -> None:
    await submit(storage, "video", links=("https://www.youtube.com/watch?v=AbC123xyz&lang=en",))
    await submit(storage, "page", links=("https://www.facebook.com/Some.Page/",))
    await submit(storage, "unrelated", links=("https://www.youtube.com/watch?v=Other999",))
    video = await case_of_url(storage, "youtube.com/watch?v=AbC123xyz")
    page = await case_of_url(storage, "facebook.com/some.page")
    for typed in (
        "https://youtube.com/watch?v=AbC123xyz",
        "m.youtube.com/watch?v=AbC123xyz&feature=share",
        "https://youtu.be/AbC123xyz?si=tracking",
        "www.youtube.com/watch?v=AbC123xyz&lang=en",
    ):
        hits = await find(storage, typed)
        assert ids(hits) == [video], typed
        assert hits[0]["matched_by"] == ["url"]
    for typed in (
        "https://m.facebook.com/some.page",
        "facebook.com/Some.Page/",
        "https://www.facebook.com/some.page",
    ):
        hits = await find(storage, typed)
        assert ids(hits)[:1] == [page], typed
        assert "url" in hits[0]["matched_by"]


async def test_a_handle_finds_the_account_its_posts_and_reports_naming_it(storage: Storage) -> None:
    await submit(storage, "the channel", links=("https://t.me/Jihad_Chan",))
    await submit(storage, "a post of it", links=("https://t.me/jihad_chan/45",))
    await submit(storage, "only the handle", handles=("@Jihad_Chan",))
    await submit(
        storage, "a page that names it", links=("https://facebook.com/mirror.page",), handles=("@jihad_chan",)
    )
    await submit(storage, "someone else", links=("https://t.me/jihad_chan_two",), handles=("@other",))
    channel = await case_of_url(storage, "https://t.me/jihad_chan")
    post = await case_of_url(storage, "https://t.me/jihad_chan/45")
    mirror = await case_of_url(storage, "https://facebook.com/mirror.page")
    for typed in ("@jihad_chan", "@JIHAD_CHAN", "jihad_chan"):
        hits = await find(storage, typed)
        assert len(hits) == 4, typed
        assert {channel, post, mirror} <= set(ids(hits))
        assert all("handle" in h["matched_by"] for h in hits)
    by_link = await find(storage, "https://t.me/Jihad_Chan")
    assert ids(by_link)[0] == channel and by_link[0]["matched_by"][0] == "url"
    assert len(by_link) == 4  # a profile link also finds the account's posts and the reports naming it


async def test_english_words_find_descriptions(storage: Storage) -> None:
    await submit(
        storage, "They are Recruiting young boys for training camps.", links=("https://t.me/camp_a",)
    )
    await submit(storage, "Selling weapons openly", links=("https://t.me/guns_b",))
    camp = await case_of_url(storage, "https://t.me/camp_a")
    hits = await find(storage, "recruiting")
    assert ids(hits) == [camp] and hits[0]["matched_by"] == ["text"]
    assert hits[0]["snippet"].startswith("They are Recruiting young boys")
    assert len(hits[0]["codes"]) == 1
    assert ids(await find(storage, "YOUNG  boys")) == [camp]
    assert await find(storage, "young weapons") == []  # every word must be there
    assert await find(storage, "recruit") == []  # words, not prefixes


async def test_urdu_typed_with_other_letter_forms_or_diacritics_finds_the_description(
    storage: Storage,
) -> None:
    # stored with the Urdu letters (Farsi yeh, keheh, heh goal) ...
    await submit(
        storage, "یہ چینل نوجوانوں کو بھرتی کر رہا ہے", links=("https://t.me/urdu_a",), language="ur"
    )
    # ... and one typed on an Arabic keyboard (Arabic yeh and kaf, heh, a zabar)
    await submit(storage, "هم كو دهمكي دي گئي", links=("https://t.me/urdu_b",), language="ur")
    first = await case_of_url(storage, "https://t.me/urdu_a")
    second = await case_of_url(storage, "https://t.me/urdu_b")
    assert ids(await find(storage, "نوجوانوں كو بھرتي")) == [first]  # Arabic yeh and kaf in the query
    assert ids(await find(storage, "بَھرتی")) == [first]  # a diacritic in the query
    assert ids(await find(storage, "ہم کو دہمکی")) == [second]  # Urdu letters for what was stored Arabic
    assert ids(await find(storage, "\u0647\u0645")) == [second]
    # an Arabic keyboard's one heh for Urdu's two (ہ, ھ) and its yeh for the yeh barree (ے)
    assert ids(await find(storage, "بهرتي كر رها هي")) == [first]


async def test_roman_urdu_spellings_find_each_other(storage: Storage) -> None:
    await submit(
        storage, "ye log bachon ko bharti kar rahe hain, ruk nahin rahe", links=("https://t.me/roman_a",)
    )
    await submit(storage, "cricket match ki video", links=("https://t.me/roman_b",))
    roman = await case_of_url(storage, "https://t.me/roman_a")
    assert ids(await find(storage, "Bharti nahi")) == [roman]
    assert ids(await find(storage, "bachon ko bharti")) == [roman]
    assert await find(storage, "bharti cricket") == []


async def test_text_results_are_newest_first_and_limited(storage: Storage) -> None:
    for i in range(5):
        await submit(storage, f"propaganda video number {i}", links=(f"https://t.me/many_{i}",))
    hits = await find(storage, "propaganda", limit=3)
    assert len(hits) == 3
    assert ids(hits) == [await case_of_url(storage, f"https://t.me/many_{i}") for i in (4, 3, 2)]
    # many reports on one case still give the next cases
    for _ in range(6):
        await submit(storage, "propaganda again", links=("https://t.me/many_4",))
    hits = await find(storage, "propaganda", limit=5)
    assert len(set(ids(hits))) == 5


async def test_a_merged_case_says_where_it_went(storage: Storage) -> None:
    await submit(storage, "first copy", links=("https://t.me/merge_a",))
    code = await submit(storage, "second copy", links=("https://t.me/merge_b",))
    a = await case_of_url(storage, "https://t.me/merge_a")
    b = await case_of_url(storage, "https://t.me/merge_b")
    queue = Queue(storage)
    await queue.assign(b, "ayesha", "boss")
    await queue.decide(b, "ayesha", "merged", "same channel", merge_into=a, render=lambda _: "")
    [by_url] = await find(storage, "https://t.me/merge_b")
    assert by_url["case_id"] == b and by_url["status"] == "merged" and by_url["merged_into"] == a
    assert ids(await find(storage, code)) == [a]  # the report is on the case it was merged into


async def test_results_never_name_a_reporter(storage: Storage) -> None:
    code = await submit(
        storage, "recruiting here", links=("https://t.me/private_a",), handles=("@private_a",)
    )
    for q in (code, "recruiting", "@private_a", "https://t.me/private_a"):
        hits = await find(storage, q)
        assert hits, q
        dumped = json.dumps(hits)
        assert REPORTER not in dumped and "reporter" not in dumped
        assert set(hits[0]) == S.HIT_FIELDS


async def test_query_syntax_characters_are_words_or_nothing(storage: Storage) -> None:
    await submit(storage, 'He said "NEAR" (and) OR * recruiting', links=("https://t.me/syntax_a",))
    for q in FTS_SYNTAX:
        await find(storage, q)  # never raises
    assert ids(await find(storage, 'NEAR (recruiting) "OR')) == [
        await case_of_url(storage, "https://t.me/syntax_a")
    ]


async def test_random_queries_of_syntax_letters_marks_and_links_never_raise(storage: Storage) -> None:
    await submit(
        storage, "recruiting یہ بھرتی bharti", links=("https://t.me/random_a",), handles=("@random_a",)
    )
    alphabet = (
        "\"*()^:-+&|!<>'\\{}[]@#/.?=_ ,;~`$%"
        + "abcNEARORANDNOTk7qm2xd9"
        + "يیكکهہھےىۃة"
        + "\u064b\u0670\u200c\u2067"
    )
    rng = random.Random(22)
    for _ in range(150):
        q = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        read = S.read_query(q)
        assert all(w.isalnum() for w in read.terms), (q, read)  # nothing in a word is query syntax
        await find(storage, q)  # never raises


async def test_migration_0013_indexes_the_reports_already_stored(db_url: str) -> None:
    store = Storage(db_url, SECRET.encode())
    try:
        await migrate.upgrade(store.writer, "0012")
        now = utcnow()
        async with store.writer.begin() as conn:
            for n, (url, description, handle) in enumerate(
                [
                    ("https://t.me/old_channel", "پرانی رپورٹ بھرتی", None),
                    (None, "old handle report", "@Old_Handle"),
                ]
            ):
                case_id = await conn.scalar(
                    insert(cases)
                    .values(
                        canonical_url=url,
                        fingerprint=None if url else f"fp:{n}",
                        platform="telegram" if url else "unknown",
                        status="new",
                        urgent=False,
                        priority=1.0,
                        categories=["other"],
                        report_count=1,
                        reporter_count=1,
                        first_seen=now,
                        last_seen=now,
                        updated_at=now,
                    )
                    .returning(cases.c.id)
                )
                report_id = await conn.scalar(
                    insert(reports)
                    .values(
                        code=f"ABC0-000{n}",
                        case_id=case_id,
                        channel="webchat",
                        language="ur",
                        category="other",
                        description=description,
                        urgent=False,
                        created_at=now,
                    )
                    .returning(reports.c.id)
                )
                await conn.execute(insert(case_reports).values(case_id=case_id, report_id=report_id))
                if handle:
                    await conn.execute(
                        insert(evidence).values(
                            report_id=report_id, kind="handle", value=handle, created_at=now
                        )
                    )
        await store.upgrade()
        assert await store.is_current()
        assert ids(await S.search(store.db, "بهرتي", 5)) == [1]
        assert ids(await S.search(store.db, "@old_handle", 5)) == [2]
        assert ids(await S.search(store.db, "abc0 0001", 5)) == [2]

        def down(connection: Connection) -> None:
            command.downgrade(migrate.alembic_config(connection, store.audit_key), "0012")

        async with store.writer.begin() as conn:
            await conn.run_sync(down)
            names = await conn.run_sync(lambda c: set(__import__("sqlalchemy").inspect(c).get_table_names()))
        assert not {"report_text", "case_handles"} & names
        await store.upgrade()  # and up again: the backfill indexes the same reports once
        assert ids(await S.search(store.db, "بهرتي", 5)) == [1]
    finally:
        await store.close()


async def test_deleting_a_report_removes_its_words(storage: Storage) -> None:
    """Reports are never deleted by the app (forget-me keeps them anonymous); were one deleted (by hand, or
    a future purge), its words go with it, so a reused row id never inherits them."""
    await submit(storage, "vanishing words here", links=("https://t.me/gone_a",))
    async with storage.writer.begin() as conn:
        await conn.execute(text("DELETE FROM case_reports"))
        await conn.execute(text("DELETE FROM evidence"))
        await conn.execute(text("DELETE FROM reports"))
    assert await find(storage, "vanishing") == []
    await submit(storage, "fresh text", links=("https://t.me/gone_a",))
    assert await find(storage, "vanishing") == []
    assert len(await find(storage, "fresh")) == 1


# --- the API --------------------------------------------------------------------------------------------


async def test_the_api_searches_for_analysts_and_supervisors(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    code = await submit(storage, "recruiting boys", links=("https://t.me/api_case",))
    case_id = await case_of_url(storage, "https://t.me/api_case")
    compact = code.replace("-", "").lower()
    for role in ("analyst", "supervisor"):
        answer = await client.get(
            API + "/search", params={"q": f"{compact[:4]} {compact[4:]}"}, headers=auth(tokens[role])
        )
        assert answer.status_code == 200, answer.text
        [hit] = answer.json()["items"]
        assert hit["case_id"] == case_id and hit["codes"] == [code] and hit["matched_by"] == ["code"]
        assert REPORTER not in answer.text
    for role in ("counsellor", "admin"):
        answer = await client.get(API + "/search", params={"q": code}, headers=auth(tokens[role]))
        assert answer.status_code == 403
    assert (await client.get(API + "/search", params={"q": code})).status_code == 401
    text_hits = await client.get(API + "/search?q=Recruiting", headers=auth(tokens["analyst"]))
    assert [h["case_id"] for h in text_hits.json()["items"]] == [case_id]
    read = {
        "codes": [],
        "urls": [],
        "handles": ["recruiting"],
        "terms": ["recruiting"],
    }  # a word may be a handle
    assert text_hits.json()["query"] == read
    spec = await fetch(client)
    conforms(spec, "SearchResults", text_hits.json())
    assert {p["name"] for p in spec["paths"][API + "/search"]["get"]["parameters"]} == {"q", "limit"}


async def test_the_api_refuses_bad_parameters(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    analyst = auth(tokens["analyst"])
    for params in (
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x", "code": "K7QM-2XD9"},
        {"q": "x", "limit": "0"},
        {"q": "x", "limit": "101"},
        {"q": "x", "limit": "ten"},
        {"q": "x" * (S.MAX_QUERY + 1)},
    ):
        answer = await client.get(API + "/search", params=params, headers=analyst)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    for n in range(3):
        await submit(storage, "limited words", links=(f"https://t.me/limited_{n}",))
    answer = await client.get(API + "/search", params={"q": "limited", "limit": "2"}, headers=analyst)
    assert answer.status_code == 200 and len(answer.json()["items"]) == 2


async def test_no_query_text_is_a_server_error(
    client: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    await submit(storage, "recruiting (NEAR) here", links=("https://t.me/syntax_api",))
    for q in FTS_SYNTAX:
        answer = await client.get(API + "/search", params={"q": q}, headers=auth(tokens["analyst"]))
        assert answer.status_code in (200, 400), (q, answer.text)


# --- the console --------------------------------------------------------------------------------------


async def test_the_console_search_box_and_results(storage: Storage, signed: dict[str, Signed]) -> None:
    await submit(
        storage, "یہ چینل نوجوانوں کو بھرتی کر رہا ہے", links=("https://t.me/console_ur",), language="ur"
    )
    case_id = await case_of_url(storage, "https://t.me/console_ur")
    analyst = signed["analyst"]
    queue = await analyst.get("/console/queue")
    assert 'action="/console/search"' in queue.text and 'name="q"' in queue.text
    page = await analyst.get("/console/search", params={"q": "بھرتي"})
    assert page.status_code == 200
    assert f'href="/console/cases/{case_id}"' in page.text
    assert "t.me/console_ur" in page.text and "نوجوانوں" in page.text
    assert REPORTER not in page.text
    empty = await analyst.get("/console/search", params={"q": "nothing matches this"})
    assert empty.status_code == 200 and "No case matches" in empty.text
    blank = await analyst.get("/console/search")
    assert blank.status_code == 200 and f'href="/console/cases/{case_id}"' not in blank.text
    counsellor = await signed["counsellor"].get("/console/search", params={"q": "x"})
    assert counsellor.status_code == 403
    assert 'action="/console/search"' not in (await signed["counsellor"].get("/console/support")).text


async def test_a_code_typed_in_the_console_opens_its_case(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    code = await submit(storage, "coded", links=("https://t.me/console_code",))
    case_id = await case_of_url(storage, "https://t.me/console_code")
    typed = code.replace("-", " ").lower()
    jump = await signed["analyst"].get("/console/search", params={"q": typed})
    assert jump.status_code == 303 and jump.headers["location"] == f"/console/cases/{case_id}"
    unknown = await signed["analyst"].get("/console/search", params={"q": "ZZZZ-9999"})
    assert unknown.status_code == 200 and "No case matches" in unknown.text


async def test_the_console_escapes_the_query_and_survives_any_text(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    await submit(storage, "recruiting", links=("https://t.me/console_xss",))
    script = '<script>alert("q")</script>'
    page = await signed["analyst"].get("/console/search", params={"q": script})
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(&#34;q&#34;)&lt;/script&gt;" in page.text
    for q in FTS_SYNTAX:
        answer = await signed["analyst"].get("/console/search", params={"q": q})
        assert answer.status_code == 200, (q, answer.text)
    long = await signed["analyst"].get("/console/search", params={"q": "x" * (S.MAX_QUERY + 1)})
    assert long.status_code == 400


def test_slash_focuses_the_search_box() -> None:
    """`/` focuses the header's search box (console.js reads its id); the filters moved to `f`."""
    root = Path(__file__).parent.parent / "cyberunit" / "console"
    script = (root / "static" / "console.js").read_text()
    base = (root / "templates" / "base.html").read_text()
    assert 'id="search-q"' in base and 'getElementById("search-q")' in script
    assert "<kbd>/</kbd></dt><dd>search" in base and "<kbd>f</kbd></dt><dd>filters" in base
