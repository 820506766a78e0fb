"""Overload without silence: a citizen whose message waits too long is told so, once.

Under overload the inbound doorbells pile up on the stream ``samvad:inbound``
(``_mailboxes``): unread, or read by a worker that has more mailboxes in hand than its
cores can turn over (read but not yet acknowledged: pending). A doorbell's stream id is
Redis's time (ms) of the ring, which follows the message's admission at once; so the
unread and the pending doorbells older than the deadline (``SAMVAD_BUSY_AFTER_S``, 10 s)
name the people who have waited longer than it, oldest first. Redis finds the unread
ones with one ``XRANGE`` up to the deadline's id, the pending ones with one
``XPENDING`` over the same range (then their entries, in one pipeline).

``OverloadWatch.check_once`` (a worker loop, every second) queues, for each such person
whose mailbox still holds a message, one outbound job ``busy:<message_id>`` with
``global.busy`` ("we are busy, your message is in the queue") in the person's language
(the conversation's, else the one the message's script suggests).
The job goes to the outbound queue, whose workers do not wait behind the inbound backlog;
it is sent before the turn's replies (the person's outbound order), and the turn still
runs when its doorbell comes up.

Once per person per backlog episode: a claim under the person's hash tag
(``samvad:{inbound:<channel>:<number>}:busy``) is taken in the same script that reads the
mailbox head, and renewed each time the person is found waiting past the deadline again;
the episode ends ``EPISODE_S`` after the last time. Claim first, queue second: a watcher
dying in between leaves that person untold rather than told twice; and should the same
message be queued again (a lapsed claim), its job id makes the sending skip it.

Several worker processes each run the loop; a short lease (``samvad:overload:watch``)
lets one of them scan at a time. ``queue_age`` is the same reading for ``/metrics`` and
``/readyz``: how long the oldest unread doorbell has waited.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import cast

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.i18n import guess_locale, translate
from bot.messages import Inbound, Outgoing
from channels.base import OutboundJob, outgoing_to_dict
from channels.queues._clock import Clock, SystemClock
from channels.queues._inbound import InboundQueue, inbound_from_dict
from channels.queues._mailboxes import QueueKeys, queue_keys
from channels.queues._outbound import OutboundQueue

log = structlog.get_logger(__name__)

BUSY_NOTICE = "global.busy"
DEFAULT_BUSY_AFTER_S = 10.0
WATCH_EVERY_S = 1.0
EPISODE_S = 300  # a person told "busy" is not told again until this long without waiting
SCAN_BATCH = 500
LEASE_KEY = "samvad:overload:watch"
LEASE_MS = 3_000

# KEYS mailbox, claim; ARGV claim ttl s. The head when the claim was taken (a message
# still waits and the person was not told in this episode), else false (claim renewed).
_CLAIM = """
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then
  return false
end
if redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[1]) then
  return head
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
return false
"""

# KEYS lease; ARGV holder, ms. 1 when ``holder`` holds the lease now (taken or renewed).
_LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


def _stream_ms(entry_id: bytes | str) -> int:
    """The Redis time (ms) in a stream entry id ``<ms>-<seq>``."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


