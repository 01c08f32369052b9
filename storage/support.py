"""Families' callback requests (the counsellors' queue) and weekly-digest subscriptions.

The `*_in` functions run inside `Storage.commit_turn`'s transaction, so a request or a subscription is
stored together with the turn that made it, or not at all. Phone numbers arrive sealed and stay sealed,
and they are deleted when the request closes or the retention period ends, whichever comes first.

Who may see a number: the counsellor who took the request (`take`), or a supervisor or admin who says
why (an override, audited with the reason's length and kept in the request's note); at most
`per_hour` reveals an hour for anyone, counted from the audit log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from math import ceil
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import audit
from storage import outbox as outbox_
from storage.locking import lock_row
from storage.records import NewSupportRequest, OutboxPayload, message
from storage.refusal import Conflict, Invalid, NotAllowed, NotFound, Refused, TooMany
from storage.schema import (
    api_tokens,
    audit_events,
    cases,
    contacts,
    outbox,
    reports,
    subscriptions,
    support_requests,
)

if TYPE_CHECKING:
    from storage.repository import Storage
    from storage.tokens import Principal

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
COUNSELLOR = "counsellor"
OVERRIDERS = ("supervisor", "admin")  # may give a request to a counsellor, and see a number saying why
REVEALS_PER_HOUR = 10  # the default of RAABTA_SUPPORT_REVEALS_PER_HOUR
MAX_OVERRIDE_REASON = 500
REVEALED = "support.phone_revealed"
PHONE_DELETED = "support.phone_deleted"  # detail {"why": "closed" | "retention"}: the reveal says why
HOUR = timedelta(hours=1)
PHONE_GONE = {
    "closed": "the number was deleted when the request was closed",
    "retention": "the number was deleted when the retention period ended",
}


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
    if row.status != "in_progress" or row.handled_by in (None, by):
        # Replying to a request nobody holds takes it; a colleague's stays theirs, and so does its number.
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

    For the console and API to call; the request moves to in_progress (taken by `by` unless a colleague
    holds it) and the reply is audited.
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


async def expire_phones_in(conn: AsyncConnection, cutoff: datetime) -> int:
    """Delete the sealed numbers of requests made before `cutoff` (the retention purge), and of requests
    closed before numbers were deleted at closing; how many.

    Open or closed, no family's number is kept past the retention period; nothing else about the request
    changes (its note, status and holder stay). Each deletion is audited (PHONE_DELETED, with why) so a
    counsellor who asks for the number is told why it is gone.
    """
    sr = support_requests
    gone = (
        await conn.execute(
            update(sr)
            .where(sr.c.phone.is_not(None), (sr.c.created_at < cutoff) | (sr.c.status == "done"))
            .values(phone=None)
            .returning(sr.c.id, sr.c.status)
        )
    ).all()
    events = [
        (f"support:{row.id}", {"why": "closed" if row.status == "done" else "retention"})
        for row in sorted(gone)
    ]
    await audit.append_many(conn, utcnow(), "system", PHONE_DELETED, events)
    return len(gone)


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
        "has_phone": row["phone"] is not None and row["status"] != "done",
        "can_reply": refusal is None,
        "reply_refusal": refusal,
        "status": row["status"],
        "created_at": audit.as_utc(row["created_at"]).isoformat(),
        "handled_by": row["handled_by"],
        "handled_at": audit.as_utc(row["handled_at"]).isoformat() if row["handled_at"] else None,
    }


def phone_refusal(row: Mapping[str, Any], deleted: str | None) -> str | None:
    """Why no number can be shown for this request; None while one is kept.

    `deleted` is the reason audited when the number was deleted (PHONE_DELETED): the row alone cannot tell
    a number deleted at closing or by the retention purge from a request that never had one.
    """
    if row["phone"] is not None:
        return None
    if deleted in PHONE_GONE:
        return PHONE_GONE[deleted]
    if row["conversation_id"] is None or row["channel"] is None:
        return (
            "no phone number is kept for this request: none was given, "
            "or the family asked us to delete their data"
        )
    return "the family gave no phone number: reply in their chat instead"


async def _phone_deleted(conn: AsyncConnection, request_id: int) -> str | None:
    """Why this request's number was deleted ("closed", "retention"), from the audit log; None if never."""
    detail = await conn.scalar(
        select(audit_events.c.detail)
        .where(audit_events.c.action == PHONE_DELETED, audit_events.c.subject == f"support:{request_id}")
        .order_by(audit_events.c.id.desc())
        .limit(1)
    )
    return str(detail.get("why")) if isinstance(detail, dict) else None


