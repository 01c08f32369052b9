"""Designated organisations (issue 22): the operator's list, matched in what citizens send, shown on the case
and weighed in its priority as a part of its own.

The matching tests read the shipped list (bot/shared/designated.yaml, whose entries docs/content.md
sources); the operator's own file is a temporary one in the same format, with a made-up organisation, so
the tests show that it replaces the shipped list rather than adding to it.
"""

from __future__ import annotations

import html
import itertools
import re
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from bot.app import create_app
from bot.cli import main
from bot.dialogue.types import Attachment, Link, SubmitReport
from bot.pipeline import to_records
from bot.shared.config import Settings, load_settings
from bot.shared.designated import DEFAULT_FILE, SCRIPTS, Designated, DesignatedError, load, shipped
from cyberunit.priority import explain
from storage.priority import DESIGNATED_WEIGHT
from storage.queue import CaseFilter, Queue
from storage.records import NewReport, TurnRecord
from storage.repository import Storage, utcnow
from storage.schema import cases
from storage.tokens import Tokens
from tests.conftest import SECRET
from tests.test_console import sign_in
from tests.test_webchat import CODE, WebChat

API = "/api/v1"
_codes = itertools.count(1)

# A made-up organisation for the operator's file: nothing real is claimed by the tests.
OPERATOR_FILE = """\
# An example for tests only: a made-up organisation, not a designation.
misal:
  name: Tanzeem-e-Misal (example)
  aliases:
    en: [Tanzeem-i-Misal]
    ur: [تنظیم مثال]
    ur-Latn: [Tanzeem e Misal, Tanzim Misal]
  source: Example notification, for tests
  date: 2020-01-02
"""


def matched(text: str, designated: Designated | None = None) -> list[str]:
    return [org.id for org, _alias in (designated or shipped()).find(text)]


def effect(
    description: str, links: tuple[str, ...] = (), handles: tuple[str, ...] = (), forward: str | None = None
) -> SubmitReport:
    n = next(_codes)
    return SubmitReport(
        code=f"D{n:03d}-TEST",
        category="propaganda",
        description=description,
        urgent=False,
        language="ur-Latn",
        links=tuple(Link(url, url, "telegram") for url in links),
        evidence=(Attachment("forward", forward),) if forward else (),
        handles=handles,
    )


async def store(storage: Storage, report: NewReport) -> None:
    result = await storage.commit_turn(
        TurnRecord("webchat", uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], (report,))
    )
    assert result.status.value == "ok"


async def case_of(storage: Storage, url: str) -> dict[str, object]:
    async with storage.db.read() as conn:
        case_id = await conn.scalar(select(cases.c.id).where(cases.c.canonical_url == url))
    return explain(await Queue(storage).get_case(int(case_id or 0)))


# --- the list -----------------------------------------------------------------------------------------


def test_the_shipped_list_has_every_entry_named_in_three_scripts_with_a_source_and_a_date() -> None:
    listed = load()
    assert listed.path == DEFAULT_FILE and len(listed) >= 1
    for org in listed.organisations:
        assert all(org.aliases[script] for script in SCRIPTS), org.id
        assert org.source.strip() and org.designated_on.year >= 1997, org.id


