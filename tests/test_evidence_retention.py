"""Downloaded evidence under retention, on both backends: each file's sha256 in the database, the copy
deleted after RAABTA_RETENTION_DAYS while the hash, the report and the case stay, and what the console,
the API and `raabta purge` then say."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from bot.app import StoredEvidence, create_app, make_pipeline
from bot.channels.telegram import TelegramChannel
from bot.shared.config import Settings
from storage.evidence_files import KeptFiles, evidence_dir
from storage.queue import Queue
from storage.records import EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage, utcnow
from storage.safety import Safety
from storage.schema import audit_events, evidence_files
from storage.tokens import Tokens
from tests.fakes.telegram_api import Citizen, FakeBotAPI, serving
from tests.test_cli import env_for, run
from tests.test_console import sign_in
from tests.test_telegram import fast, telegram_settings
from tests.test_telegram_input import finish, to_the_evidence_step

SHOT = b"\x89PNG fake screenshot bytes"
LEAFLET = b"%PDF-1.4 fake leaflet"
PHOTO, DOCUMENT = "AQADlarge", "AgADdoc"  # the file_unique_id of the photo and document_pdf fixtures
OLD = timedelta(days=200)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        fake.add_file("AgACAgQAAxkBAAML_large", SHOT)
        fake.add_file("BQACAgQAAxkBAAMM_doc", LEAFLET, "documents/file_1.pdf")
        yield fake


async def report_with_files(settings: Settings, storage: Storage, api: FakeBotAPI) -> str:
    """A Telegram report with a screenshot and a PDF, downloads on; its reference code."""
    on = telegram_settings(settings, api, "webhook", telegram_download_files=True)
    evidence = StoredEvidence(storage, on.data_dir)
    channel = TelegramChannel(on, make_pipeline(on, storage), pacer=fast(), evidence=evidence)
    async with serving(channel, api) as deliver:
        citizen = Citizen(api, deliver)
        await to_the_evidence_step(citizen)
        await citizen.send_fixture("photo")
        await citizen.send_fixture("document_pdf")
        assert channel.files is not None
        await channel.files.wait()
        return await finish(citizen)


async def kept(storage: Storage) -> dict[str, dict[str, object]]:
    async with storage.reader.connect() as conn:
        rows = await conn.execute(select(evidence_files))
        return {r.name: dict(r._mapping) for r in rows}


async def age(storage: Storage, name: str, by: timedelta = OLD) -> None:
    """Pretend the copy `name` was downloaded `by` ago."""
    async with storage.writer.begin() as conn:
        await conn.execute(
            update(evidence_files).where(evidence_files.c.name == name).values(stored_at=utcnow() - by)
        )


async def file_evidence(storage: Storage, code: str) -> dict[str, dict[str, object]]:
    return {str(e["fingerprint"]): e for e in await storage.reports.evidence_of(code) if e["kind"] != "link"}


async def test_a_downloaded_file_has_its_sha256_in_the_database_and_no_side_file(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    code = await report_with_files(settings, storage, api)
    folder = evidence_dir(settings.data_dir, "telegram")
    assert (folder / PHOTO).read_bytes() == SHOT
    assert sorted(p.name for p in folder.iterdir()) == [PHOTO, DOCUMENT]  # no .sha256, no .part
    files = await file_evidence(storage, code)
    assert files[PHOTO]["sha256"] == sha256((folder / PHOTO).read_bytes()) == sha256(SHOT)
    assert files[DOCUMENT]["sha256"] == sha256(LEAFLET)
    rows = await kept(storage)
    assert rows[PHOTO]["sha256"] == sha256(SHOT) and rows[PHOTO]["size"] == len(SHOT)
    assert rows[PHOTO]["purged_at"] is None


async def test_a_report_stored_before_its_download_ends_gets_the_hash_when_it_ends(
    storage: Storage,
) -> None:
    photo = EvidenceRecord("photo", "AgACAgQAAxkBAAML_late", fingerprint="AQADlate")
    early = NewReport("TLTE-0001", "r1", "telegram", "en", "other", "seen", False, (photo,))
    other = NewReport("TLTE-0002", "r2", "messenger", "en", "other", "seen", False, (photo,))
    for report in (early, other):
        turn = TurnRecord("test", report.code, report.code, 0, {}, [], (report,))
        assert (await storage.commit_turn(turn)).status.value == "ok"
    assert (await file_evidence(storage, "TLTE-0001"))["AQADlate"]["sha256"] is None
    await KeptFiles(storage).record("telegram", "AQADlate", sha256(SHOT), len(SHOT))
    assert (await file_evidence(storage, "TLTE-0001"))["AQADlate"]["sha256"] == sha256(SHOT)
    assert (await file_evidence(storage, "TLTE-0002"))["AQADlate"]["sha256"] is None  # another channel's
    later = NewReport("TLTE-0003", "r3", "telegram", "en", "other", "seen", False, (photo,))
    await storage.commit_turn(TurnRecord("test", "e3", "c3", 0, {}, [], (later,)))
    assert (await file_evidence(storage, "TLTE-0003"))["AQADlate"]["sha256"] == sha256(SHOT)


async def test_after_retention_the_copy_goes_and_the_hash_report_and_case_stay(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    code = await report_with_files(settings, storage, api)
    folder = evidence_dir(settings.data_dir, "telegram")
    await age(storage, PHOTO)  # the PDF was downloaded just now

    done = await Safety(storage).purge(180, settings.data_dir)

    assert done.evidence_files == 1
    assert not (folder / PHOTO).exists()
    assert (folder / DOCUMENT).read_bytes() == LEAFLET  # newer than the retention period: kept
    rows = await kept(storage)
    assert rows[PHOTO]["purged_at"] is not None and rows[PHOTO]["sha256"] == sha256(SHOT)
    assert rows[DOCUMENT]["purged_at"] is None
    files = await file_evidence(storage, code)
    assert files[PHOTO]["sha256"] == sha256(SHOT) and files[PHOTO]["value"] == "AgACAgQAAxkBAAML_large"
    assert await storage.count("reports") == 1
    case = await storage.reports.case_of(code)
    assert case is not None

    shown = await Queue(storage).get_case(case["id"])
    [report] = shown["reports"]
    by_name = {e["fingerprint"]: e for e in report["evidence"]}
    assert by_name[PHOTO]["kept_copy"]["removed_at"] is not None
    assert by_name[PHOTO]["kept_copy"]["days_kept"] == 200
    assert by_name[DOCUMENT]["kept_copy"]["removed_at"] is None
    links = [e for e in report["evidence"] if e["kind"] == "link"]
    assert links and all(e["kept_copy"] is None and e["sha256"] is None for e in links)  # never a copy

    async with storage.reader.connect() as conn:
        purges = select(audit_events.c.detail).where(audit_events.c.action == "retention.purged")
        [event] = (await conn.execute(purges)).all()
    assert event.detail["evidence_files"] == 1
    assert await storage.verify_audit_chain()

    again = await Safety(storage).purge(180, settings.data_dir)
    assert again.evidence_files == 0
    assert (folder / DOCUMENT).exists()


async def test_the_console_and_api_say_the_copy_was_removed_under_the_retention_policy(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    code = await report_with_files(settings, storage, api)
    await age(storage, PHOTO)
    await Safety(storage).purge(180, settings.data_dir)
    case = await storage.reports.case_of(code)
    assert case is not None
    token = await Tokens(storage).create("analyst", "analyst")
    app = create_app(settings, storage)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        got = await http.get(f"/api/v1/cases/{case['id']}", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200
    by_name = {e["fingerprint"]: e for e in got.json()["reports"][0]["evidence"]}
    assert by_name[PHOTO]["sha256"] == sha256(SHOT)
    assert by_name[PHOTO]["kept_copy"]["days_kept"] == 200
    assert by_name[DOCUMENT]["kept_copy"]["removed_at"] is None

    console = await sign_in(app, token)
    try:
        page = await console.get(f"/console/cases/{case['id']}")
    finally:
        await console.aclose()
    assert page.status_code == 200
    assert f"sha256:{sha256(SHOT)}" in page.text
    assert "File copy removed" in page.text
    assert "under the retention policy, 200 days after download." in page.text
    assert "File copy kept on the server since" in page.text  # the PDF


async def test_a_copy_already_missing_is_marked_purged_without_an_error(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    await report_with_files(settings, storage, api)
    (evidence_dir(settings.data_dir, "telegram") / PHOTO).unlink()
    await age(storage, PHOTO)
    done = await Safety(storage).purge(180, settings.data_dir)
    assert done.evidence_files == 0  # nothing was left to delete
    assert (await kept(storage))[PHOTO]["purged_at"] is not None
    await age(storage, DOCUMENT)
    assert (await Safety(storage).purge(180, settings.data_dir)).evidence_files == 1
    # No evidence directory at all (downloads never switched on) is fine too.
    assert (await Safety(storage).purge(180, settings.data_dir / "elsewhere")).evidence_files == 0


async def test_copies_from_before_the_hash_was_in_the_database_are_recorded_or_purged(
    settings: Settings, storage: Storage
) -> None:
    """Files downloaded before migration 0007 have a `.sha256` side file and no row."""
    folder = evidence_dir(settings.data_dir, "telegram")
    folder.mkdir(parents=True)
    then = time.time() - OLD.total_seconds()
    for name, data in (("AQADold", b"old shot"), ("AQADnew", SHOT)):
        (folder / name).write_bytes(data)
        (folder / f"{name}.sha256").write_text(f"{sha256(data)}  {name}\n")
    os.utime(folder / "AQADold", (then, then))
    (folder / "AQADhalf.part").write_bytes(b"interrupted")
    os.utime(folder / "AQADhalf.part", (then, then))
    photo = EvidenceRecord("photo", "AgACAgQAAxkBAAML_new", fingerprint="AQADnew")
    report = NewReport("TLEG-0001", "r1", "telegram", "en", "other", "seen", False, (photo,))
    await storage.commit_turn(TurnRecord("test", "e1", "c1", 0, {}, [], (report,)))

    done = await Safety(storage).purge(180, settings.data_dir)

    assert done.evidence_files == 1
    assert sorted(p.name for p in folder.iterdir()) == ["AQADnew"]
    rows = await kept(storage)
    assert set(rows) == {"AQADnew"}
    assert rows["AQADnew"]["sha256"] == sha256(SHOT) and rows["AQADnew"]["purged_at"] is None
    assert (await file_evidence(storage, "TLEG-0001"))["AQADnew"]["sha256"] == sha256(SHOT)


def test_raabta_purge_says_how_many_evidence_files_it_removed(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert run(["db", "upgrade"], env).returncode == 0
    folder = evidence_dir(tmp_path / "data", "telegram")

    async def download_two() -> None:
        storage = Storage(env["RAABTA_DATABASE_URL"])
        try:
            files = KeptFiles(storage)
            for name in ("AQADone", "AQADtwo"):
                (folder / name).write_bytes(name.encode())
                await files.record("telegram", name, sha256(name.encode()), 7, utcnow() - OLD)
        finally:
            await storage.close()

    folder.mkdir(parents=True)
    (folder / "AQADfresh").write_bytes(b"fresh")
    asyncio.run(download_two())
    purged = run(["purge"], env)
    assert purged.returncode == 0, purged.stderr
    assert "2 evidence files" in purged.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["AQADfresh"]
    again = run(["purge", "--days", "30"], env)
    assert "0 evidence files" in again.stdout


async def test_a_download_recorded_while_its_report_commits_still_hashes_the_report(storage: Storage) -> None:
    """The file's download ends while the report naming it is in its transaction: the report read no hash
    yet, and the download's UPDATE cannot see the report's rows before they commit. Whichever comes first,
    the evidence row ends with the file's hash (seen on PostgreSQL, where the two run side by side)."""
    url = "https://www.facebook.com/race.page"
    link = EvidenceRecord("link", url, url, "facebook")
    photo = EvidenceRecord("photo", "AgACAgQ_file", platform="telegram", fingerprint="AQADrace")
    report = NewReport("RACE-0001", None, "telegram", "en", "propaganda", "", False, (link, photo))
    digest = sha256(b"the photo")
    async with storage.db.transaction() as conn:
        await storage._add_report(conn, report, utcnow())  # the report turn's own storage code
        recorded = asyncio.create_task(KeptFiles(storage).record("telegram", "AQADrace", digest, 9))
        await asyncio.sleep(0.3)  # the download is recorded now, if nothing holds it back
    await recorded
    rows = await storage.reports.evidence_of("RACE-0001")
    assert [(r["fingerprint"], r["sha256"]) for r in rows if r["kind"] == "photo"] == [("AQADrace", digest)]
