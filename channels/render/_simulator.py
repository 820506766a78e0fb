"""What the web simulator shows for one reply."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.messages import Channel, Outgoing
from channels.render._meta import envelope, meta_messages, meta_recipient
from channels.render._plain import render_sms
from channels.render._sms import sms_segments


def render_simulator(
    msg: Outgoing,
    channel: Channel,
    *,
    to: str | None = None,
    menu_hint: str | None = None,
    list_button: str | None = None,
) -> dict[str, Any]:
    """One entry of ``replies`` in the ``POST /simulator/messages`` answer.

    ``rendered`` is exactly what the channel delivers: the SMS body, or the list of
    Meta Cloud API payloads (their ``to`` is empty when no recipient is given). SMS
    replies also carry their ``sms`` encoding and segment count.
    """
    reply: dict[str, Any] = {"text": msg.text}
    if channel == "sms":
        body = render_sms(msg, menu_hint=menu_hint)
        reply["rendered"] = body
        reply["sms"] = asdict(sms_segments(body))
    elif channel == "whatsapp":
        recipient = meta_recipient(to) if to else ""
        reply["rendered"] = envelope(recipient, meta_messages(msg, list_button=list_button))
    else:
        raise ValueError(f"unknown channel {channel!r}")
    reply["options"] = [{"id": option.id, "label": option.label} for option in msg.options]
    reply["media"] = [
        {"url": media.url, "content_type": media.content_type, "filename": media.filename}
        for media in msg.media
    ]
    reply["request_location"] = msg.request_location
    return reply
