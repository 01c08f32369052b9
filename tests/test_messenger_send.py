"""The Send API side of Messenger: rendering within Meta's limits, retries and give-ups against the fake
Graph API, and status notifications through the real outbox worker."""

from __future__ import annotations

import itertools
import unicodedata

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.channels.messenger_render import MAX_TEXT, is_boundary, messages, split_text, title, units
from bot.channels.messenger_send import GraphClient, MessengerSender, classify
from bot.dialogue import Button, Reply
from bot.dialogue.types import Call
from bot.outbox import OutboxWorker
from bot.shared.delivery import Outcome
from bot.shared.sealing import AddressBox
from storage.records import TurnRecord
from storage.repository import Storage
from storage.schema import contacts
from tests.fakes.graph_api import (
    NO_MATCHING_USER,
    OUTSIDE_WINDOW,
    RATE_LIMITED,
    SERVER_ERROR,
    USER_UNAVAILABLE,
    FakeGraphAPI,
    error,
    slow,
)
from tests.test_messenger import APP_SECRET, PAGE_TOKEN, PSID_A

URDU = "پاکستان میں شدت پسندی کے خلاف رپورٹ کریں۔ "
# Letters with combining marks: zabar, zer, pesh, shadda, hamza above, superscript alef.
MARKED = "مُحَمَّدٌ رَسُوْلُ اللّٰہِ ہَمزۂ"


@pytest.fixture
def graph() -> FakeGraphAPI:
    return FakeGraphAPI(PAGE_TOKEN, APP_SECRET)


def client_for(graph: FakeGraphAPI, url: str | None = None, timeout: float = 10.0) -> GraphClient:
    """A client for the fake: through its ASGI transport, or over HTTP to `url`."""
    return GraphClient(
        url or graph.base_url,
        PAGE_TOKEN,
        APP_SECRET,
        transport=None if url else graph.transport,
        backoff=0.001,
        timeout=httpx.Timeout(timeout),
    )


def test_long_urdu_text_is_split_below_2000_at_sentence_ends() -> None:
    text = URDU * 200  # about 8,400 characters
    parts = split_text(text)
    assert len(parts) >= 5
    assert all(units(p) <= MAX_TEXT < 2000 for p in parts)
    assert all(p.endswith("۔") for p in parts)
    assert " ".join(parts) == text.strip()


def test_paragraphs_are_preferred_to_sentences_and_words_to_hard_cuts() -> None:
    para = ("word " * 300).strip()
    text = para + "\n\n" + para + "\n\n" + para
    parts = split_text(text)
    assert parts[0] == para
    no_spaces = "x" * 5000
    hard = split_text(no_spaces)
    assert [len(p) for p in hard] == [MAX_TEXT, MAX_TEXT, 5000 - 2 * MAX_TEXT]


def widest_grapheme(text: str) -> int:
    """UTF-16 units of the longest grapheme cluster in `text` (as `is_boundary` sees clusters)."""
    cuts = [i for i in range(len(text) + 1) if is_boundary(text, i)]
    return max((units(text[a:b]) for a, b in itertools.pairwise(cuts)), default=0)


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=20, max_value=600))
def test_splitting_never_exceeds_the_limit_nor_breaks_a_grapheme(text: str, limit: int) -> None:
    assume(widest_grapheme(text) <= limit)
    parts = split_text(text, limit=limit)
    assert all(units(p) <= limit for p in parts)
    position = 0
    for part in parts:
        start = text.index(part, position)
        end = start + len(part)
        assert is_boundary(text, start) and is_boundary(text, end), (text, part)
        position = end


def test_urdu_titles_are_cut_at_grapheme_boundaries_within_20() -> None:
    cut = title(MARKED)
    assert len(cut) <= 20 and cut.endswith("…")
    kept = cut[:-1]
    assert MARKED.startswith(kept)
    following = MARKED[len(kept)]
    assert not unicodedata.category(following).startswith("M")  # no mark left behind without its letter
    for label in ("خاندان کی مدد", "رپورٹ چیک کریں", "جی ہاں، خطرہ ہے"):
        assert title(label) == label


