"""Who may see a family's phone number, and for how long it exists (issue 21), over HTTP on both backends.

The number goes when the request is closed and when the retention period ends, and the counsellor is told
which; only the counsellor who took a request sees its number (a colleague can neither see it nor take the
request over); a supervisor or an admin gives a request to a counsellor, or sees the number with an
override and a reason, audited; nobody sees more than RAABTA_SUPPORT_REVEALS_PER_HOUR numbers an hour.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from bot.app import create_app
from bot.shared.config import Settings
from storage.repository import Storage, utcnow
from storage.safety import Safety
from storage.schema import audit_events, support_requests
from storage.tokens import Tokens
from tests import test_console as security
from tests.test_console import Signed, browser, sign_in
from tests.test_support import NUMBER, all_audit_text, ask_for_a_callback, auth, events, request_id

app, signed, tokens = security.app, security.signed, security.tokens  # fixtures shared with the console tests

API = "/api/v1/support-requests"
REVEALED = "support.phone_revealed"


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        yield client


@pytest.fixture
async def colleague(storage: Storage) -> str:
    """A second counsellor's token."""
    return await Tokens(storage).create("counsellor2", "counsellor")


async def phone_column(storage: Storage, number: int) -> bytes | None:
    async with storage.reader.connect() as conn:
        found: bytes | None = await conn.scalar(
            select(support_requests.c.phone).where(support_requests.c.id == number)
        )
        return found


async def taken_by_counsellor(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str], phone: str
) -> int:
    """A family's phone request, taken by the counsellor named "counsellor"."""
    _family, code = await ask_for_a_callback(http, phone)
    number = await request_id(storage, code)
    taken = await http.post(f"{API}/{number}/take", headers=auth(tokens["counsellor"]))
    assert taken.status_code == 200, taken.text
    return number


# --- the number goes ---------------------------------------------------------------------------------


async def test_closing_deletes_the_number_and_a_reveal_says_why(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str], signed: dict[str, Signed]
) -> None:
    counsellor = auth(tokens["counsellor"])
    number = await taken_by_counsellor(http, storage, tokens, "0333 111-2233")
    assert await phone_column(storage, number) is not None
    shown = await http.post(f"{API}/{number}/phone", headers=counsellor)
    assert shown.status_code == 200 and shown.json()["phone"] == "03331112233"
    assert shown.json()["request"]["phone_refusal"] is None

    closed = await http.post(f"{API}/{number}/close", headers=counsellor, json={"note": "Called."})
    assert closed.status_code == 200, closed.text
    assert closed.json()["has_phone"] is False
    assert closed.json()["phone_refusal"] == "the number was deleted when the request was closed"
    assert await phone_column(storage, number) is None, "the sealed number is gone from the row"
    [deleted] = await events(storage, "support.phone_deleted")
    assert (deleted.actor, deleted.subject, deleted.detail) == (
        "counsellor",
        f"support:{number}",
        {"why": "closed"},
    )

    again = await http.post(f"{API}/{number}/phone", headers=counsellor)
    assert again.status_code == 409, again.text
    assert again.json()["detail"] == "the number was deleted when the request was closed"
    page = (await signed["counsellor"].get(f"/console/support/{number}")).text
    assert "The number was deleted when the request was closed." in page
    assert 'id="reveal-form"' not in page and 'id="take-form"' not in page
    assert len(await events(storage, REVEALED)) == 1
    assert "1112233" not in await all_audit_text(storage)


