"""Stored images carry no metadata (SPEC §9): a citizen's photo, an LME's resolution photo
and a simulator upload are each fetched back through their signed link and parsed with
Pillow: no EXIF (camera serial, GPS), no XMP, no text chunks, no ICC profile, upright."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from core_api.files.images import MAX_IMAGE_PIXELS, clean_image

pytestmark = pytest.mark.reliability

RAHUL = "+919876500002"
RAJPUR_PIN = {"lat": 30.3781, "lng": 78.0892}
SERIAL = "CAM-SERIAL-4711-0815"
OWNER = "Sunita Devi"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
       b'photoshop:City="Dehradun" dc:creator="Sunita Devi"/></rdf:RDF></x:xmpmeta>')
GPS_IFD, EXIF_IFD = 0x8825, 0x8769
ORIENTATION, MAKE, ARTIST, BODY_SERIAL_NUMBER = 0x0112, 0x010F, 0x013B, 0xA431
# What a PNG may keep: the pixels and their palette or transparency, nothing else.
PNG_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


def _exif(orientation: int = 1) -> Image.Exif:
    """A phone camera's EXIF: who, which camera (serial number) and where (GPS)."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "PhoneMaker"
    exif[ARTIST] = OWNER
    exif.get_ifd(EXIF_IFD)[BODY_SERIAL_NUMBER] = SERIAL
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (30.0, 22.0, 41.16), 3: "E", 4: (78.0, 5.0, 21.12),
                29: "2024:05:01"})
    return exif


def _photo_jpeg(width: int = 64, height: int = 32, orientation: int = 6) -> bytes:
    """A landscape photo the camera held upright: EXIF says rotate 90° (orientation 6)."""
    image = Image.new("RGB", (width, height), (200, 40, 40))
    image.paste((40, 40, 200), (0, 0, width // 2, height))  # left half blue
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=_exif(orientation), xmp=XMP,
               comment=OWNER.encode())
    data = buffer.getvalue()
    assert SERIAL.encode() in data and b"photoshop:City" in data  # planted
    return data


def _photo_png() -> bytes:
    """A PNG with tEXt, zTXt and iTXt chunks, an ICC profile and an eXIf chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", OWNER)
    info.add_text("Comment", "taken at House 12, Rajpur Road", zip=True)
    info.add_itxt("Description", "सुनीता देवी का घर", lang="hi", tkey="विवरण")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.new("RGBA", (30, 20), (10, 120, 60, 200)).save(
        buffer, format="PNG", pnginfo=info, icc_profile=icc, exif=_exif())
    data = buffer.getvalue()
    assert {b"tEXt", b"zTXt", b"iTXt", b"iCCP", b"eXIf"} <= set(_png_chunks(data))
    return data


def _photo_webp() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 16), (90, 90, 20)).save(buffer, format="WEBP", exif=_exif(8),
                                                  xmp=XMP)
    return buffer.getvalue()


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunks.append(kind)
        offset += 12 + length
    return chunks


def _png_header_only(width: int, height: int) -> bytes:
    """A few hundred bytes that claim width x height pixels: a decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + chunk(b"IEND", b""))


def assert_no_metadata(data: bytes, image_format: str) -> Image.Image:
    """Parse ``data`` with Pillow and check that nothing but pixels came back."""
    image = Image.open(io.BytesIO(data))
    assert image.format == image_format
    exif = image.getexif()
    assert dict(exif) == {}, dict(exif)
    assert dict(exif.get_ifd(GPS_IFD)) == {} and dict(exif.get_ifd(EXIF_IFD)) == {}
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "Author",
                "Description"):
        assert key not in image.info, (key, image.info)
    assert getattr(image, "text", {}) == {}
    for planted in (SERIAL.encode(), OWNER.encode(), b"Exif\x00\x00", b"http://ns.adobe.com/xap",
                    b"xmpmeta", b"Rajpur Road", "सुनीता".encode()):
        assert planted not in data, planted
    if image_format == "PNG":
        assert set(_png_chunks(data)) <= PNG_PIXEL_CHUNKS, _png_chunks(data)
    return image


