"""Screenshot upload in the web chat (POST /webchat/api/upload), end to end through the real app and
database (SQLite and PostgreSQL): the file is checked by its content, images lose their EXIF and GPS
before they are stored, the stored copy's sha256 goes with the report's evidence, the copy goes with
retention, and sizes and floods are refused with the right status."""

from __future__ import annotations

import hashlib
import io
import logging
import stat
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from PIL import Image, ImageCms, PngImagePlugin
from sqlalchemy import select, update

from bot.app import create_app
from bot.channels.webchat_upload import clean_image
from bot.shared.config import Settings, load_settings
from responses import catalog
from storage.evidence_files import evidence_dir
from storage.repository import Storage, utcnow
from storage.safety import Safety
from storage.schema import evidence_files
from tests.conftest import SECRET
from tests.test_webchat import CODE, WebChat

UPLOAD = "/webchat/api/upload"
GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE = 0x010F


def jpeg_with_gps(width: int = 40, height: int = 20, orientation: int = 6) -> bytes:
    """A JPEG whose EXIF holds a camera make, a GPS position (Islamabad) and an orientation (6: the
    picture must be turned 90 degrees clockwise to be upright)."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    for x in range(width // 2):  # left half blue, so the turn can be seen in the stored copy
        for y in range(height):
            image.putpixel((x, y), (30, 30, 200))
    exif = Image.Exif()
    exif[MAKE] = "PhoneMaker"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (33.0, 41.0, 3.0), 3: "E", 4: (73.0, 2.0, 52.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), quality=95)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the fixture does carry GPS
    return data


def png(width: int = 30, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (10, 120, 10, 255)).save(out, format="PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload_settings(settings: Settings, **extra: object) -> Settings:
    return load_settings(
        database_url=settings.database_url,
        secret_key=SECRET,
        data_dir=settings.data_dir,
        webchat_ip_limit=0,
        **extra,
    )


Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def make_client(settings: Settings, storage: Storage) -> AsyncIterator[Client]:
    """A client of an app whose settings are the test's plus `extra`."""
    clients: list[httpx.AsyncClient] = []

    def make(**extra: object) -> httpx.AsyncClient:
        app = create_app(upload_settings(settings, **extra), storage)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(http)
        return http

    yield make
    for http in clients:
        await http.aclose()


async def upload(
    chat: WebChat,
    data: bytes,
    name: str = "screenshot.jpg",
    mime: str = "image/jpeg",
    expect: int = 200,
) -> httpx.Response:
    response = await chat.http.post(
        UPLOAD, data={"session": chat.session}, files={"file": (name, data, mime)}
    )
    assert response.status_code == expect, response.text
    if expect == 200:
        chat.messages = response.json()["messages"]
    return response


async def started(chat: WebChat, lang: str = "en") -> WebChat:
    await chat.send("/start")
    await chat.press(f"lang:{lang}")
    return chat


def copy_of(settings: Settings, name: str) -> bytes:
    return (evidence_dir(settings.data_dir, "webchat") / name).read_bytes()


async def photo_evidence(storage: Storage, code: str) -> list[dict[str, object]]:
    return [e for e in await storage.reports.evidence_of(code) if e["kind"] in ("photo", "document")]


