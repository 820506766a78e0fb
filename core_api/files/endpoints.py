"""Download of stored files by signed link (no login: the signature is the permission)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from core_api.errors import Forbidden, NotFound
from core_api.files.signing import named_like, verify_signature
from core_api.files.store import DOCUMENT_TYPES, IMAGE_TYPES

router = APIRouter(tags=["files"])

_TYPES_BY_EXTENSION = {ext: ctype for ctype, ext in (IMAGE_TYPES | DOCUMENT_TYPES).items()}


@router.get("/files/{key:path}/as/{name}", summary="Download a named file (signed link)",
            response_class=Response)
async def download_named(
    key: str,
    name: str,
    request: Request,
    exp: Annotated[int, Query()],
    sig: Annotated[str, Query(max_length=64)],
) -> Response:
    """The file of ``key`` (as ``download``), named ``name`` for the person who gets it."""
    if not named_like(key, name):
        raise NotFound("No such file.")
    response = await download(key, request, exp, sig)
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    return response


@router.get("/files/{key:path}", summary="Download a file by signed link",
            response_class=Response)
async def download(
    key: str,
    request: Request,
    exp: Annotated[int, Query()],
    sig: Annotated[str, Query(max_length=64)],
) -> Response:
    if not verify_signature(request.app.state.settings.secret_key, key, exp, sig):
        raise Forbidden("This link is not valid or has expired.", code="bad_link")
    data = await request.app.state.files.get(key)
    extension = "." + key.rsplit(".", 1)[-1] if "." in key else ""
    return Response(
        data,
        media_type=_TYPES_BY_EXTENSION.get(extension, "application/octet-stream"),
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
