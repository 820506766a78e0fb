"""Twilio's inbound message webhook (form fields) parsed into ``bot.messages.Inbound``.

Handled: SMS and WhatsApp text (``Body``), media (``NumMedia``, ``MediaUrlN``,
``MediaContentTypeN``; the kind follows the first medium's content type, ``Body`` is the
caption), WhatsApp location (``Latitude``/``Longitude`` with ``Address``/``Label``),
quick-reply buttons (``ButtonPayload``, ``ButtonText``) and list-picker replies
(``ListId``, ``ListTitle``): the option id, and the question it answers when the id
carries one (``read_option_id``), the WhatsApp ``ProfileName`` and ``WaId``.

Ignored (answered 200 with a reason): status callbacks posted to the inbound URL,
channels other than SMS and WhatsApp (``messenger:``, ``rcs:``), reactions, and messages
with nothing in them. Malformed (400): no ``MessageSid``, no or unreadable ``From``,
unreadable numbers in ``NumMedia`` or the coordinates.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.messages import Channel, Inbound, InboundKind, Location, Media
from channels.render import read_option_id
from core_api.errors import BadRequest
from core_api.phones import normalize_phone

MAX_MEDIA = 10  # Twilio delivers at most 10 media per message


class Malformed(ValueError):
    """The request is not a Twilio message webhook we can read."""


@dataclass(frozen=True)
class Ignored:
    """A signed request that carries nothing to act on, and why."""

    reason: str


def _channel_and_number(address: str) -> tuple[str, str]:
    """``("whatsapp", "+9198...")`` for ``whatsapp:+9198...``; ``("sms", ...)`` without prefix."""
    prefix, colon, number = address.partition(":")
    if not colon:
        return "sms", address
    return prefix.strip().lower(), number


def _phone(raw: str, field: str) -> str:
    try:
        return normalize_phone(raw)
    except BadRequest as exc:
        raise Malformed(f"{field} is not a phone number") from exc


def _float(form: Mapping[str, str], field: str, bound: float) -> float:
    try:
        value = float(form[field])
    except ValueError as exc:
        raise Malformed(f"{field} is not a number") from exc
    if not -bound <= value <= bound:
        raise Malformed(f"{field} is out of range")
    return value


def _media_kind(content_type: str, message_type: str) -> InboundKind:
    if message_type == "sticker":
        return "sticker"
    major = content_type.split("/", 1)[0].lower()
    if major in ("image", "audio", "video"):
        return major  # type: ignore[return-value]
    if content_type.lower() in ("text/vcard", "text/x-vcard"):
        return "contacts"
    return "document"


def _media(form: Mapping[str, str]) -> tuple[Media, ...]:
    raw = form.get("NumMedia", "0").strip() or "0"
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_MEDIA:
        raise Malformed("NumMedia is not a count of media")
    media = []
    for index in range(int(raw)):
        url = form.get(f"MediaUrl{index}")
        if not url:
            raise Malformed(f"MediaUrl{index} is missing")
        content_type = form.get(f"MediaContentType{index}") or "application/octet-stream"
        media.append(Media(url, content_type))
    return tuple(media)


def _location(form: Mapping[str, str]) -> Location | None:
    if "Latitude" not in form and "Longitude" not in form:
        return None
    if "Latitude" not in form or "Longitude" not in form:
        raise Malformed("a location needs both Latitude and Longitude")
    return Location(_float(form, "Latitude", 90), _float(form, "Longitude", 180),
                    name=form.get("Label") or None, address=form.get("Address") or None)


def parse_inbound(form: Mapping[str, str], *, now: float | None = None) -> Inbound | Ignored:
    """The message in a verified webhook's ``form`` (one value per field).

    Raises ``Malformed`` for requests that are not readable message webhooks.
    """
    status = form.get("MessageStatus") or form.get("SmsStatus") or "received"
    if status not in ("received", "receiving"):
        return Ignored(f"status callback ({status}) sent to the inbound URL")
    message_id = form.get("MessageSid") or form.get("SmsMessageSid")
    if not message_id:
        raise Malformed("MessageSid is missing")
    if len(message_id) > 64 or not message_id.isprintable():
        raise Malformed("MessageSid is not a message id")
    if not form.get("From"):
        raise Malformed("From is missing")
    prefix, number = _channel_and_number(form["From"])
    if prefix not in ("sms", "whatsapp"):
        return Ignored(f"channel {prefix!r} is not served")
    channel: Channel = "whatsapp" if prefix == "whatsapp" else "sms"
    sender = _phone(number, "From")
    message_type = (form.get("MessageType") or "").lower()
    if message_type == "reaction":
        return Ignored("reaction")

    media = _media(form)
    location = _location(form)
    text = form.get("Body") or None
    tapped = form.get("ButtonPayload") or form.get("ListId") or None
    asked, option_id = read_option_id(tapped) if tapped else (None, None)
    if option_id:
        text = form.get("ButtonText") or form.get("ListTitle") or text
    kind: InboundKind = "text"
    if location is not None:
        kind = "location"
    elif media:
        kind = _media_kind(media[0].content_type, message_type)
    elif not text and not option_id:
        return Ignored("empty message")

    to = _channel_and_number(form.get("To", ""))[1].strip() or None
    extra = {"wa_id": form["WaId"]} if form.get("WaId") else {}
    return Inbound(
        channel=channel,
        sender=sender,
        kind=kind,
        text=text,
        message_id=message_id,
        location=location,
        media=media,
        option_id=option_id,
        asked=asked,
        profile_name=form.get("ProfileName") or None,
        received_at=time.time() if now is None else now,
        to=to,
        extra=extra,
    )
