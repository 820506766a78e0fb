"""Mailbox leases: short, renewed by a heartbeat while a worker drains a mailbox, and
taken over soon after a worker dies. Real Redis leases (they run out in Redis's clock),
a few hundred milliseconds long so that the tests stay fast; no timing is asserted, only
who held which mailbox and what was sent, in which order."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.messages import Outgoing
from channels.base import OutboundJob, SendResult, outgoing_to_dict
from channels.queues import (
    ContactWindows,
    JobStates,
    OutboundQueue,
    SendPolicy,
    SendWorker,
    SystemClock,
)
from tests.channels.queue_fakes import LookupSender, RecordedReports

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

A = "+919876500001"
LEASE_MS = 300


def job(job_id: str) -> OutboundJob:
    return OutboundJob(provider="fake", channel="sms", to=A, kind="reply",
                       message=outgoing_to_dict(Outgoing(job_id)), job_id=job_id)


@dataclass
class GatedSender(LookupSender):
    """Takes each job; those named in ``gates`` then wait for their gate (a slow call,
    or one a dying worker never sees the end of)."""

    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    calling: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, job: OutboundJob) -> SendResult:
        result = await super().send(job)
        gate = self.gates.get(job.job_id)
        if gate is not None:
            self.calling.set()
            await gate.wait()
        return result


class Rig:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.queue = OutboundQueue(redis, lease_ms=LEASE_MS)
        self.sender = GatedSender(SystemClock())  # type: ignore[arg-type]
        self.lock = self.queue.boxes.keys(f"sms:{A}")[1]

    def worker(self, name: str, resolve_after_s: float = 15.0) -> SendWorker:
        return SendWorker(self.queue, {"fake": self.sender}, reports=RecordedReports(),
                          windows=ContactWindows(self.redis), consumer=name,
                          policy=SendPolicy(resolve_after_s=resolve_after_s))

    def sent(self) -> list[str]:
        return [taken.job_id for _at, taken in self.sender.sent]

    async def until(self, what: Any, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not what():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)


async def test_a_slow_send_keeps_its_mailbox_past_the_lease(redis_client):
    rig = Rig(redis_client)
    rig.sender.gates["a1"] = asyncio.Event()
    await rig.queue.enqueue(job("a1"), job("a2"))
    first = asyncio.create_task(rig.worker("w1").consume_once())
    await asyncio.wait_for(rig.sender.calling.wait(), 10)
    holder = await redis_client.get(rig.lock)
    await asyncio.sleep(4 * LEASE_MS / 1000)  # the call outlives several leases
    assert await redis_client.get(rig.lock) == holder  # renewed by the heartbeat
    await rig.queue.enqueue(job("a3"))
    assert await rig.worker("w2").consume_once() == 0  # busy: w2 leaves it to w1
    assert await redis_client.get(rig.lock) == holder
    rig.sender.gates["a1"].set()
    assert await asyncio.wait_for(first, 60) == 3
    assert rig.sent() == ["a1", "a2", "a3"]
    assert await redis_client.exists(rig.lock) == 0  # emptied and released


@pytest.mark.parametrize("rung", ["by_a_new_message", "by_nothing"])
async def test_a_dead_workers_mailbox_is_taken_over_after_about_a_lease(redis_client,
                                                                        rung):
    """The holder dies in the middle of a call the provider took. The survivor gets the
    mailbox through the ring a new message schedules for the lease's end, or else by
    reclaiming the dead consumer's doorbell; the job in the crash window is resolved
    (the provider had it: not sent again) and the person's next message follows."""
    rig = Rig(redis_client)
    rig.sender.gates["a1"] = asyncio.Event()  # never opened: the worker dies in the call
    await rig.queue.enqueue(job("a1"), *([] if rung == "by_a_new_message" else [job("a2")]))
    doomed = asyncio.create_task(rig.worker("w1").consume_once())
    await asyncio.wait_for(rig.sender.calling.wait(), 10)
    doomed.cancel()  # killed: no clean-up of the lock, the doorbell or the job state
    with pytest.raises(asyncio.CancelledError):
        await doomed
    killed_at = time.monotonic()
    assert (await redis_client.get(JobStates.key(job("a1")))).startswith(b"sending:")
    if rung == "by_a_new_message":
        await rig.queue.enqueue(job("a2"))
    stop = asyncio.Event()
    # The dead worker's call surely ended: resolve at once.
    survivor = asyncio.create_task(rig.worker("w2", resolve_after_s=0).run(stop))
    try:
        await rig.until(lambda: "a2" in rig.sent())
        taken_over_s = time.monotonic() - killed_at
    finally:
        stop.set()
        for gate in rig.sender.gates.values():  # a call sent again must not hang the stop
            gate.set()
        await asyncio.wait_for(survivor, 10)
    assert rig.sent() == ["a1", "a2"]  # a1 once (the provider said so), then a2
    assert rig.sender.lookups and rig.sender.lookups[0][0] == "a1"
    assert await redis_client.get(JobStates.key(job("a1"))) == b"sent:FAKE1"
    assert await rig.queue.waiting("sms", A) == []
    print(f"taken over {rung}: {taken_over_s:.2f} s after the kill (lease {LEASE_MS} ms)")


