"""The simulator's Sender: messages land in the SimulatorInbox the simulator page reads."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from bot.notifier import Notification, SimulatorInbox
from channels.base import OutboundJob, SendResult
from channels.settings import ChannelSettings


class SimulatorSender:
    """Delivers jobs to ``GET /simulator/messages`` (embedded mode without providers)."""

    provider = "simulator"

    def __init__(self, redis: Redis) -> None:
        self.inbox = SimulatorInbox(redis)

    @classmethod
    def from_settings(cls, settings: ChannelSettings, http: httpx.AsyncClient,
                      redis: Redis) -> SimulatorSender | None:
        """Present wherever the simulator is enabled."""
        return cls(redis) if settings.simulator_enabled else None

    async def send(self, job: OutboundJob) -> SendResult:
        await self.inbox.deliver(job.channel, Notification(
            phone=job.to, locale=job.locale, kind=job.kind, message=job.outgoing,
            event_id=job.job_id))
        return SendResult(provider_message_id=f"sim-{job.job_id}", status="delivered")
