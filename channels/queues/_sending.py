"""The send worker: delivers each recipient's jobs in order, once each.

Per job it keeps a state key ``samvad:{outbound:<channel>:<number>}:job:<job_id>`` (under
the recipient's outbound hash tag, ``job_state_key``):

- ``sending:<unix time>:<n>`` just before the provider is called (``n``: how many times
  the job was sent again because an earlier call's outcome was unknown);
- ``sent:<provider id>`` right after; ``failed`` or ``unknown`` when settled otherwise;
- ``retry:<n>`` when it may go (again): the provider refused it retryably, or an unknown
  outcome was resolved as "send it".

A call's outcome is unknown when the job is found ``sending`` (its worker died, or
stalled past its lease, during the call) or the sender raised ``SendError(CONNECTION,
AMBIGUOUS)`` (the answer was lost after the request was written). It is resolved, never
dropped, once the call has surely ended (``SendPolicy.resolve_after_s`` after it began):

- a sender that can tell (``SentLookup``: Twilio's message list) is asked. Sent: the job
  is settled ``sent:<sid>`` with the status of the message found. Not sent: it goes again.
  The provider cannot be asked (down): asked again later with the usual backoff; after
  ``max_attempts`` it counts as "cannot tell";
- a sender that cannot tell (Meta): the job goes once more, counted as a possible
  duplicate in ``samvad_send_possible_duplicates_total{provider,channel}`` and logged.

Bounded: a job goes again at most ``MAX_RESENDS`` times after the provider said it was
not sent, and at most once without the provider's word, so it is never sent more than
twice because of unknown outcomes. Past the bound it is settled ``failed`` (the provider
said "not sent") or ``unknown`` (it could not tell), and logged.

Round trips: each step of a drain is one script (``Mailboxes`` with this module's hooks):
opening the mailbox or dropping the finished job (noting it ``sent:<provider id>`` first)
takes the next job and, when it may go now, checks its state, takes its rate-limit slot
(on one Redis server; the bucket is the sender's, in another cluster slot) and marks it
``sending``. So a job costs one round trip besides its provider call; the lease is renewed
before the call only when the step was asked more than a third of a lease ago.

Retryable errors (connection, throttled) come back after exponential backoff with jitter
(through the mailbox's due ring); after ``max_attempts`` the job fails. Final errors fail
at once; ``opted_out`` also marks the citizen opted out in the core API. WhatsApp
notifications to someone who has not written for 24 hours go as templates; one that
cannot (no template for its kind) or that a template or window failure stops goes as SMS
instead (``SmsFallback``, once per notification) and is recorded failed.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

from bot.channel_kinds import capabilities
from bot.services import ServiceError
from channels import metrics
from channels.base import OutboundJob, Sender, SendError, SendErrorKind, SendResult, SentLookup
from channels.queues._clock import Clock
from channels.queues._fallback import SmsFallback, falls_back
from channels.queues._mailboxes import Hook, Lease, Opened
from channels.queues._outbound import OutboundQueue, OutboxItem, job_state_key
from channels.queues._ratelimit import RESERVE_LUA, RateLimiter
from channels.queues._status import DeliveryReports, Status, first_status
from channels.queues._templates import (
    DLT_TEMPLATE_ID,
    OUTSIDE_WINDOW_CODES,
    SMS_FALLBACK_CODES,
    TEMPLATE,
    TemplateBook,
    with_template,
)
from channels.queues._windows import ContactWindows
from channels.queues._worker import MailboxWorker
from core_api.phones import mask_phone

log = structlog.get_logger(__name__)

# A sender raises SendError(CONNECTION, AMBIGUOUS) when the request may have reached the
# provider (e.g. a read timeout after it was written): retrying could send twice.
AMBIGUOUS = "ambiguous"
JOB_STATE_TTL_S = 7 * 24 * 3600
UNREGULATED_PROVIDERS = frozenset({"simulator"})  # no 24-hour window, no DLT
MAX_RESENDS = 3  # sends again after the provider said "not sent" (the provider's word)
MAX_BLIND_RESENDS = 1  # sends again when the provider cannot tell (a possible duplicate)

POSSIBLE_DUPLICATES = Counter(
    "samvad_send_possible_duplicates", "Jobs sent once more after an unknown outcome the "
    "provider could not resolve (the person may get them twice)", ["provider", "channel"])


@dataclass(frozen=True)
class SendPolicy:
    max_attempts: int = 6
    retry_base_s: float = 2.0
    retry_cap_s: float = 900.0
    rate: float = 0.0  # messages per second per sender; 0: unlimited
    burst: int | None = None
    max_inline_wait_s: float = 1.0  # a rate-limit wait up to this long is slept in place
    # An unknown outcome is resolved this long after its call began, when the call has
    # surely ended (the provider HTTP timeout), even in a worker that stalled past its
    # lease: asking earlier could miss a message still on its way and send it twice.
    resolve_after_s: float = 15.0


@dataclass(frozen=True)
class Sending:
    """A ``sending:<unix time>:<resends>`` state (time None: the old bare ``sending``)."""

    began: float | None
    resends: int

    @classmethod
    def parse(cls, state: str) -> Sending | None:
        kind, _, rest = state.partition(":")
        if kind != "sending":
            return None
        began, _, resends = rest.partition(":")
        try:
            return cls(float(began) if began else None, int(resends or 0))
        except ValueError:
            return cls(None, 0)


def retry_count(state: str | None) -> int | None:
    """``n`` of a ``retry:<n>`` state (0 for no state); None for any other state."""
    if state is None:
        return 0
    kind, _, count = state.partition(":")
    return int(count or 0) if kind == "retry" else None


# KEYS job state; ARGV time, ttl s. Begin a call: from no state or ``retry:<n>`` to
# ``sending:<time>:<n>``; any other state is returned as it is.
_BEGIN = """
local state = redis.call('GET', KEYS[1])
local resends = '0'
if state then
  resends = string.match(state, '^retry:(%d+)$')
  if not resends then
    return state
  end
