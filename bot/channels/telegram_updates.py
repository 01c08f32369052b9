"""Reading Telegram updates: what a private message or a button press means as an `Inbound`.

Evidence: photos (largest size, `file_unique_id` as fingerprint), documents (images and PDF within a size
cap), forwarded posts (`forward_origin`: a channel post becomes its link, a person or group with a public
username its t.me link; the text is kept with a line naming where it came from when no link shows it),
and captions as the citizen's own words (links in them are found by the NLU). Forwarded text is content,
not an answer, so it never becomes `Inbound.text`. Kinds we cannot use (stickers, voice notes, GIFs,
locations, other documents, ...) are named in `Inbound.unsupported`, and the engine answers what we take.

Links that are not in the words: a `text_link` entity (words linked to a URL) in a message or caption
gives its URL; in content the citizen did not write (a forward, a quoted post, a reply to another chat's
post) `url` entities and `@mentions` (as `https://t.me/<name>`) count too, since the NLU never reads those
words. A reply to a post of another chat (`external_reply`) gives the post's link and origin, its photo
or document, and the quoted words (`quote`), kept like a forward.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from telegram import (
    CallbackQuery,
    Document,
    ExternalReplyInfo,
    Message,
    MessageEntity,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    PhotoSize,
    TextQuote,
    Update,
)

from bot.dialogue import Attachment, Inbound

CHANNEL = "telegram"
PDF = "application/pdf"
USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")  # a public Telegram username, as t.me accepts it
MAX_FOUND = 20  # links taken from one message's entities (the report keeps at most MAX_LINKS)
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
    words = " ".join(text.split()).casefold().encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(words).hexdigest()


def username_link(value: object) -> str | None:
    """`https://t.me/<username>` for a well-formed public username, else None."""
    name = (text_of(value) or "").removeprefix("@")
    return f"https://t.me/{name}" if USERNAME.match(name) else None


def post_link(username: object, chat_id: object, message_id: object) -> str | None:
    """`https://t.me/<username>/<id>` for a public chat's post, `https://t.me/c/<id>/<id>` for a private
    one."""
    post, name, chat = int_of(message_id), text_of(username), int_of(chat_id)
    if post is None:
        return None
    if name and USERNAME.match(name):
        return f"https://t.me/{name}/{post}"
    if chat is None:
        return None
    internal = str(chat).removeprefix("-100").removeprefix("-")
    return f"https://t.me/c/{internal}/{post}"


def channel_post_link(origin: MessageOriginChannel) -> str | None:
    """`https://t.me/<username>/<id>` for a public channel, `https://t.me/c/<id>/<id>` for a private one."""
    return post_link(origin.chat.username, origin.chat.id, origin.message_id)


def _person(first: object, last: object) -> str:
    return " ".join(x for x in (text_of(first), text_of(last)) if x and x.strip())


def origin_of(origin: MessageOrigin) -> tuple[tuple[str, ...], str | None, bool]:
    """Where a post came from: (links an analyst can open, a line naming it when no public link does,
    whether those links show the post itself so its words need not be kept)."""
    if isinstance(origin, MessageOriginChannel):
        link = channel_post_link(origin)
        public = username_link(origin.chat.username) is not None
        title = text_of(origin.chat.title) or "a channel"
        return ((link,) if link else ()), None if public else f"{title} (channel)", bool(link and public)
    if isinstance(origin, MessageOriginChat):
        link = username_link(origin.sender_chat.username)
        title = text_of(origin.sender_chat.title) or "a group"
        return ((link,) if link else ()), None if link else f"{title} (group)", False
    if isinstance(origin, MessageOriginUser):
        link = username_link(origin.sender_user.username)
        name = _person(origin.sender_user.first_name, origin.sender_user.last_name) or "a user"
        return ((link,) if link else ()), None if link else name, False
    if isinstance(origin, MessageOriginHiddenUser):
        name = text_of(origin.sender_user_name) or "a user"
        return (), f"{name} (account hidden)", False
    return (), None, False


def kept_text(text: str | None, came_from: str | None, keep: bool) -> tuple[Attachment, ...]:
    """Forwarded or quoted words as evidence, with a first line naming their origin when it has no link;
    the fingerprint is of the words alone, so the same post sent from anywhere groups together."""
    if not keep or not text or not text.strip():
        return ()
    shown = f"Forwarded from {came_from}:\n{text}" if came_from else text
    return (Attachment("forward", shown, fingerprint_text(text)),)


def forward_evidence(origin: MessageOrigin, text: str | None, links: Sequence[str] = ()) -> Evidence:
    """A forwarded post: its origin's links (a channel post, a public account), the links inside it, and
    its words unless its public link already shows them."""
    found, came_from, shown_by_link = origin_of(origin)
    return Evidence(kept_text(text, came_from, not shown_by_link), _unique((*found, *links)))


def _unique(links: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(links))[:MAX_FOUND]


def _utf16_slice(text: str, offset: int, length: int) -> str | None:
    """The entity's words: Telegram counts offsets in UTF-16 code units (an emoji is two)."""
    encoded = text.encode("utf-16-le", "surrogatepass")  # a lone surrogate is text Telegram may send
    if offset < 0 or length <= 0 or (offset + length) * 2 > len(encoded):
        return None
    return encoded[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


def entity_links(
    text: object, entities: Sequence[MessageEntity] | None, read_by_nlu: bool
) -> tuple[str, ...]:
    """Links in a text's entities: a `text_link`'s URL always; `url` entities (their words) and
    `@mentions` (as t.me links) only when the NLU does not read these words (`read_by_nlu` False)."""
    words = text_of(text) or ""
    found: list[str] = []
    for entity in entities or ():
        kind = text_of(getattr(entity, "type", None))
        if kind == MessageEntity.TEXT_LINK:
            url = text_of(entity.url)
            found.extend([url.strip()] if url and url.strip() else [])
        elif kind in (MessageEntity.URL, MessageEntity.MENTION) and not read_by_nlu:
            offset, length = int_of(entity.offset), int_of(entity.length)
            said = _utf16_slice(words, offset, length) if offset is not None and length is not None else None
            if said and kind == MessageEntity.URL:
                found.append(said.strip())
            elif said and (link := username_link(said)):
                found.append(link)
    return _unique(found)


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


def file_evidence(message: Message | ExternalReplyInfo, max_bytes: int) -> tuple[Attachment, ...]:
    """The photo (largest size) or accepted document of a message (or of the post it replies to)."""
    photo: Sequence[PhotoSize] = message.photo or ()
    sizes = [p for p in photo if text_of(p.file_id) and text_of(p.file_unique_id)]
    if sizes:
        largest = max(
            sizes, key=lambda p: ((int_of(p.width) or 0) * (int_of(p.height) or 0), int_of(p.file_size) or 0)
        )
        return (Attachment("photo", largest.file_id, largest.file_unique_id),)
    if message.document is not None and document_accepted(message.document, max_bytes):
        return (Attachment("document", message.document.file_id, message.document.file_unique_id),)
    return ()


def replied_evidence(message: Message, max_bytes: int) -> Evidence:
    """The post of another chat this message replies to (`external_reply`) and the words quoted from it
    (`quote`): its link and origin, its photo or document, the links in the quote, the quote as a forward.
    A reply to one of our own messages (`reply_to_message`, same chat) is no evidence."""
    external: ExternalReplyInfo | None = message.external_reply
    quote: TextQuote | None = message.quote
    if external is None and quote is None:
        return Evidence()
    links: list[str] = []
    came_from: str | None = None
    files: tuple[Attachment, ...] = ()
    if external is not None:
        chat = external.chat
        if chat is not None and (link := post_link(chat.username, chat.id, external.message_id)):
            links.append(link)
        found, came_from, _ = origin_of(external.origin)
        links.extend(found)
        files = file_evidence(external, max_bytes)
    words = text_of(quote.text) if quote is not None else None
    if quote is not None:
        links.extend(entity_links(words, quote.entities, read_by_nlu=False))
    return Evidence(files + kept_text(words, came_from, True), _unique(links))


def message_links(message: Message) -> tuple[str, ...]:
    """Links in the message's own entities (text or caption) that its words do not show: `text_link`s."""
    if message.text is not None:
        return entity_links(message.text, message.entities, read_by_nlu=True)
    return entity_links(message.caption, message.caption_entities, read_by_nlu=True)


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


def _safely(read: Callable[[], Evidence]) -> Evidence:
    """Run an evidence reader; a shape the library let through with wrong JSON types gives nothing."""
    try:
        return read()
    except (AttributeError, TypeError, ValueError):
        return Evidence()


def message_inbound(message: Message, event_id: str, max_bytes: int) -> Inbound | None:
    """A private message as an `Inbound`; None when there is no one to answer or nothing was said (a pin)."""
    chat = int_of(message.chat.id)
    if chat is None:
        return None
    user = str(chat)
    words = text_of(message.text) if message.text is not None else text_of(message.caption)
    files = file_evidence(message, max_bytes)
    replied = _safely(lambda: replied_evidence(message, max_bytes))
    if message.forward_origin is not None:
        entities = message.entities if message.text is not None else message.caption_entities
        inside = _safely(lambda: Evidence((), entity_links(words, entities, read_by_nlu=False)))
        forwarded = forward_evidence(message.forward_origin, words, inside.links)
        usable = files + forwarded.attachments + replied.attachments
        links = _unique((*forwarded.links, *replied.links))
        refused = None if usable or links else unsupported_for_engine(message) or "other"
        return Inbound(CHANNEL, user, event_id, attachments=usable, links=links, unsupported=refused)
    links = _unique((*_safely(lambda: Evidence((), message_links(message))).links, *replied.links))
    files += replied.attachments
    if files:
        return Inbound(CHANNEL, user, event_id, text=words, attachments=files, links=links)
    refused = unsupported_for_engine(message)
    if words is not None:  # a caption on a video, say: its words are still read
        return Inbound(CHANNEL, user, event_id, text=words, links=links, unsupported=refused)
    if links:  # an empty reply to another chat's post, say
        return Inbound(CHANNEL, user, event_id, links=links, unsupported=refused)
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
