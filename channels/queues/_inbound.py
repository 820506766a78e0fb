"""Inbound: webhooks admit verified messages here and answer; workers run the turns.

``InboundQueue.admit`` runs one Lua script, which also rings the doorbell on one Redis
server (on a Redis Cluster the ring follows as its own command). The script claims
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
the shared stream ``samvad:inbound``) is rung by the script itself on one Redis server:
one round trip in all. On a Redis Cluster the stream is in another slot, so it is rung
right after the script answers: one more command. A process killed between the two
leaves the message queued with no doorbell; so a "duplicate" (the provider's retry of a
claimed id) rings the person's doorbell again, and the retry repairs it. That ring is harmless when
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
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal, cast

import orjson
import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.engine import Turn
from bot.i18n import translate
from bot.messages import Inbound, Location, Media, Outgoing
from bot.runtime import Conversations
from bot.session_store import BEGIN_LUA, Begin, SessionStore, conversation_key
from channels import metrics
from channels.base import OutboundJob, outgoing_to_dict
from channels.queues._clock import Clock, SystemClock
from channels.queues._mailboxes import Hook, Mailboxes, Opened
from channels.queues._outbound import OutboundQueue, by_recipient
from channels.queues._sending import Handoff, SendWorker
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


# KEYS seen, flood counter, mailbox, last inbound, via: one person, one hash tag;
#      [doorbell stream: on one server only, the stream is shared by everyone (another
#      cluster slot)].
# ARGV seen ttl s, per minute (0: no limit), flood window s, item, mailbox ttl s,
#      now, last inbound ttl s, via value ("<now> <provider> <our number>"), via ttl s,
#      stream max length, mailbox key (the doorbell's field).
# Nothing is queued for a duplicate or a drop; the notice item is the message's item with
# "flood": true appended (the bytes orjson makes of the same dict with that key last).
# With a stream, a duplicate and an admitted message ring it (a drop does not).
_ADMIT = """
local function ring()
  if KEYS[6] then
    redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[10], '*', 'key', ARGV[11])
  end
