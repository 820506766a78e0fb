"""When each person last wrote to us, per channel: WhatsApp's 24-hour window."""

from __future__ import annotations

from redis.asyncio import Redis

WHATSAPP_WINDOW_S = 24 * 3600
KEEP_S = 2 * WHATSAPP_WINDOW_S  # long enough to answer "inside the window?"; then unknown


class ContactWindows:
    """Last inbound time per channel and number (``samvad:lastin:<channel>:<number>``),
    written with each queued message by ``InboundQueue.admit`` (kept ``KEEP_S``)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def key(channel: str, phone: str) -> str:
        return f"samvad:lastin:{channel}:{phone}"

    async def last_inbound(self, channel: str, phone: str) -> float | None:
        """Unix time of the person's last message on ``channel`` (None: not in 48 h)."""
        raw = await self.redis.get(self.key(channel, phone))
        return float(raw) if raw is not None else None

    async def inside_whatsapp_window(self, phone: str, now: float) -> bool:
        """True when the person wrote on WhatsApp within the last 24 hours."""
        last = await self.last_inbound("whatsapp", phone)
        return last is not None and now - last <= WHATSAPP_WINDOW_S
