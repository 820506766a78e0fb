"""The send worker on a real Redis: order, retries, final errors, rate limit, never twice."""

from __future__ import annotations

import itertools

import pytest

from bot.messages import Inbound, Outgoing
from channels.base import OutboundJob, SendError, SendErrorKind, outgoing_to_dict
from channels.queues import (
    AMBIGUOUS,
    ContactWindows,
    InboundQueue,
    JobStates,
    Mailboxes,
    OutboundQueue,
    SendPolicy,
    SendWorker,
    Template,
    TemplateBook,
    template_of,
)
from channels.queues._sending import POSSIBLE_DUPLICATES
from tests.channels.queue_fakes import (
    START,
    FakeClock,
    FakeSender,
    LookupSender,
    RecordedReports,
    WorkerDied,
)

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

A, B = "+919876500001", "+919876500002"


def job(job_id: str, to: str = A, text: str | None = None, **fields) -> OutboundJob:
    values = {"provider": "fake", "channel": "sms", "kind": "reply"} | fields
    return OutboundJob(to=to, message=outgoing_to_dict(Outgoing(text or job_id)),
                       job_id=job_id, **values)


class Rig:
    """An outbound queue, a scripted sender and workers sharing a virtual clock."""

    def __init__(self, redis, *, policy: SendPolicy | None = None,
                 templates: TemplateBook | None = None, reclaim_idle_ms: int = 45_000) -> None:
        self.redis = redis
        self.clock = FakeClock()
        self.queue = OutboundQueue(redis, reclaim_idle_ms=reclaim_idle_ms)
        self.sender = FakeSender(self.clock)
        self.reports = RecordedReports()
        self.policy = policy or SendPolicy(retry_base_s=2.0)
        self.templates = templates

    def worker(self, name: str = "w1") -> SendWorker:
        return SendWorker(self.queue, {"fake": self.sender}, reports=self.reports,
                          windows=ContactWindows(self.redis), templates=self.templates,
                          policy=self.policy, clock=self.clock, consumer=name)

    async def run_until_idle(self, *workers: SendWorker, rounds: int = 100) -> None:
        """Consume; jump the clock to the next scheduled ring; repeat until nothing is due."""
        workers = workers or (self.worker(),)
        for _ in range(rounds):
            done = 0
            for worker in workers:
                done += await worker.consume_once()
            if done:
                continue
            due = await self.queue.boxes.next_ring()
            if due is None:
                return
            self.clock.t = max(self.clock.t, due)
        raise AssertionError("the queue did not settle")


async def test_jobs_go_out_in_order_once_each_and_are_recorded(redis_client):
    rig = Rig(redis_client)
    await rig.queue.enqueue(job("m1:0"), job("m1:1"), job("x:0", to=B), job("m1:2"))
    worker = rig.worker()
    assert await worker.consume_once() == 4
    assert rig.sender.texts(A) == ["m1:0", "m1:1", "m1:2"]
    assert rig.sender.texts(B) == ["x:0"]
    assert rig.reports.last("m1:1") == ("queued", 1, None)
    assert (await redis_client.get(JobStates.key(job("m1:1")))).startswith(b"sent:FAKE")
    # The same job again (a repeated notification, a re-run turn) is not sent again.
    await rig.queue.enqueue(job("m1:1"))
    await worker.consume_once()
    assert len(rig.sender.calls) == 4
    assert await rig.queue.waiting("sms", A) == []