end
redis.call('SET', KEYS[1], 'sending:' .. ARGV[1] .. ':' .. resends, 'EX', ARGV[2])
return false
"""

# KEYS job state; ARGV expected state, new state, ttl s. 1 when it was the expected one.
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

# The hooks of the send worker's drain steps (``Mailboxes.hooked``). ARGV[7] finished job
# id ('' none), [8] its state, [9] state ttl s, [10] now (unix s), [11] rate per s (0: not
# taken here), [12] burst, [13] max inline wait ms, [14] 'begin' or 'peek' (a cluster with
# a rate: the slot is taken apart, before the job is marked).
# finish: note the finished job's state. on_head: unless the job waits for its retry time,
# {'state', state} when it was handled before; when peeking {'free'}; {'wait', ms} when
# its rate-limit slot is too far away; else {'began', ms until its slot} with the job
# marked ``sending:<slot time>:<n>`` (as ``_BEGIN``). The job's state key is made from the
# mailbox's prefix (``job_state_key``, same slot); the rate bucket's only on one server.
_HOOKS = RESERVE_LUA + """
local function finish(prefix)
  if ARGV[7] ~= '' then
    redis.call('SET', prefix .. 'job:' .. ARGV[7], ARGV[8], 'EX', ARGV[9])
  end
end
local function on_head(prefix, head)
  local now = tonumber(ARGV[10])
  local item = cjson.decode(head)
  if item.not_before ~= cjson.null and item.not_before and item.not_before > now then
    return false
  end
  local job = item.job
  local key = prefix .. 'job:' .. job.job_id
  local state = redis.call('GET', key)
  local resends = '0'
  if state then
    resends = string.match(state, '^retry:(%d+)$')
    if not resends then
      return {'state', state}
    end
  end
  if ARGV[14] ~= 'begin' then
    return {'free'}
  end
  local now_ms = math.floor(now * 1000)
  local wait = 0
  if tonumber(ARGV[11]) > 0 then
    local sender = job.sender
    if sender == cjson.null or sender == '' then
      sender = job.channel
    end
    wait = reserve('samvad:rate:' .. job.provider .. ':' .. sender, now_ms,
                   tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]))
    if wait < 0 then
      return {'wait', -wait}
    end
  end
  local slot = now_ms + wait
  local began = string.format('%d.%03d', math.floor(slot / 1000), slot % 1000)
  redis.call('SET', key, 'sending:' .. began .. ':' .. resends, 'EX', ARGV[9])
  return {'began', wait}
