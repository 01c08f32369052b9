"""Reading Telegram updates: what a private message or a button press means as an `Inbound`.

Evidence: photos (largest size, `file_unique_id` as fingerprint), documents (images and PDF within a size
cap), forwarded posts (`forward_origin`: a channel post becomes its link, other origins keep the text),
and captions as the citizen's own words (links in them are found by the NLU). Forwarded text is content,
not an answer, so it never becomes `Inbound.text`. Kinds we cannot use (stickers, voice notes, GIFs,
locations, other documents, ...) are named in `Inbound.unsupported`, and the engine answers what we take.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from telegram import (
    CallbackQuery,
    Document,
    Message,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    Update,
)

from bot.dialogue import Attachment, Inbound

CHANNEL = "telegram"
PDF = "application/pdf"
# Images an analyst can open safely; SVG is script-capable, so it is not taken as a picture.
REFUSED_IMAGES = frozenset({"image/svg+xml"})
# Message kinds we cannot take as evidence: answered politely (the caption, if any, is still read).
UNSUPPORTED = (
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
    "paid_media",
    "checklist",
)
# Telegram's kind -> the engine's name for it (bot.dialogue.types.UNSUPPORTED_KINDS); others are "other".
ENGINE_KINDS = {
    "sticker": "sticker",
    "animation": "gif",
    "voice": "audio",
    "audio": "audio",
    "video": "video",
    "video_note": "video",
    "location": "location",
    "venue": "location",
    "contact": "contact",
    "poll": "poll",
}


def text_of(value: object) -> str | None:
    """A string field as a string; anything else (the library does not check JSON types) as None."""
    return value if isinstance(value, str) else None


def int_of(value: object) -> int | None:
    """An integer field as an int; anything else (a string, a bool, a list) as None."""
    return value if type(value) is int else None


@dataclass(frozen=True, slots=True)
class Evidence:
    attachments: tuple[Attachment, ...] = ()
    links: tuple[str, ...] = ()


def kind_of(update: Update) -> str:
    """The update's kind as the Bot API names it (`message`, `edited_message`, ...), for logs."""
    for name in (
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "callback_query",
        "my_chat_member",
        "chat_member",
        "inline_query",
    ):
        if getattr(update, name, None) is not None:
            return name
    return "other"


def chat_key(update: object) -> int | None:
    """The chat an update belongs to, for ordering; None when it has none."""
    if isinstance(update, Update) and update.effective_chat is not None:
        return int_of(update.effective_chat.id)
    return None


def fingerprint_text(text: str) -> str:
    """A stable fingerprint of forwarded text (whitespace-insensitive), for grouping equal posts."""
    return "sha256:" + hashlib.sha256(" ".join(text.split()).casefold().encode()).hexdigest()


def channel_post_link(origin: MessageOriginChannel) -> str | None:
    """`https://t.me/<username>/<id>` for a public channel, `https://t.me/c/<id>/<id>` for a private one."""
    post, username, chat = int_of(origin.message_id), text_of(origin.chat.username), int_of(origin.chat.id)
    if post is None:
        return None
    if username:
        return f"https://t.me/{username}/{post}"
    if chat is None:
        return None
    internal = str(chat).removeprefix("-100").removeprefix("-")
    return f"https://t.me/c/{internal}/{post}"


def forward_evidence(origin: MessageOrigin, text: str | None) -> Evidence:
    """A forwarded post: a public channel's post link; otherwise the forwarded text, kept as evidence."""
    links: list[str] = []
    keep_text = True
    if isinstance(origin, MessageOriginChannel):
        link = channel_post_link(origin)
        links.extend([link] if link else [])
        # A private channel's link is not viewable by analysts: keep the words too.
        keep_text = not (link and text_of(origin.chat.username))
    elif isinstance(origin, MessageOriginChat) and text_of(origin.sender_chat.username):
        links.append(f"https://t.me/{origin.sender_chat.username}")
    attachments = []
    if keep_text and text and text.strip():
        attachments.append(Attachment("forward", text, fingerprint_text(text)))
    return Evidence(tuple(attachments), tuple(links))