async def test_a_throttled_job_backs_off_and_holds_back_that_recipient_only(redis_client):
    rig = Rig(redis_client)
    rig.sender.script = {"a1": [SendError(SendErrorKind.THROTTLED, "63018")]}
    await rig.queue.enqueue(job("a1"), job("a2"), job("b1", to=B))
    worker = rig.worker()
    start = rig.clock.now()
    await worker.consume_once()
    assert rig.sender.texts() == ["b1"]  # a2 waits behind a1: A's order is kept
    assert rig.reports.last("a1") == ("queued", 1, "63018")
    [waiting, _] = await rig.queue.waiting("sms", A)
    assert (waiting.attempts, waiting.error) == (1, "63018")
    due = await rig.queue.boxes.next_ring()
    assert due is not None and start + 1.0 <= due <= start + 2.0  # base 2 s, jitter 50-100 %
    await worker.consume_once()  # too early: nothing moves
    assert rig.sender.texts() == ["b1"]
    rig.clock.t = due
    await worker.consume_once()
    assert rig.sender.texts() == ["b1", "a1", "a2"]
    assert rig.reports.last("a1") == ("queued", 2, None)


async def test_final_errors_fail_at_once_and_retries_run_out(redis_client):
    rig = Rig(redis_client, policy=SendPolicy(max_attempts=3, retry_base_s=1.0))
    connection = SendError(SendErrorKind.CONNECTION, "503")
    rig.sender.script = {"bad": [SendError(SendErrorKind.REJECTED, "21211")],
                         "flaky": [connection] * 3,
                         "maybe": [SendError(SendErrorKind.CONNECTION, AMBIGUOUS)]}
    await rig.queue.enqueue(job("bad"), job("after-bad"))
    await rig.run_until_idle()
    assert rig.reports.last("bad") == ("failed", 1, "21211")
    assert rig.sender.texts(A) == ["after-bad"]  # a failed job does not block the next one
    await rig.queue.enqueue(job("flaky", to=B))
    await rig.run_until_idle()
    assert [j.job_id for j in rig.sender.calls].count("flaky") == 3
    assert rig.reports.last("flaky") == ("failed", 3, "503")
    # A timeout after the request went out: maybe sent. This provider cannot tell, so it
    # goes once more (a possible duplicate, counted), and only once more.
    duplicates = POSSIBLE_DUPLICATES.labels("fake", "sms")._value.get()
    await rig.queue.enqueue(job("maybe", to=B))
    await rig.run_until_idle()
    assert [j.job_id for j in rig.sender.calls].count("maybe") == 2
    assert rig.reports.last("maybe") == ("queued", 2, None)
    assert (await redis_client.get(JobStates.key(job("maybe", to=B)))).startswith(b"sent:FAKE")
    assert POSSIBLE_DUPLICATES.labels("fake", "sms")._value.get() == duplicates + 1
    assert rig.reports.opted_out == []


@pytest.mark.parametrize("dies", ["while_sending", "after_noting_it_sent"])
async def test_a_worker_dying_after_the_provider_took_a_job_never_sends_it_again(
        redis_client, dies):
    rig = Rig(redis_client, reclaim_idle_ms=0)
    rig.sender = LookupSender(rig.clock)  # a provider that can tell, as Twilio can
    first = rig.worker("doomed")
    if dies == "while_sending":  # after the provider accepted, before "sent" was noted
        rig.sender.script = {"once": [WorkerDied]}
    else:  # after its record, and the step that noted it "sent", removed it and began
        # the next job (one script), before the next job's call and the doorbell's ack
        first.boxes = Mailboxes(redis_client, "outbound", reclaim_idle_ms=0)
        step = first.boxes.next

        async def die(*args, **kwargs):
            await step(*args, **kwargs)
            raise WorkerDied

        first.boxes.next = die  # type: ignore[method-assign]
    await rig.queue.enqueue(job("once"), job("next"))
    with pytest.raises(WorkerDied):
        await first.consume_once()
    assert rig.sender.texts() == ["once"]
    # The dead worker's lease runs out (deleted here instead of waiting for it).
    await redis_client.delete(rig.queue.boxes.keys(f"sms:{A}")[1])
    await rig.run_until_idle(rig.worker("survivor"))
    assert rig.sender.texts() == ["once", "next"]  # "once" not again; the queue moves on
    if dies == "while_sending":  # the provider said it was sent: settled with its sid
        assert rig.sender.lookups == [("once", START)]
        assert rig.reports.last("once") == ("sent", 0, None)
    else:  # "next" was marked sending by the dead worker: the provider said it was not
        assert rig.sender.lookups == [("next", START)]
        assert rig.reports.last("once") == ("queued", 1, None)
    assert await redis_client.get(JobStates.key(job("once"))) == b"sent:FAKE1"
    assert await rig.queue.waiting("sms", A) == []