async def test_the_retention_purge_deletes_old_numbers_and_only_them(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    counsellor = auth(tokens["counsellor"])
    old = await taken_by_counsellor(http, storage, tokens, "0300 1000001")
    recent = await taken_by_counsellor(http, storage, tokens, "0300 1000002")
    async with storage.writer.begin() as conn:
        await conn.execute(
            update(support_requests)
            .where(support_requests.c.id == old)
            .values(created_at=utcnow() - timedelta(days=181))
        )
        # A request closed before closing deleted numbers: the purge deletes its number too.
        await conn.execute(
            support_requests.insert().values(
                code="OLDC-0001",
                language="en",
                topic="family",
                note="n",
                phone=b"sealed-before-issue-21",
                status="done",
                created_at=utcnow(),
            )
        )
    legacy = await request_id(storage, "OLDC-0001")
    closed = await http.post(f"{API}/{legacy}/phone", headers=counsellor)
    assert closed.status_code == 409 and closed.json()["detail"].startswith("the request is closed")

    purged = await Safety(storage).purge(180)
    assert purged.contacts == 2, "the numbers count with the contacts the purge deleted"
    assert await phone_column(storage, old) is None and await phone_column(storage, legacy) is None
    assert await phone_column(storage, recent) is not None
    gone = {e.subject: (e.actor, e.detail) for e in await events(storage, "support.phone_deleted")}
    assert gone == {
        f"support:{old}": ("system", {"why": "retention"}),
        f"support:{legacy}": ("system", {"why": "closed"}),
    }

    expired = await http.post(f"{API}/{old}/phone", headers=counsellor)
    assert expired.status_code == 409, expired.text
    assert expired.json()["detail"] == "the number was deleted when the retention period ended"
    kept = await http.post(f"{API}/{recent}/phone", headers=counsellor)
    assert kept.status_code == 200 and kept.json()["phone"] == "03001000002"
    async with storage.reader.connect() as conn:
        status = await conn.scalar(select(support_requests.c.status).where(support_requests.c.id == old))
    assert status == "in_progress", "the request itself stays open for its counsellor"
    assert (await Safety(storage).purge(180)).contacts == 0, "a second purge finds nothing more"


# --- only the counsellor who took it -------------------------------------------------------------------


async def test_an_untaken_request_is_not_revealed_before_someone_takes_it(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str]
) -> None:
    _family, code = await ask_for_a_callback(http, "0312 3456789")
    number = await request_id(storage, code)
    counsellor = auth(tokens["counsellor"])
    refused = await http.post(f"{API}/{number}/phone", headers=counsellor)
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == (
        "take the request first: a number is shown only to the counsellor handling it"
    )
    assert await events(storage, REVEALED) == []

    taken = await http.post(f"{API}/{number}/take", headers=counsellor, json={})
    assert taken.status_code == 200, taken.text
    assert (taken.json()["status"], taken.json()["handled_by"]) == ("in_progress", "counsellor")
    again = await http.post(f"{API}/{number}/take", headers=counsellor)
    assert again.status_code == 200, "taking one's own again changes nothing"
    [event] = await events(storage, "support.taken")
    assert (event.actor, event.subject, event.detail) == ("counsellor", f"support:{number}", {})
    shown = await http.post(f"{API}/{number}/phone", headers=counsellor)
    assert shown.status_code == 200 and shown.json()["phone"] == "03123456789"
    missing = await http.post(f"{API}/424242/take", headers=counsellor)
    assert missing.status_code == 404
    for body in ({"to": 5}, {"to": ["counsellor"]}):
        assert (await http.post(f"{API}/{number}/take", headers=counsellor, json=body)).status_code == 400


async def test_a_colleague_can_neither_see_the_number_nor_take_the_request_over(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str], colleague: str
) -> None:
    number = await taken_by_counsellor(http, storage, tokens, "0345 7654321")
    other = auth(colleague)
    refused = await http.post(f"{API}/{number}/phone", headers=other)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"].startswith("counsellor has taken this request, so only they see")
    assert "7654321" not in refused.text
    for body in ({}, {"to": "counsellor2"}):
        taken = await http.post(f"{API}/{number}/take", headers=other, json=body)
        assert taken.status_code == 409, taken.text
        assert "only a supervisor or an admin can reassign it" in taken.json()["detail"]
    handed = await http.post(f"{API}/{number}/take", headers=other, json={"to": "counsellor"})
    assert handed.status_code == 403 and "only a supervisor or an admin" in handed.json()["detail"]
    overriding = await http.post(
        f"{API}/{number}/phone", headers=other, json={"override": True, "reason": "I know them"}
    )
    assert overriding.status_code == 403, "counsellors cannot override"
    assert "only a supervisor or an admin may override" in overriding.json()["detail"]

    # Writing to the family in the web chat does not take the request from its holder, nor its number.
    replied = await http.post(f"{API}/{number}/reply", headers=other, json={"text": "Salam"})
    assert replied.status_code == 200 and replied.json()["handled_by"] == "counsellor"
    assert (await http.post(f"{API}/{number}/phone", headers=other)).status_code == 403
    assert await events(storage, REVEALED) == [] and await events(storage, "support.reassigned") == []


