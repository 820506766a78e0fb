"""The channel machinery one application holds (``app.state.channels``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from channels.base import Sender
from channels.queues._fallback import SmsFallback
from channels.queues._inbound import InboundQueue
from channels.queues._notifications import NotificationSink
from channels.queues._outbound import OutboundQueue
from channels.queues._policy import DeliveryPolicy
from channels.queues._sending import SendPolicy
from channels.queues._status import MessageStatusStore
from channels.queues._templates import TemplateBook
from channels.queues._windows import ContactWindows


@dataclass
class ChannelServices:
    """Queues, senders and the delivery record; webhooks reach them via ``channels_of``."""

    inbound: InboundQueue
    outbound: OutboundQueue
    statuses: MessageStatusStore
    senders: dict[str, Sender]
    notifications: NotificationSink
    delivery: DeliveryPolicy  # where each notification goes (the notifier asks it)
    fallback: SmsFallback  # WhatsApp notifications that go as SMS instead
    windows: ContactWindows
    templates: TemplateBook
    policy: SendPolicy
    http: httpx.AsyncClient  # the provider senders' client; closed with the app


def channels_of(app: Any) -> ChannelServices:
    """The services of a FastAPI app (``request.app``)."""
    services: ChannelServices = app.state.channels
    return services
