"""POST /simulator/messages: one citizen turn, answered with exactly what the channel shows."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, BaseModel, Field

from bot.channel_kinds import channel_kinds, registered_kind
from bot.messages import Inbound, Location, Media
from bot.notifier import SimulatorInbox
from channels.render import read_option_id, render_simulator
from core_api.phones import normalize_phone

router = APIRouter(tags=["simulator"])

# A channel kind of ``bot.channel_kinds``; the schema lists the registered ones.
SimChannel = Annotated[str, AfterValidator(registered_kind),
                       Field(json_schema_extra={"enum": list(channel_kinds())})]


class SimLocation(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class SimMedia(BaseModel):
    url: str = Field(max_length=2000)
    content_type: str = Field(max_length=100)


class SimMessage(BaseModel):
    sender: str = Field(alias="from", examples=["+919876500001"])
    channel: SimChannel = "whatsapp"
    text: str | None = Field(None, max_length=5000)
    option_id: str | None = Field(None, max_length=256, description="A tapped button or row: "
                                  "its id as rendered (``question~id``), or the bare id")
    location: SimLocation | None = None
    media: list[SimMedia] = Field(default_factory=list, max_length=5)
    kind: Literal["text", "location", "image", "audio", "video", "sticker", "document"] | None = (
        None
    )
    message_id: str | None = Field(None, max_length=100)


class SimReply(BaseModel):
    text: str
    rendered: Any = Field(description="Exactly what the channel delivers (SMS text or "
                                      "WhatsApp Cloud API payloads)")
    options: list[dict[str, Any]]
    media: list[dict[str, Any]] = Field(default_factory=list)
    request_location: bool = False
    sms: dict[str, Any] | None = Field(None, description="SMS encoding and segment count")


class SimTurn(BaseModel):
    replies: list[SimReply]
    flow: str | None
    step: str | None
    locale: str | None
    duplicate: bool = False


def to_inbound(body: SimMessage) -> Inbound:
    """The simulator's JSON as the parsed inbound message a provider adapter would give."""
    kind = body.kind
    if kind is None:
        if body.location is not None:
            kind = "location"
        elif body.media:
            kind = "image" if body.media[0].content_type.startswith("image/") else "document"
        else:
            kind = "text"
    asked, option_id = read_option_id(body.option_id) if body.option_id else (None, None)
    return Inbound(
        channel=body.channel,
        sender=normalize_phone(body.sender),
        kind=kind,
        text=body.text,
        message_id=body.message_id or f"sim-{uuid.uuid4().hex}",
        location=Location(body.location.lat, body.location.lng) if body.location else None,
        media=tuple(Media(m.url, m.content_type) for m in body.media),
        option_id=option_id,
        asked=asked,
        received_at=time.time(),
    )


@router.post("/simulator/messages", response_model=SimTurn, summary="Send one simulated message")
async def simulate(body: SimMessage, request: Request) -> SimTurn:
    inbound = to_inbound(body)
    turn = await request.app.state.conversations.handle(inbound)
    if turn is None:
        return SimTurn(replies=[], flow=None, step=None, locale=None, duplicate=True)
    replies = [SimReply(**render_simulator(reply, inbound.channel, to=inbound.sender))
               for reply in turn.replies]
    session = turn.session
    return SimTurn(replies=replies, flow=session.flow, step=session.step, locale=session.locale)


class SimInbox(BaseModel):
    replies: list[SimReply]


@router.get("/simulator/messages", response_model=SimInbox,
            summary="Messages that arrived for a number outside its turns (notifications)")
async def inbox(
    request: Request,
    sender: str = Query(alias="from", examples=["+919876500001"]),
    channel: SimChannel = "whatsapp",
) -> SimInbox:
    phone = normalize_phone(sender)
    waiting = await SimulatorInbox(request.app.state.redis).take(channel, phone)
    return SimInbox(replies=[SimReply(**render_simulator(m, channel, to=phone)) for m in waiting])