async def _item(conn: AsyncConnection, request_id: int) -> dict[str, Any]:
    """One request as counsellors see it, with `phone_refusal`: why no number can be shown, if none can
    (lists leave it out: it needs the audit log)."""
    row = (
        await conn.execute(with_reach(select(support_requests)).where(support_requests.c.id == request_id))
    ).first()
    if row is None:
        raise NotFound(f"no support request {request_id}")
    item = request_item(row._mapping)
    deleted = None if row.phone is not None else await _phone_deleted(conn, request_id)
    item["phone_refusal"] = phone_refusal(row._mapping, deleted)
    return item


async def get_request(storage: Storage, request_id: int) -> dict[str, Any]:
    async with storage.db.read() as conn:
        return await _item(conn, request_id)


async def _locked(conn: AsyncConnection, request_id: int) -> Any:
    row = await lock_row(conn, support_requests, request_id)
    if row is None:
        raise NotFound(f"no support request {request_id}")
    return row


def holder(row: Any) -> str | None:
    """Who handles the request now: the counsellor who took it (or replied first), while it is open."""
    return str(row.handled_by) if row.status == "in_progress" and row.handled_by else None


async def _is_counsellor(conn: AsyncConnection, name: str) -> bool:
    found = await conn.scalar(
        select(api_tokens.c.id).where(
            api_tokens.c.name == name, api_tokens.c.role == COUNSELLOR, api_tokens.c.revoked_at.is_(None)
        )
    )
    return found is not None


async def take(storage: Storage, request_id: int, who: Principal, to: object = None) -> dict[str, Any]:
    """A counsellor takes a request to handle it; a supervisor or an admin gives it to a counsellor (`to`).

    Only the counsellor holding a request sees its number, so one held by a colleague cannot be taken:
    a supervisor reassigns it (when the holder is away, say), audited as "support.reassigned" with who had
    it. Taking is audited as "support.taken"; taking one's own again changes nothing.
    """
    if to is not None and not isinstance(to, str):
        raise Invalid("to must be a counsellor's token name")
    target = to.strip() if isinstance(to, str) and to.strip() else None
    if who.role == COUNSELLOR:
        if target not in (None, who.name):
            raise NotAllowed("only a supervisor or an admin may give a request to someone else")
        target = who.name
    elif who.role not in OVERRIDERS:
        raise NotAllowed(f"the {who.role} role may not take support requests")
    elif target is None:
        raise Invalid("to is required: the token name of the counsellor to give the request to")
    now = utcnow()
    async with storage.db.transaction() as conn:
        row = await _locked(conn, request_id)
        if row.status == "done":
            raise Conflict(f"support request {request_id} is closed")
        had = holder(row)
        if had == target:
            return await _item(conn, row.id)
        if who.role == COUNSELLOR and had is not None:
            raise Conflict(f"{had} has taken this request: only a supervisor or an admin can reassign it")
        if who.role != COUNSELLOR and not await _is_counsellor(conn, target):
            raise Invalid(f"{target!r} is not the token name of an active counsellor")
        await conn.execute(
            update(support_requests)
            .where(support_requests.c.id == row.id)
            .values(status="in_progress", handled_by=target, handled_at=now)
        )
        subject = f"support:{row.id}"
        if who.role == COUNSELLOR:
            await audit.append(conn, now, who.name, "support.taken", subject, {})
        else:
            moved = {"from": had, "to": target}
            await audit.append(conn, now, who.name, "support.reassigned", subject, moved)
        return await _item(conn, row.id)


def override_reason(who: Principal, override: object, reason: object) -> str | None:
    """The reason of a supervisor's or admin's override, stripped; None when there is no override."""
    if override is None or override is False:
        return None
    if override is not True:
        raise Invalid("override must be true or false")
    if who.role not in OVERRIDERS:
        raise NotAllowed("only a supervisor or an admin may override: take the request to see its number")
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid("an override needs a reason: say why you need this family's number")
    reason = reason.strip()
    if len(reason) > MAX_OVERRIDE_REASON:
        raise Invalid(f"a reason has at most {MAX_OVERRIDE_REASON} characters")
    return reason


def _may_see(row: Any, who: Principal) -> None:
    """Refuse a reveal without override to anyone but the counsellor holding the request."""
    had = holder(row)
    if who.role == COUNSELLOR and had == who.name:
        return
    if who.role in OVERRIDERS:
        raise NotAllowed(
            f"a {who.role} sees a family's number only with an override and a reason "
            "(the reason is kept in the request's note, the override in the audit log)"
        )
    if had is None:
        raise Conflict("take the request first: a number is shown only to the counsellor handling it")
    raise NotAllowed(
        f"{had} has taken this request, so only they see the number: "
        "a supervisor can reassign it, or see the number with an override"
    )


