"""Channel-neutral messages: what arrives from a citizen and what the bot says back.

Renderers in ``channels/`` turn an ``Outgoing`` into WhatsApp interactive buttons or
lists, Twilio WhatsApp text, or SMS text with numbered options.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeAlias

from bot.channel_kinds import capabilities

# A channel kind registered in ``bot.channel_kinds`` ("whatsapp", "sms", ...). A plain
# string, checked where an ``Inbound`` is built: a new kind is a row there, not a literal here.
Channel: TypeAlias = str
InboundKind = Literal["text", "location", "image", "audio", "video", "sticker", "document",
                      "contacts", "reaction", "unsupported"]


@dataclass(frozen=True)
class Option:
    """One choice offered to the citizen: a stable id and a localized label."""

    id: str
    label: str
    description: str | None = None  # second line in a WhatsApp list row


@dataclass(frozen=True)
class Media:
    url: str
    content_type: str
    filename: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """One message to send. ``options`` become buttons, a list or numbered lines."""

    text: str
    options: tuple[Option, ...] = ()
    media: tuple[Media, ...] = ()
    request_location: bool = False
    # Label of the button that opens a WhatsApp list (more than 3 options).
    list_button: str | None = None
    # Footer line (e.g. "0 Menu · 9 Back" hint on SMS, footer text on WhatsApp).
    footer: str | None = None
    # The text where the options are tapped (buttons, a list, a "send location" button)
    # rather than typed by number: a renderer that shows them so uses it (``bot.screen``).
    tap_text: str | None = None
    # The question the options answer ("flow.step"): tapped options carry it back, so a
    # tap on an earlier list is told from an answer to the current one (``bot.taps``).
    question: str | None = None


@dataclass(frozen=True)
class Location:
    lat: float
    lng: float
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Inbound:
    """One message from a citizen or employee, already verified and parsed by a channel."""

    channel: Channel
    sender: str  # E.164
    kind: InboundKind = "text"
    text: str | None = None
    message_id: str | None = None  # provider id, for dedupe
    location: Location | None = None
    media: tuple[Media, ...] = ()
    option_id: str | None = None  # a WhatsApp button/list reply carries the option id
    asked: str | None = None  # the question ("flow.step") of the tapped option, when known
    profile_name: str | None = None
    received_at: float | None = None  # unix seconds
    to: str | None = None  # the number the citizen wrote to
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse a kind no row describes (``UnknownChannel``): webhooks, the simulator and
        the console build inbound messages from outside input."""
        capabilities(self.channel)


def outgoing_to_dict(message: Outgoing) -> dict[str, Any]:
    """Plain JSON-ready data (queued jobs, kept replies): what ``asdict`` gives, without
    its deep copy of every value (a few per cent of a worker's CPU in the profile)."""
    data = _flat(message)
    data["options"] = tuple(_flat(option) for option in message.options)
    data["media"] = tuple(_flat(media) for media in message.media)
    return data


def _flat(instance: Option | Media | Outgoing) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are (immutable here)."""
    return {f.name: getattr(instance, f.name) for f in fields(instance)}


def outgoing_from_dict(data: dict[str, Any]) -> Outgoing:
    return Outgoing(
        text=data["text"],
        options=tuple(Option(**o) for o in data.get("options", ())),
        media=tuple(Media(**m) for m in data.get("media", ())),
        request_location=data.get("request_location", False),
        list_button=data.get("list_button"),
        footer=data.get("footer"),
        tap_text=data.get("tap_text"),
        question=data.get("question"),
    )
