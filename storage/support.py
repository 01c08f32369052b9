"""Families' callback requests (the counsellors' queue) and weekly-digest subscriptions.

The `*_in` functions run inside `Storage.commit_turn`'s transaction, so a request or a subscription is
stored together with the turn that made it, or not at all. Phone numbers arrive sealed and stay sealed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit
from storage import outbox as outbox_
from storage.locking import lock_row
from storage.records import NewSupportRequest, OutboxPayload, message
from storage.refusal import Conflict, Invalid, NotFound, Refused
from storage.schema import cases, contacts, outbox, reports, subscriptions, support_requests

if TYPE_CHECKING:
    from storage.repository import Storage

STATUSES = ("new", "in_progress", "done")  # a callback request's life; "done" when a counsellor closes it
MAX_REPLY = 2_000  # a counsellor's message in the family's chat (Messenger's limit is 2,000 characters)
MAX_CLOSING_NOTE = 2_000
DIGEST_KIND = "digest"
COUNSELLOR_KIND = "counsellor"
PER_SECOND = 25  # digests handed to the channels a second (Telegram allows about 30 to many chats)
PAKISTAN = timezone(timedelta(hours=5))
REFERRED = ("referred", "escalated")  # "pages referred": to the platform or to investigators
# Channels whose page fetches its own messages (the web chat polls GET /webchat/api/messages): a reply
# needs the request's conversation only. Telegram and Messenger are pushed to the sealed address that
# the family's "Reply here" kept in `contacts`.
PULLED = ("webchat",)
FORGOTTEN = "the family's chat link is gone: they asked us to delete their data"


def utcnow() -> datetime:
    return datetime.now(UTC)


async def add_request_in(conn: AsyncConnection, request: NewSupportRequest, now: datetime) -> bool:
    """Queue a callback request; False when its code is already used by a report or a request."""
    for column in (reports.c.code, support_requests.c.code):
        if await conn.scalar(select(column).where(column == request.code)) is not None:
            return False
    await conn.execute(
        support_requests.insert().values(
            code=request.code,
            language=request.language,
            topic=request.topic,
            note=request.note,
            phone=request.phone,
            status="new",
            created_at=now,
            conversation_id=request.conversation_id,
            channel=request.channel,
        )
    )
    return True


async def subscribe_in(
    conn: AsyncConnection, conversation_id: str, channel: str, language: str, now: datetime
) -> None:
    """One digest per conversation and channel: subscribing in another language moves it there."""
    mine = (subscriptions.c.conversation_id == conversation_id) & (subscriptions.c.channel == channel)
    await conn.execute(delete(subscriptions).where(mine, subscriptions.c.language != language))
    if await conn.scalar(select(subscriptions.c.id).where(mine)) is None:
        await conn.execute(
            subscriptions.insert().values(
                conversation_id=conversation_id, channel=channel, language=language, created_at=now
            )
        )


async def unsubscribe_in(conn: AsyncConnection, conversation_id: str, channel: str) -> None:
    """Stop the digest here, including a digest queued but not delivered yet."""
    await conn.execute(
        delete(subscriptions).where(
            subscriptions.c.conversation_id == conversation_id, subscriptions.c.channel == channel
        )
    )
    await conn.execute(
        delete(outbox).where(
            outbox.c.conversation_id == conversation_id,
            outbox.c.channel == channel,
            outbox.c.kind == DIGEST_KIND,
            outbox.c.status == "pending",
        )
    )


async def forget_in(conn: AsyncConnection, conversation_id: str) -> None:
    """ "Forget me": subscriptions go; callback requests stay for counsellors without phone or chat link."""
    await conn.execute(delete(subscriptions).where(subscriptions.c.conversation_id == conversation_id))
    await conn.execute(
        update(support_requests)
        .where(support_requests.c.conversation_id == conversation_id)
        .values(phone=None, conversation_id=None, channel=None)
    )


def with_reach(query: Select[Any]) -> Select[Any]:
    """`query` over support_requests, with the family's kept contact (if any) for the request's chat."""
    return query.add_columns(
        contacts.c.id.label("contact_id"), contacts.c.unreachable_at.label("contact_unreachable_at")
    ).select_from(
        support_requests.outerjoin(
            contacts,
            and_(
                contacts.c.reporter_id == support_requests.c.conversation_id,
                contacts.c.channel == support_requests.c.channel,
            ),
        )
    )


def reply_refusal(row: Mapping[str, Any]) -> str | None:
    """Why a counsellor's message cannot reach the family now (a row of `with_reach`); None if it can.

    The web chat fetches its messages, so its conversation is enough. Telegram and Messenger need the
    sealed address kept when the family chose "Reply here", until the request is closed, the retention
    purge or "delete my data" removes it, or the platform says the chat is gone (unreachable).
    """
    if row["conversation_id"] is None or row["channel"] is None:
        return FORGOTTEN
    if row["channel"] in PULLED:
        return None
    if row["status"] == "done":
        return (
            "the request is closed: a way to write to the family in their chat is kept only while it is open"
        )
    if row.get("contact_id") is None:
        if row["phone"] is not None:
            return "the family asked for a phone call, so no way to write to them in their chat is kept"
        return "no way to write to the family in their chat is kept any more: the retention period ended"
    if row.get("contact_unreachable_at") is not None:
        return "the family's chat cannot be reached any more: they blocked the bot or left the platform"
    return None


async def _reply_in(conn: AsyncConnection, code: str, text: str, by: str) -> str | None:
    """Queue the reply if it can be delivered; None when queued, else why not (unknown code included)."""
    now = utcnow()
    query = with_reach(select(support_requests)).where(support_requests.c.code == code).limit(1)
    if conn.dialect.name == "postgresql":  # a close or "delete my data" at the same time waits, or wins
        query = query.with_for_update(of=support_requests)
    row = (await conn.execute(query)).first()
    if row is None:
        return f"no support request {code}"
    refusal = reply_refusal(row._mapping)
    if refusal is not None:
        return refusal
    await outbox_.enqueue(conn, row.conversation_id, row.channel, COUNSELLOR_KIND, message(text), now)
    await conn.execute(
        update(support_requests)
        .where(support_requests.c.id == row.id)
        .values(status="in_progress", handled_by=by, handled_at=now)
    )
    await audit.append(conn, now, by, "support.replied", f"support:{row.id}", {"length": len(text)})
    return None


async def reply_to_request(storage: Storage, code: str, text: str, by: str) -> bool:
    """Queue a counsellor's message to the family that asked, in their chat; False if it cannot reach them
    (no chat link, no kept address on Telegram or Messenger, an unreachable chat: see reply_refusal).

    For the console and API to call; the request moves to in_progress and the reply is audited.
    """
    async with storage.db.transaction() as conn:
        return await _reply_in(conn, code, text, by) is None


async def release_contacts_in(
    conn: AsyncConnection, conversation_id: str | None = None, channel: str | None = None
) -> int:
    """Delete the chat addresses kept only for families' replies whose requests are all closed.

    "Reply here" keeps the address until the request is closed (responses/family.yaml says so). It
    stays while anything else may still need it: another open chat request, a digest subscription, a
    report sent from that chat (whose updates the citizen may have asked for; the contact does not say
    why it was kept, so it stays until retention), or a message still being delivered (the retention
    purge releases it later). With `conversation_id` and `channel`, only that chat; how many went.
    """
    sr = support_requests
    mine = and_(sr.c.conversation_id == contacts.c.reporter_id, sr.c.channel == contacts.c.channel)
    chat_requests = and_(mine, sr.c.phone.is_(None))
    stmt = delete(contacts).where(
        exists().where(chat_requests, sr.c.status == "done"),
        ~exists().where(chat_requests, sr.c.status != "done"),
        ~exists().where(
            subscriptions.c.conversation_id == contacts.c.reporter_id,
            subscriptions.c.channel == contacts.c.channel,
        ),
        ~exists().where(
            reports.c.reporter_id == contacts.c.reporter_id, reports.c.channel == contacts.c.channel
        ),
        ~exists().where(
            outbox.c.conversation_id == contacts.c.reporter_id,
            outbox.c.channel == contacts.c.channel,
            outbox.c.status == "pending",
        ),
    )
    if conversation_id is not None and channel is not None:
        stmt = stmt.where(contacts.c.reporter_id == conversation_id, contacts.c.channel == channel)
    return int((await conn.execute(stmt)).rowcount or 0)


# Every refusal of a counsellor's action (storage.refusal's kinds).
SupportError = Refused


@dataclass(frozen=True, slots=True)
class Revealed:
    phone: str
    request: dict[str, Any]


def request_item(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A callback request as counsellors see it: never the sealed number, never the chat link itself.

    `row` comes from `with_reach`: `can_reply` says whether a message can reach the family now, and
    `reply_refusal` why not.
    """
    refusal = reply_refusal(row)
    return {
        "id": row["id"],
        "code": row["code"],
        "language": row["language"],
        "topic": row["topic"],
        "note": row["note"],
        "has_phone": row["phone"] is not None,
        "can_reply": refusal is None,
        "reply_refusal": refusal,
        "status": row["status"],
        "created_at": audit.as_utc(row["created_at"]).isoformat(),
        "handled_by": row["handled_by"],
        "handled_at": audit.as_utc(row["handled_at"]).isoformat() if row["handled_at"] else None,
    }


