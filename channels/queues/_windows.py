"""When and how each person last wrote to us, per channel.

Two records per channel, both written with each queued message by ``InboundQueue.admit``
(the same script), under the person's inbound hash tag (the mailbox's, one Redis Cluster
slot):

- ``samvad:{inbound:<channel>:<number>}:lastin``: the time, kept ``KEEP_S``: the
  channel kind's reply window (``reply_window_s``: WhatsApp's 24 hours);
- ``samvad:{inbound:<channel>:<number>}:via``: "<time> <provider> <our number>", kept
  ``VIA_KEEP_S``: the delivery policy's "last active channel" and the provider and sender
  number a notification on that channel goes through (a Twilio WhatsApp citizen never
  gets a Meta message from another business number).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from bot.channel_kinds import CHANNEL_KINDS, capabilities, channel_kinds
from bot.session_store import conversation_key

# Twice the longest reply window: long enough to answer "inside the window?"; then unknown.
KEEP_S = 2 * max(row.reply_window_s or 0 for row in CHANNEL_KINDS.values())
VIA_KEEP_S = 180 * 24 * 3600  # a case (a certificate, a bill) may take months


@dataclass(frozen=True)
class Contact:
    """The person's last message on one channel: when, through which provider, to which of
    our numbers (None when the provider did not say)."""

    channel: str
    at: float
    provider: str
    sender: str | None


def person_base(channel: str, phone: str) -> str:
    """The prefix of one person's inbound keys on ``channel``: the hash tag of their inbound
    mailbox (``Mailboxes("inbound")``), so the admission script touches one slot."""
    return f"samvad:{{inbound:{conversation_key(channel, phone)}}}:"


def via_value(at: float, provider: str, sender: str | None) -> str:
    """The hash value of one channel (what the admission script stores)."""
    return f"{at!r} {provider} {sender or '-'}"


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _contact(channel: str, raw: bytes | str) -> Contact | None:
    at, provider, sender = ([*_text(raw).split(" ", 2), "-", "-"])[:3]
    try:
        return Contact(channel, float(at), provider, None if sender == "-" else sender)
    except ValueError:
        return None


class ContactWindows:
    """Last inbound time per channel and number, and the provider each channel went through."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def key(channel: str, phone: str) -> str:
        return person_base(channel, phone) + "lastin"

    @staticmethod
    def via_key(channel: str, phone: str) -> str:
        return person_base(channel, phone) + "via"

    async def last_inbound(self, channel: str, phone: str) -> float | None:
        """Unix time of the person's last message on ``channel`` (None: not in 48 h)."""
        raw = await self.redis.get(self.key(channel, phone))
        return float(raw) if raw is not None else None

    async def inside_window(self, channel: str, phone: str, now: float) -> bool:
        """True when the person wrote on ``channel`` within its reply window (WhatsApp's
        24 hours), or the channel kind has none (SMS: any message may go)."""
        window = capabilities(channel).reply_window_s
        if window is None:
            return True
        last = await self.last_inbound(channel, phone)
        return last is not None and now - last <= window

    async def contacts(self, phone: str) -> dict[str, Contact]:
        """The person's last message per channel (channels they never used are absent)."""
        found: dict[str, Contact] = {}
        for channel in channel_kinds():  # one key each, in different slots: no MGET
            raw = await self.redis.get(self.via_key(channel, phone))
            contact = _contact(channel, raw) if raw is not None else None
            if contact is not None:
                found[channel] = contact
        return found
