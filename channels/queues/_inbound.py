"""Inbound: webhooks admit verified messages here and answer; workers run the turns.

``InboundQueue.admit`` runs one Lua script, then rings one doorbell. The script claims
the provider's message id (a "seen" key kept as long as the provider retries), counts the
sender's messages of the current minute, and queues the message: into the person's
mailbox, with the person's last-inbound time (WhatsApp's 24-hour window) and the provider
and our number they wrote to on that channel (the delivery policy's "last active
channel", ``_windows``). Every key it touches is the person's, under the person's hash
tag (one Redis Cluster slot)::

    samvad:{inbound:whatsapp:+919876500001}:mailbox          (``_mailboxes``)
    samvad:{inbound:whatsapp:+919876500001}:seen:twilio:SM…  the provider's message id
    samvad:{inbound:whatsapp:+919876500001}:flood            this minute's count
    samvad:{inbound:whatsapp:+919876500001}:lastin / :via    (``_windows``)

Redis runs the script as one step, so a web process dying around it has either queued
the message or left its id unclaimed for the provider's retry. The doorbell (an entry on
the shared stream ``samvad:inbound``, another slot) is rung right after the script
answers: one more command, no pipeline. A process killed between the two leaves the
message queued with no doorbell; so a "duplicate" (the provider's retry of a claimed id)
rings the person's doorbell again, and the retry repairs it. That ring is harmless when
the mailbox is empty or being drained: the worker finds it empty, or busy and rings
again when the lease ends. A provider that never retries leaves such a message queued
until the person's next message rings.
``InboundWorker`` runs ``Conversations.handle`` for each message, in order per person
(see ``_mailboxes``), and turns the replies into outbound jobs ``<message_id>:<index>``
for the provider the message came from, sent from the number the person wrote to.

Floods: past ``SAMVAD_INBOUND_PER_MINUTE`` the first extra message is queued as a flood
notice (the worker answers "you are sending messages too fast" in the person's language
instead of running a turn) and later ones are dropped, counted in ``samvad_inbound_flood``
and logged with the number masked, until the minute is over. Other people are not
affected. A provider's retry of a message is refused as a duplicate before it is counted.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal, cast

import orjson
import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

from bot.i18n import translate
from bot.messages import Inbound, Location, Media, Outgoing
from bot.runtime import Conversations
from bot.session_store import conversation_key
from channels import metrics
from channels.base import OutboundJob, outgoing_to_dict
from channels.queues._clock import Clock, SystemClock
from channels.queues._mailboxes import Mailboxes
from channels.queues._outbound import OutboundQueue
from channels.queues._windows import (
    KEEP_S,
    VIA_KEEP_S,
    ContactWindows,
    person_base,
    via_value,
)
from channels.queues._worker import MailboxWorker
from core_api.phones import mask_phone

log = structlog.get_logger(__name__)

INBOUND_MAX_ATTEMPTS = 5
INBOUND_RETRY_S = 5.0

# samvad_inbound_messages_total{provider, outcome}: handled, repeat, retry, dropped
TURNS = metrics.Labelled(metrics.INBOUND_MESSAGES)
FLOOD = Counter("samvad_inbound_flood", "Inbound messages over the per-sender limit",
                ["provider", "outcome"])  # notice, dropped
FLOOD_WINDOW_S = 60
FLOOD_NOTICE = "global.too_fast"

Admission = Literal["accept", "duplicate", "notice", "drop"]


def inbound_to_dict(inbound: Inbound) -> dict[str, Any]:
    return asdict(inbound)


def inbound_from_dict(data: dict[str, Any]) -> Inbound:
    fields = dict(data)
    location = fields.pop("location", None)
    media = fields.pop("media", ())
    return Inbound(**fields, location=Location(**location) if location else None,
                   media=tuple(Media(**m) for m in media))


def reply_jobs(inbound: Inbound, provider: str, replies: list[Any], locale: str | None,
               effects: list[str] | None = None) -> list[OutboundJob]:
    """One job per reply, ``<message_id>:<index>``; a failed turn's apology has its own ids."""
    base = inbound.message_id or f"anon-{uuid.uuid4().hex}"
    marks = [e for e in effects or () if e in ("failed", "busy", "flood")]
    if marks:  # so the real answer to a retry of this message is not taken for a repeat
        base = f"{base}:{marks[0]}"
    return [OutboundJob(provider=provider, channel=inbound.channel, to=inbound.sender,
                        message=outgoing_to_dict(reply), kind="reply", sender=inbound.to,
                        locale=locale, job_id=f"{base}:{index}")
            for index, reply in enumerate(replies)]


