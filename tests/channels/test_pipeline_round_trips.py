"""Redis round trips of one menu turn through the whole pipeline, stage by stage.

The real pieces, in process: the webhook's ``InboundQueue.admit``, the inbound worker's
turn, the send worker's send through a fake provider (rate limited) and the delivery
record (written through the core API: PostgreSQL, no Redis). Counted as requests written
to Redis (``tests/redis_counting.py``: a pipeline is one). Left out, as the benchmark
leaves out the background loops' share: the due-ring check and the reclaim of dead
workers' doorbells, which ``MailboxWorker.run`` makes every 0.25 s and every few seconds,
not per turn (``consume_once`` makes them on each call).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from bot.messages import Inbound
from channels.queues import SendPolicy, SendWorker, channels_of
from samvad.worker import build_inbound_worker
from tests.channels.queue_fakes import FakeClock, FakeSender
from tests.redis_counting import RoundTrips, round_trips

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

CITIZEN = "+919876500002"  # English demo citizen
OUR_NUMBER = "+14155550100"
BACKGROUND = ("zrangebyscore", "xautoclaim")  # MailboxWorker.run's periodic requests


def per_turn(counted: RoundTrips) -> int:
    """The round trips of a stage without the background loops' requests."""
    return counted.writes - sum(counted.server.get(name, 0) for name in BACKGROUND)


class Pipeline:
    """The webhook, the inbound worker and a rate-limited send worker of one app."""

    def __init__(self, app: Any) -> None:
        channels = channels_of(app)
        self.channels = channels
        self.sender = FakeSender(FakeClock())
        channels.senders["fake"] = self.sender
        self.send = SendWorker(channels.outbound, channels.senders, reports=channels.statuses,
                               windows=channels.windows, templates=channels.templates,
                               policy=SendPolicy(rate=80), fallback=channels.fallback,
                               consumer="out")
        self.inbound = build_inbound_worker(app, consumer="in", send=self.send)

    async def admit(self, text: str) -> None:
        message_id = f"SM{uuid.uuid4().hex}"
        inbound = Inbound(channel="whatsapp", sender=CITIZEN, text=text,
                          message_id=message_id, to=OUR_NUMBER)
        assert await self.channels.inbound.admit(
            inbound, "fake", seen_key=f"fake:{message_id}", seen_ttl_s=3600,
            per_minute=20) == "accept"


async def test_a_menu_turn_costs_at_most_six_redis_round_trips(app, redis_client, redis_kind):
    """One server: 6. The webhook's script queues the message and rings (1); the inbound
    worker reads the doorbell (1), opens the mailbox and begins the session in one script
    (1), and sends with the commit the replies with their doorbell, the mailbox's next
    step (which acknowledges the doorbell) and the replies' mailbox opened with the first
    job begun (1); it sends the two replies itself, each noted sent in the step that
    begins the next (1 + 1, the last deleting the replies' unread doorbell). The delivery
    records go through the core API (no Redis).

    A Redis Cluster: 21, as no script or pipeline spans slots there: the webhook's script
    then its ring (2); the inbound worker's read, open, session begin, commit, replies
    queued then rung, next step, ack (8); the send worker's read, open, and per reply its
    rate-limit slot, its ``sending`` mark and the step noting it sent (the lease renewal
    is skipped: just extended), then the ack (9); and the cluster client's own
    ``COMMAND`` lookup for each stream read (2)."""
    pipeline = Pipeline(app)
    one_server = pipeline.channels.inbound.boxes.one_server
    await pipeline.admit("hi")  # the menu (and every script loaded, every group made)
    assert await pipeline.inbound.consume_once() == 1
    if not one_server:
        assert await pipeline.send.consume_once() >= 1
    sent_before = len(pipeline.sender.sent)

    stages: dict[str, RoundTrips] = {}
    async with round_trips(redis_client) as stages["webhook admit"]:
        await pipeline.admit("7")  # Help, then the menu again
    async with round_trips(redis_client) as stages["inbound turn (+ sends, one server)"]:
        assert await pipeline.inbound.consume_once() == 1
    if not one_server:
        async with round_trips(redis_client) as stages["send + delivery record"]:
            assert await pipeline.send.consume_once() >= 1
    replies = pipeline.sender.texts()[sent_before:]
    assert len(replies) == 2 and "Samvad lets you" in replies[0]
    assert await pipeline.send.consume_once() == 0  # nothing left for the send worker
    assert await redis_client.xlen("samvad:outbound") == (0 if one_server else 2)
    assert await redis_client.zcard("samvad:outbound:due") == 0  # the safety ring removed

    breakdown = {stage: (per_turn(counted), counted.server) for stage, counted in stages.items()}
    total = sum(trips for trips, _ in breakdown.values())
    print(f"\n{redis_kind}: {total} round trips per menu turn")
    for stage, (trips, server) in breakdown.items():
        print(f"  {stage}: {trips} {server}")
    assert total <= (6 if one_server else 21), breakdown


async def test_replies_a_dead_worker_did_not_send_go_once_its_lease_ran_out(
        app, redis_client, monkeypatch):
    """The inbound worker commits the turn and dies before sending its replies itself. On
    one server they have no doorbell (no send worker reads one only to find them busy):
    the ring scheduled for the lease's end brings a send worker, which sends them once."""
    pipeline = Pipeline(app)
    one_server = pipeline.channels.inbound.boxes.one_server
    outbound = pipeline.channels.outbound.boxes
    sent = len(pipeline.sender.sent)

    async def died(handoff: Any) -> int:
        return 0  # the process ended here: its lock is left to run out

    monkeypatch.setattr(pipeline.send, "take_over", died)
    await pipeline.admit("hi")
    assert await pipeline.inbound.consume_once() == 1
    if one_server:
        assert await redis_client.xlen("samvad:outbound") == 0
        assert await pipeline.send.consume_once() == 0  # nothing rung yet
        assert await redis_client.zcard("samvad:outbound:due") == 1
        await redis_client.delete(outbound.keys(f"whatsapp:{CITIZEN}")[1])  # ran out
        # Its first reply was marked "sending" in the commit: settled after a wait.
        later = FakeClock(time.time() + outbound.lease_ms / 1000 + 60)
        monkeypatch.setattr(pipeline.send, "clock", later)
    waiting = await pipeline.channels.outbound.waiting("whatsapp", CITIZEN)
    assert waiting and await pipeline.send.consume_once() == len(waiting)
    texts = pipeline.sender.texts()[sent:]
    assert len(texts) == len(waiting) and "How can we help" in texts[-1], texts
    assert await pipeline.send.consume_once() == 0  # sent once
    assert await redis_client.zcard("samvad:outbound:due") == 0