async def _within_limit(conn: AsyncConnection, actor: str, per_hour: int, now: datetime) -> None:
    """Refuse (TooMany) a reveal past `per_hour` reveals by `actor` in the last hour, as the audit log has
    them. On PostgreSQL the actor's token row is locked first, so two reveals at once are counted one
    after the other (SQLite's single writer already serialises them)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(api_tokens.c.id).where(api_tokens.c.name == actor).with_for_update())
    times = list(
        await conn.scalars(
            select(audit_events.c.at)
            .where(
                audit_events.c.actor == actor,
                audit_events.c.action == REVEALED,
                audit_events.c.at > now - HOUR,
            )
            .order_by(audit_events.c.at)
        )
    )
    if len(times) < per_hour:
        return
    # Allowed again when enough of the hour's reveals have left the window to be under the limit.
    frees = audit.as_utc(times[len(times) - per_hour]) + HOUR
    wait = max(1, ceil((frees - now).total_seconds()))
    minutes = ceil(wait / 60)
    raise TooMany(
        f"you have seen {len(times)} families' numbers in the last hour, the most allowed "
        f"({per_hour} an hour): try again in {minutes} minute{'s' if minutes != 1 else ''}",
        wait,
    )


async def reveal_phone(
    storage: Storage,
    request_id: int,
    who: Principal,
    unseal: Callable[[bytes], str | None],
    *,
    override: object = False,
    reason: object = None,
    per_hour: int = REVEALS_PER_HOUR,
) -> Revealed:
    """The number a family gave, for the counsellor handling the request to call back; audited, in the
    same transaction.

    Only the counsellor who took the request sees it; a supervisor or an admin may with `override` and a
    `reason` (kept in the request's note, so the counsellors see who looked and why; the audit holds its
    length). Anyone sees at most `per_hour` numbers an hour. `unseal` opens the sealed number (the app's
    AddressBox.open); storage never holds the key. The audit event names who looked and when, never the
    number; nothing is shown unless the event is committed.
    """
    why = override_reason(who, override, reason)
    now = utcnow()
    async with storage.db.transaction() as conn:
        row = await _locked(conn, request_id)
        if row.phone is None:
            gone = phone_refusal(row._mapping, await _phone_deleted(conn, row.id))
            raise Conflict(gone or "no phone number is kept for this request")
        if row.status == "done":  # closed before numbers went at closing: the next purge deletes it
            raise Conflict(
                "the request is closed: its number is not shown any more, and the next purge deletes it"
            )
        if why is None:
            _may_see(row, who)
        await _within_limit(conn, who.name, per_hour, now)
        phone = unseal(row.phone)
        if phone is None:
            raise Conflict(
                "the number cannot be unsealed: it was sealed under a secret key no longer configured"
            )
        detail: dict[str, Any] = {}
        if why is not None:
            detail = {"override": True, "reason_length": len(why)}
            line = f"number shown to {who.name} ({who.role} override): {why}"
            await conn.execute(
                update(support_requests)
                .where(support_requests.c.id == row.id)
                .values(note=f"{row.note}\n{line}" if row.note else line)
            )
        await audit.append(conn, now, who.name, REVEALED, f"support:{row.id}", detail)
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
    """Mark a request done; a closing note is kept with the request's note, the audit holds its length.

    The family's number is deleted: it was given for this callback only (audited as PHONE_DELETED, so a
    reveal afterwards says why there is no number).
    """
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
        values: dict[str, Any] = {"status": "done", "handled_by": by, "handled_at": now, "phone": None}
        if note:
            values["note"] = f"{row.note}\nclosed by {by}: {note}" if row.note else f"closed by {by}: {note}"
        await conn.execute(update(support_requests).where(support_requests.c.id == row.id).values(**values))
        if row.conversation_id is not None and row.channel is not None:
            await release_contacts_in(conn, row.conversation_id, row.channel)
        await audit.append(conn, now, by, "support.closed", f"support:{row.id}", {"note_length": len(note)})
        if row.phone is not None:
            await audit.append(conn, now, by, PHONE_DELETED, f"support:{row.id}", {"why": "closed"})
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
    fixed = storage.db.fixed
    if fixed is not None:  # SQLite: one statement in fixed SQL (storage.fixedreads)
        read = functools.partial(fixed.month_numbers, start=start, referred=REFERRED)
        return await storage.db.fetch_sqlite(read)
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
