"""The renderer of each channel kind: the one place where a kind's look is chosen.

Every kind registered in ``bot.channel_kinds`` has one ``Renderer`` in ``RENDERERS``; the
simulator, the console and the cost estimate ask ``renderer(kind)`` instead of comparing
the kind to a literal. Provider senders that need their own wire form call the render
functions they need (Meta payloads, Twilio bodies).
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.channel_kinds import UnknownChannel, capabilities
from bot.messages import Outgoing
from channels.render._meta import envelope, meta_messages, meta_recipient
from channels.render._plain import render_sms, render_whatsapp_text
from channels.render._sms import sms_segments


class Renderer(Protocol):
    """How one channel kind shows an ``Outgoing``."""

    def text(self, msg: Outgoing, *, menu_hint: str | None = None) -> str:
        """The message as one text body: the console, a text-only provider, SMS billing."""
        ...

    def delivered(self, msg: Outgoing, *, to: str | None = None, menu_hint: str | None = None,
                  list_button: str | None = None) -> Any:
        """Exactly what the channel delivers (the simulator shows it): a text body, or the
        payloads of the kind's native provider (``to`` may be unknown)."""
        ...


class SmsRenderer:
    """SMS: text with numbered options, descriptions only within the segment budget."""

    def text(self, msg: Outgoing, *, menu_hint: str | None = None) -> str:
        return render_sms(msg, menu_hint=menu_hint)

    def delivered(self, msg: Outgoing, *, to: str | None = None, menu_hint: str | None = None,
                  list_button: str | None = None) -> str:
        return render_sms(msg, menu_hint=menu_hint)


class WhatsAppRenderer:
    """WhatsApp: Meta Cloud API payloads (buttons, lists, media); numbered text where
    interactive messages are not available (Twilio, the console)."""

    def text(self, msg: Outgoing, *, menu_hint: str | None = None) -> str:
        return render_whatsapp_text(msg, menu_hint=menu_hint)

    def delivered(self, msg: Outgoing, *, to: str | None = None, menu_hint: str | None = None,
                  list_button: str | None = None) -> list[dict[str, Any]]:
        recipient = meta_recipient(to) if to else ""
        return envelope(recipient, meta_messages(msg, list_button=list_button))


# One line per channel kind of ``bot.channel_kinds``.
RENDERERS: dict[str, Renderer] = {
    "whatsapp": WhatsAppRenderer(),
    "sms": SmsRenderer(),
}


def renderer(kind: str) -> Renderer:
    """The renderer of ``kind``; ``UnknownChannel`` for a kind without a row or a renderer."""
    capabilities(kind)
    try:
        return RENDERERS[kind]
    except KeyError:
        raise UnknownChannel(f"channel kind {kind!r} has no renderer in RENDERERS") from None


def message_segments(kind: str, msg: Outgoing) -> int:
    """The SMS segments ``msg`` takes as ``kind``'s renderer writes it: what a kind with a
    ``segment_budget`` bills, and what ``samvad flows check`` holds to that budget."""
    return sms_segments(renderer(kind).text(msg)).segments
