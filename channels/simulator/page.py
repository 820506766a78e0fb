"""GET /simulator: a chat page on top of the simulator API, served from our own origin.

The page (``static/``) is plain HTML, CSS and JavaScript: no CDN, no external fonts. It
posts each message to ``POST /simulator/messages``, draws the replies as WhatsApp or an
SMS thread would, and polls ``GET /simulator/messages`` for notifications. A photo is
uploaded to ``POST /simulator/media`` first, which keeps it in the file store and answers
with a signed link: the bot fetches photos by link, as it does from Twilio and Meta.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from core_api.errors import ERROR_RESPONSES, NotFound
from core_api.files.signing import signed_url
from core_api.files.store import (
    IMAGE_TYPES,
    MAX_IMAGE_BYTES,
    MAX_UPLOAD_BODY_BYTES,
    check_upload,
)

router = APIRouter(tags=["simulator"], responses=ERROR_RESPONSES)

STATIC = Path(__file__).parent / "static"
ASSETS = {"simulator.js": "text/javascript", "simulator.css": "text/css",
          "icon.svg": "image/svg+xml"}
MEDIA_LINK_LIFETIME_S = 24 * 3600

# Everything comes from our origin; images may also come from SAMVAD_PUBLIC_URL (links the
# bot sends, such as the UPI QR code), which can differ from the address in the browser.
CSP = ("default-src 'self'; img-src 'self' http: https: blob:; style-src 'self'; "
       "script-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
NO_STORE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


@cache
def _page() -> bytes:
    return (STATIC / "simulator.html").read_bytes()


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


@router.post("/simulator/media", response_model=SimMediaOut, status_code=201,
             summary="Host a photo for a simulated message (JPEG, PNG or WebP, at most 5 MB)",
             max_body_size=MAX_UPLOAD_BODY_BYTES)
async def simulator_media(
    request: Request,
    file: Annotated[UploadFile, File(description="The image, multipart/form-data")],
) -> SimMediaOut:
    """Keep the photo and answer with a signed link to put in ``media`` of
    ``POST /simulator/messages``: what a provider does with a photo a citizen sends."""
    data = await file.read(MAX_IMAGE_BYTES + 1)
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    check_upload(data, content_type, IMAGE_TYPES, MAX_IMAGE_BYTES)
    stored = await request.app.state.files.put(data, content_type, prefix="simulator")
    settings = request.app.state.settings
    url = signed_url(settings.public_url, settings.secret_key, stored.key,
                     lifetime_s=MEDIA_LINK_LIFETIME_S)
    return SimMediaOut(url=url, content_type=stored.content_type, size=stored.size)