end
"""


class JobStates:
    """The never-twice markers of jobs."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._begin = redis.register_script(_BEGIN)
        self._swap = redis.register_script(_SWAP)

    @staticmethod
    def key(job: OutboundJob) -> str:
        return job_state_key(job)

    async def get(self, job: OutboundJob) -> str | None:
        raw = await self.redis.get(self.key(job))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def begin(self, job: OutboundJob, now: float) -> str | None:
        """Mark the job ``sending`` at ``now``; None when it was, else the state it has.
        The time is rounded down: a lookup "since" then never starts after the call."""
        began = f"{math.floor(now * 1000) / 1000:.3f}"
        state = await self._begin(keys=[self.key(job)], args=[began, JOB_STATE_TTL_S])
        return state.decode() if state is not None else None

    async def swap(self, job: OutboundJob, expected: str, state: str) -> bool:
        """Replace ``expected`` by ``state``; False when another worker changed it first."""
        return bool(await self._swap(keys=[self.key(job)],
                                     args=[expected, state, JOB_STATE_TTL_S]))

    async def settle(self, job: OutboundJob, state: str) -> None:
        await self.redis.set(self.key(job), state, ex=JOB_STATE_TTL_S)

    async def retry(self, job: OutboundJob, resends: int) -> None:
        """The provider refused the call: the job may go again, keeping its resend count."""
        await self.settle(job, f"retry:{resends}")


@dataclass(frozen=True)
class Begun:
    """What a drain step's script did with the job it took (``_HOOKS``' ``on_head``):
    ``began`` (marked ``sending``, its rate-limit slot ``wait_s`` away), found it handled
    before (``state``), found its slot too far away (``wait``), or found it may go and
    left it (``free``: a cluster with a rate). ``asked``: when the step was asked
    (monotonic), after which the lease was extended."""

    kind: Literal["began", "state", "wait", "free"]
    asked: float
    state: str | None = None
    wait_s: float = 0.0

    @classmethod
    def of(cls, step: Opened, asked: float) -> Begun | None:
        if not step.hooked:
            return None
        kind = step.hooked[0].decode()
        if kind == "free":
            return cls("free", asked)
        if kind == "state":
            return cls("state", asked, state=step.hooked[1].decode())
        if kind not in ("began", "wait"):
            raise ValueError(f"unexpected drain step outcome {kind!r}")
        return cls(kind, asked, wait_s=int(step.hooked[1]) / 1000)


@dataclass(frozen=True)
class Sent:
    """A job the provider took: recorded (``_sent``), then noted ``sent`` by the drain's
    next step, which drops it from the mailbox (one round trip for both)."""

    job: OutboundJob
    result: SendResult
    attempts: int


@dataclass
class Handoff:
    """A recipient's mailbox opened by another drain's pipeline for a send worker to
    drain (``SendWorker.take_over``): its lock's ``owner`` and ``lease``, when the step
    was asked (monotonic) and the step's outcome."""

    key: str
    owner: str
    asked: float
    lease: Lease = field(default_factory=Lease)
    step: Opened | None = None


# What trying a job came to: True it waits (or the lease was lost), False finished,
# ``Sent`` finished by a send.
Outcome = bool | Sent


