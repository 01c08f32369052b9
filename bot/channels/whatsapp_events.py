"""WhatsApp Cloud API webhook bodies to `Inbound` events: every entry, every change, parsed defensively.

Shapes follow Meta's WhatsApp messages webhook reference (`object: whatsapp_business_account`,
`entry[].changes[]` with `field: messages` and a `value` holding `messages[]`, `statuses[]`, `errors[]`);
the corpus is tests/fixtures/whatsapp/ (each file names its source). Nothing here fetches a URL.

Messages, by `type`:
- text (its links are read by the NLU), a forwarded text (`context.forwarded`) is kept as forwarded words,
  like Telegram's forwards, with the links inside it;
- image, and documents that are images or PDF (by MIME type): evidence; the media id is the reference, the
  file's own sha256 (sent by Meta, base64) the fingerprint, so one screenshot sent twice is one piece of
  evidence; a caption is read as text;
- interactive `button_reply` / `list_reply` and a template's quick-reply `button`: our button id when it
  has our shape, else the words the citizen saw;
- video, audio, voice, sticker, location, contacts, reactions and types Meta adds later: named in
  `Inbound.unsupported` (the engine answers kindly); a reaction is counted and not answered;
- `referral` (a click-to-WhatsApp ad or post): its `source_id` is counted per campaign, never kept with
  the conversation; the message itself is handled as usual.
Statuses (sent, delivered, read, failed with its error codes) and errors go to `Batch.statuses` and
`Batch.errors`. The sender's `wa_id` is a phone number: it is only ever carried here to be pseudonymised
by the pipeline and to address replies; it is never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.channels.meta import as_dict, as_list, short_str
from bot.dialogue import Attachment, Inbound
from nlu.urls import find_urls

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
OBJECT = "whatsapp_business_account"
MAX_WA_ID = 64
MAX_TEXT = 100_000
MAX_MEDIA_ID = 64
# Our button ids ("cat:violent_threat", "lang:ur-Latn", "nav:back"): another shape is not ours.
BUTTON_ID = re.compile(r"^[a-z][a-z_]{0,15}:[A-Za-z0-9_-]{1,47}$")
KIND = re.compile(r"^[a-z_]{1,24}$")  # a message type safe to name in a log line and a metric
# Meta's message type -> the engine's name for what we cannot use (bot.dialogue.types.UNSUPPORTED_KINDS).
ENGINE_KINDS = {
    "video": "video",
    "audio": "audio",
    "voice": "audio",
    "sticker": "sticker",
    "location": "location",
    "contacts": "contact",
}
EVIDENCE_MIME = re.compile(r"^(image/(png|jpe?g|gif|webp|heic|heif|bmp)|application/pdf)$")
STATUS_WORDS = frozenset({"sent", "delivered", "read", "failed", "deleted", "warning", "played"})


@dataclass(frozen=True, slots=True)
class Event:
    """One message the dialogue engine should hear, with who sent it (the wa_id; never logged)."""

    sender: str
    inbound: Inbound
    kind: str = "message"  # the WhatsApp type, for counting


@dataclass(frozen=True, slots=True)
class Status:
    """What became of a message we sent: its wamid, the status word and, when failed, the error codes."""

    message_id: str
    status: str
    recipient: str | None  # the wa_id; never logged
    codes: tuple[int, ...] = ()


@dataclass
class Batch:
    """What one webhook body held: events to handle, statuses, errors and counts of what was skipped."""

    events: list[Event] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)  # codes of value.errors[] and message errors
    referrals: list[str | None] = field(default_factory=list)  # ad or post ids (None: no id)
    skipped: Counter[str] = field(default_factory=Counter)


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 12 else None


def event_id(raw: str) -> str:
    """The idempotency key for a wamid: its hash, never the wamid itself, because a wamid carries the
    sender's phone number (`wamid.HBgM<base64 of the number>...`)."""
    return "wa:" + hashlib.sha256(raw.encode()).hexdigest()


def text_fingerprint(text: str) -> str:
    """A stable fingerprint of forwarded words (whitespace-insensitive), as Telegram's forwards have."""
    return "sha256:" + hashlib.sha256(" ".join(text.split()).casefold().encode()).hexdigest()


def media_fingerprint(media_id: str, sha256: object) -> str:
    """The file's own sha256 in hex when Meta sent it (base64), else the hash of the media id."""
    if isinstance(sha256, str) and 0 < len(sha256) <= 200:
        try:
            digest = base64.b64decode(sha256, validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) == 32:
            return digest.hex()
    return hashlib.sha256(f"whatsapp-media:{media_id}".encode()).hexdigest()


def parse_body(data: object, phone_number_id: str | None = None) -> Batch:
    """Every message, status and error of every change of every entry, in order; the rest is counted.
    `phone_number_id`: ours; changes for another number of the same business account are skipped."""
    batch = Batch()
    body = as_dict(data)
    if body.get("object") != OBJECT:
        batch.skipped["not_whatsapp"] += 1
        return batch
    entries = as_list(body.get("entry"))
    if not entries:
        batch.skipped["empty"] += 1
    for entry in entries:
        changes = as_list(as_dict(entry).get("changes"))
        if not changes:
            batch.skipped["entry_without_changes"] += 1
        for change in changes:
            change = as_dict(change)
            if change.get("field") != "messages":
                kind = change.get("field")
                batch.skipped[f"field_{kind}" if isinstance(kind, str) and KIND.match(kind) else "field"] += 1
                continue
            value = as_dict(change.get("value"))
            number = short_str(as_dict(value.get("metadata")).get("phone_number_id"), 64)
            if phone_number_id and number and number != phone_number_id:
                batch.skipped["other_number"] += 1
                continue
            _value(value, batch)
    return batch