def test_the_check_refuses_a_malformed_file_naming_each_entry_at_fault(tmp_path: Path) -> None:
    path = tmp_path / "designated.yaml"
    path.write_text(
        OPERATOR_FILE
        + """\
no_source:
  name: Somebody
  aliases: {en: [Somebody Front], ur: [کوئی محاذ], ur-Latn: [Koi Mahaz]}
  date: 2020-01-02
arabic_forms:
  name: Another
  aliases: {en: [Another Front], ur: [تنظيم ديگر], ur-Latn: [Tanzeem Digar]}
  source: Example
  date: not-a-date
no_roman:
  name: Third
  aliases: {en: [Third Front], ur: [تیسرا محاذ]}
  source: Example
  date: 2020-01-02
  colour: red
taken:
  name: Copy
  aliases: {en: [Tanzim-e-Misal], ur: [نقل], ur-Latn: [Naqal]}
  source: Example
  date: 2020-01-02
""",
        encoding="utf-8",
    )
    with pytest.raises(DesignatedError) as refused:
        load(path)
    said = str(refused.value)
    assert "entry 'no_source': source is missing" in said
    assert "entry 'arabic_forms': aliases.ur: 'تنظيم ديگر' has Arabic letters" in said
    assert "entry 'arabic_forms': date 'not-a-date' is not a date" in said
    assert "entry 'no_roman': aliases.ur-Latn: at least one name is needed" in said
    assert "entry 'no_roman': unknown field colour" in said
    assert "entry 'taken': alias 'Tanzim-e-Misal' also names entry 'misal'" in said
    assert "designated.yaml: entry 'misal'" not in said  # the good entry is not blamed

    for broken, says in (
        ("- just a list\n", "expected entries"),
        ("misal: [unclosed\n", "not valid YAML"),
        ("Bad Id:\n  name: x\n", "entry 'Bad Id': the id must be"),
    ):
        path.write_text(broken, encoding="utf-8")
        with pytest.raises(DesignatedError, match=re.escape(says)):
            load(path)
    with pytest.raises(DesignatedError, match="cannot be read"):
        load(tmp_path / "missing.yaml")
    path.write_text("# nothing designated yet\n", encoding="utf-8")
    assert len(load(path)) == 0  # an empty list is a list, not an error


def test_raabta_designated_check_reads_the_configured_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "designated.yaml"
    path.write_text(OPERATOR_FILE, encoding="utf-8")
    monkeypatch.setenv("RAABTA_DESIGNATED_FILE", str(path))
    assert main(["designated", "check"]) == 0
    assert f"designated OK: 1 organisations in {path}" in capsys.readouterr().out
    path.write_text(
        OPERATOR_FILE.replace("  source: Example notification, for tests\n", ""), encoding="utf-8"
    )
    assert main(["designated", "check"]) == 1
    assert (
        "designated check failed: designated.yaml: entry 'misal': source is missing"
        in capsys.readouterr().err
    )


# --- matching -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ye page tehreek e taliban pakistan ke liye bharti kar raha hai", ["ttp"]),  # Roman Urdu
        ("yeh channel Tahreek-i-Taliban Pakistan ka hai", ["ttp"]),  # another Roman spelling
        ("تحريك طالبان پاكستان کے لیے چندہ مانگ رہے ہیں", ["ttp"]),  # Urdu typed with Arabic ي and ك
        ("کالعدم ٹی ٹی پی کا پیج", ["ttp"]),
        ("Recruiting for Lashkar-e-Tayyiba and Jaish-e-Mohammed", ["lashkar_e_taiba", "jaish_e_muhammad"]),
        ("posts praising Al-Qaida", ["al_qaeda"]),  # English
        ("LEJ aur JeM ke posts", ["lashkar_e_jhangvi", "jaish_e_muhammad"]),  # acronyms in any case
        ("فلاح انسانیت فاونڈیشن کے نام پر چندہ", ["falah_e_insaniyat"]),  # the hamza left out
    ],
)
def test_a_name_is_found_in_each_script_and_spelling(text: str, expected: list[str]) -> None:
    assert matched(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "see http://example.com and https://example.org/https-guide",  # "ttp" inside "http"
        "let him go, the SSP said",  # ordinary words that are also acronyms of banned groups
        "falah-e-insaniyat ke liye kaam karte hain",  # "welfare of humanity": not the foundation
        "the Taliban and a lashkar of volunteers",  # a part of a name is not the name
        "qaedat ul tahreek",
    ],
)
def test_ordinary_words_and_parts_of_names_are_not_matches(text: str) -> None:
    assert matched(text) == []


