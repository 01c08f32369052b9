"""Screenshots and PDFs sent from the web chat: `POST /webchat/api/upload` (README, "Web chat").

The page posts multipart/form-data with the fields `session` (the chat's session id, best sent first) and
`file`, and an optional `id` (as for messages: a retry with the same id is answered once). The answer has
the shape and status codes of `POST /webchat/api/messages`: `{"messages": [...]}`; refusals also carry
`{"error": ...}` in plain English for the page's log.

- The body is read as it streams in, never more than RAABTA_WEBCHAT_MAX_UPLOAD_MB (plus a little for the
  form) and within RAABTA_WEBCHAT_UPLOAD_SECONDS: larger is 413 as soon as the limit is passed (or at
  once, from a declared Content-Length), slower is 408.
- Uploads an hour from one client address and from one session (RAABTA_WEBCHAT_UPLOADS_PER_ADDRESS,
  RAABTA_WEBCHAT_UPLOADS_PER_SESSION) beyond the limit: 429 with Retry-After. Only the first part of the
  body is read before these checks.
- What the file is comes from its content alone, never its name or declared type: a PDF starts with
  `%PDF-`; an image is what Pillow opens as PNG, JPEG or WebP. Anything else: 415.
- An image is decoded, turned upright by its EXIF orientation and encoded again from its pixels alone, in
  its own format: EXIF (GPS, camera, times), XMP, ICC profiles and text chunks are gone before anything is
  written. A PDF is kept as sent.
- The copy is written to `<data dir>/evidence/webchat/<sha256 of the copy>` (mode 0600) through the
  evidence store the app passes in, like Telegram's downloads: the hash is recorded with the evidence,
  and the retention purge (`raabta purge`) deletes the copy. Nothing serves it back: analysts see the
  kind, fingerprint and sha256 in the console and the API, as for Telegram files.
- The upload then goes through the pipeline as an `Inbound` with an `Attachment` ("photo" or
  "document") whose fingerprint, and reference, is that hash: the report flow keeps it as evidence.
- The session must belong to a conversation already (the page starts one with its first message).

File names and contents are never logged; refusals log only their reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import math
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import logs
from bot.channels.evidence import EvidenceStore, EvidenceUnavailable, write_copy
from bot.channels.fallback import handle_or_fallback
from bot.channels.webchat import CHANNEL, EVENT_ID, SESSION, message
from bot.dialogue import Attachment, Inbound, Reply, State
from bot.pipeline import Handled, Pipeline
from bot.shared.config import Settings
from responses import LANGUAGES

log = logging.getLogger(__name__)
PATH = "/webchat/api/upload"
FORM_OVERHEAD = 16 * 1024  # bytes of the form around the file: boundaries, part headers, the session
HEAD = 4 * 1024  # bytes read before the limits are checked: enough for the session field sent first
MAX_PARTS = 8
MAX_PIXELS = 50_000_000  # a 48-megapixel phone photo passes; decoding is bounded by this
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
HOUR = 3600.0
DECODING = 2  # images decoded at once by one app (each may take a few hundred MB)

Kind = Literal["photo", "document"]


class Refused(Exception):
    """The upload is refused: the status, a plain-English reason, and the text key to show the citizen."""

    def __init__(self, status: int, reason: str, key: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.key = key


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_bytes: int
    per_session: int  # uploads an hour; 0: no limit
    per_address: int
    seconds: float  # for the whole body

    @classmethod
    def of(cls, settings: Settings) -> UploadLimits:
        return cls(
            settings.webchat_max_upload_mb * 1024 * 1024,
            settings.webchat_uploads_per_session,
            settings.webchat_uploads_per_address,
            float(settings.webchat_upload_seconds),
        )


class HourlyLimit:
    """At most `limit` events an hour per key (a sliding window, in this process); 0 turns it off."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic, period: float = HOUR) -> None:
        self.limit = limit
        self.clock = clock
        self.period = period
        self._seen: dict[str, deque[float]] = {}
        self._pruned = clock()

    def wait(self, key: str) -> int | None:
        """None, and the event counted, when allowed; else the whole seconds until it would be."""
        if self.limit <= 0:
            return None
        now = self.clock()
        self._prune(now)
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.period:
            seen.popleft()
        if len(seen) >= self.limit:
            return max(1, math.ceil(seen[0] + self.period - now))
        seen.append(now)
        return None

    def _prune(self, now: float) -> None:
        if len(self._seen) > 50_000 or now - self._pruned >= self.period:
            self._seen = {k: v for k, v in self._seen.items() if v and v[-1] > now - self.period}
            self._pruned = now