async def test_a_supervisor_reassigns_and_sees_a_number_only_with_a_reason(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str], colleague: str
) -> None:
    number = await taken_by_counsellor(http, storage, tokens, "0321 5550001")
    supervisor = auth(tokens["supervisor"])
    url = f"{API}/{number}/take"
    for body, status, words in (
        ({}, 400, "to is required"),
        ({"to": "analyst"}, 400, "not the token name of an active counsellor"),
        ({"to": "nobody"}, 400, "not the token name of an active counsellor"),
    ):
        response = await http.post(url, headers=supervisor, json=body)
        assert response.status_code == status and words in response.json()["detail"], response.text
    assert (
        await http.post(url, headers=auth(tokens["analyst"]), json={"to": "counsellor2"})
    ).status_code == 403
    moved = await http.post(url, headers=supervisor, json={"to": "counsellor2"})
    assert moved.status_code == 200 and moved.json()["handled_by"] == "counsellor2", moved.text
    [event] = await events(storage, "support.reassigned")
    assert (event.actor, event.detail) == ("supervisor", {"from": "counsellor", "to": "counsellor2"})
    assert (await http.post(f"{API}/{number}/phone", headers=auth(tokens["counsellor"]))).status_code == 403
    shown = await http.post(f"{API}/{number}/phone", headers=auth(colleague))
    assert shown.status_code == 200 and shown.json()["phone"] == "03215550001"

    phone = f"{API}/{number}/phone"
    attempts: list[tuple[dict[str, object], int, str]] = [
        ({}, 403, "only with an override and a reason"),
        ({"override": False, "reason": "x"}, 403, "only with an override and a reason"),
        ({"override": True}, 400, "an override needs a reason"),
        ({"override": True, "reason": " \n "}, 400, "an override needs a reason"),
        ({"override": "yes", "reason": "urgent"}, 400, "override must be true or false"),
        ({"override": True, "reason": "x" * 501}, 400, "at most 500 characters"),
    ]
    for sent, status, words in attempts:
        response = await http.post(phone, headers=supervisor, json=sent)
        assert response.status_code == status and words in response.json()["detail"], (sent, response.text)
        assert "5550001" not in response.text
    assert len(await events(storage, REVEALED)) == 1

    reason = "The family called the helpline in distress; counsellor2 is off today."
    overridden = await http.post(phone, headers=supervisor, json={"override": True, "reason": f" {reason} "})
    assert overridden.status_code == 200, overridden.text
    assert overridden.json()["phone"] == "03215550001"
    assert overridden.json()["request"]["handled_by"] == "counsellor2", "an override takes nothing"
    assert overridden.json()["request"]["note"].endswith(
        f"number shown to supervisor (supervisor override): {reason}"
    ), "the counsellors see who looked and why"
    admin = await http.post(
        phone, headers=auth(tokens["admin"]), json={"override": True, "reason": "audit of a complaint"}
    )
    assert admin.status_code == 200
    details = [(e.actor, e.detail) for e in await events(storage, REVEALED)]
    assert details == [
        ("counsellor2", {}),
        ("supervisor", {"override": True, "reason_length": len(reason)}),
        ("admin", {"override": True, "reason_length": len("audit of a complaint")}),
    ]
    assert "5550001" not in await all_audit_text(storage)


# --- at most so many numbers an hour ------------------------------------------------------------------


async def test_the_eleventh_reveal_in_an_hour_is_refused_with_429(
    http: httpx.AsyncClient, storage: Storage, tokens: dict[str, str], colleague: str
) -> None:
    counsellor = auth(tokens["counsellor"])
    number = await taken_by_counsellor(http, storage, tokens, "0333 4440000")
    for _ in range(10):
        assert (await http.post(f"{API}/{number}/phone", headers=counsellor)).status_code == 200
    refused = await http.post(f"{API}/{number}/phone", headers=counsellor)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert 3500 < int(refused.headers["retry-after"]) <= 3600
    problem = refused.json()
    assert problem["status"] == 429 and problem["title"] == "Too many requests"
    assert problem["detail"].startswith(
        "you have seen 10 families' numbers in the last hour, the most allowed (10 an hour): try again in "
    )
    assert "4440000" not in refused.text and len(await events(storage, REVEALED)) == 10

    # Someone else's limit is their own.
    _family, code = await ask_for_a_callback(http, "0333 4440001")
    theirs = await request_id(storage, code)
    assert (await http.post(f"{API}/{theirs}/take", headers=auth(colleague))).status_code == 200
    assert (await http.post(f"{API}/{theirs}/phone", headers=auth(colleague))).status_code == 200

    # An hour after the first reveal, one more is allowed. (Moving an audited time breaks the audit
    # chain, which this test does not verify.)
    async with storage.writer.begin() as conn:
        first = await conn.scalar(
            select(audit_events.c.id).where(audit_events.c.action == REVEALED).order_by(audit_events.c.id)
        )
        await conn.execute(
            update(audit_events).where(audit_events.c.id == first).values(at=utcnow() - timedelta(minutes=61))
        )
    assert (await http.post(f"{API}/{number}/phone", headers=counsellor)).status_code == 200
    assert (await http.post(f"{API}/{number}/phone", headers=counsellor)).status_code == 429


