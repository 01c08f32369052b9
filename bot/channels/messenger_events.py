"""Messenger webhook bodies to `Inbound` events: every entry, every messaging item, parsed defensively.

Shapes follow Meta's webhook reference (messages, messaging_postbacks, message_edits, standby,
messaging_referrals, messaging_policy_enforcement); see ../shared/reference/protocols.md section 4.3 and
the corpus in tests/fixtures/messenger/ (each file names its source). What is not understood is counted by
kind and ignored: echoes of our own sends, delivery and read receipts, reactions, opt-ins and kinds Meta
adds later. Nothing here fetches a URL.

Evidence: images, and files that are images or PDF (judged by the file name in the URL; a name without
an extension is kept, as it may be either). Shared links: a shared post, Instagram post, reel, link share
or fallback gives its URL (`payload.url`, the legacy upper-case `URL`, or either on the attachment itself)
as a link. Stickers, audio, video, locations, other file types and attachments without a URL are named in
`Inbound.unsupported`, so the engine tells the citizen what we take; the like button (a sticker of its own,
LIKE_STICKERS) is a thumbs-up, an Event of kind "like".

Besides messages and postbacks: an edit (`message_edit`) is an Event of kind "edit" holding the new text;
events on the `standby` channel (another app, such as the Page Inbox, holds the thread) are counted by kind
in `Batch.standby`, never handled; a policy enforcement notice goes to `Batch.policy`; an m.me `ref` (a
referral event, or a postback's referral) goes to `Batch.referrals`, without who sent it.
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

from bot.channels.meta import as_dict, as_list, short_str
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
# Shares whose URL is what the citizen reports: a link (fallback, share), a Facebook or Instagram post, reel.
LINK_KINDS = frozenset({"fallback", "share", "post", "ig_post", "reel", "ig_reel"})
# The like button's stickers (small, medium, large: the longer the press, the bigger the thumb).
LIKE_STICKERS = frozenset({369239263222822, 369239343222814, 369239383222810})
LIKE_TEXT = "\N{THUMBS UP SIGN}"
POLICY_KEYS = ("policy_enforcement", "policy-enforcement")  # the reference's example, and its older prose
MAX_REASON = 500
IGNORED_KINDS = (
    "delivery",
    "read",
    "reaction",
    "optin",
    "account_linking",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "game_play",
)


@dataclass(frozen=True, slots=True)
class Event:
    """One messaging item that the dialogue engine should hear, with who sent it."""

    sender: str  # the page-scoped id (PSID); never logged
    inbound: Inbound
    kind: str = "message"  # message (and postbacks), like (the like button), edit (text: the new text)


@dataclass
class Batch:
    """What one webhook body held: the events to handle and counts of what was skipped, by kind."""

    events: list[Event] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    standby: Counter[str] = field(default_factory=Counter)  # held (another app owns the thread), by kind
    policy: list[tuple[str, str]] = field(default_factory=list)  # (action, reason) of enforcement notices
    referrals: list[str | None] = field(default_factory=list)  # m.me refs (None: a referral without one)


def _url(value: object) -> str | None:
    url = short_str(value, MAX_URL)
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
    body = as_dict(data)
    if body.get("object") != "page":
        batch.skipped["not_page"] += 1
        return batch
    entries = as_list(body.get("entry"))
    if not entries:
        batch.skipped["empty"] += 1
    for entry in entries:
        items = as_list(as_dict(entry).get("messaging"))
        held = as_list(as_dict(entry).get("standby"))
        for standby in held:
            batch.standby[_standby_kind(as_dict(standby))] += 1
        if not items and not held:
            batch.skipped["entry_without_messaging"] += 1
        for item in items:
            try:
                _parse_item(as_dict(item), batch, commands)
            except Exception:  # one malformed item must not drop the rest of the batch
                log.exception("messenger_item_unparsed")
                batch.skipped["unparsed"] += 1
    return batch


def _standby_kind(item: dict[str, Any]) -> str:
    """What a standby event is, for the count: message, postback, read, delivery, ... or unknown."""
    if "message" in item:
        return "echo" if as_dict(item["message"]).get("is_echo") else "message"
    for kind in ("postback", "message_edit", "referral", *IGNORED_KINDS):
        if kind in item:
            return kind
    return "unknown"


def _policy(item: dict[str, Any], batch: Batch) -> bool:
    """A policy enforcement notice (it has no sender): kept in `batch.policy`. False if not one."""
    key = next((k for k in POLICY_KEYS if k in item), None)
    if key is None:
        return False
    notice = as_dict(item[key])
    action = notice.get("action")
    action = action if isinstance(action, str) and KIND.match(action) else "other"
    reason = notice.get("reason")
    batch.policy.append((action, reason[:MAX_REASON] if isinstance(reason, str) else ""))
    return True


def _referral(value: object) -> str | None:
    ref = as_dict(value).get("ref")
    return ref if isinstance(ref, str) else None


def _parse_item(item: dict[str, Any], batch: Batch, commands: Mapping[str, str]) -> None:
    if _policy(item, batch):
        return
    sender = short_str(as_dict(item.get("sender")).get("id"), MAX_PSID)
    if sender is None:
        batch.skipped["no_sender"] += 1
        return
    event: Event | None = None
    if "message" in item:
        message = as_dict(item["message"])
        if message.get("is_echo"):
            batch.skipped["echo"] += 1
            return
        event = _message(sender, message, batch)
    elif "postback" in item:
        postback = as_dict(item["postback"])
        if "referral" in postback:
            batch.referrals.append(_referral(postback["referral"]))
        inbound = _postback(sender, item, batch, commands)
        event = Event(sender, inbound) if inbound is not None else None
    elif "message_edit" in item:
        event = _edit(sender, as_dict(item["message_edit"]), batch)
    elif "referral" in item:  # an existing thread opened again through an m.me link or an ad
        batch.referrals.append(_referral(item["referral"]))
        batch.skipped["referral"] += 1
        return
    else:
        kind = next((k for k in IGNORED_KINDS if k in item), "unknown")
        batch.skipped[kind] += 1
        return
    if event is not None:
        batch.events.append(event)


def _edit(sender: str, edit: dict[str, Any], batch: Batch) -> Event | None:
    """An edited message: its new text, keyed by the message and the edit's number (each edit once)."""
    mid = short_str(edit.get("mid"), 10_000)
    text = edit.get("text")
    if mid is None or not isinstance(text, str):
        batch.skipped["edit_without_text"] += 1
        return None
    number = edit.get("num_edit")
    number = number if isinstance(number, int | str) and not isinstance(number, bool) else "?"
    key = event_id(f"edit:{number}:{mid}")
    return Event(sender, Inbound(CHANNEL, sender, key, text=text), kind="edit")


