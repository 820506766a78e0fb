"""The send worker: delivers each recipient's jobs in order, at most once each.

Per job it keeps a state key ``samvad:job:<job_id>``: ``sending`` just before the
provider is called, ``sent:<provider id>`` right after, ``failed`` or ``unknown`` when it
is settled otherwise. A job found ``sending`` belonged to a worker that died (or stalled
past its lease) while calling the provider: whether the message went out is unknown, so
it is recorded ``unknown`` and NOT sent again — at most once in that window, never twice.

Retryable errors (connection, throttled) come back after exponential backoff with jitter
(through the mailbox's due ring); after ``max_attempts`` the job fails. Final errors fail
at once; ``opted_out`` also marks the citizen opted out in the core API. WhatsApp
notifications to someone who has not written for 24 hours go as templates; one that
cannot (no template for its kind) or that a template or window failure stops goes as SMS
instead (``SmsFallback``, once per notification) and is recorded failed.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace

import structlog
from redis.asyncio import Redis

from bot.engine import ServiceError
from channels import metrics
from channels.base import OutboundJob, Sender, SendError, SendErrorKind
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
from core_api.users.phones import mask_phone

log = structlog.get_logger(__name__)

# A sender raises SendError(CONNECTION, AMBIGUOUS) when the request may have reached the
# provider (e.g. a read timeout after it was written): retrying could send twice.
AMBIGUOUS = "ambiguous"
JOB_STATE_TTL_S = 7 * 24 * 3600
UNREGULATED_PROVIDERS = frozenset({"simulator"})  # no 24-hour window, no DLT



@dataclass(frozen=True)
class SendPolicy:
    max_attempts: int = 6
    retry_base_s: float = 2.0
    retry_cap_s: float = 900.0
    rate: float = 0.0  # messages per second per sender; 0: unlimited
    burst: int | None = None
    max_inline_wait_s: float = 1.0  # a rate-limit wait up to this long is slept in place


class JobStates:
    """The never-twice markers of jobs."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @staticmethod
    def key(job_id: str) -> str:
        return f"samvad:job:{job_id}"

    async def get(self, job_id: str) -> str | None:
        raw = await self.redis.get(self.key(job_id))
        return raw.decode() if raw is not None else None

    async def begin(self, job_id: str) -> bool:
        """Mark the job ``sending``; False when it already has a state."""
        return bool(await self.redis.set(self.key(job_id), "sending", nx=True,
                                         ex=JOB_STATE_TTL_S))

    async def settle(self, job_id: str, state: str) -> None:
        await self.redis.set(self.key(job_id), state, ex=JOB_STATE_TTL_S)

    async def clear(self, job_id: str) -> None:
        """Forget ``sending`` after the provider refused: the retry may send."""
        await self.redis.delete(self.key(job_id))


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
        """Try the head job once; True when it waits, False when it is finished."""
        now = self.clock.now()
        if item.not_before and item.not_before > now:
            return await self._come_back(key, owner, item.not_before)
        job = item.job
        state = await self.states.get(job.job_id)
        if state is not None:
            await self._already(job, state, item.attempts)
            return False
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
            await self.boxes.renew(key, owner)
        if not await self.states.begin(job.job_id):
            await self._already(job, await self.states.get(job.job_id) or "", item.attempts)
            return False
        attempts = item.attempts + 1
        try:
            result = await sender.send(job)
        except SendError as error:
            return await self._refused(key, owner, replace(item, job=job, attempts=attempts),
                                       error)
        await self.states.settle(job.job_id, f"sent:{result.provider_message_id}")
        if self.fallback is not None:
            await self.fallback.sent(job, result.provider_message_id)
        metrics.send(job.provider, job.channel, "sent").inc()
        log.info("message_sent", job_id=job.job_id, provider=job.provider,
                 to=mask_phone(job.to), attempts=attempts)
        await self._report(job, first_status(result.status), attempts,
                           provider_message_id=result.provider_message_id)
        return False

    async def _refused(self, key: str, owner: str, item: OutboxItem, error: SendError) -> bool:
        """The provider said no: retry later, retry as a template, or fail."""
        job, code = item.job, error.code or str(error.kind)
        if error.kind == SendErrorKind.CONNECTION and error.code == AMBIGUOUS:
            await self.states.settle(job.job_id, "unknown")
            metrics.send(job.provider, job.channel, "unknown", code).inc()
            log.warning("send_outcome_unknown", job_id=job.job_id, to=mask_phone(job.to))
            await self._report(job, "unknown", item.attempts, error_code=code)
            return False
        template = self.templates.whatsapp(job.kind, job.locale)
        outside_window = (error.code in OUTSIDE_WINDOW_CODES and job.channel == "whatsapp"
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
        await self.states.clear(job.job_id)
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
        if job.channel == "whatsapp" and job.kind != "reply" and TEMPLATE not in job.params:
            if not await self.windows.inside_whatsapp_window(job.to, now):
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

    async def _already(self, job: OutboundJob, state: str, attempts: int) -> None:
        """A job with a state was handled before; ``sending`` means its worker died."""
        if state == "sending":
            await self.states.settle(job.job_id, "unknown")
            metrics.send(job.provider, job.channel, "unknown").inc()
            log.warning("send_outcome_unknown", job_id=job.job_id, to=mask_phone(job.to),
                        reason="worker died while sending; not sent again")
            await self._report(job, "unknown", attempts)
        else:
            metrics.send(job.provider, job.channel, "skipped").inc()
            log.info("send_skipped", job_id=job.job_id, state=state.partition(":")[0])

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