def document_accepted(document: Document, max_bytes: int) -> bool:
    """Images and PDF within the size cap (an unknown size is accepted: Telegram reports it when known)."""
    mime = (text_of(document.mime_type) or "").lower()
    name = (text_of(document.file_name) or "").lower()
    size = int_of(document.file_size)
    pictured = mime.startswith("image/") and mime not in REFUSED_IMAGES
    is_pdf = mime == PDF or (not mime and name.endswith(".pdf"))
    small = size is None or size <= max_bytes
    usable = bool(text_of(document.file_id) and text_of(document.file_unique_id))
    return (pictured or is_pdf) and small and usable


def file_evidence(message: Message, max_bytes: int) -> tuple[Attachment, ...]:
    """The photo (largest size) or accepted document of a message."""
    sizes = [p for p in message.photo if text_of(p.file_id) and text_of(p.file_unique_id)]
    if sizes:
        largest = max(
            sizes, key=lambda p: ((int_of(p.width) or 0) * (int_of(p.height) or 0), int_of(p.file_size) or 0)
        )
        return (Attachment("photo", largest.file_id, largest.file_unique_id),)
    if message.document is not None and document_accepted(message.document, max_bytes):
        return (Attachment("document", message.document.file_id, message.document.file_unique_id),)
    return ()


def unsupported_kind(message: Message) -> str | None:
    """The name of a content kind we do not take (sticker, voice, ...), if the message is one."""
    for name in UNSUPPORTED:
        if getattr(message, name, None):
            return name
    if message.document is not None:
        return "document"
    return None


def unsupported_for_engine(message: Message) -> str | None:
    """What the engine should say we could not use in this message (None when nothing was refused)."""
    kind = unsupported_kind(message)
    if kind is None:
        return "other" if message.photo else None  # a photo without a usable size
    if kind == "document" and message.document is not None:  # an image or PDF over the cap is too large
        return "file_too_large" if document_accepted(message.document, 2**63) else "file"
    return ENGINE_KINDS.get(kind, "other")


def message_inbound(message: Message, event_id: str, max_bytes: int) -> Inbound | None:
    """A private message as an `Inbound`; None when there is no one to answer or nothing was said (a pin)."""
    chat = int_of(message.chat.id)
    if chat is None:
        return None
    user = str(chat)
    words = text_of(message.text) if message.text is not None else text_of(message.caption)
    files = file_evidence(message, max_bytes)
    if message.forward_origin is not None:
        forwarded = forward_evidence(message.forward_origin, words)
        usable = files + forwarded.attachments
        refused = None if usable or forwarded.links else unsupported_for_engine(message) or "other"
        return Inbound(
            CHANNEL, user, event_id, attachments=usable, links=forwarded.links, unsupported=refused
        )
    if files:
        return Inbound(CHANNEL, user, event_id, text=words, attachments=files)
    refused = unsupported_for_engine(message)
    if words is not None:  # a caption on a video, say: its words are still read
        return Inbound(CHANNEL, user, event_id, text=words, unsupported=refused)
    if message.pinned_message is not None:
        return None  # the citizen pinned a message: nothing was said to us
    # Nothing we can use (a sticker, a voice note, a photo with no sizes): the engine answers politely.
    return Inbound(CHANNEL, user, event_id, unsupported=refused or "other")


def press_inbound(query: CallbackQuery, event_id: str) -> Inbound | None:
    """A button press in a private chat as a choice; None when it carries no data we could have sent."""
    data = text_of(query.data)
    chat = int_of(query.message.chat.id) if query.message is not None else None
    if not data or chat is None:
        return None
    return Inbound(CHANNEL, str(chat), event_id, choice=data)


def pressed_label(query: CallbackQuery) -> str | None:
    """The label of the pressed button, read from the message's own keyboard."""
    message = query.message
    markup = message.reply_markup if isinstance(message, Message) else None
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == query.data:
                return text_of(button.text)
    return None
