"""The Redis keys the channels write about one phone number, for export and erasure.

Named from the functions that write them, for each channel kind: the person's inbound
keys (mailbox and lock, contact windows, flood counter, seen provider message ids: all
under ``person_base``), their outbound mailbox, lock and jobs' never-twice states (under
their outbound hash tag), and the fallback and notice markers of the notifications sent
to them (a notification's job id names the number; its SMS fallback's id adds ``:sms``).
``samvad.privacy`` hands them to core_api's erasure with the bot's
(``bot.personal_keys``).
"""

from __future__ import annotations

from redis.asyncio import Redis

from bot.channel_kinds import channel_kinds
from bot.personal_keys import OwnedKeys
from bot.session_store import conversation_key
from channels.queues._fallback import claim_key, notice_key
from channels.queues._mailboxes import Mailboxes
from channels.queues._notifications import notification_job_id
from channels.queues._windows import person_base


def channel_keys(redis: Redis) -> OwnedKeys:
    """The channels' keys about a number on ``redis``."""
    outbound = Mailboxes(redis, "outbound")

    def patterns(phone: str) -> list[str]:
        names = []
        for channel in channel_kinds():
            names.append(person_base(channel, phone) + "*")
            names.append(outbound.prefix(conversation_key(channel, phone)) + "*")
        for key_of in (claim_key, notice_key):
            job = key_of(notification_job_id("*", phone))
            names += [job, job + ":*"]
        return names

    return OwnedKeys(redis, patterns)