# Waits either come back through the due ring (many mailboxes at once per worker) or are
# slept in place (one at a time, so the virtual clock means the same for every send).
@pytest.mark.parametrize(("inline_wait_s", "concurrency"), [(0.0, 32), (1.0, 1)])
async def test_the_rate_limit_per_sender_holds_across_workers(redis_client, inline_wait_s,
                                                              concurrency):
    rig = Rig(redis_client, policy=SendPolicy(rate=2.0, burst=1,
                                              max_inline_wait_s=inline_wait_s))
    people = [f"+9198765000{n:02d}" for n in range(10, 18)]
    jobs = [job(f"r{n}", to=p) for n, p in enumerate(people)]
    jobs.insert(1, job("other", to=A, sender="+14155550100"))
    for each in jobs:
        await rig.queue.enqueue(each)
    workers = [rig.worker(name) for name in ("w1", "w2")]
    for worker in workers:
        worker.concurrency = concurrency
    await rig.run_until_idle(*workers)
    times = [t for t, j in rig.sender.sent if j.sender is None]
    assert len(times) == len(people)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.5 - 1e-6, gaps  # 2 per second from one sender, never faster
    assert times[-1] - times[0] < 0.5 * len(people) + 1.0  # and not much slower
    # Another sender number has its own budget: it went out at once.
    [(other_at, _)] = [(t, j) for t, j in rig.sender.sent if j.sender]
    assert other_at == times[0]


async def test_whatsapp_outside_24_hours_goes_as_a_template(redis_client):
    templates = TemplateBook(
        whatsapp={"default": {"hi_IN": "HXhindi", "default": {"id": "update", "language": "en"}},
                  "payment_receipt": {"en_IN": "receipt_en"}},
        sms_dlt={"complaint_update": {"default": "1107160000000000001"}})
    rig = Rig(redis_client, templates=templates)
    inbound = InboundQueue(redis_client, clock=rig.clock)
    await rig.queue.enqueue(
        job("n1", channel="whatsapp", kind="complaint_update", locale="hi_IN"),
        job("n2", to=B, channel="whatsapp", kind="payment_receipt", locale="en_IN"),
        job("n3", channel="sms", kind="complaint_update", locale="hi_IN"))
    await rig.run_until_idle()
    sent = {j.job_id: j for _, j in rig.sender.sent}
    assert template_of(sent["n1"]) == Template("HXhindi", "hi", ("n1",))
    assert template_of(sent["n2"]) == Template("receipt_en", "en", ("n2",))
    assert sent["n3"].params == {"dlt_template_id": "1107160000000000001"}
    # Someone who wrote 23 hours ago gets the free-form message.
    await inbound.admit(Inbound(channel="whatsapp", sender=A, text="hi", message_id="w1"),
                        "fake", seen_key="samvad:fake:seen:w1", seen_ttl_s=60)
    rig.clock.t += 23 * 3600
    await rig.queue.enqueue(job("n4", channel="whatsapp", kind="complaint_update"))
    # A reply the provider refuses as outside the window is retried once as a template.
    rig.sender.script = {"r1": [SendError(SendErrorKind.REJECTED, "131047")]}
    await rig.queue.enqueue(job("r1", to=B, channel="whatsapp", locale="en_IN"))
    await rig.run_until_idle()
    sent = {j.job_id: j for _, j in rig.sender.sent}
    assert template_of(sent["n4"]) is None
    assert template_of(sent["r1"]) == Template("update", "en", ("r1",))
    assert rig.reports.last("r1") == ("queued", 2, None)
