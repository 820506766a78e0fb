"""What the web simulator shows for one reply."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.channel_kinds import capabilities
from bot.messages import Channel, Outgoing
from channels.render._kinds import renderer
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

    ``rendered`` is exactly what the channel delivers (``Renderer.delivered``): the SMS
    body, or the list of Meta Cloud API payloads (their ``to`` is empty when no recipient
    is given). Replies on a kind billed by segment also carry their ``sms`` encoding and
    segment count. An unregistered kind raises ``UnknownChannel``.
    """
    rendered = renderer(channel).delivered(msg, to=to, menu_hint=menu_hint,
                                           list_button=list_button)
    reply: dict[str, Any] = {"text": msg.text, "rendered": rendered}
    if capabilities(channel).segment_budget is not None:
        reply["sms"] = asdict(sms_segments(rendered))
    reply["options"] = [{"id": option.id, "label": option.label} for option in msg.options]
    reply["media"] = [
        {"url": media.url, "content_type": media.content_type, "filename": media.filename}
        for media in msg.media
    ]
    reply["request_location"] = msg.request_location
    return reply