def flood_key(channel: str, phone: str) -> str:
    """The counter of one person's messages in the current minute."""
    return person_base(channel, phone) + "flood"


def seen_key_of(inbound: Inbound, seen_id: str) -> str:
    """The claim of a provider's message id (``twilio:<MessageSid>``), the sender's key."""
    return person_base(inbound.channel, inbound.sender) + "seen:" + seen_id


# KEYS seen, flood counter, mailbox, last inbound, via: one person, one hash tag.
# ARGV seen ttl s, per minute (0: no limit), flood window s, item, mailbox ttl s,
#      now, last inbound ttl s, via value ("<now> <provider> <our number>"), via ttl s.
# Nothing is queued for a duplicate or a drop; the notice item is the message's item with
# "flood": true appended (the bytes orjson makes of the same dict with that key last).
# The doorbell is not rung here: its stream is shared by everyone (another cluster slot).
_ADMIT = """
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then
  return 'duplicate'
end
local admission, item = 'accept', ARGV[4]
local limit = tonumber(ARGV[2])
if limit > 0 then
  redis.call('SET', KEYS[2], 0, 'NX', 'EX', ARGV[3])
  local count = redis.call('INCR', KEYS[2])
  if count > limit + 1 then
    return 'drop'
  elseif count == limit + 1 then
    admission, item = 'notice', string.sub(item, 1, -2) .. ',"flood":true}'
  end
end
redis.call('RPUSH', KEYS[3], item)
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('SET', KEYS[4], ARGV[6], 'EX', ARGV[7])
redis.call('SET', KEYS[5], ARGV[8], 'EX', ARGV[9])
return admission
"""


def record_flood(inbound: Inbound, provider: str, admission: Admission) -> None:
    """Count and log a message over the limit (the number masked)."""
    FLOOD.labels(provider, "notice" if admission == "notice" else "dropped").inc()
    log.warning("inbound_flood", channel=inbound.channel, outcome=admission,
                sender=mask_phone(inbound.sender), message_id=inbound.message_id)


class InboundQueue:
    """Accepted inbound messages, one ordered mailbox per conversation (channel + number)."""

    def __init__(self, redis: Redis, *, windows: ContactWindows | None = None,
                 clock: Clock | None = None, lease_ms: int = 30_000,
                 reclaim_idle_ms: int = 45_000) -> None:
        self.redis = redis
        self.windows = windows or ContactWindows(redis)
        self.clock = clock or SystemClock()
        self.boxes = Mailboxes(redis, "inbound", lease_ms=lease_ms,
                               reclaim_idle_ms=reclaim_idle_ms)
        self._admit = redis.register_script(_ADMIT)

    async def admit(self, inbound: Inbound, provider: str, *, seen_key: str, seen_ttl_s: int,
                    per_minute: int = 0,
                    before_ring: Callable[[], None] | None = None) -> Admission:
        """Queue a verified message from ``provider`` ("twilio", "meta") unless it is a
        repeat or a flood, in one atomic script, then ring its doorbell.

        "duplicate": ``seen_key`` (the provider's message id, e.g. ``twilio:<MessageSid>``,
        claimed for ``seen_ttl_s`` under the sender's hash tag) was claimed before; the
        doorbell is rung again (see the module doc). Over ``per_minute`` messages of the
        sender this minute (0: no limit) the first extra one is queued as the flood notice
        ("notice": the worker answers "too fast" instead of running its turn) and later
        ones are not ("drop", no ring). Else "accept". Nothing is queued for a duplicate
        or a drop. ``before_ring`` runs between the script and the ring (the fault tests'
        kill point).
        """
        key = conversation_key(inbound.channel, inbound.sender)
        mailbox, _lock = self.boxes.keys(key)
        item = orjson.dumps({"provider": provider, "inbound": inbound_to_dict(inbound),
                             "attempts": 0})
        keys = [seen_key_of(inbound, seen_key), flood_key(inbound.channel, inbound.sender),
                mailbox, self.windows.key(inbound.channel, inbound.sender),
                self.windows.via_key(inbound.channel, inbound.sender)]
        now = self.clock.now()
        args: list[bytes | str | int] = [
            seen_ttl_s, per_minute, FLOOD_WINDOW_S, item, self.boxes.ttl_s, repr(now),
            KEEP_S, via_value(now, provider, inbound.to), VIA_KEEP_S]
        admission = cast("Admission", (await self._admit(keys=keys, args=args)).decode())
        if before_ring is not None:
            before_ring()
        if admission != "drop":
            await self.ring(key)
        return admission

    async def ring(self, key: str) -> None:
        """A doorbell for ``key``'s mailbox on the shared stream (what a worker reads)."""
        await self.boxes.ring(key)

    async def waiting(self, channel: str, phone: str) -> list[Inbound]:
        """Messages of one person not handled yet, oldest first."""
        raw = await self.boxes.waiting(conversation_key(channel, phone))
        return [inbound_from_dict(orjson.loads(item)["inbound"]) for item in raw]