def _id_key(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def last_delivered(redis: Redis, names: QueueKeys) -> str:
    """The id of the last doorbell the workers' group read (``0-0``: none, or no group)."""
    try:
        groups = await redis.xinfo_groups(names.stream)
    except ResponseError:  # no stream yet: nothing was ever queued
        return "0-0"
    for group in groups:
        name = group.get("name")
        if (name.decode() if isinstance(name, bytes) else name) == names.group:
            last = group.get("last-delivered-id") or "0-0"
            return last.decode() if isinstance(last, bytes) else str(last)
    return "0-0"


async def queue_age(redis: Redis, now: float, name: str = "inbound") -> float:
    """Seconds the oldest doorbell no worker has read yet has waited (0: none waits)."""
    names = queue_keys(name)
    after = await last_delivered(redis, names)
    first = cast("list[tuple[bytes, object]]",
                 await redis.xrange(names.stream, min=f"({after}", max="+", count=1))
    if not first:
        return 0.0
    return max(0.0, now - _stream_ms(first[0][0]) / 1000)


def busy_job(provider: str, inbound: Inbound, locale: str | None, fallback_id: str
             ) -> OutboundJob:
    """The one "we are busy" reply to ``inbound``, from the number the person wrote to."""
    return OutboundJob(provider=provider, channel=inbound.channel, to=inbound.sender,
                       message=outgoing_to_dict(Outgoing(translate(locale, BUSY_NOTICE))),
                       kind="reply", sender=inbound.to, locale=locale,
                       job_id=f"busy:{inbound.message_id or fallback_id}")


class OverloadWatch:
    """Finds people waiting past ``busy_after_s`` and queues their one busy reply."""

    def __init__(self, queue: InboundQueue, outbound: OutboundQueue,
                 locale_of: Callable[[Inbound], Awaitable[str | None]], *,
                 busy_after_s: float = DEFAULT_BUSY_AFTER_S, clock: Clock | None = None,
                 episode_s: int = EPISODE_S) -> None:
        self.redis = queue.redis
        self.boxes = queue.boxes
        self.names = queue_keys(queue.boxes.name)
        self.outbound = outbound
        self.locale_of = locale_of
        self.busy_after_s = busy_after_s
        self.clock = clock or SystemClock()
        self.episode_s = episode_s
        self.holder = secrets.token_hex(8)
        self._claim = self.redis.register_script(_CLAIM)
        self._lead = self.redis.register_script(_LEAD)
        self._cursor = "0-0"  # the last unread doorbell this watcher looked at
        self._pending_cursor = "0-0"  # the last pending one

    async def check_once(self) -> int:
        """Look at the unread and the pending doorbells past the deadline (up to
        ``SCAN_BATCH`` of each) and queue the busy replies due; how many doorbells it
        looked at (more may follow at once)."""
        if not await self._lead(keys=[LEASE_KEY], args=[self.holder, LEASE_MS]):
            return 0
        after = max(await last_delivered(self.redis, self.names), self._cursor, key=_id_key)
        deadline_ms = int((self.clock.now() - self.busy_after_s) * 1000)
        entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", await self.redis.xrange(
            self.names.stream, min=f"({after}", max=str(deadline_ms), count=SCAN_BATCH))
        if entries:
            self._cursor = entries[-1][0].decode()
        entries += await self._pending(deadline_ms)
        if not entries:
            return 0
        entries.sort(key=lambda entry: _id_key(entry[0]))
        overdue: dict[str, bytes] = {}
        for entry_id, fields in entries:
            if fields and b"key" in fields:
                overdue.setdefault(fields[b"key"].decode(), entry_id)
        found = await asyncio.gather(*(self._busy_reply(key, entry_id.decode())
                                       for key, entry_id in overdue.items()))
        jobs = [job for job in found if job is not None]
        await self.outbound.enqueue(*jobs)
        if jobs:
            log.warning("inbound_busy_replies", count=len(jobs),
                        waited_s=round(self.clock.now() - _stream_ms(entries[0][0]) / 1000, 1))
        return len(entries)

    async def _pending(self, deadline_ms: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """The doorbells read by a worker but not acknowledged, rung before the deadline
        and after the last one looked at: people whose turn is still to come (or running
        now) although a worker has their doorbell in hand."""
        try:
            pending = await self.redis.xpending_range(
                self.names.stream, self.names.group, min=f"({self._pending_cursor}",
                max=str(deadline_ms), count=SCAN_BATCH)
        except ResponseError:  # no stream or group yet: nothing was ever read
            return []
        if not pending:
            return []
        ids = [row["message_id"] for row in pending]
        last = ids[-1]
        self._pending_cursor = last.decode() if isinstance(last, bytes) else str(last)
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xrange(self.names.stream, min=entry_id, max=entry_id, count=1)
        found = await pipe.execute()
        return [entry for entries in found for entry in entries]

    async def _busy_reply(self, key: str, entry_id: str) -> OutboundJob | None:
        """The busy reply to ``key``'s waiting head, if the person has not been told."""
        mailbox, _lock = self.boxes.keys(key)
        claim = f"samvad:{{{self.boxes.name}:{key}}}:busy"  # the mailbox's hash tag
        head = await self._claim(keys=[mailbox, claim], args=[self.episode_s])
        if not head:
            return None
        item = orjson.loads(head)
        inbound = inbound_from_dict(item["inbound"])
        # A person with no language chosen yet (a first message) by the message's script.
        locale = await self.locale_of(inbound) or guess_locale(inbound.text)
        return busy_job(item["provider"], inbound, locale, entry_id)
