"""The parts every channel shares (bot/channels: http, order, fallback, evidence): the signature and
secret checks, the per-conversation order, the crash fallback's language, and that channels reach
evidence files only through the store the app passes in. Each channel's own tests drive these parts
through its webhook (tests/test_messenger.py, tests/test_telegram_input.py, tests/test_webchat.py).
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import hmac
from pathlib import Path

import pytest

from bot.app import StoredEvidence, make_pipeline
from bot.channels.evidence import EvidenceStore, EvidenceUnavailable
from bot.channels.fallback import crash_reply, language_of
from bot.channels.http import secret_ok, signature_ok
from bot.channels.order import InOrder
from bot.dialogue import Inbound
from bot.pipeline import Pipeline
from bot.shared.config import Settings
from nlu import Parse
from responses import catalog
from storage.repository import Storage

CHANNELS = Path(__file__).parent.parent / "bot" / "channels"
SECRET = b"test_app_secret"
BODY = b'{"object":"page","entry":[]}'


def broken_pipeline(settings: Settings, storage: Storage) -> Pipeline:
    """The real pipeline, but its NLU fails on every message: an unexpected error, as a channel sees it."""
    working = make_pipeline(settings, storage)

    def failing(_text: str) -> Parse:
        raise RuntimeError("a bug while handling a message")

    return Pipeline(
        storage,
        working.pseudonyms,
        working.box,
        parser=failing,
        texts=working.texts,
        retention_days=working.retention_days,
    )


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


# --- signature and secret checks --------------------------------------------------------------------


def test_the_signature_check_accepts_only_the_hmac_of_the_exact_bytes() -> None:
    assert signature_ok(SECRET, BODY, sign(BODY))
    assert signature_ok(SECRET, BODY, " " + sign(BODY) + " ")  # header whitespace is not part of it


@pytest.mark.parametrize(
    "forged",
    [
        None,
        "",
        sign(BODY, b"not_the_app_secret"),
        sign(BODY + b" "),  # another body
        sign(BODY)[7:],  # no "sha256=" prefix
        "sha256=" + sign(BODY)[7:].upper(),
        "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest(),
        sign(BODY)[:-1],  # truncated
        sign(BODY) + "0",
        "sha256=ÿ" + sign(BODY)[8:],  # not ASCII
    ],
)
def test_the_signature_check_rejects_forged_signatures(forged: str | None) -> None:
    assert not signature_ok(SECRET, BODY, forged)


def test_no_secret_of_ours_matches_nothing() -> None:
    assert not signature_ok(b"", BODY, sign(BODY, b""))
    assert not secret_ok(None, "")
    assert not secret_ok("", "")
    assert not secret_ok(None, None)


@pytest.mark.parametrize(
    ("given", "ok"),
    [
        ("hook-secret_01", True),
        ("hook-secret_0", False),
        ("HOOK-SECRET_01", False),
        ("", False),
        (None, False),
    ],
)
def test_the_secret_header_check(given: str | None, ok: bool) -> None:
    assert secret_ok("hook-secret_01", given) is ok
    assert secret_ok(b"hook-secret_01", given) is ok
    assert secret_ok(b"tok", "tök") is False  # any text compares, as its UTF-8 bytes


# --- per-conversation order -------------------------------------------------------------------------


async def test_one_keys_turns_run_in_arrival_order_and_other_keys_run_meanwhile() -> None:
    order: InOrder[str] = InOrder()
    done: list[str] = []
    release = asyncio.Event()

    async def work(key: str, name: str, hold: bool = False) -> None:
        async with order.turn(key):
            if hold:
                await release.wait()
            await asyncio.sleep(0)
            done.append(name)

    tasks = [asyncio.create_task(work("a", "a1", hold=True))]
    tasks += [asyncio.create_task(work("a", f"a{n}")) for n in range(2, 6)]
    tasks.append(asyncio.create_task(work("b", "b1")))
    await tasks[-1]
    assert done == ["b1"]  # another conversation went on while a1 held its turn
    assert order.waiting("a") == 5 and len(order) == 1
    release.set()
    await asyncio.gather(*tasks)
    assert done == ["b1", "a1", "a2", "a3", "a4", "a5"]
    assert len(order) == 0 and order.waiting("a") == 0  # nothing held for idle conversations


async def test_a_failed_or_cancelled_turn_lets_the_next_one_go() -> None:
    order: InOrder[int] = InOrder()
    done: list[int] = []

    async def fail() -> None:
        async with order.turn(1):
            raise ValueError("a bug")

    async def wait_forever() -> None:
        async with order.turn(1):
            await asyncio.Event().wait()

    async def work(n: int) -> None:
        async with order.turn(1):
            done.append(n)

    failing = asyncio.create_task(fail())
    stuck = asyncio.create_task(wait_forever())
    later = asyncio.create_task(work(3))
    with pytest.raises(ValueError, match="a bug"):
        await failing
    await asyncio.sleep(0)
    stuck.cancel()
    await asyncio.gather(stuck, return_exceptions=True)
    await later
    assert done == [3] and len(order) == 0


# --- the crash fallback's language ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inbound", "known", "lang"),
    [
        (Inbound("messenger", "1", "e1", text="میں ایک رپورٹ درج کرنا چاہتا ہوں"), None, "ur"),
        (Inbound("messenger", "1", "e1", text="mujhe ek page ki report karni hai"), None, "ur-Latn"),
        (Inbound("messenger", "1", "e1", text="I want to report a page"), None, "en"),
        (Inbound("messenger", "1", "e1", choice="lang:ur-Latn"), None, "ur-Latn"),
        (Inbound("messenger", "1", "e1", choice="menu:report"), None, "en"),
        (Inbound("messenger", "1", "e1", text="🙂"), None, "en"),
        (Inbound("telegram", "1", "e1", text="/start"), "ur", "ur"),  # what the channel knows comes first
        (Inbound("telegram", "1", "e1", text="السلام علیکم"), "xx", "ur"),  # not one of ours: ignored
    ],
)
def test_the_fallback_answers_in_the_language_the_message_tells(
    inbound: Inbound, known: str | None, lang: str
) -> None:
    assert language_of(inbound, known) == lang
    assert crash_reply(catalog(), inbound, known).text == catalog().text("common.unavailable", lang)


# --- evidence files through the store the app passes in ---------------------------------------------


def test_channels_never_import_storage() -> None:
    for path in sorted(CHANNELS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not [n for n in names if n == "storage" or n.startswith("storage.")], path.name


async def test_the_apps_evidence_store_keeps_files_and_reports_an_outage_in_channel_terms(
    settings: Settings, storage: Storage
) -> None:
    store: EvidenceStore = StoredEvidence(storage, settings.data_dir)
    assert store.keeps("photo") and store.keeps("document") and not store.keeps("link")
    assert store.directory("telegram") == settings.data_dir / "evidence" / "telegram"
    await store.record("telegram", "AQADname", "0" * 64, 10)
    down = StoredEvidence(Storage("postgresql+asyncpg://nobody@127.0.0.1:9/none"), settings.data_dir)
    try:
        with pytest.raises(EvidenceUnavailable):
            await down.record("telegram", "AQADname", "0" * 64, 10)
    finally:
        await down.kept.storage.close()