class SendWorker(MailboxWorker):
    """Delivers outbound jobs through the ``Sender`` of each job's provider."""

    def __init__(self, queue: OutboundQueue, senders: Mapping[str, Sender], *,
                 reports: DeliveryReports | None, windows: ContactWindows,
                 templates: TemplateBook | None = None, policy: SendPolicy | None = None,
                 clock: Clock | None = None, consumer: str | None = None,
                 concurrency: int = 32, rng: random.Random | None = None,
                 fallback: SmsFallback | None = None) -> None:
        super().__init__(queue.boxes, consumer=consumer, concurrency=concurrency, clock=clock)
        self.senders = senders
        self.reports = reports
        self.windows = windows
        self.templates = templates or TemplateBook()
        self.policy = policy or SendPolicy()
        self.states = JobStates(queue.redis)
        self.limiter = RateLimiter(queue.redis, self.policy.rate, self.policy.burst)
        self.rng = rng or random.Random()
        self.fallback = fallback
        self._step = queue.boxes.hooked(_HOOKS)

    async def drain(self, key: str) -> int:
        owner = secrets.token_hex(8)
        asked = time.monotonic()
        step = await self.boxes.open(key, owner, self.step_hook())
        if step.state == "busy":
            await self.boxes.ring_at(key, self.clock.now() + step.busy_ms / 1000 + 0.05)
            return 0
        return await self._drain_from(key, owner, step, asked)

    async def take_over(self, handoff: Handoff) -> int:
        """Drain a mailbox another drain's pipeline opened for this worker (the inbound
        worker's turn end, ``handoff.step``); the step that empties it removes the ring
        scheduled in case this worker died (``Lease.unring``)."""
        assert handoff.step is not None
        lease = handoff.lease
        async with self.boxes.heartbeat(lease):
            done = await self._drain_from(handoff.key, handoff.owner, handoff.step,
                                          handoff.asked)
        await self.boxes.after_loss(lease, self.clock.now())
        return done

    async def _drain_from(self, key: str, owner: str, step: Opened, asked: float) -> int:
        """Send the jobs from the opened ``step`` on (asked at monotonic ``asked``)."""
        done = 0
        while step.head is not None:
            outcome = await self._attempt(key, owner, OutboxItem.loads(step.head),
                                          Begun.of(step, asked))
            if outcome is True:  # the job waits (retry or rate limit); its ring is scheduled
                return done
            done += 1
            sent = outcome if isinstance(outcome, Sent) else None
            if sent is not None:  # recorded before it leaves the mailbox, as it always was
                await self._sent(sent.job, sent.result, sent.attempts)
            asked = time.monotonic()
            step = await self.boxes.next(key, owner, self.step_hook(sent))
        return done

    def step_hook(self, sent: Sent | None = None) -> Hook:
        """The arguments of a drain step: note ``sent``'s state, begin the next job (rate
        limited in the script on one server; on a cluster with a rate, in ``_begin``)."""
        one_server = self.boxes.one_server
        begin = one_server or self.limiter.rate <= 0
        return Hook(self._step, [
            sent.job.job_id if sent else "",
            f"sent:{sent.result.provider_message_id}" if sent else "", JOB_STATE_TTL_S,
            repr(self.clock.now()), self.limiter.rate if one_server else 0,
            self.limiter.burst, int(self.policy.max_inline_wait_s * 1000),
            "begin" if begin else "peek"])

    async def _come_back(self, key: str, owner: str, at: float,
                         item: OutboxItem | None = None) -> bool:
        """Ring ``key`` at ``at`` and let go of it (storing ``item`` as the new head)."""
        await self.boxes.ring_at(key, at)
        if item is None:
            await self.boxes.release(key, owner)
        else:
            await self.boxes.put_back(key, owner, item.dumps())
        return True

    async def _attempt(self, key: str, owner: str, item: OutboxItem,
                       begun: Begun | None = None) -> Outcome:
        """Try the head job once (``begun``: what the drain step did with it already)."""
        if item.not_before and item.not_before > self.clock.now():
            return await self._come_back(key, owner, item.not_before)
        if begun is not None and begun.kind == "wait":
            return await self._come_back(
                key, owner, self.clock.now() + begun.wait_s + self.rng.uniform(0, 0.1))
        if begun is not None and begun.kind in ("began", "free"):
            return await self._send(key, owner, item, begun)
        state = begun.state if begun is not None else await self.states.get(item.job)
        if retry_count(state) is None:
            assert state is not None
            return await self._handled(key, owner, item, state)
        return await self._send(key, owner, item)

    async def _handled(self, key: str, owner: str, item: OutboxItem, state: str) -> Outcome:
        """A job with a state was handled before: resolve a ``sending`` one, skip the rest."""
        sending = Sending.parse(state)
        if sending is not None:
            return await self._resolve(key, owner, item, state, sending)
        metrics.send(item.job.provider, item.job.channel, "skipped").inc()
        log.info("send_skipped", job_id=item.job.job_id, state=state.partition(":")[0])
        return False

    async def _send(self, key: str, owner: str, item: OutboxItem,
                    begun: Begun | None = None) -> Outcome:
        """Prepare the job, wait for the rate limit, mark it ``sending`` and call (marked
        and rate limited by the drain step already when ``begun``). A job that does not go
        after all (no sender, SMS instead) is settled otherwise, over its ``sending``."""
        now = self.clock.now()
        job = item.job
        sender = self.senders.get(job.provider)
        if sender is None:  # e.g. a provider's credentials were removed with jobs queued
            await self._failed(job, item.attempts, SendError(SendErrorKind.CONFIG, "no_sender",
                                                             job.provider))
            return False
        prepared = await self._prepare(job, now)
        if prepared is None:  # outside the window with no template: SMS instead
            await self._fall_back(job, item.attempts, SendError(
                SendErrorKind.REJECTED, "no_template", f"no WhatsApp template for {job.kind}"))
            return False
        job = prepared
        if begun is None or begun.kind == "free":
            waits = await self._begin(key, owner, item, job, now, begun)
            if waits is not None:
                return waits
        else:
            if begun.wait_s > 0:
                await self.clock.sleep(begun.wait_s)
            if not await self._lease_held(key, owner, job, begun):
                return True
        attempts = item.attempts + 1
        try:
            result = await sender.send(job)
        except SendError as error:
            return await self._refused(key, owner, replace(item, job=job, attempts=attempts),
                                       error)
        return Sent(job, result, attempts)

    async def _begin(self, key: str, owner: str, item: OutboxItem, job: OutboundJob,
                     now: float, begun: Begun | None) -> Outcome | None:
        """Wait for the rate limit and mark the job ``sending`` in steps of their own (a
        job sent again after an unknown outcome; a cluster with a rate): None when it may
        go now, else what ``_send`` returns."""
        taken, wait = await self.limiter.reserve(self._sender_id(job), now,
                                                 self.policy.max_inline_wait_s)
        if not taken:
            return await self._come_back(key, owner, now + wait + self.rng.uniform(0, 0.1))
        if wait > 0:
            await self.clock.sleep(wait)
        if not await self._lease_held(key, owner, job, begun):
            return True
        state = await self.states.begin(job, self.clock.now())
        if state is not None:  # another worker moved it meanwhile
            return await self._handled(key, owner, item, state)
        return None

    async def _lease_held(self, key: str, owner: str, job: OutboundJob,
                          begun: Begun | None) -> bool:
        """Checked (and extended) right before the call, so a worker that stalled past its
        lease leaves the job to the mailbox's new holder instead of racing it; unless the
        drain step that extended it was asked less than a third of a lease ago."""
        if begun is not None and time.monotonic() - begun.asked <= self.boxes.lease_ms / 3000:
            return True
        if await self.boxes.renew(key, owner):
            return True
        log.warning("send_lease_lost", job_id=job.job_id)
        return False

    async def _sent(self, job: OutboundJob, result: SendResult, attempts: int, *,
                    resolved: bool = False) -> None:
        """Note the provider's message id (SMS fallback), count, log and record it."""
        if self.fallback is not None:
            await self.fallback.sent(job, result.provider_message_id)
        metrics.send(job.provider, job.channel, "sent").inc()
        log.info("message_sent", job_id=job.job_id, provider=job.provider,
                 to=mask_phone(job.to), attempts=attempts, resolved=resolved)
        await self._report(job, first_status(result.status), attempts,
                           provider_message_id=result.provider_message_id)

    async def _resolve(self, key: str, owner: str, item: OutboxItem, state: str,
                       sending: Sending) -> Outcome:
        """A call of this job has no known outcome: settle it as sent if the provider says
        so, else send it again (bounded); ask again later when the provider is down."""
        job, now = item.job, self.clock.now()
        if sending.began is not None and now < sending.began + self.policy.resolve_after_s:
            at = sending.began + self.policy.resolve_after_s
            return await self._come_back(key, owner, at, item.retry(at, item.error))
        sender = self.senders.get(job.provider)
        found: SendResult | None = None
        can_tell = isinstance(sender, SentLookup) and sending.began is not None
        if can_tell:
            assert isinstance(sender, SentLookup) and sending.began is not None
            try:
                found = await sender.find_sent(await self._prepare(job, now) or job,
                                               sending.began)
            except SendError as error:
                if error.retryable and item.attempts < self.policy.max_attempts:
                    return await self._ask_later(key, owner, item, error)
                log.warning("send_lookup_failed", job_id=job.job_id, provider=job.provider,
                            code=error.code, kind=str(error.kind))
                can_tell = False
        if found is not None:
            if await self.states.swap(job, state, f"sent:{found.provider_message_id}"):
                await self._sent(job, found, item.attempts, resolved=True)
            return False
        if sending.resends >= (MAX_RESENDS if can_tell else MAX_BLIND_RESENDS):
            await self._give_up(job, item.attempts, can_tell)
            return False
        if not await self.states.swap(job, state, f"retry:{sending.resends + 1}"):
            return await self._attempt(key, owner, item)  # another worker moved it first
        metrics.send(job.provider, job.channel, "retry", "unknown_outcome").inc()
        if can_tell:
            log.info("send_not_sent_sending_again", job_id=job.job_id, provider=job.provider,
                     to=mask_phone(job.to))
        else:
            POSSIBLE_DUPLICATES.labels(job.provider, job.channel).inc()
            log.warning("send_possible_duplicate", job_id=job.job_id, provider=job.provider,
                        channel=job.channel, to=mask_phone(job.to),
                        reason="outcome unknown and the provider cannot tell; sent again")
        return await self._send(key, owner, item)

    async def _ask_later(self, key: str, owner: str, item: OutboxItem,
                         error: SendError) -> bool:
        """The provider could not be asked whether the job went out: ask again later."""
        job, attempts = item.job, item.attempts + 1
        code = f"lookup_{error.code or error.kind}"
        at = self.clock.now() + self._backoff(attempts)
        metrics.send(job.provider, job.channel, "retry", "lookup").inc()
        log.info("send_lookup_retry", job_id=job.job_id, error=error.code, attempts=attempts,
                 in_s=round(at - self.clock.now(), 2))
        await self._come_back(key, owner, at, replace(item, attempts=attempts).retry(at, code))
        return True

    async def _give_up(self, job: OutboundJob, attempts: int, provider_said: bool) -> None:
        """Past the resend bound: ``failed`` when the provider said "not sent", else
        ``unknown`` (it may or may not have gone out)."""
        if provider_said:
            await self._failed(job, attempts, SendError(
                SendErrorKind.REJECTED, "unsent_after_unknown",
                f"not sent after {MAX_RESENDS} sends with unknown outcomes"))
            return
        await self.states.settle(job, "unknown")
        metrics.send(job.provider, job.channel, "unknown").inc()
        log.warning("send_outcome_unknown", job_id=job.job_id, to=mask_phone(job.to),
                    reason="already sent again after an unknown outcome; not again")
        await self._report(job, "unknown", attempts)

    async def _refused(self, key: str, owner: str, item: OutboxItem, error: SendError) -> bool:
        """The provider said no (retry later, retry as a template, or fail), or its answer
        was lost (resolve the outcome once the call has surely ended)."""
        job, code = item.job, error.code or str(error.kind)
        if error.kind == SendErrorKind.CONNECTION and error.code == AMBIGUOUS:
            metrics.send(job.provider, job.channel, "unknown", code).inc()
            log.warning("send_outcome_unknown", job_id=job.job_id, to=mask_phone(job.to),
                        reason="answer lost; resolving")
            await self._come_back(key, owner, self.clock.now(), item.retry(
                self.clock.now(), code))
            await self._report(job, "queued", item.attempts, error_code=code)
            return True
        template = self.templates.whatsapp(job.kind, job.locale)
        outside_window = (error.code in OUTSIDE_WINDOW_CODES
                          and capabilities(job.channel).reply_window_s is not None
                          and TEMPLATE not in job.params and template is not None)
        if (not outside_window and error.code in SMS_FALLBACK_CODES
                and await self._can_fall_back(job)):
            await self._fall_back(job, item.attempts, error)
            return False
        retry = outside_window or (error.retryable
                                   and item.attempts < self.policy.max_attempts)
        if not retry:
            await self._failed(job, item.attempts, error)
            return False
        sending = Sending.parse(await self.states.get(job) or "")
        await self.states.retry(job, sending.resends if sending else 0)
        metrics.send(job.provider, job.channel, "retry", code).inc()
        if outside_window and template is not None:
            at = self.clock.now()
            item = item.retry(at, code, with_template(job, template))
        else:
            at = self.clock.now() + self._backoff(item.attempts)
            item = item.retry(at, code)
        log.info("send_retry", job_id=job.job_id, error=code, attempts=item.attempts,
                 in_s=round(at - self.clock.now(), 2))
        await self._come_back(key, owner, at, item)
        await self._report(job, "queued", item.attempts, error_code=code)
        return True

    def _backoff(self, attempts: int) -> float:
        """Exponential in the attempts made, with jitter in [50 %, 100 %]."""
        ceiling = min(self.policy.retry_cap_s, self.policy.retry_base_s * 2 ** (attempts - 1))
        return ceiling * self.rng.uniform(0.5, 1.0)

    async def _prepare(self, job: OutboundJob, now: float) -> OutboundJob | None:
        """Template or DLT id where the channel needs one; None when a WhatsApp
        notification outside the window has no template and can go as SMS instead."""
        if job.provider in UNREGULATED_PROVIDERS:
            return job
        if job.kind != "reply" and TEMPLATE not in job.params:
            if not await self.windows.inside_window(job.channel, job.to, now):
                template = self.templates.whatsapp(job.kind, job.locale)
                if template is not None:
                    return with_template(job, template)
                if await self._can_fall_back(job):
                    return None
                log.warning("whatsapp_template_missing", kind=job.kind, locale=job.locale)
        if job.channel == "sms" and DLT_TEMPLATE_ID not in job.params:
            dlt = self.templates.dlt(job.kind, job.locale)
            if dlt:
                return replace(job, params={**job.params, DLT_TEMPLATE_ID: dlt})
        return job

    async def _can_fall_back(self, job: OutboundJob) -> bool:
        return self.fallback is not None and falls_back(job) and await self.fallback.available(job)

    async def _fall_back(self, job: OutboundJob, attempts: int, error: SendError) -> None:
        """Queue the SMS form of a WhatsApp notification and record this job failed."""
        assert self.fallback is not None
        await self.fallback.send_sms(job.job_id, error.code or str(error.kind))
        await self._failed(job, attempts, error)

    @staticmethod
    def _sender_id(job: OutboundJob) -> str:
        """The rate-limited sender: the number sent from, or the provider's default one."""
        return f"{job.provider}:{job.sender or job.channel}"

    async def _failed(self, job: OutboundJob, attempts: int, error: SendError) -> None:
        await self.states.settle(job, "failed")
        metrics.send(job.provider, job.channel, "failed",
                     error.code or str(error.kind)).inc()
        log.warning("send_failed", job_id=job.job_id, provider=job.provider,
                    to=mask_phone(job.to), kind=str(error.kind), code=error.code,
                    attempts=attempts)
        await self._report(job, "failed", attempts, error_code=error.code or str(error.kind))
        if error.kind == SendErrorKind.OPTED_OUT and self.reports is not None:
            try:
                await self.reports.opt_out(job.to)
            except ServiceError as exc:
                log.warning("opt_out_not_recorded", to=mask_phone(job.to), code=exc.code)

    async def _report(self, job: OutboundJob, status: Status, attempts: int, *,
                      provider_message_id: str | None = None,
                      error_code: str | None = None) -> None:
        """Best effort: the send is settled in Redis whether or not the record is written."""
        if self.reports is None:
            return
        try:
            await self.reports.record(job, status, provider_message_id=provider_message_id,
                                      error_code=error_code, attempts=attempts)
        except ServiceError as exc:
            log.warning("delivery_record_failed", job_id=job.job_id, status=status,
                        code=exc.code)
