"""The inbound queue on a real Redis: one round trip, per-person order across workers,
recovery from failed turns and dead workers, and replies becoming outbound jobs."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.engine import Turn
from bot.messages import Inbound, Location, Media, Outgoing
from bot.session import Session
from channels.queues import ContactWindows, InboundQueue, InboundWorker, OutboundQueue
from channels.queues._inbound import TurnEnd
from tests.channels.queue_fakes import FakeClock
from tests.redis_counting import round_trips

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

P, Q = "+919876500001", "+919876500002"
TWILIO_NUMBER = "+14155550100"


def text(sender: str, body: str, message_id: str, channel: str = "whatsapp") -> Inbound:
    return Inbound(channel=channel, sender=sender, text=body, message_id=message_id,
                   to=TWILIO_NUMBER)


class EchoConversations:
    """Answers each message with its text; can hold a message or fail it once."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.hold: dict[str, asyncio.Event] = {}
        self.entered: dict[str, asyncio.Event] = {}
        self.fail_once: set[str] = set()

    async def handle(self, inbound: Inbound, **_: object) -> Turn:
        if inbound.text in self.hold:
            self.entered[inbound.text].set()
            await self.hold[inbound.text].wait()
        if inbound.text in self.fail_once:
            self.fail_once.discard(inbound.text)
            raise ConnectionError("redis went away")
        self.handled.append(f"{inbound.sender[-1]}:{inbound.text}")
        return Turn(Session(locale="en_IN"), [Outgoing(f"echo {inbound.text}")])

    async def answered(self, inbound: Inbound) -> None:
        return None  # every message here is new


def rig(redis, conversations, clock, name: str, reclaim_idle_ms: int = 45_000):
    queue = InboundQueue(redis, clock=clock, reclaim_idle_ms=reclaim_idle_ms)
    outbound = OutboundQueue(redis)
    return queue, outbound, InboundWorker(queue, conversations, outbound, consumer=name)


async def put(queue: InboundQueue, inbound: Inbound, provider: str = "twilio") -> None:
    """Queue ``inbound`` as a webhook does, under a fresh seen key (no dedupe here: the
    worker-side dedupe is what these tests look at)."""
    admission = await queue.admit(inbound, provider, seen_key=f"test:seen:{uuid.uuid4()}",
                                  seen_ttl_s=60)
    assert admission == "accept"


async def test_admit_is_one_script_with_its_doorbell_and_keeps_the_whole_message(redis_client):
    clock = FakeClock()
    queue = InboundQueue(redis_client, clock=clock)
    await put(queue, text(Q, "loads the script", "SM0"))
    photo = Inbound(channel="whatsapp", sender=P, kind="image", message_id="wamid.1",
                    media=(Media("meta-media:123", "image/jpeg"),),
                    location=Location(30.3, 78.0, name="Rajpur"), profile_name="Sunita",
                    to=TWILIO_NUMBER, extra={"wa_id": "919876500001"})
    async with round_trips(redis_client) as counted:
        await put(queue, photo, "meta")
    assert (counted.is_one_evalsha_calling("xadd") if queue.boxes.one_server
            else counted.is_evalsha_then("xadd")), counted  # the doorbell in the script
    assert await queue.waiting("whatsapp", P) == [photo]
    windows = ContactWindows(redis_client)
    assert await windows.last_inbound("whatsapp", P) == clock.now()
    assert await windows.last_inbound("sms", P) is None
    clock.t += 24 * 3600 + 1
    assert not await windows.inside_window("whatsapp", P, clock.now())


async def test_one_person_is_handled_in_order_by_one_worker_at_a_time(redis_client):
    conversations = EchoConversations()
    conversations.hold["1"], conversations.entered["1"] = asyncio.Event(), asyncio.Event()
    clock = FakeClock()
    queue, outbound, first = rig(redis_client, conversations, clock, "first")
    _, _, second = rig(redis_client, conversations, clock, "second")
    for n in ("1", "2", "3"):
        await put(queue, text(P, n, f"SM{n}"))
    await put(queue, text(Q, "q", "SMq"))
    busy = asyncio.create_task(first.consume_once(count=1))  # takes P's first doorbell
    await conversations.entered["1"].wait()  # ... and is inside P's first turn
    assert await second.consume_once() == 1  # P's later doorbells find P taken; Q is served
    assert conversations.handled == ["2:q"]
    assert await queue.boxes.next_ring() is not None  # a ring in case P's worker dies
    conversations.hold["1"].set()
    assert await busy == 3  # the first worker goes on through P's mailbox
    assert conversations.handled == ["2:q", "1:1", "1:2", "1:3"]
    jobs = await outbound.waiting("whatsapp", P)
    assert [(i.job.job_id, i.job.message["text"]) for i in jobs] == [
        ("SM1:0", "echo 1"), ("SM2:0", "echo 2"), ("SM3:0", "echo 3")]
    assert {(i.job.provider, i.job.sender, i.job.kind, i.job.locale) for i in jobs} == {
        ("twilio", TWILIO_NUMBER, "reply", "en_IN")}