def test_emoji_sequences_and_flags_are_not_split() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"
    cut = title("Report " + family * 3)
    assert units(cut) <= 20
    assert cut.count("\u200d") % 3 == 0
    flags = title("🇵🇰" * 12)
    assert units(flags) <= 20 and len(flags[:-1]) % 2 == 0


def test_many_buttons_become_13_quick_replies_keeping_back_and_cancel() -> None:
    choices = [Button(f"x:{i}", f"Choice {i}") for i in range(15)]
    buttons = (*choices, Button("nav:back", "Back"), Button("nav:cancel", "Cancel"))
    [message] = messages(Reply("Pick one", buttons))
    payloads = [q["payload"] for q in message["quick_replies"]]
    assert len(payloads) == 13 and payloads[-2:] == ["nav:back", "nav:cancel"]


def test_a_full_international_number_becomes_a_call_button_and_a_short_code_stays_in_the_text() -> None:
    # Meta's call button (developers.facebook.com, Messenger Platform > Buttons > Call button): type
    # phone_number, payload "+<country code><number>", title within 20, in a button template.
    reply = Reply("Call now", calls=(Call("15", "Call 15"), Call("+924235761999", "Call the line")))
    [message] = messages(reply)
    payload = message["attachment"]["payload"]
    assert payload["template_type"] == "button" and payload["text"] == "Call now"
    assert payload["buttons"] == [
        {"type": "phone_number", "title": "Call the line", "payload": "+924235761999"}
    ]
    # Only short codes (Pakistan's 15 and 1122): no button can dial them; the number is the first line.
    assert messages(Reply("15\nCall the police", calls=(Call("15", "Call 15"),))) == [
        {"text": "15\nCall the police"}
    ]


def test_a_long_reply_with_buttons_puts_them_on_its_last_part() -> None:
    parts = messages(Reply(URDU * 100, (Button("nav:menu", "Main menu"),)))
    assert len(parts) > 1
    assert all("quick_replies" not in p for p in parts[:-1])
    assert parts[-1]["quick_replies"][0]["payload"] == "nav:menu"


@pytest.mark.parametrize(
    ("status", "body", "outcome", "reason"),
    [
        (200, {"recipient_id": "1", "message_id": "m"}, Outcome.SENT, ""),
        (500, SERVER_ERROR.body, Outcome.RETRY, "temporary_2"),
        (502, None, Outcome.RETRY, "http_502"),
        (429, {}, Outcome.RETRY, "http_429"),
        (400, RATE_LIMITED.body, Outcome.RETRY, "rate_limit_613"),
        (400, error(400, 4, "Application request limit reached").body, Outcome.RETRY, "rate_limit_4"),
        (400, error(400, 17, "User request limit reached").body, Outcome.RETRY, "rate_limit_17"),
        (400, error(400, 32, "Page request limit reached").body, Outcome.RETRY, "rate_limit_32"),
        (400, error(400, 1200, "Temporary send message failure").body, Outcome.RETRY, "temporary_1200"),
        (400, error(400, 190, "Invalid OAuth access token").body, Outcome.RETRY, "invalid_token"),
        (400, USER_UNAVAILABLE.body, Outcome.GONE, "user_unavailable"),
        (400, NO_MATCHING_USER.body, Outcome.GONE, "no_matching_user"),
        (403, error(403, 10, "Permission denied").body, Outcome.GONE, "no_permission_10"),
        (403, error(403, 200, "Requires pages_messaging permission").body, Outcome.GONE, "no_permission_200"),
        (400, OUTSIDE_WINDOW.body, Outcome.EXPIRED, "outside_24h_window"),
        (400, error(400, 100, "Invalid parameter").body, Outcome.EXPIRED, "rejected_100"),
        (400, "not json at all", Outcome.EXPIRED, "rejected_400"),
    ],
)
def test_graph_answers_are_classified(status: int, body: object, outcome: Outcome, reason: str) -> None:
    answer = classify(status, body)
    assert (answer.outcome, answer.reason) == (outcome, reason)


