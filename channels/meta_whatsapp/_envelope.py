"""The Cloud API webhook envelope parsed into typed values.

``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
"value": {...}}]}]}``: each ``value`` names the business number (``metadata``), the
senders' profiles (``contacts``) and carries ``messages`` (citizens writing to us) or
``statuses`` (what happened to our messages). One delivery may batch several of each.

What a message becomes (``Inbound``):

- ``text`` -> kind ``text``;
- ``interactive`` ``button_reply`` / ``list_reply`` -> kind ``text`` with ``option_id``
  and the tapped title as ``text``; the question the id names (``read_option_id``: also
  of a list sent earlier than the last one) as ``asked``; other interactive replies ->
  ``unsupported``;
- ``button`` (quick reply of a template) -> kind ``text`` with ``option_id`` = payload;
- ``location`` -> kind ``location``;
- ``image`` / ``document`` / ``audio`` / ``video`` / ``sticker`` -> that kind with one
  ``Media`` whose url is ``meta-media:<id>`` (see ``fetch_media``), caption as ``text``;
- ``contacts`` -> kind ``contacts``; ``unsupported`` -> kind ``unsupported``.

Ignored, with a reason: reactions, ``system`` notices, ``request_welcome``, unknown
message types, statuses other than sent/delivered/read/failed, other webhook fields
(echoes, template and account updates) and messages to another business number.
Anything structurally wrong raises ``MalformedEnvelope`` (the webhook answers 400).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import phonenumbers

from bot.messages import Inbound, InboundKind, Location, Media
from channels.render import read_option_id

MEDIA_URL_PREFIX = "meta-media:"
MEDIA_KINDS: frozenset[InboundKind] = frozenset({"image", "document", "audio", "video",
                                                  "sticker"})
MetaStatus = Literal["sent", "delivered", "read", "failed"]
KNOWN_STATUSES: dict[str, MetaStatus] = {
    "sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}
IGNORED_TYPES = {
    "reaction": "reactions need no answer",
    "system": "system notice (e.g. the customer changed number)",
    "request_welcome": "the person opened the chat; they have not written yet",
}

Json = dict[str, Any]


class MalformedEnvelope(ValueError):
    """The body is JSON but not a Cloud API webhook envelope."""


@dataclass(frozen=True)
class StatusUpdate:
    """What happened to one message we sent (``sent``/``delivered``/``read``/``failed``)."""

    provider_message_id: str
    status: MetaStatus
    recipient: str | None  # E.164 when Meta names it
    at: float | None  # unix seconds
    error_code: str | None = None
    error_title: str | None = None


@dataclass(frozen=True)
class Ignored:
    """An event we accept and drop, with the reason we answer."""

    what: str
    reason: str


@dataclass
class Envelope:
    """Everything one webhook delivery carried, in order."""

    messages: list[Inbound] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)


def _require(condition: bool, where: str, what: str) -> None:
    if not condition:
        raise MalformedEnvelope(f"{where}: {what}")


def _obj(data: Json, key: str, where: str) -> Json:
    value = data.get(key)
    if not isinstance(value, dict):
        raise MalformedEnvelope(f"{where}.{key}: must be an object")
    return value


def _list(data: Json, key: str, where: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise MalformedEnvelope(f"{where}.{key}: must be a list")
    return value


def _str(data: Json, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MalformedEnvelope(f"{where}.{key}: must be a non-empty string")
    return value


MAX_ID_LENGTH = 256


def _id(data: Json, key: str, where: str) -> str:
    """A provider's id (message, status): printable and bounded, since it is stored and
    used in Redis keys (a NUL cannot be stored in PostgreSQL text)."""
    value = _str(data, key, where)
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise MalformedEnvelope(f"{where}.{key}: not a message id")
    return value


def _opt_str(data: Json, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _number(data: Json, key: str, where: str, limit: float) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        -limit <= value <= limit
    ):
        raise MalformedEnvelope(f"{where}.{key}: must be a number within ±{limit:g}")
    return float(value)


MAX_TIMESTAMP = 253402300799  # 9999-12-31: beyond it (or NaN) a datetime cannot hold it


def _timestamp(data: Json) -> float | None:
    """Unix seconds, or None when missing or not a storable moment ("1e999", NaN)."""
    try:
        value = float(data["timestamp"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return value if 0 <= value <= MAX_TIMESTAMP else None


def wa_id_to_e164(wa_id: str) -> str | None:
    """``919876500001`` -> ``+919876500001``; None when it is not a valid phone number."""
    digits = wa_id.strip().removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        return None
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _business_number(metadata: Json) -> str | None:
    digits = "".join(c for c in str(metadata.get("display_phone_number", "")) if c.isdigit())
    return "+" + digits if digits else None


# A message parser returns the kind-specific Inbound fields.
Fields = dict[str, Any]
Parser = Callable[[Json, str, str], Fields]


def _text(message: Json, kind: str, where: str) -> Fields:
    body = _obj(message, "text", where)
    text = body.get("body")
    _require(isinstance(text, str), f"{where}.text.body", "must be a string")
    return {"kind": "text", "text": text}


def _interactive(message: Json, kind: str, where: str) -> Fields:
    body = _obj(message, "interactive", where)
    reply_type = _str(body, "type", f"{where}.interactive")
    if reply_type not in ("button_reply", "list_reply"):
        return {"kind": "unsupported", "extra": {"interactive": reply_type}}
    reply = _obj(body, reply_type, f"{where}.interactive")
    asked, option_id = read_option_id(_str(reply, "id", f"{where}.interactive.{reply_type}"))
    return {"kind": "text", "text": _opt_str(reply, "title"), "option_id": option_id,
            "asked": asked, "extra": {"interactive": reply_type}}


def _button(message: Json, kind: str, where: str) -> Fields:
    body = _obj(message, "button", where)
    text = _opt_str(body, "text")
    payload = _opt_str(body, "payload") or text
    _require(payload is not None, f"{where}.button", "needs a payload or a text")
    return {"kind": "text", "text": text, "option_id": payload,
            "extra": {"interactive": "template_button"}}


def _location(message: Json, kind: str, where: str) -> Fields:
    body = _obj(message, "location", where)
    here = f"{where}.location"
    location = Location(
        lat=_number(body, "latitude", here, 90),
        lng=_number(body, "longitude", here, 180),
        name=_opt_str(body, "name"),
        address=_opt_str(body, "address"),
    )
    return {"kind": "location", "location": location}


def _media(message: Json, kind: str, where: str) -> Fields:
    body = _obj(message, kind, where)
    media_id = _str(body, "id", f"{where}.{kind}")
    content_type = _opt_str(body, "mime_type") or "application/octet-stream"
    media = Media(MEDIA_URL_PREFIX + media_id, content_type, _opt_str(body, "filename"))
    return {"kind": kind, "text": _opt_str(body, "caption"), "media": (media,)}


def _contacts(message: Json, kind: str, where: str) -> Fields:
    _list(message, "contacts", where)
    return {"kind": "contacts"}


def _unsupported(message: Json, kind: str, where: str) -> Fields:
    errors = [e for e in _list(message, "errors", where) if isinstance(e, dict)]
    extra = {"error_code": str(errors[0]["code"])} if errors and "code" in errors[0] else {}
    return {"kind": "unsupported", "extra": extra}


PARSERS: dict[str, Parser] = {
    "text": _text,
    "interactive": _interactive,
    "button": _button,
    "location": _location,
    **{kind: _media for kind in MEDIA_KINDS},
    "contacts": _contacts,
    "unsupported": _unsupported,
}


def _message(message: Any, value: Json, where: str, out: Envelope) -> None:
    _require(isinstance(message, dict), where, "must be an object")
    message_id = _id(message, "id", where)
    kind = _str(message, "type", where)
    wa_id = _str(message, "from", where)
    if kind in IGNORED_TYPES:
        out.ignored.append(Ignored(f"message:{kind}", IGNORED_TYPES[kind]))
        return
    parser = PARSERS.get(kind)
    if parser is None:
        out.ignored.append(Ignored(f"message:{kind}", "unknown message type"))
        return
    sender = wa_id_to_e164(wa_id)
    if sender is None:
        out.ignored.append(Ignored(f"message:{kind}", "the sender is not a phone number"))
        return
    parsed = parser(message, kind, where)
    extra = dict(parsed.pop("extra", {}))
    metadata = value.get("metadata") or {}
    if metadata.get("phone_number_id"):
        extra["phone_number_id"] = str(metadata["phone_number_id"])
    context = message.get("context")
    if isinstance(context, dict) and _opt_str(context, "id"):
        extra["reply_to"] = context["id"]  # the message of ours the person answered
    out.messages.append(Inbound(
        channel="whatsapp",
        sender=sender,
        message_id=message_id,
        profile_name=_profile_name(value, wa_id),
        received_at=_timestamp(message),
        to=_business_number(metadata),
        extra=extra,
        **parsed,
    ))


def _profile_name(value: Json, wa_id: str) -> str | None:
    for contact in value.get("contacts") or []:
        if isinstance(contact, dict) and contact.get("wa_id") == wa_id:
            profile = contact.get("profile")
            return _opt_str(profile, "name") if isinstance(profile, dict) else None
    return None


def _status(status: Any, where: str, out: Envelope) -> None:
    _require(isinstance(status, dict), where, "must be an object")
    message_id = _id(status, "id", where)
    name = _str(status, "status", where)
    known = KNOWN_STATUSES.get(name)
    if known is None:
        out.ignored.append(Ignored(f"status:{name}", "status we do not track"))
        return
    errors = [e for e in _list(status, "errors", where) if isinstance(e, dict)]
    first = errors[0] if errors else {}
    recipient = _opt_str(status, "recipient_id")
    out.statuses.append(StatusUpdate(
        provider_message_id=message_id,
        status=known,
        recipient=wa_id_to_e164(recipient) if recipient else None,
        at=_timestamp(status),
        error_code=str(first["code"]) if "code" in first else None,
        error_title=_opt_str(first, "title") or _opt_str(first, "message"),
    ))


def parse_envelope(payload: Any, *, phone_number_id: str | None = None) -> Envelope:
    """Parse one webhook body; with ``phone_number_id``, other numbers' events are ignored."""
    _require(isinstance(payload, dict), "body", "must be a JSON object")
    _require(payload.get("object") == "whatsapp_business_account", "body.object",
             "must be 'whatsapp_business_account'")
    out = Envelope()
    for e, entry in enumerate(_list(payload, "entry", "body")):
        _require(isinstance(entry, dict), f"entry[{e}]", "must be an object")
        for c, change in enumerate(_list(entry, "changes", f"entry[{e}]")):
            where = f"entry[{e}].changes[{c}]"
            _require(isinstance(change, dict), where, "must be an object")
            _change(change, where, phone_number_id, out)
    return out


def _change(change: Json, where: str, phone_number_id: str | None, out: Envelope) -> None:
    name = change.get("field")
    if name != "messages":
        out.ignored.append(Ignored(f"field:{name}", "webhook field we do not handle"))
        return
    value = _obj(change, "value", where)
    metadata = _obj(value, "metadata", f"{where}.value")
    number_id = str(metadata.get("phone_number_id", ""))
    if phone_number_id and number_id != phone_number_id:
        out.ignored.append(Ignored(f"phone_number_id:{number_id}",
                                   "addressed to another business number"))
        return
    for m, message in enumerate(_list(value, "messages", f"{where}.value")):
        _message(message, value, f"{where}.value.messages[{m}]", out)
    for s, status in enumerate(_list(value, "statuses", f"{where}.value")):
        _status(status, f"{where}.value.statuses[{s}]", out)
    for error in _list(value, "errors", f"{where}.value"):
        code = error.get("code") if isinstance(error, dict) else None
        out.ignored.append(Ignored(f"error:{code}", "platform error notice"))