async def test_failed_turns_are_retried_and_dead_workers_messages_picked_up(redis_client):
    conversations = EchoConversations()
    conversations.fail_once.add("flaky")
    clock = FakeClock()
    queue, _outbound, worker = rig(redis_client, conversations, clock, "w", reclaim_idle_ms=0)
    await put(queue, text(P, "flaky", "SMf", channel="sms"))
    await put(queue, text(P, "after", "SMa", channel="sms"))
    assert await worker.consume_once() == 0  # failed: kept at the head, ring in 5 s
    [first, _] = await queue.waiting("sms", P)
    assert first.text == "flaky"
    clock.t += 5
    assert await worker.consume_once() == 2
    assert conversations.handled == ["1:flaky", "1:after"]
    # A worker takes a doorbell and P's lock, then dies; its lease runs out.
    await put(queue, text(Q, "orphan", "SMo"))
    [bell] = await queue.boxes.read("dead", count=10, block_ms=None)
    await queue.boxes.open(bell.key, "dead-owner")
    await redis_client.delete(queue.boxes.keys(bell.key)[1])
    assert await worker.consume_once() == 1  # reclaimed from the dead consumer
    assert conversations.handled[-1] == "2:orphan"


async def test_real_turns_queue_their_replies_once(app, redis_client):
    queue = app.state.channels.inbound
    outbound = app.state.channels.outbound
    worker = InboundWorker(queue, app.state.conversations, outbound, consumer="t")
    await put(queue, text(Q, "hi", "SMhi", channel="sms"))
    await put(queue, text(Q, "7", "SM7", channel="sms"))
    await put(queue, text(Q, "7", "SM7", channel="sms"))  # the same message again
    assert await worker.consume_once() == 3
    jobs = [item.job for item in await outbound.waiting("sms", Q)]
    ids = [job.job_id for job in jobs]
    assert ids[0] == "SMhi:0" and "SM7:0" in ids
    # The repeat ran no second turn: it queued the kept replies of the first under the
    # same job ids (the send worker skips a job id it has a state for).
    help_jobs = [job for job in jobs if job.job_id.startswith("SM7:")]
    assert len(help_jobs) == 2 * len({job.job_id for job in help_jobs})
    assert {job.job_id: job.message for job in help_jobs[:len(help_jobs) // 2]} == \
        {job.job_id: job.message for job in help_jobs[len(help_jobs) // 2:]}
    help_text = next(job for job in jobs if job.job_id == "SM7:0").message["text"]
    assert "Samvad lets you" in help_text


async def test_replies_of_a_turn_committed_by_a_dying_worker_are_queued_by_the_next(
        app, redis_client, monkeypatch):
    """The worker dies after the session commit, before its replies reach the outbound
    queue (on one server they share the commit's pipeline: only its first command ran):
    the message stays at the head, and the worker that takes over queues the kept
    replies, in the language of the turn, instead of losing them."""
    clock = FakeClock()
    queue = InboundQueue(redis_client, clock=clock)
    outbound = app.state.channels.outbound
    worker = InboundWorker(queue, app.state.conversations, outbound, consumer="t")
    real_enqueue = outbound.enqueue

    async def die_once(*jobs):
        outbound.enqueue = real_enqueue
        raise ConnectionError("the worker died here")

    def commit_only(end: TurnEnd, pipe: object) -> None:
        end.sent = True  # the rest of the pipeline never reached Redis

    def died(end: TurnEnd, results: object) -> None:
        monkeypatch.undo()
        raise ConnectionError("the worker died here")

    await put(queue, text(Q, "hi", "SMhi2", channel="sms"))
    assert await worker.consume_once() == 1
    before = await outbound.waiting("sms", Q)
    if worker.folded:
        monkeypatch.setattr(TurnEnd, "queue", commit_only)
        monkeypatch.setattr(TurnEnd, "took", died)
    else:
        outbound.enqueue = die_once
    await put(queue, text(Q, "7", "SMhelp", channel="sms"))
    assert await worker.consume_once() == 0  # committed, nothing queued: kept at the head
    assert [m.text for m in await queue.waiting("sms", Q)] == ["7"]
    assert await outbound.waiting("sms", Q) == before
    clock.t += 5
    assert await worker.consume_once() == 1
    queued = [item.job for item in await outbound.waiting("sms", Q)][len(before):]
    assert [job.job_id for job in queued] == [f"SMhelp:{i}" for i in range(len(queued))]
    assert queued and "Samvad lets you" in queued[0].message["text"]
    assert {job.locale for job in queued} == {"en_IN"}
    assert await queue.waiting("sms", Q) == []
