"""Short links API (service credential only): ``POST /short-links`` ``{"kind", "ref"}``.

The caller names a case, never a URL: the core API builds the target itself, so a short
link can only ever open a Samvad page (no open redirect).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from core_api.auth.deps import ServicePrincipal
from core_api.db import SessionDep, utcnow
from core_api.errors import ERROR_RESPONSES
from core_api.links.service import LinkKind, short_url, shorten

router = APIRouter(prefix="/short-links", tags=["short links"], responses=ERROR_RESPONSES)


class ShortLinkIn(BaseModel):
    kind: LinkKind = Field(description="receipt | certificate | complaint | payment")
    ref: str = Field(min_length=1, max_length=64, description=(
        "The case: a receipt number, a certificate request number, a complaint number "
        "or a bill number"), examples=["PG-UK-DDN-2026-000123"])


class ShortLinkOut(BaseModel):
    code: str
    url: str  # SAMVAD_PUBLIC_URL/r/<code>
    kind: str
    expires_at: datetime


@router.post("", response_model=ShortLinkOut, status_code=201,
             summary="A short /r/ link to a receipt, certificate, complaint or payment page",
             responses={200: {"model": ShortLinkOut, "description": "an unexpired link reused"}})
async def create_short_link(body: ShortLinkIn, request: Request, response: Response,
                            session: SessionDep, principal: ServicePrincipal) -> ShortLinkOut:
    """The bot's service credential only. With ``X-On-Behalf-Of`` the case must be that
    person's; otherwise (and for unknown cases) 404. 409 when there is nothing to pay."""
    made = await shorten(session, body.kind, body.ref, principal, request.app.state, utcnow())
    if not made.created:
        response.status_code = 200
    link = made.link
    return ShortLinkOut(code=link.code, url=short_url(request.app.state.settings.public_url,
                                                      link.code),
                        kind=link.kind, expires_at=link.expires_at)