async def _fetch(client: httpx.AsyncClient, url: str, public_url: str) -> httpx.Response:
    served = await client.get(url.removeprefix(public_url))
    assert served.status_code == 200, served.text
    return served


async def test_complaint_photos_are_stored_without_metadata(
        client: httpx.AsyncClient, auth: Any, app: Any, reliability: Any) -> None:
    public_url = app.state.settings.public_url
    citizen = auth.service(RAHUL)
    gro, lme = await auth.staff("gro.dehradun"), await auth.staff("lme.electrical.dehradun")
    filed = await client.post("/api/v1/complaints", headers=citizen,
                              json={"type_code": "StreetLightNotWorking", **RAJPUR_PIN})
    assert filed.status_code == 201, filed.text
    cid = filed.json()["id"]

    async def upload(headers: dict[str, str], name: str, data: bytes,
                     content_type: str) -> dict[str, Any]:
        response = await client.post(f"/api/v1/complaints/{cid}/photos", headers=headers,
                                     files={"file": (name, data, content_type)})
        assert response.status_code == 201, response.text
        return response.json()

    # The citizen's photo: EXIF with a camera serial and a GPS position, XMP, a comment.
    jpeg = await upload(citizen, "pole.jpg", _photo_jpeg(), "image/jpeg")
    served = await _fetch(client, jpeg["url"], public_url)
    assert served.headers["content-type"] == "image/jpeg"
    assert jpeg["size"] == len(served.content)  # the size recorded is what is stored
    image = assert_no_metadata(served.content, "JPEG")
    assert image.size == (32, 64)  # turned upright as EXIF said, then the tag dropped
    top_left = image.convert("RGB").getpixel((2, 2))
    assert top_left[2] > 150 and top_left[0] < 100  # the blue half is now on top

    # A PNG with text chunks (tEXt, zTXt, iTXt with XMP), an ICC profile and eXIf.
    png = await upload(citizen, "pole.png", _photo_png(), "image/png")
    image = assert_no_metadata((await _fetch(client, png["url"], public_url)).content, "PNG")
    assert (image.size, image.mode) == ((30, 20), "RGBA")

    # The LME's resolution photo, attached to RESOLVE.
    lme_id = (await client.get("/api/v1/auth/me", headers=lme)).json()["user_id"]
    assigned = await client.post(f"/api/v1/complaints/{cid}/actions", headers=gro,
                                 json={"action": "ASSIGN", "assignee_id": lme_id})
    assert assigned.status_code == 200, assigned.text
    fixed = await upload(lme, "fixed.webp", _photo_webp(), "image/webp")
    resolved = await client.post(f"/api/v1/complaints/{cid}/actions", headers=lme, json={
        "action": "RESOLVE", "comment": "Bulb replaced", "photos": [fixed["key"]]})
    assert resolved.status_code == 200, resolved.text
    image = assert_no_metadata((await _fetch(client, fixed["url"], public_url)).content, "WEBP")
    assert image.size == (16, 48)  # orientation 8: turned the other way

    reliability.record(
        area="privacy", case="Photo metadata (EXIF GPS, camera serial, XMP, PNG text, ICC)",
        sent="a citizen's JPEG with EXIF (BodySerialNumber, Artist, GPS IFD), XMP and a "
             "comment; a PNG with tEXt/zTXt/iTXt, iCCP and eXIf chunks; an LME's WebP with "
             "EXIF and XMP; each fetched back by its signed /files/ link",
        did="each re-encoded in its own format (JPEG q85) after applying the EXIF "
            "orientation: no EXIF, GPS, XMP, text chunk, ICC profile or comment left; "
            "rotated photos come back with rotated dimensions",
        lost="nothing but metadata: pixels, format and orientation kept")