def test_handles_link_slugs_and_forwards_match_and_say_where() -> None:
    report = to_records(
        effect(
            "is page ko dekhein",
            links=("https://t.me/ttp_official", "https://youtube.com/watch?v=abc"),
            handles=("@AlqaedaUrdu", "@TtpMedia"),
            forward="Jaish Muhammad ka paigham",
        ),
        "reporter",
        "webchat",
    )
    found = {(m.name, m.place, m.link) for m in report.designated}
    assert found == {
        ("Tehreek-e-Taliban Pakistan (TTP)", "handle", None),
        ("Tehreek-e-Taliban Pakistan (TTP)", "link", "https://t.me/ttp_official"),
        ("Al-Qaeda", "handle", None),
        ("Jaish-e-Muhammad", "forward", None),
    }
    [ttp] = [m for m in report.designated if m.place == "link"]
    assert ttp.source.startswith("Ministry of Interior") and ttp.date == "2008-08-25"


def test_an_operators_file_replaces_the_shipped_list(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(OPERATOR_FILE, encoding="utf-8")
    mine = load(path)
    assert matched("Tanzim e Misal ka channel", mine) == ["misal"]
    assert matched("تنظيم مثال", mine) == ["misal"]
    assert matched("TTP ka channel", mine) == []  # the shipped entries are gone
    assert load_settings(designated_file=path).designated_file == path
    report = to_records(effect("TTP aur Tanzeem-i-Misal"), "r", "webchat", mine)
    assert [(m.name, m.date) for m in report.designated] == [("Tanzeem-e-Misal (example)", "2020-01-02")]


# --- storage and priority (both backends) ---------------------------------------------------------------


async def test_a_named_organisation_is_kept_on_the_case_and_raises_its_priority(storage: Storage) -> None:
    plain = to_records(effect("propaganda video", links=("https://t.me/plain_channel",)), "r1", "webchat")
    named = to_records(
        effect("tehreek e taliban pakistan ki video", links=("https://t.me/some_channel",)), "r2", "webchat"
    )
    await store(storage, plain)
    await store(storage, named)
    before = await case_of(storage, "https://t.me/plain_channel")
    after = await case_of(storage, "https://t.me/some_channel")
    assert before["designated"] == [] and "designated" not in before["priority_parts"]  # type: ignore[operator]
    assert after["designated"] == [
        {
            "name": "Tehreek-e-Taliban Pakistan (TTP)",
            "source": named.designated[0].source,
            "date": "2008-08-25",
            "aliases": ["Tehrik-i-Taliban Pakistan"],
            "found_in": ["description"],
        }
    ]
    parts = after["priority_parts"]
    assert isinstance(parts, dict) and parts["designated"] == DESIGNATED_WEIGHT
    assert after["priority"] == pytest.approx(round(sum(parts.values()), 2))
    assert after["priority"] == pytest.approx(before["priority"] + DESIGNATED_WEIGHT)  # type: ignore[operator]

    # Rescoring (recency decays) keeps the part, and the stored parts still add up to the priority.
    async with storage.writer.begin() as conn:
        await conn.execute(update(cases).values(last_seen=utcnow() - timedelta(days=3)))
    await Queue(storage).rescore()
    later = await case_of(storage, "https://t.me/some_channel")
    later_parts = later["priority_parts"]
    assert isinstance(later_parts, dict) and later_parts["designated"] == DESIGNATED_WEIGHT
    assert later["priority"] == pytest.approx(round(sum(later_parts.values()), 2))
    # A case scored before parts were stored is explained with the same part.
    assert explain({**later, "priority_parts": None})["priority_parts"]["designated"] == DESIGNATED_WEIGHT
    [first, *_] = (await Queue(storage).list_cases(CaseFilter())).items
    assert first["canonical_url"] == "https://t.me/some_channel"


async def test_a_slug_names_its_own_case_and_a_merge_carries_the_designation(storage: Storage) -> None:
    report = to_records(
        effect("in dono ko dekhein", links=("https://t.me/ttp_official", "https://t.me/other_channel")),
        "r1",
        "webchat",
    )
    await store(storage, report)
    slugged = await case_of(storage, "https://t.me/ttp_official")
    other = await case_of(storage, "https://t.me/other_channel")
    assert [(d["name"], d["found_in"]) for d in slugged["designated"]] == [  # type: ignore[attr-defined]
        ("Tehreek-e-Taliban Pakistan (TTP)", ["link"])
    ]
    assert other["designated"] == [] and "designated" not in other["priority_parts"]  # type: ignore[operator]

    queue = Queue(storage)
    source, target = int(str(slugged["id"])), int(str(other["id"]))
    await queue.claim_case(source, "a1")
    await queue.decide(source, "a1", "merged", "the same channel", merge_into=target)
    merged = await case_of(storage, "https://t.me/other_channel")
    assert [d["name"] for d in merged["designated"]] == ["Tehreek-e-Taliban Pakistan (TTP)"]  # type: ignore[attr-defined]
    assert merged["priority_parts"]["designated"] == DESIGNATED_WEIGHT  # type: ignore[index]
    # A later report on the merged link lands on the target, and its slug's match with it.
    await store(storage, to_records(effect("phir se", links=("https://t.me/ttp_official",)), "r3", "webchat"))
    again = await case_of(storage, "https://t.me/other_channel")
    assert again["report_count"] == 2
    assert [d["aliases"] for d in again["designated"]] == [["TTP"]]  # type: ignore[attr-defined]


# --- end to end: the operator's file, the bot, the API and the console ----------------------------------


async def test_the_operators_list_is_what_reports_are_matched_against_and_what_analysts_see(
    storage: Storage, tmp_path: Path, db_url: str
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(OPERATOR_FILE, encoding="utf-8")
    settings: Settings = load_settings(
        database_url=db_url,
        secret_key=SECRET,
        data_dir=tmp_path / "data",
        webchat_ip_limit=0,
        webchat_new_sessions_per_hour=0,
        designated_file=path,
    )
    app = create_app(settings, storage)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        for link, words in (
            ("https://t.me/misal_channel", "Ye channel tanzeem e misal ke liye bharti karta hai"),
            ("https://t.me/ttp_news", "TTP ki khabrein"),  # shipped entries no longer count
        ):
            chat = WebChat(http)
            await chat.send("/start")
            await chat.press("lang:ur-Latn")
            await chat.press("menu:report")
            await chat.send(link)
            await chat.press("cat:propaganda")
            await chat.press("confirm:details")
            await chat.send(words)
            await chat.press("evidence:done")
            await chat.press("confirm:submit")
            assert CODE.search(chat.said), chat.said
        token = await Tokens(storage).create("analyst", "analyst")
        headers = {"Authorization": f"Bearer {token}"}
        listed = (await http.get(API + "/cases", headers=headers)).json()["items"]
        by_url = {c["canonical_url"]: c for c in listed}
        named, plain = by_url["https://t.me/misal_channel"], by_url["https://t.me/ttp_news"]
        assert plain["designated"] == [] and "designated" not in plain["priority_parts"]
        detail = (await http.get(f"{API}/cases/{named['id']}", headers=headers)).json()
        assert detail["designated"] == [
            {
                "name": "Tanzeem-e-Misal (example)",
                "source": "Example notification, for tests",
                "date": "2020-01-02",
                "aliases": ["Tanzeem-i-Misal"],
                "found_in": ["description"],
            }
        ]
        assert detail["priority_parts"]["designated"] == DESIGNATED_WEIGHT
        assert listed[0]["id"] == named["id"]  # it outranks the same report without the name
        schema = (await http.get(API + "/openapi.json", headers=headers)).json()["components"]["schemas"]
        assert "designated" in schema["Case"]["properties"] and "Designation" in schema

    analyst = await sign_in(app, token)
    try:
        queue_page = (await analyst.get("/console/queue")).text
        assert "designated: Tanzeem-e-Misal (example)" in queue_page
        assert (
            html.escape("Tanzeem-e-Misal (example) (Example notification, for tests, 2020-01-02)")
            in queue_page
        )
        case_page = (await analyst.get(f"/console/cases/{named['id']}")).text
        assert "<dt>Designated organisation</dt>" in case_page
        assert "(Example notification, for tests, 2020-01-02)" in case_page
        assert "named in description" in case_page
        assert '<th scope="row">Designated</th>' in case_page
    finally:
        await analyst.aclose()
