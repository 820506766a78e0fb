"""The providers Samvad sends through and the webhooks they receive on — listed, not discovered.

Adding a provider means a ``channels/<name>/`` package with

- a Sender class (``provider`` name, ``async send(job) -> SendResult``) with a classmethod
  ``from_settings(settings, http, redis) -> Sender | None`` (None: not configured here),
  added to ``SENDERS`` under its provider name;
- its webhook ``APIRouter``, added to ``WEBHOOK_ROUTERS`` (``samvad/app.py`` includes them).

A provider that brings a new channel kind (Telegram, a USSD gateway) also adds the kind's
row to ``bot/channel_kinds.py`` and its renderer to ``RENDERERS`` in
``channels/render/_kinds.py``: the queues, the simulator and the console read those.
"""

from __future__ import annotations

from typing import Protocol

import httpx
from fastapi import APIRouter
from redis.asyncio import Redis

from channels.base import Sender
from channels.meta_whatsapp import MetaSender
from channels.meta_whatsapp import router as meta_whatsapp_router
from channels.settings import ChannelSettings
from channels.simulator.sender import SimulatorSender
from channels.twilio import TwilioSender
from channels.twilio import router as twilio_router


class ConfigurableSender(Protocol):
    """A Sender class that builds itself from the settings."""

    @classmethod
    def from_settings(cls, settings: ChannelSettings, http: httpx.AsyncClient,
                      redis: Redis) -> Sender | None: ...


SENDERS: dict[str, type[ConfigurableSender]] = {
    "simulator": SimulatorSender,
    "twilio": TwilioSender,
    "meta": MetaSender,
}

WEBHOOK_ROUTERS: list[APIRouter] = [
    twilio_router,
    meta_whatsapp_router,
]


def build_senders(settings: ChannelSettings, http: httpx.AsyncClient,
                  redis: Redis) -> dict[str, Sender]:
    """One Sender per configured provider, by provider name."""
    senders: dict[str, Sender] = {}
    for name, sender_class in SENDERS.items():
        sender = sender_class.from_settings(settings, http, redis)
        if sender is not None:
            senders[name] = sender
    return senders
