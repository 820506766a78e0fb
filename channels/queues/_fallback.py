"""The SMS fallback of WhatsApp notifications, at most once per notification.

A WhatsApp notification falls back to SMS when it cannot or did not reach the person:
no approved template for its kind outside the 24-hour window, a template or window
failure answered to the send, or one reported later by a status callback (Twilio 63016,
Meta 131047, "undeliverable" 131026 ...: ``SMS_FALLBACK_CODES``). Replies never do.

For that the sink keeps each WhatsApp notification under its job id
(``samvad:notice:<job_id>``) and the send worker notes which job a provider message id
belongs to (``samvad:fallback:sent:<provider>:<id>``), both for ``KEEP_S``. The fallback
claims ``samvad:fallback:<job_id>`` first (SET NX) and queues the SMS as job
``<job_id>:sms`` on the route the delivery policy gives for SMS (rule ``sms_fallback``):
a second callback, a retried webhook or a second worker finds the claim and sends nothing.
Limit: a failure callback that overtakes the send worker's note of the message id (it is
written right after the provider answers) finds no job and is only recorded.
"""

from __future__ import annotations

import orjson
import structlog
from redis.asyncio import Redis

from bot.channel_kinds import capabilities
from bot.notifier import Notification
from channels import metrics
from channels.base import OutboundJob
from channels.queues._notifications import (
    NotificationJobs,
    notification_from_dict,
    notification_to_dict,
)
from channels.queues._outbound import OutboundQueue
from channels.queues._policy import DeliveryPolicy
from channels.queues._templates import SMS_FALLBACK_CODES
from core_api.phones import mask_phone

log = structlog.get_logger(__name__)

KEEP_S = 3 * 24 * 3600  # providers report a failure within minutes, at worst hours
RULE = "sms_fallback"


def notice_key(job_id: str) -> str:
    return f"samvad:notice:{job_id}"


def claim_key(job_id: str) -> str:
    return f"samvad:fallback:{job_id}"


def sent_key(provider: str, provider_message_id: str) -> str:
    return f"samvad:fallback:sent:{provider}:{provider_message_id}"


def falls_back(job: OutboundJob) -> bool:
    """Whether ``job`` may fall back at all: a notification (not a reply) on a channel kind
    with a reply window (WhatsApp), which outside it may not reach the person."""
    return capabilities(job.channel).reply_window_s is not None and job.kind != "reply"


class SmsFallback:
    """Keeps WhatsApp notifications and sends each one's SMS form at most once."""

    def __init__(self, redis: Redis, outbound: OutboundQueue, policy: DeliveryPolicy,
                 jobs: NotificationJobs) -> None:
        self.redis = redis
        self.outbound = outbound
        self.policy = policy
        self.jobs = jobs

    async def keep(self, job: OutboundJob, notification: Notification) -> None:
        """Remember ``notification`` under the id of its WhatsApp ``job``."""
        await self.redis.set(notice_key(job.job_id),
                             orjson.dumps(notification_to_dict(notification)), ex=KEEP_S)

    async def sent(self, job: OutboundJob, provider_message_id: str) -> None:
        """Note that the provider's message ``provider_message_id`` is ``job``."""
        if falls_back(job):
            await self.redis.set(sent_key(job.provider, provider_message_id), job.job_id,
                                 ex=KEEP_S)

    async def available(self, job: OutboundJob) -> bool:
        """True when ``job`` can fall back (its notification is kept, SMS is configured)."""
        return (falls_back(job) and "sms" in self.policy.configured
                and bool(await self.redis.exists(notice_key(job.job_id))))

    async def send_sms(self, job_id: str, reason: str) -> OutboundJob | None:
        """Queue the SMS of the notification of WhatsApp job ``job_id`` unless it was
        queued before (or nothing is kept of it); return the SMS job queued."""
        raw = await self.redis.get(notice_key(job_id))
        if raw is None:
            return None
        notification = notification_from_dict(orjson.loads(raw))
        route = await self.policy.on("sms", notification.phone, RULE)
        if route is None:
            return None
        if not await self.redis.set(claim_key(job_id), reason, nx=True, ex=KEEP_S):
            return None  # fallen back before
        try:
            job = await self.jobs.sms(notification, route, route.provider or "simulator",
                                      job_id=f"{job_id}:sms")
            await self.outbound.enqueue(job)
        except Exception:
            await self.redis.delete(claim_key(job_id))  # the caller's retry may try again
            raise
        metrics.send(job.provider, "sms", "fallback", reason).inc()
        log.info("sms_fallback_queued", job_id=job_id, reason=reason,
                 to=mask_phone(notification.phone))
        return job

    async def on_status(self, provider: str, provider_message_id: str, status: str,
                        error_code: str | None) -> OutboundJob | None:
        """A provider's status callback: a WhatsApp notification that failed with a code
        of ``SMS_FALLBACK_CODES`` goes again as SMS (once)."""
        if status != "failed" or error_code not in SMS_FALLBACK_CODES:
            return None
        job_id = await self.redis.get(sent_key(provider, provider_message_id))
        if job_id is None:
            return None
        return await self.send_sms(job_id.decode() if isinstance(job_id, bytes) else job_id,
                                   error_code)
