"""GET /simulator: a chat page on top of the simulator API, served from our own origin.

The page (``static/``) is plain HTML, CSS and JavaScript: no CDN, no external fonts. It
posts each message to ``POST /simulator/messages``, draws the replies as WhatsApp or an
SMS thread would, and polls ``GET /simulator/messages`` for notifications. A photo is
uploaded to ``POST /simulator/media`` first, which keeps it in the file store and answers
with a signed link: the bot fetches photos by link, as it does from Twilio and Meta. The
file store and the link signing are core_api's: the composition root hands the page a
``PhotoHost`` (``app.state.simulator_photos``, see ``samvad.app``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path
from typing import Annotated, Protocol

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from bot.i18n import Locale, locales
from bot.media import MAX_PHOTO_BYTES
from core_api.errors import ERROR_RESPONSES, NotFound

router = APIRouter(tags=["simulator"], responses=ERROR_RESPONSES)

STATIC = Path(__file__).parent / "static"
ASSETS = {"simulator.js": "text/javascript", "simulator.css": "text/css",
          "icon.svg": "image/svg+xml"}
MEDIA_LINK_LIFETIME_S = 24 * 3600
UPLOAD_BODY_BYTES = MAX_PHOTO_BYTES + 64 * 1024  # the photo and the multipart framing

# Everything comes from our origin; images may also come from SAMVAD_PUBLIC_URL (links the
# bot sends, such as the UPI QR code), which can differ from the address in the browser.
CSP = ("default-src 'self'; img-src 'self' http: https: blob:; style-src 'self'; "
       "script-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
NO_STORE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


LANGUAGES_MARK = "<!-- languages: one option per locale of locales/, filled in by page.py -->"


@cache
def _template() -> str:
    return (STATIC / "simulator.html").read_text(encoding="utf-8")


def _page() -> bytes:
    """The page with the language control offering every registered locale."""
    options = "\n        ".join(
        f'<option value="{escape(locale.code)}">{escape(_label(locale))}</option>'
        for locale in locales())
    return _template().replace(LANGUAGES_MARK, options).encode("utf-8")


def _label(locale: Locale) -> str:
    """The control's label: "हिंदी · Hindi", and "English" once."""
    if locale.name == locale.english_name:
        return locale.name
    return f"{locale.name} · {locale.english_name}"


@router.get("/simulator", include_in_schema=False)
async def simulator_page() -> Response:
    return Response(_page(), media_type="text/html; charset=utf-8",
                    headers={**NO_STORE, "Content-Security-Policy": CSP,
                             "Referrer-Policy": "no-referrer"})


@cache
def _devanagari_font() -> Path | None:
    """Noto Sans Devanagari from its Python package, so Hindi shows on any machine."""
    try:
        import fontpkg

        path = fontpkg.path("Noto Sans Devanagari", weight=400)
    except (ImportError, LookupError):
        return None
    return path if path.is_file() else None


@router.get("/simulator/static/devanagari.ttf", include_in_schema=False)
async def simulator_font() -> FileResponse:
    path = _devanagari_font()
    if path is None:
        raise NotFound("The Devanagari font is not installed.", code="font_missing")
    return FileResponse(path, media_type="font/ttf",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/simulator/static/{name}", include_in_schema=False)
async def simulator_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("No such file.", code="not_found")
    return FileResponse(STATIC / name, media_type=media_type, headers=NO_STORE)


class SimMediaOut(BaseModel):
    url: str
    content_type: str
    size: int


@dataclass(frozen=True)
class HostedPhoto:
    url: str  # a link the bot may fetch, valid for MEDIA_LINK_LIFETIME_S
    content_type: str
    size: int


class PhotoHost(Protocol):
    """Checks and keeps an uploaded photo (JPEG, PNG or WebP of at most 5 MB; raises the
    error envelope's BadRequest or PayloadTooLarge otherwise) and links to it."""

    async def __call__(self, data: bytes, content_type: str) -> HostedPhoto: ...


@router.post("/simulator/media", response_model=SimMediaOut, status_code=201,
             summary="Host a photo for a simulated message (JPEG, PNG or WebP, at most 5 MB)",
             max_body_size=UPLOAD_BODY_BYTES)
async def simulator_media(
    request: Request,
    file: Annotated[UploadFile, File(description="The image, multipart/form-data")],
) -> SimMediaOut:
    """Keep the photo and answer with a signed link to put in ``media`` of
    ``POST /simulator/messages``: what a provider does with a photo a citizen sends."""
    data = await file.read(MAX_PHOTO_BYTES + 1)
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    host: PhotoHost = request.app.state.simulator_photos
    photo = await host(data, content_type)
    return SimMediaOut(url=photo.url, content_type=photo.content_type, size=photo.size)