async def test_a_screenshot_mid_report_reaches_the_report_without_exif_or_gps_and_with_its_sha256(
    client: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    chat = await started(WebChat(client))
    await chat.press("menu:report")
    await chat.send("https://www.facebook.com/Some.Page/")
    await chat.press("cat:propaganda")
    summary = chat.buttons
    assert "confirm:submit" in summary
    await upload(chat, jpeg_with_gps())  # at the summary: kept, and the summary offered again
    assert chat.buttons == summary
    await chat.press("confirm:submit")
    match = CODE.search(chat.said)
    assert match, chat.said
    [photo] = await photo_evidence(storage, match.group(1))
    assert photo["kind"] == "photo"
    name = str(photo["fingerprint"])
    stored = copy_of(settings, name)
    assert photo["sha256"] == sha256(stored) == name
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG"
    assert not image.getexif() and "exif" not in image.info  # no EXIF at all, so no GPS and no camera
    assert b"PhoneMaker" not in stored and b"Exif" not in stored
    assert image.size == (20, 40)  # the orientation was applied before the tag went
    assert image.getpixel((10, 5))[2] > 150  # turned clockwise: the blue left half is now on top
    assert image.getpixel((10, 35))[0] > 150

    path = evidence_dir(settings.data_dir, "webchat") / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [name]  # no partial file left beside it
    async with storage.reader.connect() as conn:
        [row] = (await conn.execute(select(evidence_files))).all()
    assert (row.channel, row.name, row.sha256, row.size) == ("webchat", name, name, len(stored))


async def test_a_screenshot_at_the_link_step_is_kept_as_the_evidence_of_a_report_without_a_link(
    client: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    chat = await started(WebChat(client))
    await chat.press("menu:report")
    await upload(chat, jpeg_with_gps())
    await chat.press("cat:propaganda")
    await chat.press("confirm:submit")
    match = CODE.search(chat.said)
    assert match, chat.said
    [photo] = await photo_evidence(storage, match.group(1))
    case = await storage.reports.case_of(match.group(1))
    assert case is not None and case["canonical_url"] is None  # a case of the screenshot itself
    assert photo["sha256"] == sha256(copy_of(settings, str(photo["fingerprint"])))


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_a_screenshot_at_the_menu_starts_a_report_and_a_pdf_is_kept_as_a_document(
    client: httpx.AsyncClient, storage: Storage, settings: Settings, lang: str
) -> None:
    chat = await started(WebChat(client), lang)
    await upload(chat, png(), "shot.png", "image/png")
    assert chat.said.strip()
    await upload(chat, PDF, "leaflet.pdf", "application/pdf")
    await chat.send("https://t.me/some_channel")
    if "cat:propaganda" not in chat.buttons:  # still asked for the link: pressed on regardless
        pytest.fail(f"the report did not go on to the category: {chat.said}")
    await chat.press("cat:propaganda")
    await chat.press("confirm:submit")
    match = CODE.search(chat.said)
    assert match, chat.said
    files = {e["kind"]: e for e in await photo_evidence(storage, match.group(1))}
    assert set(files) == {"photo", "document"}
    assert copy_of(settings, str(files["document"]["fingerprint"])) == PDF  # a PDF is kept as sent
    assert files["document"]["sha256"] == sha256(PDF)
    stored_png = copy_of(settings, str(files["photo"]["fingerprint"]))
    assert files["photo"]["sha256"] == sha256(stored_png)
    assert Image.open(io.BytesIO(stored_png)).format == "PNG"


@pytest.mark.parametrize(
    ("data", "name", "mime"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200, "photo.png", "image/png"),
        (b"<!doctype html><script>alert(1)</script>", "photo.png", "image/png"),
        (b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10, "photo.png", "image/png"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.gif", "image/gif"),
        (b"just some text that says %PDF-1.4 later", "doc.pdf", "application/pdf"),
    ],
    ids=["exe", "html", "broken-png", "gif", "pdf-marker-not-first"],
)
async def test_what_is_neither_an_image_nor_a_pdf_is_refused_415_by_its_content(
    client: httpx.AsyncClient, settings: Settings, data: bytes, name: str, mime: str
) -> None:
    chat = await started(WebChat(client), "ur")
    await chat.press("menu:report")
    response = await upload(chat, data, name, mime, expect=415)
    [message] = response.json()["messages"]
    assert message["text"] == catalog().text("upload.wrong_type", "ur")
    assert message["lang"] == "ur"
    assert not evidence_dir(settings.data_dir, "webchat").exists() or not any(
        evidence_dir(settings.data_dir, "webchat").iterdir()
    )


async def test_an_oversized_upload_is_refused_413_without_reading_it_all(
    make_client: Client, settings: Settings
) -> None:
    http = make_client(webchat_max_upload_mb=1)
    chat = await started(WebChat(http), "ur-Latn")
    boundary = "----raabtaTestBoundary"
    sent = 0
    total_chunks = 200  # 200 × 64 KiB = 12.5 MiB, streamed without a Content-Length

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="session"\r\n\r\n{chat.session}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        for _ in range(total_chunks):
            sent += 1
            yield b"\x00" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await http.post(
        UPLOAD, content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413, response.text
    assert response.json()["messages"][0]["text"] == catalog().text("upload.too_large", "ur-Latn", limit=1)
    assert sent < total_chunks / 4  # stopped soon after the limit, not at the end

    declared = await http.post(
        UPLOAD,
        content=b"x" * 100,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(50 * 1024 * 1024),
        },
    )
    assert declared.status_code == 413

    # Just over the limit inside a well-formed form: the file itself is measured too.
    over = await upload(chat, b"%PDF-" + b"0" * (1024 * 1024), "big.pdf", "application/pdf", expect=413)
    assert "error" in over.json()
    assert not evidence_dir(settings.data_dir, "webchat").exists()


async def test_an_upload_flood_is_refused_429_with_retry_after_per_session_and_per_address(
    make_client: Client,
) -> None:
    http = make_client(webchat_uploads_per_session=2, webchat_uploads_per_address=5)
    chat = await started(WebChat(http), "ur")
    await chat.press("menu:report")
    await upload(chat, png(), "a.png", "image/png")
    await upload(chat, png(31, 31), "b.png", "image/png")
    refused = await upload(chat, png(32, 32), "c.png", "image/png", expect=429)
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    [message] = refused.json()["messages"]
    assert message["text"] == catalog().text("upload.too_many", "ur") and message["lang"] == "ur"

    others = [await started(WebChat(http)) for _ in range(3)]
    await upload(others[0], png(33, 33), "d.png", "image/png")  # the address's 4th ...
    await upload(others[1], png(34, 34), "e.png", "image/png")  # ... and 5th (the refusal above counted)
    flood = await upload(others[2], png(35, 35), "f.png", "image/png", expect=429)
    assert int(flood.headers["Retry-After"]) > 0
    assert flood.json()["messages"][0]["text"] == catalog().text("upload.too_many", "en")


async def test_a_missing_malformed_or_unknown_session_is_a_clear_400(client: httpx.AsyncClient) -> None:
    files = {"file": ("a.png", png(), "image/png")}
    absent = await client.post(UPLOAD, files=files)
    assert absent.status_code == 400 and "session" in absent.json()["error"]
    forged = await client.post(UPLOAD, data={"session": "../../etc/passwd"}, files=files)
    assert forged.status_code == 400 and "session" in forged.json()["error"]
    unknown = await client.post(UPLOAD, data={"session": uuid.uuid4().hex}, files=files)
    assert unknown.status_code == 400 and "start" in unknown.json()["error"]
    chat = await started(WebChat(client))
    no_file = await client.post(UPLOAD, data={"session": chat.session})
    assert no_file.status_code == 400 and "file" in no_file.json()["error"]
    not_a_form = await client.post(UPLOAD, json={"session": chat.session})
    assert not_a_form.status_code == 400 and "multipart" in not_a_form.json()["error"]
    assert (await client.get(UPLOAD)).status_code == 405


async def test_the_copy_goes_with_retention_and_the_hash_stays(
    client: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    chat = await started(WebChat(client))
    await chat.press("menu:report")
    await upload(chat, jpeg_with_gps())
    await chat.send("https://www.facebook.com/Some.Page/")
    await chat.press("cat:propaganda")
    await chat.press("confirm:submit")
    match = CODE.search(chat.said)
    assert match, chat.said
    [photo] = await photo_evidence(storage, match.group(1))
    path = evidence_dir(settings.data_dir, "webchat") / str(photo["fingerprint"])
    assert path.exists()
    async with storage.writer.begin() as conn:
        await conn.execute(update(evidence_files).values(stored_at=utcnow() - timedelta(days=200)))

    done = await Safety(storage).purge(180, settings.data_dir)

    assert done.evidence_files == 1 and not path.exists()
    [after] = await photo_evidence(storage, match.group(1))
    assert after["sha256"] == photo["sha256"]


async def test_files_are_never_served_back_and_names_never_logged(
    client: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chat = await started(WebChat(client))
    await chat.press("menu:report")
    await upload(chat, png(), "my-cousins-name-secret.png", "image/png")
    await upload(chat, b"MZ\x90\x00", "my-cousins-name-secret.exe", "image/png", expect=415)
    [stored] = evidence_dir(settings.data_dir, "webchat").iterdir()
    ours = "\n".join(
        f"{r.getMessage()} {getattr(r, 'fields', '')}"
        for r in caplog.records
        if r.name.split(".")[0] in ("bot", "storage", "nlu", "cyberunit")
    )
    assert "webchat_upload_kept" in ours and "webchat_upload_refused" in ours
    assert "my-cousins-name-secret" not in ours
    assert stored.name not in ours  # not even the fingerprint of the file
    for path in (
        f"/static/chat/{stored.name}",
        f"/webchat/api/upload/{stored.name}",
        f"/evidence/{stored.name}",
    ):
        assert (await client.get(path)).status_code == 404


async def test_the_session_may_come_after_the_file_and_a_retried_id_is_kept_once(
    client: httpx.AsyncClient, storage: Storage, settings: Settings
) -> None:
    chat = await started(WebChat(client))
    await chat.press("menu:report")
    boundary = "b0undary"
    shot = png()
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + shot
    body += (
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="id"\r\n\r\nupload-1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="session"\r\n\r\n{chat.session}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    headers = {"Content-Type": f'multipart/form-data; boundary="{boundary}"'}
    first = await client.post(UPLOAD, content=body, headers=headers)
    assert first.status_code == 200, first.text
    again = await client.post(UPLOAD, content=body, headers=headers)  # the page retried after a timeout
    assert again.status_code == 200 and again.json() == first.json()
    chat.messages = again.json()["messages"]
    await chat.press("cat:propaganda")
    await chat.press("confirm:submit")
    match = CODE.search(chat.said)
    assert match, chat.said
    [photo] = await photo_evidence(storage, match.group(1))
    assert photo["sha256"] == sha256(copy_of(settings, str(photo["fingerprint"])))


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def metadata_cases() -> dict[str, bytes]:
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Secret Name")
    text.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>Secret GPS</x:xmpmeta>")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[MAKE] = "Secret Phone"
    rgba = Image.new("RGBA", (12, 12), (1, 2, 3, 128))
    return {
        "png-text-xmp-icc": encoded(Image.new("RGB", (12, 12)), "PNG", pnginfo=text, icc_profile=srgb),
        "png-exif": encoded(rgba, "PNG", exif=exif.tobytes()),
        "png-palette": encoded(Image.new("P", (12, 12)), "PNG", transparency=0),
        "png-16-bit": encoded(Image.new("I;16", (12, 12)), "PNG"),
        "jpeg-cmyk-icc": encoded(Image.new("CMYK", (12, 12)), "JPEG", icc_profile=srgb, exif=exif.tobytes()),
        "webp-exif-xmp": encoded(rgba, "WEBP", exif=exif.tobytes(), icc_profile=srgb, xmp=b"Secret GPS"),
    }


@pytest.mark.parametrize("name", sorted(metadata_cases()))
def test_every_kind_of_metadata_is_gone_from_the_kept_image(name: str) -> None:
    data = metadata_cases()[name]
    if name not in ("png-palette", "png-16-bit"):  # those two test modes that need converting
        assert b"Secret" in data  # the fixture does carry the metadata
    kept = clean_image(data)
    image = Image.open(io.BytesIO(kept))
    assert image.format == Image.open(io.BytesIO(data)).format  # the same format, encoded again
    assert not image.getexif()
    assert not set(image.info) & {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "Author", "comment"}
    assert b"Secret" not in kept