async def test_a_worker_that_lost_its_lease_stops_after_the_message_in_hand(redis_client):
    """A worker stalled in a call past its lease: another worker takes the mailbox over.
    When the stalled call returns, the first worker goes no further in that mailbox."""
    rig = Rig(redis_client)
    rig.sender.gates["a1"] = asyncio.Event()
    await rig.queue.enqueue(job("a1"), job("a2"))
    stalled = asyncio.create_task(rig.worker("w1").consume_once())
    await asyncio.wait_for(rig.sender.calling.wait(), 10)
    await redis_client.delete(rig.lock)  # its lease ran out (the stall stopped its beat)
    await rig.queue.enqueue(job("a3"))  # rings: w2 takes the mailbox
    assert await rig.worker("w2", resolve_after_s=0).consume_once() == 3
    assert rig.sent() == ["a1", "a2", "a3"]  # a1 found at the provider, not sent again
    rig.sender.gates["a1"].set()
    assert await asyncio.wait_for(stalled, 10) == 1  # a1 only: nothing after it
    assert rig.sent() == ["a1", "a2", "a3"]
    assert await rig.queue.waiting("sms", A) == []


async def test_a_lease_that_ran_out_with_nobody_taking_over_rings_the_mailbox_again(
        redis_client):
    """A worker stalled in a call past its lease, and nothing else rang the mailbox
    meanwhile: after the call, the worker stops (its lock is gone) but schedules a ring,
    so the jobs behind are sent without waiting for the person's next message."""
    rig = Rig(redis_client)
    rig.sender.gates["a1"] = asyncio.Event()
    await rig.queue.enqueue(job("a1"), job("a2"))
    stalled = asyncio.create_task(rig.worker("w1").consume_once())
    await asyncio.wait_for(rig.sender.calling.wait(), 10)
    await redis_client.delete(rig.lock)  # its lease ran out (the stall stopped its beat)
    rig.sender.gates["a1"].set()
    assert await asyncio.wait_for(stalled, 60) == 1  # a1, then the lock was found gone
    assert [j.job.job_id for j in await rig.queue.waiting("sms", A)] == ["a1", "a2"]
    assert await redis_client.zscore(rig.queue.boxes.due, f"sms:{A}") is not None
    await asyncio.sleep(0.01)  # the ring is due at the millisecond after the loss
    assert await rig.worker("w2").consume_once() == 2  # a1 skipped (sent), a2 sent
    assert rig.sent() == ["a1", "a2"]
    assert await rig.queue.waiting("sms", A) == []


async def test_a_heartbeat_that_finds_its_lease_taken_lets_go_and_renews_nothing(
        redis_client):
    rig = Rig(redis_client)
    boxes = rig.queue.boxes
    await rig.queue.enqueue(job("a1"))
    async with boxes.heartbeat() as lease:
        assert (await boxes.open(f"sms:{A}", "mine")).state == "open"
        assert (lease.key, lease.owner) == (f"sms:{A}", "mine")
        await redis_client.set(rig.lock, "theirs", px=60_000)  # taken over meanwhile
        await rig.until(lambda: lease.owner is None, timeout_s=10)
        assert await boxes.advance(f"sms:{A}", "mine") is None  # goes no further
    assert await redis_client.get(rig.lock) == b"theirs"
    assert [j.job.job_id for j in await rig.queue.waiting("sms", A)] == ["a1"]