async def _item(conn: AsyncConnection, request_id: int) -> dict[str, Any]:
    row = (
        await conn.execute(with_reach(select(support_requests)).where(support_requests.c.id == request_id))
    ).first()
    if row is None:
        raise NotFound(f"no support request {request_id}")
    return request_item(row._mapping)


async def get_request(storage: Storage, request_id: int) -> dict[str, Any]:
    async with storage.db.read() as conn:
        return await _item(conn, request_id)


async def _locked(conn: AsyncConnection, request_id: int) -> Any:
    row = await lock_row(conn, support_requests, request_id)
    if row is None:
        raise NotFound(f"no support request {request_id}")
    return row


async def reveal_phone(
    storage: Storage, request_id: int, by: str, unseal: Callable[[bytes], str | None]
) -> Revealed:
    """The number a family gave, for the counsellor `by` to call back; audited, in the same transaction.

    `unseal` opens the sealed number (the app's AddressBox.open); storage never holds the key. The audit
    event names who looked and when, never the number; nothing is shown unless the event is committed. A
    new request moves to in_progress under `by`, so other counsellors see someone is calling.
    """
    now = utcnow()
    async with storage.db.transaction() as conn:
        row = await _locked(conn, request_id)
        if row.phone is None:
            if row.conversation_id is not None and row.channel is not None:
                raise Conflict("the family gave no phone number: reply in their chat instead")
            raise Conflict(
                "no phone number is kept for this request: none was given, "
                "or the family asked us to delete their data",
            )
        phone = unseal(row.phone)
        if phone is None:
            raise Conflict(
                "the number cannot be unsealed: it was sealed under a secret key no longer configured"
            )
        values: dict[str, Any] = {}
        if row.status == "new":
            values = {"status": "in_progress", "handled_by": by, "handled_at": now}
            await conn.execute(
                update(support_requests).where(support_requests.c.id == row.id).values(**values)
            )
        await audit.append(conn, now, by, "support.phone_revealed", f"support:{row.id}", {})
        item = await _item(conn, row.id)
    return Revealed(phone, item)