async def test_a_texts_parts_go_in_order_and_a_server_error_is_retried(graph: FakeGraphAPI) -> None:
    client = client_for(graph)
    graph.script.append(SERVER_ERROR)
    result = await client.send(PSID_A, [Reply(URDU * 100), Reply("done")], "RESPONSE", 4)
    await client.aclose()
    assert result.outcome is Outcome.SENT
    sent = graph.sent_to(PSID_A)
    assert "".join(c.text for c in sent[:-1]).replace(" ", "") == (URDU * 100).replace(" ", "")
    assert sent[-1].text == "done"
    assert graph.calls[0].status == 500


async def test_retries_stop_after_the_allowed_attempts(graph: FakeGraphAPI) -> None:
    client = client_for(graph)
    graph.script.extend([SERVER_ERROR] * 5)
    result = await client.send(PSID_A, [Reply("hi")], "RESPONSE", 3)
    await client.aclose()
    assert (result.outcome, result.reason) == (Outcome.RETRY, "temporary_2")
    assert len(graph.calls) == 3


async def test_a_wrong_page_token_is_not_blamed_on_the_citizen(graph: FakeGraphAPI) -> None:
    client = GraphClient(graph.base_url, "wrong-token", APP_SECRET, transport=graph.transport, backoff=0.001)
    result = await client.send(PSID_A, [Reply("hi")], "UPDATE", 1)
    await client.aclose()
    assert result.outcome is Outcome.RETRY and result.reason == "invalid_token"


def test_a_timeout_is_retried_over_real_http(graph: FakeGraphAPI) -> None:
    import asyncio

    with graph.serve() as url:
        graph.script.append(slow(1.0))

        async def run() -> Outcome:
            client = client_for(graph, url, timeout=0.3)
            try:
                return (await client.send(PSID_A, [Reply("hi")], "RESPONSE", 3)).outcome
            finally:
                await client.aclose()

        assert asyncio.run(run()) is Outcome.SENT
    assert len(graph.calls) == 2  # the first timed out on our side; the second went through


async def consent(storage: Storage, box: AddressBox, reporter: str, psid: str) -> None:
    """A citizen who said yes to updates here (as the pipeline stores it)."""
    await storage.commit_turn(
        TurnRecord("messenger", f"ev-{reporter}", reporter, 0, {}, [], contact=box.seal(psid))
    )


@pytest.mark.parametrize(
    ("scripted", "status", "error_reason", "unreachable"),
    [
        (None, "sent", None, False),
        ("unavailable", "failed", "user_unavailable", True),
        ("window", "expired", "outside_24h_window", False),
        ("server_error", "pending", "temporary_2", False),
    ],
)
async def test_notifications_through_the_outbox(
    storage: Storage,
    graph: FakeGraphAPI,
    scripted: str | None,
    status: str,
    error_reason: str | None,
    unreachable: bool,
) -> None:
    box = AddressBox(b"k" * 40)
    await consent(storage, box, "r1", PSID_A)
    row = await storage.outbox.enqueue_now("r1", "messenger", "status", {"text": "Your report was reviewed."})
    if scripted == "unavailable":
        graph.unavailable.add(PSID_A)
    elif scripted == "window":
        graph.outside_window.add(PSID_A)
    elif scripted == "server_error":
        graph.script.extend([SERVER_ERROR, SERVER_ERROR])
    client = client_for(graph)
    worker = OutboxWorker(storage, box, {"messenger": MessengerSender(client)})
    try:
        assert await worker.run_once() == 1
    finally:
        await client.aclose()
    stored_status, _attempts, stored_error = await storage.outbox.status_of(row)
    assert (stored_status, stored_error) == (status, error_reason)
    messages_sent = [c for c in graph.calls if c.path == "messages"]
    assert all(c.body["messaging_type"] == "UPDATE" and "tag" not in c.body for c in messages_sent)
    assert (await storage.outbox.contact_of("r1", "messenger") is None) == unreachable
    async with storage.reader.connect() as conn:
        from sqlalchemy import select

        sealed = await conn.scalar(select(contacts.c.address))
    assert PSID_A.encode() not in sealed