class InboundWorker(MailboxWorker):
    """Runs conversation turns for queued messages and queues their replies."""

    def __init__(self, queue: InboundQueue, conversations: Conversations,
                 outbound: OutboundQueue, *, consumer: str | None = None,
                 concurrency: int = 32, clock: Clock | None = None) -> None:
        super().__init__(queue.boxes, consumer=consumer, concurrency=concurrency,
                         clock=clock or queue.clock)
        self.queue = queue
        self.conversations = conversations
        self.outbound = outbound

    async def turn(self, provider: str, inbound: Inbound) -> list[OutboundJob]:
        """One turn and its queued replies.

        A message whose turn was committed before is still at the head when its worker
        died before advancing the mailbox: its kept replies are queued again, under the
        same job ids, so those already sent are skipped and none is lost. A conversation
        still locked after the wait raises ``SessionBusy``: ``drain`` keeps the message
        and tries again later, like any failed turn.
        """
        turn = await self.conversations.handle(inbound, when_busy="raise")
        repeat = turn is None
        if turn is None:
            turn = await self.conversations.answered(inbound)
        jobs = [] if turn is None else reply_jobs(inbound, provider, turn.replies,
                                                  turn.session.locale, turn.effects)
        await self.outbound.enqueue(*jobs)
        TURNS.labels(provider, "repeat" if repeat else "handled").inc()
        return jobs

    async def flood_notice(self, provider: str, inbound: Inbound) -> list[OutboundJob]:
        """The one polite "you are sending too fast" reply, in the person's language."""
        locale = await self.conversations.locale_of(inbound)
        jobs = reply_jobs(inbound, provider, [Outgoing(translate(locale, FLOOD_NOTICE))],
                          locale, ["flood"])
        await self.outbound.enqueue(*jobs)
        return jobs

    async def drain(self, key: str) -> int:
        owner = secrets.token_hex(8)
        opened = await self.boxes.open(key, owner)
        if opened.state == "busy":
            await self.boxes.ring_at(key, self.clock.now() + opened.busy_ms / 1000 + 0.05)
            return 0
        head, done = opened.head, 0
        while head is not None:
            item = orjson.loads(head)
            not_before = item.get("not_before", 0.0)
            if not_before > self.clock.now():
                # A failed message waits for its retry time; a doorbell rung by a later
                # message must not run it early (nor skip it: order is kept).
                await self.boxes.ring_at(key, not_before)
                await self.boxes.put_back(key, owner, head)
                return done
            inbound = inbound_from_dict(item["inbound"])
            try:
                if item.get("flood"):
                    await self.flood_notice(item["provider"], inbound)
                else:
                    await self.turn(item["provider"], inbound)
            except Exception:
                # Redis or a bug: keep the message at the head and try again later, a few
                # times; the session store's dedupe keeps a finished turn from running twice.
                item["attempts"] += 1
                context = {"channel": inbound.channel, "sender": mask_phone(inbound.sender),
                           "attempt": item["attempts"]}
                if item["attempts"] < INBOUND_MAX_ATTEMPTS:
                    TURNS.labels(item["provider"], "retry").inc()
                    log.exception("inbound_turn_failed", **context)
                    item["not_before"] = self.clock.now() + INBOUND_RETRY_S
                    await self.boxes.ring_at(key, item["not_before"])
                    await self.boxes.put_back(key, owner, orjson.dumps(item))
                    return done
                TURNS.labels(item["provider"], "dropped").inc()
                log.exception("inbound_dropped", **context)
            done += 1
            head = await self.boxes.advance(key, owner)
        return done
