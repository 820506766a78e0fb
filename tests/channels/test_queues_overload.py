"""Overload without silence: a message waiting past the deadline gets one "we are busy"
reply in its sender's language, before its turn's replies, and its turn still runs."""

from __future__ import annotations

import time
import uuid

import pytest

from bot.engine import Turn
from bot.i18n import translate
from bot.messages import Inbound, Outgoing
from bot.session import Session
from channels.queues import InboundQueue, InboundWorker, OutboundQueue, OverloadWatch
from channels.queues._overload import BUSY_NOTICE
from tests.channels.queue_fakes import FakeClock

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

P, Q, R = "+919876500001", "+919876500002", "+919876500003"
NUMBER = "+14155550100"
LOCALES = {P: "hi_IN"}  # Q and R have chosen no language: by their message's script


class Echo:
    """Answers each message with its text."""

    def __init__(self) -> None:
        self.handled: list[str] = []

    async def handle(self, inbound: Inbound, **_: object) -> Turn:
        self.handled.append(inbound.text or "")
        return Turn(Session(locale=LOCALES.get(inbound.sender)), [Outgoing(f"echo {inbound.text}")])

    async def answered(self, inbound: Inbound) -> None:
        return None


async def locale_of(inbound: Inbound) -> str | None:
    return LOCALES.get(inbound.sender)


async def put(queue: InboundQueue, sender: str, body: str, message_id: str) -> None:
    inbound = Inbound(channel="whatsapp", sender=sender, text=body, message_id=message_id,
                      to=NUMBER)
    assert await queue.admit(inbound, "twilio", seen_key=f"test:{uuid.uuid4()}",
                             seen_ttl_s=60) == "accept"


async def texts_to(outbound: OutboundQueue, phone: str) -> list[tuple[str, str]]:
    return [(item.job.job_id, item.job.message["text"])
            for item in await outbound.waiting("whatsapp", phone)]


async def test_one_busy_reply_after_the_deadline_then_the_turn(redis_client):
    queue, outbound = InboundQueue(redis_client), OutboundQueue(redis_client)
    await put(queue, P, "hi", "SMp1")
    await put(queue, Q, "hello", "SMq1")
    await put(queue, R, "ਸਤ ਸ੍ਰੀ ਅਕਾਲ", "SMr1")
    # The doorbells carry Redis's time of admission; the watch's clock starts just after.
    clock = FakeClock(time.time())
    watch = OverloadWatch(queue, outbound, locale_of, busy_after_s=10, clock=clock)

    clock.t += 9  # not yet past the deadline
    assert await watch.check_once() == 0
    assert await texts_to(outbound, P) == []

    clock.t += 2
    assert await watch.check_once() == 3
    busy_hi = translate("hi_IN", BUSY_NOTICE)
    assert busy_hi != translate("en_IN", BUSY_NOTICE)
    assert await texts_to(outbound, P) == [("busy:SMp1", busy_hi)]
    assert await texts_to(outbound, Q) == [("busy:SMq1", translate("en_IN", BUSY_NOTICE))]
    assert await texts_to(outbound, R) == [("busy:SMr1", translate("pa_IN", BUSY_NOTICE))]
    assert [item.job.sender for item in await outbound.waiting("whatsapp", P)] == [NUMBER]

    # P writes again and waits again, in the same backlog: not told a second time.
    await put(queue, P, "anyone?", "SMp2")
    clock.t += 11
    assert await watch.check_once() == 1  # its doorbell, looked at once
    assert await watch.check_once() == 0
    assert await texts_to(outbound, P) == [("busy:SMp1", busy_hi)]

    # The turns still run, in order, their replies after the busy reply.
    echo = Echo()
    worker = InboundWorker(queue, echo, outbound, consumer="w", clock=clock)  # type: ignore[arg-type]
    assert await worker.consume_once() >= 4
    assert sorted(echo.handled) == sorted(["hi", "anyone?", "hello", "ਸਤ ਸ੍ਰੀ ਅਕਾਲ"])
    assert [text for text in echo.handled if text in ("hi", "anyone?")] == ["hi", "anyone?"]
    assert await texts_to(outbound, P) == [("busy:SMp1", busy_hi), ("SMp1:0", "echo hi"),
                                           ("SMp2:0", "echo anyone?")]
    clock.t += 60
    assert await watch.check_once() == 0  # nobody waits


async def test_one_watch_at_a_time_across_processes(redis_client):
    """Every worker process runs the watch; the lease lets one of them look."""
    queue, outbound = InboundQueue(redis_client), OutboundQueue(redis_client)
    await put(queue, P, "hi", "SMlease")
    clock = FakeClock(time.time() + 11)
    first, second = (OverloadWatch(queue, outbound, locale_of, busy_after_s=10, clock=clock)
                     for _ in range(2))
    assert await second.check_once() == 1  # second holds the lease now
    assert await first.check_once() == 0
    assert len(await outbound.waiting("whatsapp", P)) == 1


async def test_a_doorbell_a_worker_read_but_has_not_reached_still_counts(redis_client):
    """Under overload a worker reads more doorbells than it turns over at once: those
    people wait although their doorbell was read (pending). They are told too, once."""
    queue, outbound = InboundQueue(redis_client), OutboundQueue(redis_client)
    await put(queue, P, "hi", "SMpend")
    [bell] = await queue.boxes.read("busy-worker", 10, None)  # read, not acknowledged
    clock = FakeClock(time.time())
    watch = OverloadWatch(queue, outbound, locale_of, busy_after_s=10, clock=clock)
    clock.t += 9
    assert await watch.check_once() == 0
    clock.t += 2
    assert await watch.check_once() == 1
    assert await texts_to(outbound, P) == [("busy:SMpend", translate("hi_IN", BUSY_NOTICE))]
    assert await watch.check_once() == 0  # looked at once
    await queue.boxes.ack(bell.entry_id)
    await put(queue, Q, "hello", "SMq9")  # an unread one beside: both kinds in one look
    [_bell] = await queue.boxes.read("busy-worker", 10, None)
    await put(queue, R, "namaste", "SMr9")
    clock.t += 11
    assert await watch.check_once() == 2
    assert [job_id for job_id, _ in await texts_to(outbound, Q)] == ["busy:SMq9"]
    assert [job_id for job_id, _ in await texts_to(outbound, R)] == ["busy:SMr9"]
    assert len(await outbound.waiting("whatsapp", P)) == 1
