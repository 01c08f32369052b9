"""Reporter safety: forget-me, pseudonyms, and nothing identifying in the database or the logs."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.dialogue import ForgetMe
from responses import catalog
from storage.repository import Storage
from storage.safety import Safety
from storage.schema import contacts, conversations, outbox, reporters, reports, support_requests
from storage.tokens import Tokens
from tests.talk import Talk
from tests.test_webchat import CODE, WebChat


def test_forgetting_needs_a_confirmation() -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:ur-Latn")
    talk.press("menu:privacy")
    assert catalog().text("privacy.retention", "ur-Latn", days=180) in talk.said
    talk.press("forget:ask")
    assert talk.state.offered == ["forget:yes", "forget:no"]
    talk.press("forget:no")
    assert not any(isinstance(e, ForgetMe) for e in talk.effects)
    talk.press("menu:privacy")
    talk.press("forget:ask")
    outcome = talk.press("forget:yes")
    assert ForgetMe() in outcome.effects
    assert talk.said.startswith(catalog().text("privacy.forgotten", "ur-Latn"))


@pytest.mark.parametrize(
    "typed", ["please delete my data", "Mera data mita do", "میرا ڈیٹا مٹا دیں", "forget me"]
)
def test_delete_my_data_in_any_language_asks_to_confirm(typed: str) -> None:
    talk = Talk()
    talk.send("/start")
    talk.press("lang:en")
    talk.send(typed)
    assert talk.state.offered == ["forget:yes", "forget:no"]
    talk.send("yes")
    assert any(isinstance(e, ForgetMe) for e in talk.effects)


async def report_with_updates(client: httpx.AsyncClient, link: str) -> tuple[WebChat, str]:
    chat = WebChat(client)
    for step in (
        {"text": "/start"},
        {"choice": "lang:en"},
        {"choice": "menu:report"},
        {"text": link},
        {"choice": "cat:recruitment"},
        {"choice": "confirm:submit"},
    ):
        if "choice" in step:  # a button the last answer offered
            await chat.press(step["choice"])
        else:
            await chat.send(**step)  # type: ignore[arg-type]
    code = CODE.search(chat.said)
    assert code
    await chat.send(choice="updates:yes")
    return chat, code.group(1)


async def test_a_forgotten_citizen_gets_nothing_more_and_reports_stay(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat, code = await report_with_updates(client, "https://t.me/forget_case")
    async with storage.reader.connect() as conn:
        assert await conn.scalar(select(reports.c.reporter_id).where(reports.c.code == code)) is not None
        assert len((await conn.execute(select(contacts))).all()) == 1
    await chat.send(choice="menu:privacy")
    await chat.send(choice="forget:ask")
    await chat.send(choice="forget:yes")
    assert chat.said.startswith(catalog().text("privacy.forgotten", "en"))
    async with storage.reader.connect() as conn:
        assert await conn.scalar(select(reports.c.reporter_id).where(reports.c.code == code)) is None
        assert (await conn.execute(select(contacts))).all() == []
        assert (await conn.execute(select(reporters))).all() == []
        assert (await conn.execute(select(conversations))).all() == []

    token = await Tokens(storage).create("analyst", "analyst")
    headers = {"Authorization": f"Bearer {token}"}
    [case] = (await client.post("/api/v1/queue/claim", headers=headers, json={})).json()["items"]
    decided = await client.post(
        f"/api/v1/cases/{case['id']}/decision",
        headers=headers,
        json={"status": "referred", "agency": "platform", "note": "sent"},
    )
    assert decided.json()["notified"] == 0
    assert (await client.get("/webchat/api/messages", params={"session": chat.session})).json()[
        "messages"
    ] == []
    async with storage.reader.connect() as conn:
        assert (await conn.execute(select(outbox))).all() == []
    status = WebChat(client)
    await status.send(f"status {code}")
    assert "Action was taken on" in status.said  # the report lives on, anonymous


async def test_the_database_and_logs_hold_no_raw_ids_or_chat_text(
    client: httpx.AsyncClient,
    storage: Storage,
    settings: object,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    if storage.dialect != "sqlite":
        pytest.skip("reads the SQLite file directly")
    caplog.set_level("INFO")  # the level `raabta serve` logs at
    session = "sess-" + uuid.uuid4().hex
    private = "my-private-greeting-" + uuid.uuid4().hex[:8]
    chat = WebChat(client, session)
    await chat.send(private)
    _, code = await report_with_updates(client, "https://facebook.com/private.test.page")
    chat2 = WebChat(client, session)
    await chat2.send("/start")
    await storage.close()  # flush the WAL into the file
    database = Path(storage.url.split("///", 1)[1])
    blobs = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert session.encode() not in blobs
    assert private.encode() not in blobs
    assert code.encode() in blobs  # the report itself is kept
    logged = "\n".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records)
    assert session not in logged and private not in logged and "private.test.page" not in logged


# --- families: "Reply here" keeps the chat address, a phone callback keeps none -------------------------
# No test here asserted that a family's request keeps no contact: "Reply here" always kept the address
# (KeepContact). The texts now say so, and for how long; these tests hold the code to those words.


async def family_asks_for_a_reply_here(chat: WebChat) -> str:
    await chat.send("my son is being drawn to militant preachers")
    await chat.send(choice="family:callback")
    await chat.send(choice="support:yes")
    await chat.send(choice="time:any")
    await chat.send(choice="support:chat")
    code = CODE.search(chat.said)
    assert code, chat.said
    return code.group(1)


async def kept_contacts(storage: Storage) -> int:
    async with storage.reader.connect() as conn:
        return len((await conn.execute(select(contacts))).all())


async def support_id(storage: Storage, code: str) -> int:
    async with storage.reader.connect() as conn:
        found = await conn.scalar(select(support_requests.c.id).where(support_requests.c.code == code))
    assert found is not None
    return int(found)


async def test_reply_here_keeps_the_chat_address_until_the_request_is_closed(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    """family.ask_phone: "until your request is closed or for {days} days at most"; a reply still on its
    way when the request is closed keeps it until delivered, and the purge lets it go after that."""
    chat = WebChat(client)
    code = await family_asks_for_a_reply_here(chat)
    assert await kept_contacts(storage) == 1
    counsellor = {"Authorization": f"Bearer {await Tokens(storage).create('c', 'counsellor')}"}
    number = await support_id(storage, code)
    api = f"/api/v1/support-requests/{number}"
    assert (await client.post(f"{api}/reply", headers=counsellor, json={"text": "Salam"})).status_code == 200
    assert (await client.post(f"{api}/close", headers=counsellor, json={})).status_code == 200
    assert await kept_contacts(storage) == 1, "the reply has not left yet"
    assert (await Safety(storage).purge(180)).contacts == 0
    pulled = await client.get("/webchat/api/messages", params={"session": chat.session})
    assert [m["text"] for m in pulled.json()["messages"]] == ["Salam"]
    assert (await Safety(storage).purge(180)).contacts == 1
    assert await kept_contacts(storage) == 0


async def test_closing_a_request_keeps_an_address_also_given_for_report_updates_until_forget_me(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat, _ = await report_with_updates(client, "https://t.me/family_and_report")
    code = await family_asks_for_a_reply_here(chat)
    assert await kept_contacts(storage) == 1, "one address per chat, for both"
    counsellor = {"Authorization": f"Bearer {await Tokens(storage).create('c', 'counsellor')}"}
    closed = await client.post(
        f"/api/v1/support-requests/{await support_id(storage, code)}/close", headers=counsellor, json={}
    )
    assert closed.status_code == 200
    await Safety(storage).purge(180)
    assert await kept_contacts(storage) == 1, "the report's updates may still need it"
    await chat.send(choice="menu:privacy")
    await chat.send(choice="forget:ask")
    await chat.send(choice="forget:yes")
    assert await kept_contacts(storage) == 0


async def test_a_phone_callback_keeps_no_chat_address(client: httpx.AsyncClient, storage: Storage) -> None:
    family = WebChat(client)
    await family.send("my son is being drawn to militant preachers")
    await family.send(choice="family:callback")
    await family.send(choice="support:yes")
    await family.send(choice="time:morning")
    await family.send("0301 7654321")
    assert CODE.search(family.said)
    assert await kept_contacts(storage) == 0