def clean_reply(text: object) -> str:
    """A counsellor's message, stripped: 1 to MAX_REPLY characters."""
    if not isinstance(text, str):
        raise Invalid("text is a required string")
    text = text.strip()
    if not 0 < len(text) <= MAX_REPLY:
        raise Invalid(f"a reply has 1 to {MAX_REPLY} characters")
    return text


async def reply(storage: Storage, request_id: int, text: object, by: str) -> dict[str, Any]:
    """Write to the family in the chat they asked from; the request as it is then.

    409 with the reason (reply_refusal) when the message could not reach them: never a 200 for a
    message that no channel can deliver.
    """
    message = clean_reply(text)
    found = await get_request(storage, request_id)
    async with storage.db.transaction() as conn:
        refusal = await _reply_in(conn, found["code"], message, by)
    if refusal is not None:
        raise Conflict(refusal)
    return await get_request(storage, request_id)


async def close_request(storage: Storage, request_id: int, by: str, note: object = None) -> dict[str, Any]:
    """Mark a request done; a closing note is kept with the request's note, the audit holds its length."""
    if note is not None and not isinstance(note, str):
        raise Invalid("note must be a string")
    note = (note or "").strip()
    if len(note) > MAX_CLOSING_NOTE:
        raise Invalid(f"a closing note has at most {MAX_CLOSING_NOTE} characters")
    now = utcnow()
    async with storage.db.transaction() as conn:
        row = await _locked(conn, request_id)
        if row.status == "done":
            raise Conflict(f"support request {request_id} is closed already")
        values: dict[str, Any] = {"status": "done", "handled_by": by, "handled_at": now}
        if note:
            values["note"] = f"{row.note}\nclosed by {by}: {note}" if row.note else f"closed by {by}: {note}"
        await conn.execute(update(support_requests).where(support_requests.c.id == row.id).values(**values))
        if row.conversation_id is not None and row.channel is not None:
            await release_contacts_in(conn, row.conversation_id, row.channel)
        await audit.append(conn, now, by, "support.closed", f"support:{row.id}", {"note_length": len(note)})
        return await _item(conn, row.id)


