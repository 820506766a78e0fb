"""``InboundQueue.admit`` on a real Redis: one script claims the provider's message id,
counts the sender's minute and queues the message (or the flood notice), or nothing; then
one XADD rings the doorbell. The script's keys are the person's, in one cluster slot."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.crc import key_slot

from bot.messages import Inbound
from bot.session_store import conversation_key
from channels.queues import InboundQueue, InboundWorker
from channels.queues._inbound import (
    FLOOD_WINDOW_S,
    flood_key,
    inbound_from_dict,
    inbound_to_dict,
    seen_key_of,
)
from channels.queues._windows import KEEP_S
from tests.channels.queue_fakes import FakeClock
from tests.redis_counting import round_trips

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

P, Q = "+919876500001", "+919876500002"
SEEN_TTL_S = 2 * 24 * 3600


def message(n: int, sender: str = P, channel: str = "whatsapp") -> Inbound:
    return Inbound(channel=channel, sender=sender, text=f"text {n}", message_id=f"SM{n:032d}",
                   to="+14155550100", profile_name="सुनीता")


def seen(inbound: Inbound) -> str:
    return seen_key_of(inbound, f"twilio:{inbound.message_id}")


class Spied(InboundQueue):
    """Remembers the KEYS each admission script was given."""

    def __init__(self, redis: Any, **kwargs: Any) -> None:
        super().__init__(redis, **kwargs)
        self.given: set[bytes] = set()
        script = self._admit

        async def spy(keys: list[str], args: list[Any]) -> Any:
            self.given.update(key.encode() for key in keys)
            return await script(keys=keys, args=args)

        self._admit = spy  # type: ignore[assignment]


async def admit(queue: InboundQueue, inbound: Inbound, per_minute: int = 0) -> str:
    return await queue.admit(inbound, "twilio", seen_key=f"twilio:{inbound.message_id}",
                             seen_ttl_s=SEEN_TTL_S, per_minute=per_minute)


async def queued(queue: InboundQueue, inbound: Inbound) -> list[dict[str, Any]]:
    key = conversation_key(inbound.channel, inbound.sender)
    return [orjson.loads(raw) for raw in await queue.boxes.waiting(key)]


def item(inbound: Inbound, **extra: Any) -> bytes:
    """What the webhook's item looked like before the script (the worker's format)."""
    return orjson.dumps({"provider": "twilio", "inbound": inbound_to_dict(inbound),
                         "attempts": 0, **extra})


async def test_accept_queues_the_message_with_its_doorbell_window_and_ttls(redis_client):
    clock = FakeClock()
    queue = Spied(redis_client, clock=clock)
    first = message(1)
    async with round_trips(redis_client) as counted:
        assert await admit(queue, first, per_minute=20) == "accept"
    # More only when this Redis had not seen the script: NOSCRIPT, then SCRIPT LOAD (on
    # every primary of a cluster) and the EVALSHA again.
    # The doorbell: in the script on one server, its own command on a cluster.
    loads = counted.server.get("script", 0)
    one_server = queue.boxes.one_server
    assert counted.writes == (1 if one_server else 2) + (loads + 1 if loads else 0), counted
    async with round_trips(redis_client) as counted:
        assert await admit(queue, message(2), per_minute=20) == "accept"
    assert (counted.is_one_evalsha_calling("xadd") if one_server
            else counted.is_evalsha_then("xadd")), counted

    key = conversation_key("whatsapp", P)
    mailbox, lock = queue.boxes.keys(key)
    raw = await redis_client.lrange(mailbox, 0, -1)
    assert raw[0] == item(first)  # byte for byte what the worker reads
    assert inbound_from_dict(orjson.loads(raw[0])["inbound"]) == first
    bells = await redis_client.xrange("samvad:inbound")
    assert [fields for _id, fields in bells] == [{b"key": key.encode()}] * 2
    assert await queue.windows.last_inbound("whatsapp", P) == clock.now()
    assert not await redis_client.exists(lock)
    ttl = {name: await redis_client.ttl(name) for name in (
        seen(first), mailbox, queue.windows.key("whatsapp", P), flood_key("whatsapp", P))}
    assert SEEN_TTL_S - 5 <= ttl[seen(first)] <= SEEN_TTL_S
    assert queue.boxes.ttl_s - 5 <= ttl[mailbox] <= queue.boxes.ttl_s
    assert KEEP_S - 5 <= ttl[queue.windows.key("whatsapp", P)] <= KEEP_S
    assert 0 < ttl[flood_key("whatsapp", P)] <= FLOOD_WINDOW_S
    assert int(await redis_client.get(flood_key("whatsapp", P))) == 2
    # Every key the script wrote was given to it in KEYS (none made up inside Lua), and
    # they are all the person's: one Redis Cluster slot. The doorbell stream is given only
    # on one server (on a cluster it is rung apart).
    assert set(await redis_client.keys("*")) <= queue.given | {b"samvad:inbound"}
    assert len({key_slot(key) for key in queue.given - {b"samvad:inbound"}}) == 1
    assert (b"samvad:inbound" in queue.given) == one_server


async def test_a_repeated_message_id_is_a_duplicate_and_changes_nothing(redis_client):
    queue = InboundQueue(redis_client)
    first = message(1)
    assert await admit(queue, first, per_minute=20) == "accept"
    names = set(await redis_client.keys("*")) - {b"samvad:inbound"}
    before = {name: await redis_client.dump(name) for name in names}
    for _ in range(3):
        assert await admit(queue, first, per_minute=20) == "duplicate"
    after = {name: await redis_client.dump(name) for name in names}
    assert after == before  # not queued, not even counted against the flood
    assert set(await redis_client.keys("*")) - {b"samvad:inbound"} == names
    assert await queue.waiting("whatsapp", P) == [first]
    # Each retry rings the person's doorbell again: it repairs a web process killed
    # between the script and the ring (the mailbox still holds the message).
    key = conversation_key("whatsapp", P).encode()
    bells = [fields for _id, fields in await redis_client.xrange("samvad:inbound")]
    assert bells == [{b"key": key}] * 4


async def test_a_flood_gets_one_notice_at_the_limit_plus_one_then_drops(redis_client):
    queue = Spied(redis_client)
    limit = 3
    answers = [await admit(queue, message(n), per_minute=limit) for n in range(limit + 4)]
    assert answers == ["accept"] * limit + ["notice"] + ["drop"] * 3
    mailbox = queue.boxes.keys(conversation_key("whatsapp", P))[0]
    raw = await redis_client.lrange(mailbox, 0, -1)
    assert raw == [item(message(n)) for n in range(limit)] + [item(message(limit), flood=True)]
    assert await redis_client.xlen("samvad:inbound") == limit + 1  # no doorbell for a drop
    # A dropped message keeps its id claimed: its retry is a duplicate, not a new message.
    assert await admit(queue, message(limit + 1), per_minute=limit) == "duplicate"
    # Someone else is not limited by this sender, nor the same number on another channel.
    assert await admit(queue, message(100, sender=Q), per_minute=limit) == "accept"
    assert await admit(queue, message(101, channel="sms"), per_minute=limit) == "accept"
    assert set(await redis_client.keys("*")) - {b"samvad:inbound"} <= queue.given
    # The next minute starts a new count (the counter expires with the minute).
    await redis_client.delete(flood_key("whatsapp", P))
    assert await admit(queue, message(200), per_minute=limit) == "accept"


async def test_the_notice_item_is_run_by_the_worker_as_the_flood_notice(redis_client):
    queue = InboundQueue(redis_client)
    assert await admit(queue, message(1), per_minute=1) == "accept"
    assert await admit(queue, message(2), per_minute=1) == "notice"
    [_, notice] = await queue.boxes.waiting(conversation_key("whatsapp", P))
    ran: list[tuple[str, str | None]] = []

    class Recording(InboundWorker):
        async def turn(self, provider: str, inbound: Inbound, **_: Any) -> list[Any]:
            ran.append(("turn", inbound.message_id))
            return []

        async def flood_notice(self, provider: str, inbound: Inbound) -> list[Any]:
            ran.append(("notice", inbound.message_id))
            return []

    worker = Recording(queue, None, None, consumer="t")  # type: ignore[arg-type]
    assert orjson.loads(notice)["flood"] is True
    assert await worker.consume_once() == 2
    assert ran == [("turn", message(1).message_id), ("notice", message(2).message_id)]


async def test_per_minute_zero_is_no_limit_and_no_counter(redis_client):
    queue = InboundQueue(redis_client)
    assert [await admit(queue, message(n)) for n in range(30)] == ["accept"] * 30
    assert not await redis_client.exists(flood_key("whatsapp", P))
    assert len(await queue.waiting("whatsapp", P)) == 30