# --- reading the form -------------------------------------------------------------------------------

_BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))', re.IGNORECASE)
_DISPOSITION = re.compile(rb"^content-disposition:\s*form-data\s*;(.*)$", re.IGNORECASE | re.MULTILINE)
_NAME = re.compile(rb'(?:^|;)\s*name="([^"]*)"')


def boundary_of(content_type: str) -> bytes | None:
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    found = _BOUNDARY.search(content_type)
    if not found:
        return None
    return (found.group(1) or found.group(2)).encode("latin-1", "replace")


def form_fields(body: bytes, boundary: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body, by name (file names ignored). Raises Refused (400)."""
    dash = b"--" + boundary
    start = body.find(dash)
    if start < 0:
        raise Refused(400, "the body is not multipart/form-data with the declared boundary")
    fields: dict[str, bytes] = {}
    at = start + len(dash)
    for _ in range(MAX_PARTS + 1):
        if body[at : at + 2] == b"--":
            return fields
        if body[at : at + 2] != b"\r\n":
            break
        end = body.find(b"\r\n" + dash, at + 2)
        if end < 0:
            break
        part = body[at + 2 : end]
        split = part.find(b"\r\n\r\n")
        headers = part[: max(split, 0)] + b"\r\n"
        found = _DISPOSITION.search(headers)
        name = _NAME.search(found.group(1)) if found else None
        if split < 0 or name is None:
            raise Refused(400, "each part of the form needs a Content-Disposition with a name")
        key = name.group(1).decode("utf-8", "replace")
        if key in fields:
            raise Refused(400, f"the field {key!r} was sent twice")
        fields[key] = part[split + 4 :]
        at = end + 2 + len(dash)
    raise Refused(400, f"the form is malformed or has more than {MAX_PARTS} parts")


def session_in(head: bytes, boundary: bytes) -> str | None:
    """The session field, when it came first in the form and whole within `head`."""
    dash = b"--" + boundary
    start = head.find(dash)
    if start < 0 or head[start + len(dash) : start + len(dash) + 2] != b"\r\n":
        return None
    end = head.find(b"\r\n" + dash, start + len(dash) + 2)
    if end < 0:
        return None
    try:
        fields = form_fields(head[start : end + 2 + len(dash)] + b"--", boundary)
    except Refused:
        return None
    value = fields.get("session", b"").decode("ascii", "replace")
    return value if SESSION.match(value) else None


class Body:
    """The request body, read as it arrives: never more than `cap` bytes, all of it within `seconds`."""

    def __init__(self, request: Request, cap: int, seconds: float) -> None:
        self.cap = cap
        self.data = bytearray()
        self.done = False
        self._chunks: AsyncIterator[bytes] = request.stream().__aiter__()
        self._deadline = asyncio.get_running_loop().time() + seconds
        self._seconds = seconds

    async def read(self, until: int | None = None) -> None:
        """Read on until `until` bytes are in (or the end). Raises Refused: 413 past the cap, 408 late,
        400 when the client went away."""
        try:
            async with asyncio.timeout_at(self._deadline):
                while not self.done and (until is None or len(self.data) < until):
                    try:
                        chunk = await anext(self._chunks)
                    except StopAsyncIteration:
                        self.done = True
                        break
                    if len(self.data) + len(chunk) > self.cap:
                        raise Refused(413, "the file is larger than the limit", "upload.too_large")
                    self.data += chunk
        except TimeoutError:
            raise Refused(408, f"the upload did not arrive within {self._seconds:g} seconds") from None
        except ClientDisconnect:
            raise Refused(400, "the client went away before the upload arrived") from None


# --- what the file is, and the copy kept --------------------------------------------------------------


def kind_of(data: bytes) -> Kind | Literal["image"] | None:
    """What the content may be: "document" for a PDF, "image" for Pillow to decide, None for neither."""
    if data.startswith(b"%PDF-"):
        return "document"
    if data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    ):
        return "image"
    return None


def clean_image(data: bytes) -> bytes:
    """The image upright and encoded again from its pixels alone (no EXIF, GPS, XMP, ICC or text), in its
    own format. Raises Refused: 415 when Pillow cannot read it as PNG, JPEG or WebP, 413 when too many
    pixels."""
    try:
        return _pixels_only(data)
    except Refused:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError, Warning):
        # Warning: raised, not printed, where warnings are errors (the tests); one means a damaged file
        raise Refused(415, "the file is not an image we can read", "upload.wrong_type") from None


def _pixels_only(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
        if image.width * image.height > MAX_PIXELS:
            raise Refused(413, "the image has too many pixels", "upload.too_large")
        fmt = str(image.format)
        image.load()
        upright = ImageOps.exif_transpose(image)  # the EXIF orientation applied to the pixels
    if fmt == "JPEG":
        mode = "L" if upright.mode == "L" else "RGB"
    elif upright.mode in ("L", "LA", "RGB", "RGBA"):
        mode = upright.mode
    else:
        mode = "RGBA" if upright.has_transparency_data else "RGB"
    if upright.mode != mode:
        upright = upright.convert(mode)
    pixels = Image.frombytes(mode, upright.size, upright.tobytes())  # a new image: no info, no EXIF
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    pixels.save(out, format=fmt, **options)
    return out.getvalue()


async def stored_form(data: bytes, decoding: asyncio.Semaphore) -> tuple[Kind, bytes]:
    """What the file is and the bytes to keep, images decoded `decoding` at a time. Raises Refused (415,
    or 413 for too many pixels)."""
    kind = kind_of(data)
    if kind == "document":
        return "document", data
    if kind is None:
        raise Refused(415, "the file is neither a PNG, JPEG or WebP image nor a PDF", "upload.wrong_type")
    async with decoding:
        return "photo", await asyncio.to_thread(clean_image, data)


# --- the route --------------------------------------------------------------------------------------


class Uploads:
    def __init__(self, pipeline: Pipeline, store: EvidenceStore, limits: UploadLimits) -> None:
        self.pipeline = pipeline
        self.store = store
        self.limits = limits
        self.by_session = HourlyLimit(limits.per_session)
        self.by_address = HourlyLimit(limits.per_address)
        self.decoding = asyncio.Semaphore(DECODING)

    async def conversation(self, session: str) -> tuple[bool, str]:
        """Whether the session has a conversation, and its language (English when not known)."""
        stored = await self.pipeline.storage.load_conversation(self.pipeline.pseudonyms.of(CHANNEL, session))
        lang = State.from_dict(stored.state).lang if stored.version else None
        return stored.version > 0, lang if lang in LANGUAGES else "en"

    def refuse(self, refused: Refused, lang: str) -> JSONResponse:
        logs.event(log, "webchat_upload_refused", status=refused.status)
        body: dict[str, object] = {"error": refused.reason}
        if refused.key is not None:
            limit = self.limits.max_bytes // (1024 * 1024)
            text = self.pipeline.texts.text(refused.key, lang, limit=limit)
            body["messages"] = [message(Reply(text, kind="notice", lang=lang))]
        return JSONResponse(body, status_code=refused.status)

    def too_many(self, wait: int, lang: str) -> JSONResponse:
        logs.event(log, "webchat_upload_refused", status=429)
        text = self.pipeline.texts.text("upload.too_many", lang)
        return JSONResponse(
            {"error": "too many uploads", "messages": [message(Reply(text, kind="notice", lang=lang))]},
            status_code=429,
            headers={"Retry-After": str(wait)},
        )

    async def post(self, request: Request) -> Response:
        boundary = boundary_of(request.headers.get("content-type", ""))
        if boundary is None:
            return self.refuse(
                Refused(400, "send multipart/form-data with the fields session and file"), "en"
            )
        address = request.client.host if request.client else "-"
        body = Body(request, self.limits.max_bytes + FORM_OVERHEAD, self.limits.seconds)
        lang = "en"
        try:
            await body.read(HEAD)
            session = session_in(bytes(body.data[:HEAD]), boundary)
            known, lang = await self.conversation(session) if session is not None else (True, "en")
            if (wait := self.by_address.wait(address)) is not None:
                return self.too_many(wait, lang)
            if not known:
                raise Refused(400, "no chat with this session: start the chat first")
            if session is not None and (wait := self.by_session.wait(session)) is not None:
                return self.too_many(wait, lang)
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > body.cap:
                raise Refused(413, "the file is larger than the limit", "upload.too_large")
            await body.read()
            fields = form_fields(bytes(body.data), boundary)
            body.data.clear()
            given = fields.get("session", b"").decode("ascii", "replace")
            if not SESSION.match(given):
                raise Refused(400, "session must be 8 to 128 letters, digits, - or _")
            if session is None:  # sent after the file: checked now
                session = given
                known, lang = await self.conversation(session)
                if not known:
                    raise Refused(400, "no chat with this session: start the chat first")
                if (wait := self.by_session.wait(session)) is not None:
                    return self.too_many(wait, lang)
            elif given != session:
                raise Refused(400, "the field 'session' was sent twice")
            event_id = fields.get("id", b"").decode("ascii", "replace") or uuid.uuid4().hex
            if not EVENT_ID.match(event_id):
                raise Refused(400, "id must be 1 to 128 letters, digits or . _ : -")
            data = fields.get("file")
            if not data:
                raise Refused(400, "send the file in the field 'file'")
            if len(data) > self.limits.max_bytes:
                raise Refused(413, "the file is larger than the limit", "upload.too_large")
            kind, kept = await stored_form(data, self.decoding)
        except Refused as refused:
            return self.refuse(refused, lang)
        return await self.keep_and_handle(session, event_id, kind, kept, lang)

    async def keep_and_handle(
        self, session: str, event_id: str, kind: Kind, kept: bytes, lang: str
    ) -> Response:
        name = hashlib.sha256(kept).hexdigest()
        try:
            await asyncio.to_thread(write_copy, self.store.directory(CHANNEL), name, kept)
        except OSError as exc:
            logs.event(log, "webchat_upload_not_written", error=type(exc).__name__)
            text = self.pipeline.texts.text("common.unavailable", lang)
            return JSONResponse(
                {
                    "error": "the file could not be kept; send it again",
                    "messages": [message(Reply(text, lang=lang))],
                },
                status_code=503,
            )
        inbound = Inbound(CHANNEL, session, event_id, attachments=(Attachment(kind, name, name),))
        handled = await handle_or_fallback(self.pipeline, inbound, lang)
        if handled.saved and not handled.duplicate:
            try:
                await self.store.record(CHANNEL, name, name, len(kept))
            except EvidenceUnavailable:  # the copy is on disk: the next retention sweep records it
                logs.event(log, "webchat_upload_unrecorded")
            logs.event(log, "webchat_upload_kept", kind=kind, bytes=len(kept))
        return answer(handled)


def answer(handled: Handled) -> JSONResponse:
    """As `POST /webchat/api/messages` answers: 200; 429 with Retry-After for a flood, 403 when blocked;
    503 when nothing could be kept."""
    body = {"messages": [message(r) for r in handled.replies]}
    if handled.refused and handled.retry_after is not None:
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(handled.retry_after)})
    if handled.refused:
        return JSONResponse(body, status_code=403)
    return JSONResponse(body, status_code=200 if handled.saved else 503)


def routes(settings: Settings, pipeline: Pipeline, store: EvidenceStore) -> list[Route]:
    """`POST /webchat/api/upload`, keeping copies through `store` (the app's `StoredEvidence`)."""
    uploads = Uploads(pipeline, store, UploadLimits.of(settings))
    return [Route(PATH, uploads.post, methods=["POST"])]