def iso_week(day: date) -> str:
    """The ISO week of `day`, as "2026-W03"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


async def queue_digest(
    storage: Storage, week: str, render: Callable[[str], Mapping[str, Any]], batch: int = 500
) -> int:
    """Queue this week's digest once for every subscriber not sent it this week; how many were queued.

    Idempotent: each subscription is marked with the week in the same transaction as its outbox row, so a
    second run (or a concurrent one) queues nothing twice. Sends are spread at PER_SECOND a second.
    """
    payloads: dict[str, OutboxPayload] = {}
    queued = 0
    due = (subscriptions.c.last_week.is_(None)) | (subscriptions.c.last_week != week)
    while True:
        now = utcnow()
        async with storage.db.transaction() as conn:
            rows = (
                await conn.execute(
                    select(
                        subscriptions.c.id,
                        subscriptions.c.conversation_id,
                        subscriptions.c.channel,
                        subscriptions.c.language,
                    )
                    .where(due)
                    .order_by(subscriptions.c.id)
                    .limit(batch)
                )
            ).all()
            for row in rows:
                claimed = await conn.execute(
                    update(subscriptions)
                    .where(subscriptions.c.id == row.id, due)
                    .values(last_week=week)
                    .returning(subscriptions.c.id)
                )
                if claimed.first() is None:
                    continue
                if row.language not in payloads:
                    card = render(row.language)
                    payloads[row.language] = message(str(card["text"]), list(card.get("buttons") or []))
                payload = payloads[row.language]
                await outbox_.enqueue(
                    conn,
                    row.conversation_id,
                    row.channel,
                    DIGEST_KIND,
                    payload,
                    now,
                    not_before=now + timedelta(seconds=queued // PER_SECOND),
                )
                queued += 1
        if len(rows) < batch:
            return queued


async def subscriber_count(storage: Storage) -> int:
    async with storage.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(subscriptions)) or 0)


def month_start(now: datetime) -> datetime:
    """The start of `now`'s month in Pakistan time (UTC+5, no daylight saving), in UTC."""
    local = now.astimezone(PAKISTAN).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)


async def month_numbers(storage: Storage, now: datetime | None = None) -> tuple[int, int, int]:
    """This month: (reports received, pages referred for action, pages still monitored)."""
    start = month_start(now or utcnow())
    async with storage.db.read() as conn:
        received = await conn.scalar(
            select(func.count()).select_from(reports).where(reports.c.created_at >= start)
        )
        referred = await conn.scalar(
            select(func.count())
            .select_from(cases)
            .where(cases.c.status.in_(REFERRED), cases.c.decided_at >= start)
        )
        monitored = await conn.scalar(
            select(func.count()).select_from(cases).where(cases.c.status == "monitoring")
        )
    return int(received or 0), int(referred or 0), int(monitored or 0)
