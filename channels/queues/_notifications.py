"""Notifications (bot.notifier) become outbound jobs for the provider of their channel."""

from __future__ import annotations

from collections.abc import Mapping

from bot.notifier import Notification
from channels.base import OutboundJob, outgoing_to_dict
from channels.queues._outbound import OutboundQueue


def notification_job(channel: str, provider: str, notification: Notification) -> OutboundJob:
    """The job of one notification; its id follows the notifier's once-per-event marker."""
    return OutboundJob(provider=provider, channel=channel, to=notification.phone,
                       message=outgoing_to_dict(notification.message), kind=notification.kind,
                       locale=notification.locale,
                       job_id=f"n:{notification.event_id}:{notification.phone}")


class NotificationSink:
    """``bot.notifier.OutboundSink`` that queues jobs; ``providers`` maps channel -> provider."""

    def __init__(self, outbound: OutboundQueue, providers: Mapping[str, str]) -> None:
        self.outbound = outbound
        self.providers = providers

    async def deliver(self, channel: str, notification: Notification) -> None:
        provider = self.providers.get(channel, "simulator")
        await self.outbound.enqueue(notification_job(channel, provider, notification))
