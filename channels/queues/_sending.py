"""The send worker: delivers each recipient's jobs in order, once each.

Per job it keeps a state key ``samvad:job:<job_id>``:

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
from collections.abc import Mapping
from dataclasses import dataclass, replace

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

from bot.channel_kinds import capabilities
from bot.services import ServiceError
from channels import metrics
from channels.base import OutboundJob, Sender, SendError, SendErrorKind, SendResult, SentLookup
from channels.queues._clock import Clock
from channels.queues._fallback import SmsFallback, falls_back
from channels.queues._outbound import OutboundQueue, OutboxItem
from channels.queues._ratelimit import RateLimiter
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


class JobStates:
    """The never-twice markers of jobs."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._begin = redis.register_script(_BEGIN)
        self._swap = redis.register_script(_SWAP)

    @staticmethod
    def key(job_id: str) -> str:
        return f"samvad:job:{job_id}"

    async def get(self, job_id: str) -> str | None:
        raw = await self.redis.get(self.key(job_id))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def begin(self, job_id: str, now: float) -> str | None:
        """Mark the job ``sending`` at ``now``; None when it was, else the state it has.
        The time is rounded down: a lookup "since" then never starts after the call."""
        began = f"{math.floor(now * 1000) / 1000:.3f}"
        state = await self._begin(keys=[self.key(job_id)], args=[began, JOB_STATE_TTL_S])
        return state.decode() if state is not None else None

    async def swap(self, job_id: str, expected: str, state: str) -> bool:
        """Replace ``expected`` by ``state``; False when another worker changed it first."""
        return bool(await self._swap(keys=[self.key(job_id)],
                                     args=[expected, state, JOB_STATE_TTL_S]))

    async def settle(self, job_id: str, state: str) -> None:
        await self.redis.set(self.key(job_id), state, ex=JOB_STATE_TTL_S)

    async def retry(self, job_id: str, resends: int) -> None:
        """The provider refused the call: the job may go again, keeping its resend count."""
        await self.settle(job_id, f"retry:{resends}")


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

    async def drain(self, key: str) -> int:
        owner = secrets.token_hex(8)
        opened = await self.boxes.open(key, owner)
        if opened.state == "busy":
            await self.boxes.ring_at(key, self.clock.now() + opened.busy_ms / 1000 + 0.05)
            return 0
        head, done = opened.head, 0
        while head is not None:
            later = await self._attempt(key, owner, OutboxItem.loads(head))
            if later:  # the job waits (retry or rate limit); its ring is scheduled
                return done
            done += 1
            head = await self.boxes.advance(key, owner)
        return done

    async def _come_back(self, key: str, owner: str, at: float,
                         item: OutboxItem | None = None) -> bool:
        """Ring ``key`` at ``at`` and let go of it (storing ``item`` as the new head)."""
        await self.boxes.ring_at(key, at)
        if item is None:
            await self.boxes.release(key, owner)
        else:
            await self.boxes.put_back(key, owner, item.dumps())
        return True

    async def _attempt(self, key: str, owner: str, item: OutboxItem) -> bool:
        """Try the head job once; True when it waits (or the lease was lost), False when
        it is finished."""
        if item.not_before and item.not_before > self.clock.now():
            return await self._come_back(key, owner, item.not_before)
        state = await self.states.get(item.job.job_id)
        if retry_count(state) is None:
            assert state is not None
            return await self._handled(key, owner, item, state)
        return await self._send(key, owner, item)

    async def _handled(self, key: str, owner: str, item: OutboxItem, state: str) -> bool:
        """A job with a state was handled before: resolve a ``sending`` one, skip the rest."""
        sending = Sending.parse(state)
        if sending is not None:
            return await self._resolve(key, owner, item, state, sending)
        metrics.send(item.job.provider, item.job.channel, "skipped").inc()
        log.info("send_skipped", job_id=item.job.job_id, state=state.partition(":")[0])
        return False

    async def _send(self, key: str, owner: str, item: OutboxItem) -> bool:
        """Prepare the job, wait for the rate limit, mark it ``sending`` and call."""
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
        taken, wait = await self.limiter.reserve(self._sender_id(job), now,
                                                 self.policy.max_inline_wait_s)
        if not taken:
            return await self._come_back(key, owner, now + wait + self.rng.uniform(0, 0.1))
        if wait > 0:
            await self.clock.sleep(wait)
        # Checked (and extended) right before the call: a worker that stalled past its
        # lease leaves the job to the mailbox's new holder instead of racing it.
        if not await self.boxes.renew(key, owner):
            log.warning("send_lease_lost", job_id=job.job_id)
            return True
        state = await self.states.begin(job.job_id, self.clock.now())
        if state is not None:  # another worker moved it meanwhile
            return await self._handled(key, owner, item, state)
        attempts = item.attempts + 1
        try:
            result = await sender.send(job)
        except SendError as error:
            return await self._refused(key, owner, replace(item, job=job, attempts=attempts),
                                       error)
        await self.states.settle(job.job_id, f"sent:{result.provider_message_id}")
        await self._sent(job, result, attempts)
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
                       sending: Sending) -> bool:
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
            if await self.states.swap(job.job_id, state, f"sent:{found.provider_message_id}"):
                await self._sent(job, found, item.attempts, resolved=True)
            return False
        if sending.resends >= (MAX_RESENDS if can_tell else MAX_BLIND_RESENDS):
            await self._give_up(job, item.attempts, can_tell)
            return False
        if not await self.states.swap(job.job_id, state, f"retry:{sending.resends + 1}"):
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
        await self.states.settle(job.job_id, "unknown")
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
        sending = Sending.parse(await self.states.get(job.job_id) or "")
        await self.states.retry(job.job_id, sending.resends if sending else 0)
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
        await self.states.settle(job.job_id, "failed")
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