def _message(sender: str, message: dict[str, Any], batch: Batch) -> Event | None:
    mid = short_str(message.get("mid"), 10_000)
    if mid is None:
        batch.skipped["no_mid"] += 1
        return None
    text = message.get("text") if isinstance(message.get("text"), str) else None
    payload = as_dict(message.get("quick_reply")).get("payload")
    if isinstance(payload, str) and BUTTON_ID.match(payload):
        return Event(sender, Inbound(CHANNEL, sender, event_id(mid), choice=payload))
    if payload is not None:
        batch.skipped["foreign_quick_reply"] += 1  # not one of ours: read what the citizen saw instead
    items = as_list(message.get("attachments"))
    if not (text or "").strip() and _is_like(message, items):
        batch.skipped["like"] += 1
        return Event(sender, Inbound(CHANNEL, sender, event_id(mid), text=LIKE_TEXT), kind="like")
    attachments, links, refused = _attachments(items, batch)
    inbound = Inbound(
        CHANNEL, sender, event_id(mid), text=text, attachments=attachments, links=links, unsupported=refused
    )
    return Event(sender, inbound)


def _sticker_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 20 else None


def _is_like(message: dict[str, Any], items: list[Any]) -> bool:
    """The like button: its sticker id on the message or on its sticker attachments, and nothing else."""
    ids = {_sticker_id(message.get("sticker_id"))}
    for raw in items:
        item = as_dict(raw)
        sticker = _sticker_id(as_dict(item.get("payload")).get("sticker_id"))
        if sticker is None and item.get("type") != "sticker":
            return False  # something besides the sticker
        ids.add(sticker)
    ids.discard(None)
    return bool(ids) and ids <= LIKE_STICKERS


def attachment_url(item: dict[str, Any]) -> str | None:
    """An attachment's URL: `payload.url`, or the legacy upper-case `URL`, or either on the attachment."""
    payload = as_dict(item.get("payload"))
    for value in (payload.get("url"), payload.get("URL"), item.get("url"), item.get("URL")):
        url = _url(value)
        if url is not None:
            return url
    return None


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
        item = as_dict(raw)
        kind = item.get("type")
        payload = as_dict(item.get("payload"))
        url = attachment_url(item)
        if kind == "sticker" or (kind == "image" and payload.get("sticker_id") is not None):
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
    postback = as_dict(item.get("postback"))
    payload = postback.get("payload")
    if not isinstance(payload, str):
        batch.skipped["postback_without_payload"] += 1
        return None
    mid = short_str(postback.get("mid"), 10_000)
    if mid is None:  # before Graph v11 postbacks had no mid: sender, time and payload identify the tap
        stamp = f"{sender}|{item.get('timestamp')}|{payload}"
        mid = "pb:" + hashlib.sha256(stamp.encode()).hexdigest()
    if payload in commands:
        return Inbound(CHANNEL, sender, event_id(mid), text=commands[payload])
    if BUTTON_ID.match(payload):
        return Inbound(CHANNEL, sender, event_id(mid), choice=payload)
    batch.skipped["foreign_postback"] += 1
    return None
