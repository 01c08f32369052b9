"""One contract suite for the repository, run unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text, update

from storage.records import CommitStatus, EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage, case_key
from storage.schema import audit_events, metadata
from storage.search import kept_apart


def report(
    code: str,
    url: str | None = "https://facebook.com/bad.page",
    reporter: str | None = "r1",
    description: str = "recruiting",
    category: str = "recruitment",
    urgent: bool = False,
) -> NewReport:
    evidence = (EvidenceRecord("link", url, url.upper(), "facebook"),) if url else ()
    return NewReport(code, reporter, "test", "en", category, description, urgent, evidence)


def turn(event: str, conversation: str = "c1", version: int = 0, *reports: NewReport) -> TurnRecord:
    return TurnRecord(
        "test",
        event,
        conversation,
        version,
        {"step": "menu", "n": event},
        [{"text": f"reply to {event}", "buttons": []}],
        tuple(reports),
    )


async def test_migrations_create_exactly_the_schema(storage: Storage) -> None:
    assert await storage.is_current()

    def diff(connection: object) -> list[object]:
        # The search index (storage.search) is dialect-specific SQL outside storage.schema, on purpose.
        context = MigrationContext.configure(
            connection,  # type: ignore[arg-type]
            opts={"include_name": lambda name, kind, _parents: not kept_apart(name, kind)},
        )
        return compare_metadata(context, metadata)

    async with storage.writer.connect() as conn:
        assert await conn.run_sync(diff) == []
    await storage.upgrade()  # a second upgrade is a no-op


async def test_a_turn_is_stored_once_and_a_redelivery_gets_the_same_reply(storage: Storage) -> None:
    first = await storage.commit_turn(turn("e1", "c1", 0, report("AAAA-0001")))
    assert first.status is CommitStatus.OK
    again = await storage.commit_turn(turn("e1", "c1", 1, report("AAAA-0002")))
    assert again.status is CommitStatus.DUPLICATE
    assert again.response == [{"text": "reply to e1", "buttons": []}]
    assert await storage.count("reports") == 1
    conversation = await storage.load_conversation("c1")
    assert conversation.version == 1
    assert conversation.state == {"step": "menu", "n": "e1"}


async def test_a_stale_version_is_a_conflict_and_stores_nothing(storage: Storage) -> None:
    assert (await storage.commit_turn(turn("e1"))).status is CommitStatus.OK
    stale = await storage.commit_turn(turn("e2", "c1", 0, report("AAAA-0003")))
    assert stale.status is CommitStatus.CONFLICT
    assert await storage.count("reports") == 0
    assert await storage.count("processed_events") == 1  # e2 was rolled back, so it can be retried
    assert (await storage.commit_turn(turn("e2", "c1", 1))).status is CommitStatus.OK


async def test_a_taken_code_is_reported_and_nothing_is_stored(storage: Storage) -> None:
    await storage.commit_turn(turn("e1", "c1", 0, report("AAAA-0004")))
    clash = await storage.commit_turn(turn("e2", "c2", 0, report("AAAA-0004", url="https://x.com/other")))
    assert clash.status is CommitStatus.CODE_TAKEN
    assert await storage.count("reports") == 1
    assert (await storage.load_conversation("c2")).version == 0


async def test_reports_of_one_page_form_one_case(storage: Storage) -> None:
    await storage.commit_turn(turn("e1", "c1", 0, report("AAAA-0005", reporter="r1")))
    await storage.commit_turn(turn("e2", "c2", 0, report("AAAA-0006", reporter="r2", category="propaganda")))
    await storage.commit_turn(turn("e3", "c1", 1, report("AAAA-0007", reporter="r1", urgent=True)))
    await storage.commit_turn(turn("e4", "c3", 0, report("AAAA-0008", url="https://t.me/other")))
    assert await storage.count("cases") == 2
    case = await storage.case_of("AAAA-0006")
    assert case is not None
    assert case["canonical_url"] == "https://facebook.com/bad.page"
    assert case["report_count"] == 3
    assert case["reporter_count"] == 2
    assert case["categories"] == ["propaganda", "recruitment"]
    assert case["urgent"] is True
    assert case["status"] == "new"
    assert case["priority"] > (await storage.case_of("AAAA-0008") or {})["priority"]
    assert await storage.report_statuses(["AAAA-0005", "AAAA-0008", "ZZZZ-9999"]) == {
        "AAAA-0005": "new",
        "AAAA-0008": "new",
    }


async def test_reports_without_a_link_meet_on_their_evidence(storage: Storage) -> None:
    photo = NewReport(
        "BBBB-0001",
        None,
        "test",
        "en",
        "other",
        "",
        False,
        (EvidenceRecord("photo", "file-a", fingerprint="uniq-9"),),
    )
    same_photo = NewReport(
        "BBBB-0002",
        None,
        "test",
        "en",
        "other",
        "seen it too",
        False,
        (EvidenceRecord("photo", "file-b", fingerprint="uniq-9"),),
    )
    words = report("BBBB-0003", url=None, reporter=None, description="A  Page selling   Rifles")
    same_words = report("BBBB-0004", url=None, reporter=None, description="a page selling rifles")
    for i, r in enumerate((photo, same_photo, words, same_words)):
        await storage.commit_turn(turn(f"e{i}", f"c{i}", 0, r))
    assert await storage.count("cases") == 2
    assert case_key(photo)[1] == "file:uniq-9"
    case = await storage.case_of("BBBB-0004")
    assert case is not None and case["reporter_count"] == 2  # anonymous reports count one each


async def test_evidence_is_kept_with_the_report(storage: Storage) -> None:
    rich = NewReport(
        "CCCC-0001",
        "r1",
        "test",
        "ur",
        "financing",
        "",
        False,
        (
            EvidenceRecord("link", "https://t.me/x", "t.me/s/X", "telegram"),
            EvidenceRecord("handle", "@donate"),
            EvidenceRecord("photo", "file-1", fingerprint="u1"),
        ),
    )
    await storage.commit_turn(turn("e1", "c1", 0, rich))
    kinds = [(e["kind"], e["value"]) for e in await storage.evidence_of("CCCC-0001")]
    assert kinds == [("link", "https://t.me/x"), ("handle", "@donate"), ("photo", "file-1")]


async def test_the_audit_chain_verifies_and_detects_an_edit(storage: Storage) -> None:
    for i in range(3):
        await storage.commit_turn(turn(f"e{i}", f"c{i}", 0, report(f"DDDD-000{i}")))
    assert await storage.count("audit_events") == 3
    assert await storage.verify_audit_chain()
    async with storage.writer.begin() as conn:
        await conn.execute(update(audit_events).where(audit_events.c.id == 2).values(actor="someone-else"))
    assert not await storage.verify_audit_chain()


async def test_concurrent_reports_of_one_page_make_one_case(storage: Storage) -> None:
    results = await asyncio.gather(
        *[
            storage.commit_turn(turn(f"e{i}", f"c{i}", 0, report(f"EEEE-{i:04d}", reporter=f"r{i}")))
            for i in range(20)
        ]
    )
    assert all(r.status is CommitStatus.OK for r in results)
    assert await storage.count("cases") == 1
    case = await storage.case_of("EEEE-0000")
    assert case is not None and case["report_count"] == 20 and case["reporter_count"] == 20
    assert await storage.verify_audit_chain()


async def test_concurrent_redeliveries_store_one_turn(storage: Storage) -> None:
    results = await asyncio.gather(
        *[storage.commit_turn(turn("same", "c1", 0, report("FFFF-0001"))) for _ in range(8)]
    )
    statuses = sorted(r.status.value for r in results)
    assert statuses.count("ok") == 1
    assert set(statuses) <= {"ok", "duplicate", "conflict"}
    assert await storage.count("reports") == 1


async def test_notifications_are_handed_over_once(storage: Storage) -> None:
    await storage.enqueue_notification("c1", "webchat", "status", {"text": "one"})
    await storage.enqueue_notification("c1", "webchat", "status", {"text": "two"})
    await storage.enqueue_notification("c2", "webchat", "status", {"text": "other"})
    taken = await storage.take_notifications("webchat", "c1")
    assert [n.payload["text"] for n in taken] == ["one", "two"]
    assert await storage.take_notifications("webchat", "c1") == []
    assert len(await storage.take_notifications("webchat", "c2")) == 1


async def test_text_with_every_script_and_markup_is_stored_verbatim(storage: Storage) -> None:
    description = "<script>alert(1)</script> یہ پیج 🙂 ‏العربية 中文 'quote\" \\ back"
    await storage.commit_turn(turn("e1", "c1", 0, report("GGGG-0001", description=description)))
    async with storage.reader.connect() as conn:
        stored = await conn.scalar(text("SELECT description FROM reports WHERE code = 'GGGG-0001'"))
    assert stored == description


async def test_ping(storage: Storage) -> None:
    assert await storage.ping()
