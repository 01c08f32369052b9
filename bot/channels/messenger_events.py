"""Messenger webhook bodies to `Inbound` events: every entry, every messaging item, parsed defensively.

Shapes follow Meta's webhook reference (messages, messaging_postbacks); see
../shared/reference/protocols.md section 4.3. What is not understood is counted by kind and ignored:
echoes of our own sends, delivery and read receipts, reactions, opt-ins, referrals and kinds Meta adds later.
Nothing here fetches a URL: attachment and shared URLs are only kept as references.

Evidence: images, and files that are images or PDF (judged by the file name in the URL; a name without
an extension is kept, as it may be either). Stickers, audio, video, locations, other file types and
attachments without a URL are named in `Inbound.unsupported`, so the engine tells the citizen what we take.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.dialogue import REGISTRY, Attachment, Inbound, Registry

log = logging.getLogger(__name__)
CHANNEL = "messenger"
MAX_EVENT_ID = 128  # processed_events.event_id
MAX_PSID = 64
MAX_URL = 4096
# Our button ids ("cat:violent_threat", "lang:ur-Latn", "nav:back"): a payload of another shape is not ours.
BUTTON_ID = re.compile(r"^[a-z][a-z_]{0,15}:[A-Za-z0-9_-]{1,47}$")


def postbacks(flows: Registry) -> dict[str, str]:
    """Get Started and the persistent menu's payloads -> the slash commands the flows declare for them."""
    return {c.postback: f"/{c.name}" for c in flows.commands() if c.postback}


POSTBACKS = postbacks(REGISTRY)  # the shipped flows' (`raabta messenger setup` sets the same menu)
KIND = re.compile(r"^[a-z_]{1,24}$")  # an attachment type safe to name in a log line
EVIDENCE_KINDS = {"image": "photo", "file": "document"}
# File names we take as evidence, as Telegram does: images and PDF (SVG can carry scripts, so it is not).
FILE_EXTENSIONS = frozenset({"pdf", "png", "jpg", "jpeg", "gif", "webp", "heic", "heif", "bmp"})
# Meta's attachment type -> the engine's name for what we cannot use (bot.dialogue.types.UNSUPPORTED_KINDS).
ENGINE_KINDS = {"audio": "audio", "video": "video", "location": "location", "sticker": "sticker"}
LINK_KINDS = frozenset({"fallback", "share"})
IGNORED_KINDS = (
    "delivery",
    "read",
    "reaction",
    "optin",
    "referral",
    "account_linking",
    "policy_enforcement",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "game_play",
    "message_edit",
)


@dataclass(frozen=True, slots=True)
class Event:
    """One messaging item that the dialogue engine should hear, with who sent it."""

    sender: str  # the page-scoped id (PSID); never logged
    inbound: Inbound