def _value(value: dict[str, Any], batch: Batch) -> None:
    contacts = [as_dict(c) for c in as_list(value.get("contacts"))]
    for raw in as_list(value.get("messages")):
        try:
            _message(as_dict(raw), contacts, batch)
        except Exception:  # one malformed message must not drop the rest of the body
            log.exception("whatsapp_message_unparsed")
            batch.skipped["unparsed"] += 1
    for raw in as_list(value.get("statuses")):
        status = _status(as_dict(raw))
        if status is None:
            batch.skipped["status_malformed"] += 1
        else:
            batch.statuses.append(status)
    for raw in as_list(value.get("errors")):
        code = _code(as_dict(raw).get("code"))
        batch.errors.append(code if code is not None else 0)


def _status(item: dict[str, Any]) -> Status | None:
    wamid = short_str(item.get("id"), 512)
    word = item.get("status")
    if wamid is None or not isinstance(word, str):
        return None
    word = word if word in STATUS_WORDS else "other"
    codes = tuple(
        c for c in (_code(as_dict(e).get("code")) for e in as_list(item.get("errors"))) if c is not None
    )
    return Status(wamid, word, short_str(item.get("recipient_id"), MAX_WA_ID), codes)


def _sender(message: dict[str, Any], contacts: list[dict[str, Any]]) -> str | None:
    """The wa_id: the message's `from`, else the one contact of the change."""
    sender = short_str(message.get("from"), MAX_WA_ID)
    if sender is None and len(contacts) == 1:
        sender = short_str(contacts[0].get("wa_id"), MAX_WA_ID)
    return sender


def _message(message: dict[str, Any], contacts: list[dict[str, Any]], batch: Batch) -> None:
    sender = _sender(message, contacts)
    wamid = short_str(message.get("id"), 10_000)
    if sender is None or wamid is None:
        batch.skipped["no_sender" if sender is None else "no_id"] += 1
        return
    key = event_id(wamid)
    kind = message.get("type")
    kind = kind if isinstance(kind, str) and KIND.match(kind) else "other"
    for error in as_list(message.get("errors")):
        code = _code(as_dict(error).get("code"))
        batch.errors.append(code if code is not None else 0)
    if "referral" in message:
        batch.referrals.append(short_str(as_dict(message["referral"]).get("source_id"), 200))
    context = as_dict(message.get("context"))
    forwarded = context.get("forwarded") is True or context.get("frequently_forwarded") is True
    inbound = _inbound(sender, key, kind, message, forwarded)
    if inbound is None:
        batch.skipped[kind] += 1
        return
    batch.events.append(Event(sender, inbound, kind))


def _words(value: object) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) and value.strip() else None


def _choice(sender: str, key: str, given: object, shown: object) -> Inbound:
    """A tap: our button id when it has our shape, else the words shown (read like typed text)."""
    if isinstance(given, str) and BUTTON_ID.match(given):
        return Inbound(CHANNEL, sender, key, choice=given)
    return Inbound(CHANNEL, sender, key, text=_words(shown) or "")


def _inbound(sender: str, key: str, kind: str, message: dict[str, Any], forwarded: bool) -> Inbound | None:
    if kind == "text":
        words = _words(as_dict(message.get("text")).get("body"))
        if words is None:
            return Inbound(CHANNEL, sender, key, unsupported="other")
        if forwarded:
            links = tuple(dict.fromkeys(u.raw for u in find_urls(words)))
            kept = Attachment("forward", words, text_fingerprint(words))
            return Inbound(CHANNEL, sender, key, attachments=(kept,), links=links)
        return Inbound(CHANNEL, sender, key, text=words)
    if kind == "interactive":
        interactive = as_dict(message.get("interactive"))
        reply = as_dict(interactive.get("button_reply") or interactive.get("list_reply"))
        if not reply:
            return Inbound(CHANNEL, sender, key, unsupported="other")
        return _choice(sender, key, reply.get("id"), reply.get("title"))
    if kind == "button":
        button = as_dict(message.get("button"))
        return _choice(sender, key, button.get("payload"), button.get("text"))
    if kind in ("image", "document"):
        media = as_dict(message.get(kind))
        media_id = short_str(media.get("id"), MAX_MEDIA_ID)
        caption = _words(media.get("caption"))
        mime = media.get("mime_type")
        mime = mime.split(";")[0].strip().lower() if isinstance(mime, str) else ""
        if media_id is None or not media_id.isdigit():
            return Inbound(CHANNEL, sender, key, text=caption, unsupported="other")
        if kind == "document" and not EVIDENCE_MIME.match(mime):
            return Inbound(CHANNEL, sender, key, text=caption, unsupported="file")
        evidence = Attachment(
            "photo" if kind == "image" else "document",
            media_id,
            media_fingerprint(media_id, media.get("sha256")),
        )
        return Inbound(CHANNEL, sender, key, text=caption, attachments=(evidence,))
    if kind == "reaction":
        return None  # an emoji on one of our messages: nothing to answer
    if kind == "system":
        return None  # the citizen changed number: nothing to answer (the old conversation stays apart)
    caption = _words(as_dict(message.get(kind)).get("caption"))
    return Inbound(CHANNEL, sender, key, text=caption, unsupported=ENGINE_KINDS.get(kind, "other"))
