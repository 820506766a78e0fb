"""The channels forget a number (``channels.queues.channel_keys``): every key their code
wrote about it, written here by that code — an admitted inbound message (mailbox, seen id,
contact window), a queued reply (outbound mailbox), a notification's never-twice, fallback
and notice markers — and none of another person's."""

from __future__ import annotations

from typing import Any

import pytest

from bot.messages import Inbound, Outgoing
from bot.notifier import Notification
from channels.queues import InboundQueue, JobStates, OutboundQueue, channel_keys
from channels.queues._fallback import claim_key, notice_key
from channels.queues._notifications import notification_job, notification_job_id
from tests.redis_keys import keys_naming

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

P, Q = "+919876500001", "+919876500002"


async def _traces(redis: Any, phone: str) -> None:
    """What the channels keep about ``phone`` after it wrote and was written to."""
    for channel in ("whatsapp", "sms"):
        inbound = Inbound(channel=channel, sender=phone, text="hello",
                          message_id=f"SM-{channel}-{phone}", to="+14155550100")
        admitted = await InboundQueue(redis).admit(inbound, "twilio", seen_key=f"twilio:{phone}",
                                                   seen_ttl_s=60, per_minute=5)
        assert admitted == "accept"
    notification = Notification(phone, "hi", "complaint_update", Outgoing("Namaste"), "ev-1")
    jobs = [notification_job(channel, "simulator", notification) for channel in ("whatsapp", "sms")]
    await OutboundQueue(redis).enqueue(*jobs)
    assert jobs[0].job_id == notification_job_id("ev-1", phone)
    await JobStates(redis).begin(jobs[0], 1780000000.0)
    await redis.set(claim_key(jobs[0].job_id), b"undelivered")  # as SmsFallback claims it
    await redis.set(notice_key(jobs[0].job_id + ":sms"), b"1")


async def test_forget_removes_every_channel_key_of_the_number_only(redis_client):
    await _traces(redis_client, P)
    await _traces(redis_client, Q)
    keys = channel_keys(redis_client)
    held = await keys.keys(P)
    assert held and all(P in key for key in held)
    others = await keys_naming(redis_client, Q)

    assert await keys.forget(P) == len(held)

    assert await keys_naming(redis_client, P) == []
    assert await keys_naming(redis_client, Q) == others
    assert await keys.keys(Q) == others