async def test_reveals_sent_at_once_are_counted_one_after_the_other(
    settings: Settings, storage: Storage, tokens: dict[str, str]
) -> None:
    """On PostgreSQL writers run side by side: the limit holds for reveals of six requests sent together."""
    limited = create_app(settings.model_copy(update={"support_reveals_per_hour": 3}), storage)
    async with browser(limited) as http:
        numbers = [
            await taken_by_counsellor(http, storage, tokens, f"0300 999000{digit}") for digit in range(6)
        ]
        answers = await asyncio.gather(
            *(http.post(f"{API}/{number}/phone", headers=auth(tokens["counsellor"])) for number in numbers)
        )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 429, 429, 429]
    assert len(await events(storage, REVEALED)) == 3


# --- the console ---------------------------------------------------------------------------------------


async def test_the_console_takes_reassigns_overrides_and_refuses_past_the_limit(
    settings: Settings, storage: Storage, tokens: dict[str, str], colleague: str
) -> None:
    limited = create_app(settings.model_copy(update={"support_reveals_per_hour": 2}), storage)
    async with browser(limited) as http:
        _family, code = await ask_for_a_callback(http, "+92 301 2223334")
    number = await request_id(storage, code)
    counsellor = await sign_in(limited, tokens["counsellor"])
    other = await sign_in(limited, colleague)
    supervisor = await sign_in(limited, tokens["supervisor"])
    page = f"/console/support/{number}"
    try:
        listing = (await counsellor.get("/console/support")).text
        assert f'action="{page}/take"' in listing and f'action="{page}/phone"' not in listing
        before = (await counsellor.get(page)).text
        assert 'id="take-form"' in before and 'id="reveal-form"' not in before
        assert "The number is shown only to the counsellor handling the request: take it first." in before
        forged = await counsellor.http.post(f"{page}/take", data={"csrf": "0" * 64})
        assert forged.status_code == 403 and await events(storage, "support.taken") == []

        taken = await counsellor.post(f"{page}/take")
        assert taken.status_code == 303 and taken.headers["location"] == f"{page}?taken=1"
        after = (await counsellor.get(taken.headers["location"])).text
        assert "You handle this request now: only you can see its number." in after
        assert 'id="reveal-form"' in after and 'id="take-form"' not in after

        theirs = (await other.get(page)).text
        assert "counsellor handles this request: only they can see its number." in theirs
        assert 'id="take-form"' not in theirs and 'id="reveal-form"' not in theirs
        refused = await other.post(f"{page}/take")
        assert refused.status_code == 409 and "only a supervisor or an admin can reassign it" in refused.text
        peeked = await other.post(f"{page}/phone")
        assert peeked.status_code == 403 and NUMBER.search(peeked.text) is None

        for _ in range(2):
            shown = await counsellor.post(f"{page}/phone")
            assert NUMBER.findall(shown.text) == ["+923012223334"]
        limit = await counsellor.post(f"{page}/phone")
        assert limit.status_code == 429 and NUMBER.search(limit.text) is None
        assert "you have seen 2 families&#39; numbers in the last hour, the most allowed (2 an hour)" in (
            limit.text
        )
        assert 1 <= int(limit.headers["retry-after"]) <= 3600

        # A supervisor opens the request (not the list), gives it to a colleague, and overrides.
        assert (await supervisor.get("/console/support")).status_code == 403
        seen = (await supervisor.get(page)).text
        assert 'id="assign-form"' in seen and 'id="override-form"' in seen
        assert '<option value="counsellor2">counsellor2</option>' in seen and 'id="reply-form"' not in seen
        moved = await supervisor.post(f"{page}/take", {"to": "counsellor2"})
        assert moved.status_code == 303, moved.text
        assert (
            "counsellor2 handles this request now." in (await supervisor.get(moved.headers["location"])).text
        )
        no_reason = await supervisor.post(f"{page}/phone", {"override": "1", "reason": "  "})
        assert no_reason.status_code == 400 and "an override needs a reason" in no_reason.text
        assert NUMBER.search(no_reason.text) is None
        overridden = await supervisor.post(f"{page}/phone", {"override": "1", "reason": "family in danger"})
        assert overridden.status_code == 200, overridden.text
        assert NUMBER.findall(overridden.text) == ["+923012223334"]
        assert overridden.headers["cache-control"] == "no-store"
        assert "number shown to supervisor (supervisor override): family in danger" in overridden.text
        assert [e.detail for e in await events(storage, REVEALED)] == [
            {},
            {},
            {"override": True, "reason_length": len("family in danger")},
        ]
        mine_now = (await other.get(page)).text
        assert 'id="reveal-form"' in mine_now, "the colleague it was given to may see it"
    finally:
        for client in (counsellor, other, supervisor):
            await client.aclose()