async def test_unreadable_and_oversized_images_are_refused(
        client: httpx.AsyncClient, auth: Any, app: Any, reliability: Any) -> None:
    citizen = auth.service(RAHUL)
    filed = await client.post("/api/v1/complaints", headers=citizen,
                              json={"type_code": "StreetLightNotWorking", **RAJPUR_PIN})
    cid = filed.json()["id"]
    good = _photo_jpeg()
    one_pixel_too_many = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    sent = {
        "corrupt JPEG (right magic bytes, no image)": (
            "a.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image/jpeg", 400,
            "file_type_mismatch"),
        "truncated JPEG": ("b.jpg", good[: len(good) // 2], "image/jpeg", 400,
                           "file_type_mismatch"),
        "WAV file declared as WebP (RIFF)": (
            "c.webp", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40, "image/webp", 400,
            "file_type_mismatch"),
        f"PNG header of {one_pixel_too_many} x {one_pixel_too_many} pixels": (
            "d.png", _png_header_only(one_pixel_too_many, one_pixel_too_many), "image/png",
            413, "image_too_large"),
        "PNG header of 100000 x 100000 pixels (10 gigapixels)": (
            "e.png", _png_header_only(100_000, 100_000), "image/png", 413, "image_too_large"),
    }
    for what, (name, data, content_type, status, code) in sent.items():
        response = await client.post(f"/api/v1/complaints/{cid}/photos", headers=citizen,
                                     files={"file": (name, data, content_type)})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), what
    simulated = await client.post("/simulator/media", files={"file": (
        "f.png", _png_header_only(100_000, 100_000), "image/png")})
    assert simulated.status_code == 413, simulated.text
    detail = await client.get(f"/api/v1/complaints/{cid}", headers=citizen)
    assert detail.json()["photo_count"] == 0
    stored = [p for p in Path(app.state.settings.data_dir, "files").rglob("*") if p.is_file()]
    assert stored == []
    reliability.record(
        area="privacy", case="Corrupt images and decompression bombs",
        sent=f"{len(sent) + 1} uploads: {'; '.join(sent)}; a bomb to /simulator/media",
        did="corrupt files refused with 400 file_type_mismatch; images over "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels refused from their header with 413 "
            "image_too_large before any pixel is decoded",
        lost="nothing; 0 files stored, 0 photos attached")


async def test_simulator_uploads_are_stored_without_metadata(
        client: httpx.AsyncClient, app: Any) -> None:
    stored = await client.post("/simulator/media",
                               files={"file": ("pole.jpg", _photo_jpeg(), "image/jpeg")})
    assert stored.status_code == 201, stored.text
    body = stored.json()
    served = await _fetch(client, body["url"], app.state.settings.public_url)
    assert body["size"] == len(served.content)
    assert assert_no_metadata(served.content, "JPEG").size == (32, 64)


@pytest.mark.parametrize(("orientation", "size"), [
    (1, (64, 32)), (2, (64, 32)), (3, (64, 32)), (4, (64, 32)),
    (5, (32, 64)), (6, (32, 64)), (7, (32, 64)), (8, (32, 64)),
])
def test_every_exif_orientation_is_applied(orientation: int, size: tuple[int, int]) -> None:
    cleaned = clean_image(_photo_jpeg(orientation=orientation), "image/jpeg")
    assert assert_no_metadata(cleaned, "JPEG").size == size


def test_modes_and_transparency_survive() -> None:
    palette = Image.new("P", (8, 8))
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", transparency=0)
    image = assert_no_metadata(clean_image(buffer.getvalue(), "image/png"), "PNG")
    assert (image.mode, image.info.get("transparency")) == ("P", 0)
    for mode, image_format, content_type in (("L", "JPEG", "image/jpeg"),
                                             ("CMYK", "JPEG", "image/jpeg"),
                                             ("LA", "PNG", "image/png"),
                                             ("RGBA", "WEBP", "image/webp")):
        buffer = io.BytesIO()
        Image.new(mode, (8, 8)).save(buffer, format=image_format)
        image = assert_no_metadata(clean_image(buffer.getvalue(), content_type), image_format)
        assert image.mode == mode, (mode, image.mode)