end
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then
  ring()
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
ring()
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
        repeat or a flood, and ring its doorbell: one script on one server, the script
        then the ring on a Redis Cluster.

        "duplicate": ``seen_key`` (the provider's message id, e.g. ``twilio:<MessageSid>``,
        claimed for ``seen_ttl_s`` under the sender's hash tag) was claimed before; the
        doorbell is rung again (see the module doc). Over ``per_minute`` messages of the
        sender this minute (0: no limit) the first extra one is queued as the flood notice
        ("notice": the worker answers "too fast" instead of running its turn) and later
        ones are not ("drop", no ring). Else "accept". Nothing is queued for a duplicate
        or a drop. ``before_ring`` runs right after the script (the fault tests' kill
        point: before the ring on a cluster).
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
        if self.boxes.one_server:
            keys.append(self.boxes.stream)
            args += [self.boxes.stream_max_len, key]
        admission = cast("Admission", (await self._admit(keys=keys, args=args)).decode())
        if before_ring is not None:
            before_ring()
        if admission != "drop" and not self.boxes.one_server:
            await self.ring(key)
        return admission

    async def ring(self, key: str) -> None:
        """A doorbell for ``key``'s mailbox on the shared stream (what a worker reads)."""
        await self.boxes.ring(key)

    async def waiting(self, channel: str, phone: str) -> list[Inbound]:
        """Messages of one person not handled yet, oldest first."""
        raw = await self.boxes.waiting(conversation_key(channel, phone))
        return [inbound_from_dict(orjson.loads(item)["inbound"]) for item in raw]


# The hooks of the inbound drain's open step on one server (``Mailboxes.hooked``): begin
# the head message's turn in the session store (``BEGIN_LUA``: dedupe, lock, load) unless
# it is a flood notice or waits for its retry time. The session's keys are under its own
# hash tag: one server only. ARGV[7] now, [8..13] ``SessionStore.begin_args``.
_HOOKS = BEGIN_LUA + """
local function finish(prefix) end
local function on_head(prefix, head)
  local item = cjson.decode(head)
  local not_before = item.not_before
  if item.flood or (not_before and not_before ~= cjson.null
                    and not_before > tonumber(ARGV[7])) then
    return false
  end
  local id = item.inbound.message_id
  local mark = nil
  if id ~= cjson.null and id ~= '' then
    mark = ARGV[10] .. id
  end
  return session_begin(ARGV[8], ARGV[9], mark, ARGV[11], ARGV[12], ARGV[13])
end
"""


class TurnEnd:
    """The end of a turn sent with its commit (``SessionStore.commit(along=)``, one
    server): the replies queued with their doorbell, then the inbound mailbox's next step,
    then, when a send worker is at hand, the replies' mailbox opened for it (its first job
    begun; the replies then get a ring for the lease's end instead of a doorbell): one
    round trip for all. The order is the one of the separate steps, so a
    worker dying anywhere leaves what it left before."""

    def __init__(self, worker: InboundWorker, key: str, owner: str, provider: str,
                 inbound: Inbound) -> None:
        self.worker, self.key, self.owner = worker, key, owner
        self.provider, self.inbound = provider, inbound
        self.jobs: list[OutboundJob] = []
        self.sent = False  # handed to the commit's pipeline: it may have run, in part
        self.taken = False
        self.next: Opened | None = None
        self.handoff: Handoff | None = None
        self._took_next: Callable[[Any], Opened] | None = None
        self._took_open: Callable[[Any], Opened] | None = None
        self._adds = 0

    def __call__(self, turn: Turn) -> TurnEnd:
        self.jobs = reply_jobs(self.inbound, self.provider, turn.replies,
                               turn.session.locale, turn.effects)
        return self

    def queue(self, pipe: Pipeline) -> None:
        self.sent = True
        outbound = self.worker.outbound.boxes
        payloads = by_recipient(self.jobs)
        send = self.worker.send
        handing = send is not None and len(payloads) == 1
        # Replies this worker sends itself get no doorbell (a send worker would only find
        # their mailbox busy), but a ring for when the lease runs out, in case it dies.
        ring_at = self.worker.clock.now() + outbound.lease_ms / 1000 if handing else None
        self._adds = outbound.queue_add(pipe, payloads, ring_at=ring_at) if payloads else 0
        self._took_next = self.worker.boxes.queue_step(pipe, self.key, self.owner, "next")
        if send is not None and handing:
            (recipient,) = payloads
            self.handoff = Handoff(recipient, secrets.token_hex(8), time.monotonic())
            self.handoff.lease.unring = True
            self._took_open = send.boxes.queue_step(
                pipe, recipient, self.handoff.owner, "open", send.step_hook(),
                lease=self.handoff.lease)

    def took(self, results: list[Any]) -> None:
        assert self._took_next is not None
        self.taken = True
        self.next = self._took_next(results[self._adds])
        if self.handoff is not None and self._took_open is not None:
            self.handoff.step = self._took_open(results[self._adds + 1])


class InboundWorker(MailboxWorker):
    """Runs conversation turns for queued messages and queues their replies.

    On one Redis server, with the real ``Conversations``, a turn costs the inbound
    mailbox two round trips: its open step begins the session too (``_HOOKS``), and the
    commit carries the rest (``TurnEnd``). Given the ``send`` worker, it also sends the
    turn's replies itself when their mailbox was free, saving the send worker's read and
    open (instead of a doorbell, a ring is scheduled for the lease's end in case this
    worker dies; the step that empties the mailbox removes it).
    """

    def __init__(self, queue: InboundQueue, conversations: Conversations,
                 outbound: OutboundQueue, *, consumer: str | None = None,
                 concurrency: int = 32, clock: Clock | None = None,
                 send: SendWorker | None = None) -> None:
        super().__init__(queue.boxes, consumer=consumer, concurrency=concurrency,
                         clock=clock or queue.clock)
        self.queue = queue
        self.conversations = conversations
        self.outbound = outbound
        store = conversations.store if isinstance(conversations, Conversations) else None
        self.sessions = store if store is not None and store.one_server else None
        self.folded = self.sessions is not None and queue.boxes.one_server
        self.send = send if self.folded else None
        self._open = queue.boxes.hooked(_HOOKS)

    async def turn(self, provider: str, inbound: Inbound, *, begun: Begin | None = None,
                   end: TurnEnd | None = None) -> list[OutboundJob]:
        """One turn and its queued replies: with the commit when ``end`` (its ``taken``
        says whether it was), else after it.

        A message whose turn was committed before is still at the head when its worker
        died before advancing the mailbox: its kept replies are queued again, under the
        same job ids, so those already sent are skipped and none is lost. A conversation
        still locked after the wait raises ``SessionBusy``: ``drain`` keeps the message
        and tries again later, like any failed turn.
        """
        turn = await self.conversations.handle(inbound, when_busy="raise", begun=begun,
                                               along=end)
        repeat = turn is None
        if turn is None:
            turn = await self.conversations.answered(inbound)
        TURNS.labels(provider, "repeat" if repeat else "handled").inc()
        if end is not None and end.taken:
            return end.jobs
        jobs = [] if turn is None else reply_jobs(inbound, provider, turn.replies,
                                                  turn.session.locale, turn.effects)
        await self.outbound.enqueue(*jobs)
        return jobs

    async def flood_notice(self, provider: str, inbound: Inbound) -> list[OutboundJob]:
        """The one polite "you are sending too fast" reply, in the person's language."""
        locale = await self.conversations.locale_of(inbound)
        jobs = reply_jobs(inbound, provider, [Outgoing(translate(locale, FLOOD_NOTICE))],
                          locale, ["flood"])
        await self.outbound.enqueue(*jobs)
        return jobs

    def _open_hook(self, key: str, token: str) -> Hook | None:
        if self.sessions is None or not self.folded:
            return None
        return Hook(self._open, [repr(self.clock.now()),
                                 *self.sessions.begin_args(key, token)])

    async def drain(self, key: str) -> int:
        owner, token = secrets.token_hex(8), secrets.token_hex(16)
        step = await self.boxes.open(key, owner, self._open_hook(key, token))
        if step.state == "busy":
            await self.boxes.ring_at(key, self.clock.now() + step.busy_ms / 1000 + 0.05)
            return 0
        done = 0
        while step.head is not None:
            head = step.head
            begun = SessionStore.begun(step.hooked, token) if step.hooked else None
            item = orjson.loads(head)
            not_before = item.get("not_before", 0.0)
            if not_before > self.clock.now():
                # A failed message waits for its retry time; a doorbell rung by a later
                # message must not run it early (nor skip it: order is kept).
                await self.boxes.ring_at(key, not_before)
                await self.boxes.put_back(key, owner, head)
                return done
            inbound = inbound_from_dict(item["inbound"])
            end = (TurnEnd(self, key, owner, item["provider"], inbound)
                   if self.folded and not item.get("flood") else None)
            try:
                if item.get("flood"):
                    await self.flood_notice(item["provider"], inbound)
                else:
                    await self.turn(item["provider"], inbound, begun=begun, end=end)
            except Exception:
                if end is not None and end.sent:
                    return await self._after_failed_end(key, owner, done)
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
            if end is not None and end.handoff is not None:
                await self._send_replies(end.handoff)
            step = end.next if end is not None and end.next is not None else (
                await self.boxes.next(key, owner))
        return done

    async def _after_failed_end(self, key: str, owner: str, done: int) -> int:
        """The commit's pipeline failed, maybe after some of it ran (the mailbox may have
        moved on): the head is not put back, the mailbox is let go and rung again later.
        A turn committed before is not run again (the session store's dedupe)."""
        log.exception("inbound_turn_end_failed", queue="inbound")
        await self.boxes.ring_at(key, self.clock.now() + INBOUND_RETRY_S)
        await self.boxes.release(key, owner)
        return done

    async def _send_replies(self, handoff: Handoff) -> None:
        """Send the turn's replies here (their mailbox was opened with the commit). A
        failure is logged, not the turn's: the ring scheduled with them brings a send
        worker once the lease has run out."""
        assert self.send is not None
        if handoff.step is None or handoff.step.state != "open":
            return
        try:
            await self.send.take_over(handoff)
        except Exception:
            log.exception("reply_send_failed", queue="outbound")
