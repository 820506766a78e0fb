"""Sends whose outcome is unknown are resolved, never dropped: the send worker on a real
Redis with the real Twilio and Meta senders against fakes of their APIs.

Twilio can tell (its message list): found -> settled, not sent again; not found -> sent
once; list down -> asked again later. Meta cannot: sent once more and counted as a
possible duplicate, and never more than that.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest

from bot.messages import Outgoing
from channels.base import OutboundJob, outgoing_to_dict
from channels.meta_whatsapp import MetaSender
from channels.queues import ContactWindows, OutboundQueue, SendPolicy, SendWorker
from channels.queues._sending import POSSIBLE_DUPLICATES
from channels.twilio.sender import TwilioSender
from tests.channels.queue_fakes import FakeClock, RecordedReports
from tests.channels.twilio.twilio_testkit import (
    ACCOUNT_SID,
    API_BASE,
    AUTH_TOKEN,
    LOST,
    PUBLIC_URL,
    FakeTwilio,
    created,
)

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

CITIZEN = "+919876500001"
OUR_SMS = "+12025550143"
RESOLVE_AFTER_S = 15.0


def reply(job_id: str, text: str, provider: str = "twilio") -> OutboundJob:
    channel = "sms" if provider == "twilio" else "whatsapp"
    return OutboundJob(provider=provider, channel=channel, to=CITIZEN,
                       message=outgoing_to_dict(Outgoing(text)), job_id=job_id)


class Rig:
    """An outbound queue and a send worker with one real sender, on a virtual clock."""

    def __init__(self, redis: Any, provider: str, transport: Any) -> None:
        self.redis = redis
        self.provider = provider
        self.clock = FakeClock()
        self.queue = OutboundQueue(redis)
        self.reports = RecordedReports()
        http = httpx.AsyncClient(transport=httpx.MockTransport(transport))
        if provider == "twilio":
            self.sender: Any = TwilioSender(http, account_sid=ACCOUNT_SID,
                                            auth_token=AUTH_TOKEN, api_base=API_BASE,
                                            public_url=PUBLIC_URL, sms_from=OUR_SMS)
        else:
            self.sender = MetaSender(http, api_base="https://graph.fake",
                                     access_token="EAAG-test", phone_number_id="1065403")
        self.worker = SendWorker(self.queue, {provider: self.sender}, reports=self.reports,
                                 windows=ContactWindows(redis), clock=self.clock,
                                 policy=SendPolicy(resolve_after_s=RESOLVE_AFTER_S),
                                 consumer="w")

    async def step(self) -> bool:
        """Send what is due, else jump the clock to the next ring; False when idle."""
        if await self.worker.consume_once():
            return True
        due = await self.queue.boxes.next_ring()
        if due is None:
            return False
        self.clock.t = max(self.clock.t, due)
        return True

    async def settle(self, rounds: int = 30) -> None:
        for _ in range(rounds):
            if not await self.step():
                return
        raise AssertionError("the queue did not settle")

    async def state(self, job_id: str) -> str:
        state = await self.worker.states.get(reply(job_id, "", self.provider))
        assert state is not None
        return state


async def test_twilio_had_it_so_it_is_settled_with_twilios_sid_not_sent_again(redis_client):
    twilio = FakeTwilio(LOST, keep_accepting=True)  # accepted; the answer never came
    rig = Rig(redis_client, "twilio", twilio)
    twilio.log.now = rig.clock.now
    await rig.queue.enqueue(reply("m1:0", "What is your name?"), reply("m1:1", "Thanks"))
    assert await rig.step()
    [taken] = twilio.log.messages
    twilio.log.mark_sent(taken["sid"])  # Twilio handed it on meanwhile
    await rig.settle()
    second = twilio.log.messages[1]
    assert [m["body"] for m in twilio.log.messages] == ["What is your name?", "Thanks"]
    assert len(twilio.forms) == 2  # m1:0 once, then m1:1: nothing sent twice
    # Asked by recipient and sender, once the call had surely ended.
    [lookup] = twilio.lookups
    assert (lookup["To"], lookup["From"]) == (CITIZEN, OUR_SMS)
    assert await rig.state("m1:0") == f"sent:{taken['sid']}"
    assert rig.reports.last("m1:0") == ("sent", 1, None)  # the status Twilio listed
    assert [r[4] for r in rig.reports.records if r[0] == "m1:0"] == [None, taken["sid"]]
    assert await rig.state("m1:1") == f"sent:{second['sid']}"


async def test_twilio_did_not_have_it_so_it_is_sent_once_more(redis_client):
    # The answer was lost, but the request never made it: Twilio lists nothing.
    twilio = FakeTwilio(httpx.ReadTimeout("timed out"), created("SM" + "1" * 32))
    rig = Rig(redis_client, "twilio", twilio)
    twilio.log.now = rig.clock.now
    # An older message with the same text to the same person is not taken for it.
    twilio.log.accept({"To": CITIZEN, "From": OUR_SMS, "Body": "Your complaint is filed."})
    rig.clock.t += 60
    duplicates = POSSIBLE_DUPLICATES.labels("twilio", "sms")._value.get()
    await rig.queue.enqueue(reply("m2:0", "Your complaint is filed."))
    await rig.settle()
    assert len(twilio.forms) == 2
    assert len(twilio.lookups) == 1
    assert await rig.state("m2:0") == "sent:SM" + "1" * 32
    assert rig.reports.last("m2:0") == ("queued", 2, None)
    # Twilio said "not sent": not a possible duplicate.
    assert POSSIBLE_DUPLICATES.labels("twilio", "sms")._value.get() == duplicates


async def test_twilio_down_when_asked_is_asked_again_later_not_dropped(redis_client):
    twilio = FakeTwilio(LOST, keep_accepting=True)
    rig = Rig(redis_client, "twilio", twilio)
    twilio.log.now = rig.clock.now
    twilio.list_down = True
    await rig.queue.enqueue(reply("m3:0", "Choose a language"))
    while len(twilio.lookups) < 3:  # the lookup fails twice over, with backoff between
        assert await rig.step()
        assert len(twilio.forms) == 1  # never sent again meanwhile
    twilio.list_down = False
    await rig.settle()
    assert len(twilio.lookups) == 4
    assert len(twilio.forms) == 1
    [taken] = twilio.log.messages
    assert await rig.state("m3:0") == f"sent:{taken['sid']}"
    assert rig.reports.last("m3:0")[0] == "queued"


class FakeGraph:
    """Meta's ``/messages``: takes every message; the answers to the first ``lose`` are
    lost (a read timeout after Meta accepted)."""

    def __init__(self, lose: int) -> None:
        self.lose = lose
        self.taken: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.taken.append(request.read().decode())
        if self.lose:
            self.lose -= 1
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [
            {"id": f"wamid.{len(self.taken)}"}]})


async def test_meta_cannot_tell_so_it_is_sent_again_and_counted(redis_client):
    graph = FakeGraph(lose=1)
    rig = Rig(redis_client, "meta", graph)
    duplicates = POSSIBLE_DUPLICATES.labels("meta", "whatsapp")._value.get()
    await rig.queue.enqueue(reply("w1:0", "Hello", "meta"), reply("w1:1", "Bye", "meta"))
    await rig.settle()
    assert ["Hello" in body for body in graph.taken] == [True, True, False]
    assert await rig.state("w1:0") == "sent:wamid.2"
    assert await rig.state("w1:1") == "sent:wamid.3"
    assert POSSIBLE_DUPLICATES.labels("meta", "whatsapp")._value.get() == duplicates + 1
    # What /metrics serves (the default registry), by the name the runbook gives.
    exposed = generate_latest(REGISTRY).decode()
    assert (f'samvad_send_possible_duplicates_total{{channel="whatsapp",provider="meta"}} '
            f'{duplicates + 1}') in exposed


async def test_never_more_than_two_sends_through_unknown_outcomes(redis_client):
    graph = FakeGraph(lose=2)  # both answers to "Hello" lost
    rig = Rig(redis_client, "meta", graph)
    duplicates = POSSIBLE_DUPLICATES.labels("meta", "whatsapp")._value.get()
    await rig.queue.enqueue(reply("w2:0", "Hello", "meta"), reply("w2:1", "Bye", "meta"))
    await rig.settle()
    assert ["Hello" in body for body in graph.taken] == [True, True, False]
    assert await rig.state("w2:0") == "unknown"  # may have gone: recorded, not sent again
    assert rig.reports.last("w2:0")[0] == "unknown"
    assert POSSIBLE_DUPLICATES.labels("meta", "whatsapp")._value.get() == duplicates + 1
    assert await rig.queue.waiting("whatsapp", CITIZEN) == []
