"""A terminal conversation over the same runtime the providers use."""

from __future__ import annotations

import asyncio
import time
import uuid

from rich.console import Console
from rich.panel import Panel

from bot.messages import Inbound, Location, Media, Outgoing
from channels.render import render_sms, render_whatsapp_text
from core_api.users.phones import normalize_phone
from samvad.app import close_resources, create_app, open_resources
from samvad.settings import Settings

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
    return render_sms(reply) if channel == "sms" else render_whatsapp_text(reply)


async def run_console(settings: Settings, *, channel: str, phone: str,
                      locale: str | None) -> None:
    """Read lines, run turns, print replies, until /quit or end of input."""
    console = Console()
    app = create_app(settings)
    await open_resources(app)
    sender = normalize_phone(phone)
    conversations = app.state.conversations
    style = "green" if channel == "whatsapp" else "cyan"
    console.print(f"[bold]Samvad[/] as {sender} over {channel}. {HELP}")
    try:
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
    finally:
        await close_resources(app)
