"""A terminal conversation over the same runtime the providers use.

``samvad chat`` (the composition root) opens the app and hands its dialog runtime to
``run_console``: the channels do not import ``samvad``.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from rich.console import Console
from rich.panel import Panel

from bot.channel_kinds import capabilities
from bot.messages import Inbound, Location, Media, Outgoing
from bot.runtime import Conversations
from channels.render import renderer
from core_api.phones import normalize_phone

HELP = ("Type a message. /loc LAT LNG sends a location pin, /photo URL a photo, "
        "/sticker a sticker, /quit ends.")


def parse_line(line: str, channel: str, phone: str, locale: str | None = None) -> Inbound | None:
    """A typed line as an inbound message (None for /quit)."""
    message_id = f"console-{uuid.uuid4().hex}"
    base = {"channel": channel, "sender": phone, "message_id": message_id,
            "received_at": time.time(), "extra": {"locale": locale} if locale else {}}
    if line.strip() in ("/quit", "/exit"):
        return None
    if line.startswith("/loc"):
        parts = line.split()
        try:
            lat, lng = float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            return Inbound(**base, kind="text", text=line)  # type: ignore[arg-type]
        return Inbound(**base, kind="location",  # type: ignore[arg-type]
                       location=Location(lat, lng))
    if line.startswith("/photo"):
        url = line.partition(" ")[2].strip()
        return Inbound(**base, kind="image",  # type: ignore[arg-type]
                       media=(Media(url, "image/jpeg"),))
    if line.strip() == "/sticker":
        return Inbound(**base, kind="sticker")  # type: ignore[arg-type]
    return Inbound(**base, kind="text", text=line)  # type: ignore[arg-type]


def render(reply: Outgoing, channel: str) -> str:
    return renderer(channel).text(reply)


async def run_console(conversations: Conversations, *, channel: str, phone: str,
                      locale: str | None) -> None:
    """Read lines, run turns, print replies, until /quit or end of input."""
    console = Console()
    sender = normalize_phone(phone)
    style = "green" if capabilities(channel).interactive else "cyan"
    console.print(f"[bold]Samvad[/] as {sender} over {channel}. {HELP}")
    while True:
        try:
            line = await asyncio.to_thread(console.input, "[bold]> [/]")
        except EOFError:
            break
        inbound = parse_line(line, channel, sender, locale)
        if inbound is None:
            break
        turn = await conversations.handle(inbound)
        for reply in turn.replies if turn else []:
            console.print(Panel(render(reply, channel), border_style=style, expand=False))