@dataclass
class Batch:
    """What one webhook body held: the events to handle and counts of what was skipped, by kind."""

    events: list[Event] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object, limit: int) -> str | None:
    """A non-empty string of at most `limit` characters (ids may come as numbers), else None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if 0 < len(text) <= limit else None


def _url(value: object) -> str | None:
    url = _str(value, MAX_URL)
    return url if url and url.lower().startswith(("https://", "http://")) else None


def event_id(raw: str) -> str:
    """The idempotency key for a Meta id: itself when it fits the column, else a stable hash of it."""
    return raw if len(raw) <= MAX_EVENT_ID else "h:" + hashlib.sha256(raw.encode()).hexdigest()


def fingerprint(url: str) -> str:
    """A stable id for an attachment: the hash of its URL path (the query holds expiring signatures)."""
    return hashlib.sha256(urlsplit(url).path.encode()).hexdigest()


def parse_body(data: object, commands: Mapping[str, str] = POSTBACKS) -> Batch:
    """Every event of every entry of a webhook body, in order; anything else is counted and skipped.
    `commands`: postback payloads -> slash commands (`postbacks(registry)`)."""
    batch = Batch()
    body = _dict(data)
    if body.get("object") != "page":
        batch.skipped["not_page"] += 1
        return batch
    entries = _list(body.get("entry"))
    if not entries:
        batch.skipped["empty"] += 1
    for entry in entries:
        items = _list(_dict(entry).get("messaging"))
        if not items:
            batch.skipped["entry_without_messaging"] += 1
        for item in items:
            try:
                _parse_item(_dict(item), batch, commands)
            except Exception:  # one malformed item must not drop the rest of the batch
                log.exception("messenger_item_unparsed")
                batch.skipped["unparsed"] += 1
    return batch


def _parse_item(item: dict[str, Any], batch: Batch, commands: Mapping[str, str]) -> None:
    sender = _str(_dict(item.get("sender")).get("id"), MAX_PSID)
    if sender is None:
        batch.skipped["no_sender"] += 1
        return
    if "message" in item:
        message = _dict(item["message"])
        if message.get("is_echo"):
            batch.skipped["echo"] += 1
            return
        inbound = _message(sender, message, batch)
    elif "postback" in item:
        inbound = _postback(sender, item, batch, commands)
    else:
        kind = next((k for k in IGNORED_KINDS if k in item), "unknown")
        batch.skipped[kind] += 1
        return
    if inbound is not None:
        batch.events.append(Event(sender, inbound))


def _message(sender: str, message: dict[str, Any], batch: Batch) -> Inbound | None:
    mid = _str(message.get("mid"), 10_000)
    if mid is None:
        batch.skipped["no_mid"] += 1
        return None
    text = message.get("text") if isinstance(message.get("text"), str) else None
    payload = _dict(message.get("quick_reply")).get("payload")
    if isinstance(payload, str) and BUTTON_ID.match(payload):
        return Inbound(CHANNEL, sender, event_id(mid), choice=payload)
    if payload is not None:
        batch.skipped["foreign_quick_reply"] += 1  # not one of ours: read what the citizen saw instead
    attachments, links, refused = _attachments(_list(message.get("attachments")), batch)
    return Inbound(
        CHANNEL, sender, event_id(mid), text=text, attachments=attachments, links=links, unsupported=refused
    )


def file_taken(url: str) -> bool:
    """Whether a file attachment is an image or PDF by its name (a name without an extension is taken)."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return not extension or extension in FILE_EXTENSIONS


def _attachments(
    items: list[Any], batch: Batch
) -> tuple[tuple[Attachment, ...], tuple[str, ...], str | None]:
    """Photos and files as evidence, shared links as links, and the first kind we could not use.

    The rest (stickers, audio, video, other files, no URL) is counted in `batch.skipped` by kind.
    """
    evidence: list[Attachment] = []
    links: list[str] = []
    refused: list[str] = []
    for raw in items:
        item = _dict(raw)
        kind = item.get("type")
        payload = _dict(item.get("payload"))
        url = _url(payload.get("url")) or _url(item.get("url"))  # older fallbacks put url on the item
        if kind == "image" and payload.get("sticker_id") is not None:
            batch.skipped["sticker"] += 1
            refused.append("sticker")
        elif not isinstance(kind, str) or not (kind in EVIDENCE_KINDS or kind in LINK_KINDS):
            known = isinstance(kind, str) and KIND.match(kind)
            batch.skipped["attachment_" + (kind if known and isinstance(kind, str) else "other")] += 1
            refused.append(ENGINE_KINDS.get(kind, "other") if isinstance(kind, str) else "other")
        elif url is None:
            batch.skipped["attachment_without_url"] += 1
            refused.append("other")
        elif kind in LINK_KINDS:
            links.append(url)
        elif kind == "file" and not file_taken(url):
            batch.skipped["attachment_file_type"] += 1
            refused.append("file")
        else:
            evidence.append(Attachment(EVIDENCE_KINDS[kind], url, fingerprint(url)))
    named = [k for k in refused if k != "other"] or refused  # the most telling kind, for the answer
    return tuple(evidence), tuple(links), named[0] if named else None


def _postback(sender: str, item: dict[str, Any], batch: Batch, commands: Mapping[str, str]) -> Inbound | None:
    postback = _dict(item.get("postback"))
    payload = postback.get("payload")
    if not isinstance(payload, str):
        batch.skipped["postback_without_payload"] += 1
        return None
    mid = _str(postback.get("mid"), 10_000)
    if mid is None:  # before Graph v11 postbacks had no mid: sender, time and payload identify the tap
        stamp = f"{sender}|{item.get('timestamp')}|{payload}"
        mid = "pb:" + hashlib.sha256(stamp.encode()).hexdigest()
    if payload in commands:
        return Inbound(CHANNEL, sender, event_id(mid), text=commands[payload])
    if BUTTON_ID.match(payload):
        return Inbound(CHANNEL, sender, event_id(mid), choice=payload)
    batch.skipped["foreign_postback"] += 1
    return None
