"""Stored images carry no metadata (SPEC §9): every image is decoded and encoded again.

A phone photo's EXIF block holds the GPS position it was taken at, the camera's serial
number, the owner's name and the time; XMP packets, PNG text chunks and ICC profiles
can carry more. ``clean_image`` keeps only the pixels: the EXIF orientation is applied
first (so the photo stays upright once the tag is gone), colours in an embedded ICC
profile are converted to sRGB, and the image is written again in the format it came in
(JPEG quality 85, WebP quality 85, PNG lossless) with nothing else.

Decoding is bounded: an image of more than ``MAX_IMAGE_PIXELS`` pixels is refused from
its header, before any pixel is decoded (a decompression bomb is a small file), and at
most ``_DECODERS`` images are decoded at once. The work takes CPU: call it off the event
loop (``asyncio.to_thread``), as ``LocalFileStore.put`` does.
"""

from __future__ import annotations

import asyncio
import io
import struct
import threading
from functools import cache

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from core_api.errors import BadRequest, PayloadTooLarge

# 50 megapixels: a 50 MP phone camera's full-size 8160 x 6120 photo fits (about 150 MB
# while decoded); Pillow's own bomb guard (Image.MAX_IMAGE_PIXELS) starts at 89 MP.
MAX_IMAGE_PIXELS = 50_000_000
QUALITY = 85
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# Modes each format can write; anything else is converted to RGB(A) first.
_MODES = {
    "JPEG": {"L", "RGB", "CMYK"},
    "PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"},
    "WEBP": {"RGB", "RGBA"},
}
_DECODERS = threading.BoundedSemaphore(2)  # images decoded at once (memory, 2 cores)


class CleanedImage(bytes):
    """Bytes that ``clean_image`` wrote: storing them again does not re-encode them."""

    content_type: str


def _unreadable() -> BadRequest:
    return BadRequest("The file content does not match its type.", code="file_type_mismatch")


def _too_many_pixels(width: int | None = None, height: int | None = None) -> PayloadTooLarge:
    size = f": {width} x {height} pixels" if width and height else ""
    return PayloadTooLarge(
        f"The image is too large{size}; at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels "
        "are accepted.", code="image_too_large", details={"max_pixels": MAX_IMAGE_PIXELS})


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    """The sRGB profile, made on the first photo with a profile (not at import time)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """The image's colours in sRGB when it carries another profile (Display P3 photos)."""
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(image, source, _srgb(), outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # an unusable profile: keep the pixels as they are, drop the profile
    return converted if converted is not None else image


def clean_image(data: bytes, content_type: str) -> CleanedImage:
    """``data`` (a JPEG, PNG or WebP whose type was checked) encoded again without
    metadata, upright, in the same format. Raises BadRequest ``file_type_mismatch`` for
    a file that does not decode and PayloadTooLarge ``image_too_large`` for too many pixels.
    """
    image_format = _FORMATS[content_type]
    with _DECODERS:
        try:
            with Image.open(io.BytesIO(data), formats=[image_format]) as image:
                cleaned = CleanedImage(_encode_again(image, image_format))
        except Image.DecompressionBombError as exc:  # past Pillow's own, larger limit
            raise _too_many_pixels() from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
                IndexError, KeyError, TypeError, struct.error, ZeroDivisionError) as exc:
            raise _unreadable() from exc
    cleaned.content_type = content_type
    return cleaned


async def remove_metadata(data: bytes, content_type: str) -> bytes:
    """``data`` as it may be stored: an image re-encoded without metadata in a thread
    (once: cleaned bytes pass unchanged), any other type as it is."""
    if content_type not in _FORMATS or (
        isinstance(data, CleanedImage) and data.content_type == content_type
    ):
        return data
    return await asyncio.to_thread(clean_image, data, content_type)


def _encode_again(image: Image.Image, image_format: str) -> bytes:
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:  # from the header, before decoding
        raise _too_many_pixels(width, height)
    image.load()  # a truncated or corrupt file fails here
    icc = image.info.get("icc_profile")
    transparency = image.info.get("transparency")
    ImageOps.exif_transpose(image, in_place=True)  # upright, orientation tag removed
    clean: Image.Image = image
    if transparency is None:
        clean = _to_srgb(clean, icc)
    if clean.mode not in _MODES[image_format]:
        keep_alpha = image_format != "JPEG" and ("A" in clean.mode or transparency is not None)
        clean = clean.convert("RGBA" if keep_alpha else "RGB")
        transparency = None
    clean.info = {}  # nothing of the original (EXIF, XMP, ICC profile, text) is written
    options: dict[str, object] = {}
    if image_format in ("JPEG", "WEBP"):
        options["quality"] = QUALITY
    elif transparency is not None:
        options["transparency"] = transparency
    out = io.BytesIO()
    clean.save(out, format=image_format, **options)
    return out.getvalue()
