"""GROs' new complaints in one digest (bot.digest): held per GRO for the window that the
first one opens, merged into one message in the GRO's language (a lone one goes as
itself), taken by exactly one of several notifiers, driven by the clock."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from bot.digest import RETRY_S, GroDigest
from bot.notifier import Notification, Notifier
from bot.session_store import SessionStore
from channels.queues import simulator_delivery
from tests.event_examples import example

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

GRO = {"user_id": 1, "phone": "+919876510001", "locale": "hi_IN"}
OTHER_GRO = {"user_id": 2, "phone": "+919876510003", "locale": "en_IN"}
DUE = "2026-11-26T12:30:00+00:00"
WINDOW = 180.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class RecordingSink:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, Notification]] = []

    async def deliver(self, channel: str, notification: Notification) -> None:
        self.delivered.append((channel, notification))


def _created(number: int, gros: list[dict[str, Any]]) -> dict[bytes, bytes]:
    complaint = f"PG-UK-DDN-2026-{number:06d}"
    payload = example("complaint.created", complaint_id=complaint, status="PENDINGFORASSIGNMENT",
                      action="APPLY", type_code="PotHoles", locality="Rajpur", sla_due_at=DUE,
                      gros=gros, type_names=None, locality_names=None)
    return {b"event_id": f"ev-{number}".encode(), b"topic": b"complaint.created",
            b"payload": orjson.dumps(payload)}


def _notifier(redis: Any, clock: Clock, sink: RecordingSink, name: str) -> Notifier:
    return Notifier(redis, SessionStore(redis), sink, consumer=name,
                    router=simulator_delivery(redis, SessionStore(redis)),
                    digest=GroDigest(redis, WINDOW, clock))


async def test_new_complaints_within_the_window_reach_a_gro_as_one_digest(redis_client):
    clock, sink = Clock(), RecordingSink()
    notifier = _notifier(redis_client, clock, sink, "n1")
    for number in (1, 2, 3, 4):
        assert await notifier.handle(_created(number, [GRO, OTHER_GRO])) == 0  # held
        clock.now += 30
    assert await notifier.handle(_created(2, [GRO])) == 0  # a replayed event is held once
    assert await notifier.digest.due() == []  # 120 s after the first: not yet
    clock.now += 60  # 180 s after the first one
    [(_, hindi), (_, english)] = sorted(
        [(n.phone, n) for n in await notifier.digest.due()])
    assert (hindi.phone, hindi.kind, hindi.locale) == (GRO["phone"], "new_complaint", "hi_IN")
    assert hindi.message.text == ("4 नई शिकायतें: PG-UK-DDN-2026-000001, PG-UK-DDN-2026-000002, "
                                  "PG-UK-DDN-2026-000003, …। इन्हें सौंपने के लिए मेनू भेजें।")
    assert english.message.text == (
        "4 new complaints: PG-UK-DDN-2026-000001, PG-UK-DDN-2026-000002, "
        "PG-UK-DDN-2026-000003, …. Send MENU to assign them.")
    assert hindi.event_id.startswith("digest-") and hindi.details is None
    for handed_over in (hindi, english):
        await notifier.digest.settle(handed_over)
    assert await notifier.digest.due(clock.now + 3600) == []  # settled: nothing is left


async def test_a_digest_taken_by_a_notifier_that_died_is_taken_again_after_its_lease(
        redis_client):
    clock = Clock()
    notifier = _notifier(redis_client, clock, RecordingSink(), "n1")
    for number in (1, 2):
        await notifier.handle(_created(number, [GRO]))
    clock.now += WINDOW
    [taken] = await notifier.digest.due()  # ... and the notifier dies before handing it over
    assert await notifier.digest.due(clock.now + RETRY_S - 1) == []  # leased
    [again] = await notifier.digest.due(clock.now + RETRY_S)
    assert (again.event_id, again.message.text) == (taken.event_id, taken.message.text)
    await notifier.handle(_created(3, [GRO]))  # held while the digest was out
    await notifier.digest.settle(again)
    [rest] = await notifier.digest.due(clock.now + 2 * RETRY_S)
    assert rest.event_id == "ev-3"  # only what came after the digest that went out


async def test_a_lone_new_complaint_goes_as_itself_when_its_window_closes(redis_client):
    clock, sink = Clock(), RecordingSink()
    notifier = _notifier(redis_client, clock, sink, "n1")
    await notifier.handle(_created(7, [OTHER_GRO]))
    assert sink.delivered == []
    clock.now += WINDOW
    [note] = await notifier.digest.due()
    assert (note.phone, note.kind, note.event_id) == (OTHER_GRO["phone"], "new_complaint",
                                                      "ev-7")
    assert note.details == ("complaint", "PG-UK-DDN-2026-000007")
    assert note.message.text == ("New complaint PG-UK-DDN-2026-000007: Pot holes, Rajpur. "
                                 "Due by 26 Nov 2026, 6:00 pm. Send MENU to assign it.")


async def test_the_window_opens_with_the_first_complaint_and_a_new_one_after_a_flush(
        redis_client):
    clock = Clock()
    digest = GroDigest(redis_client, WINDOW, clock)
    notifier = _notifier(redis_client, clock, RecordingSink(), "n1")
    await notifier.handle(_created(1, [GRO]))
    clock.now += WINDOW - 1
    await notifier.handle(_created(2, [GRO]))  # does not push the flush back
    clock.now += 1
    [first] = await digest.due()
    assert first.message.text.startswith("2 नई शिकायतें: PG-UK-DDN-2026-000001, PG-UK-DDN-")
    await digest.settle(first)
    await notifier.handle(_created(3, [GRO]))  # opens a new window
    assert await digest.due(clock.now + WINDOW - 1) == []
    [second] = await digest.due(clock.now + WINDOW)
    assert second.event_id == "ev-3"


async def test_two_notifiers_flushing_at_once_send_each_digest_once(redis_client):
    clock, sink = Clock(), RecordingSink()
    first = _notifier(redis_client, clock, sink, "n1")
    second = _notifier(redis_client, clock, sink, "n2")
    for number in (1, 2):
        await first.handle(_created(number, [GRO]))
    await second.handle(_created(3, [GRO, OTHER_GRO]))
    clock.now += WINDOW
    sent = await asyncio.gather(first.consume_once(), second.consume_once(),
                                first.consume_once(), second.consume_once())
    assert sum(sent) == 2
    assert sorted((n.phone, n.message.text.split(":")[0]) for _channel, n in sink.delivered) == [
        (GRO["phone"], "3 नई शिकायतें"), (OTHER_GRO["phone"], "New complaint PG-UK-DDN-2026-000003")]


class FailingOnceSink(RecordingSink):
    """Refuses the first hand-over (Redis unreachable for a moment), then accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def deliver(self, channel: str, notification: Notification) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("outbound queue unreachable")
        await super().deliver(channel, notification)


async def test_a_digest_that_cannot_be_handed_over_is_held_again_not_lost(redis_client):
    clock, sink = Clock(), FailingOnceSink()
    notifier = _notifier(redis_client, clock, sink, "n1")
    for number in (1, 2):
        await notifier.handle(_created(number, [GRO]))
    clock.now += WINDOW
    assert await notifier.consume_once() == 0 and sink.failed and sink.delivered == []
    clock.now += 29
    assert await notifier.consume_once() == 0  # held again, for 30 s
    clock.now += 1
    assert await notifier.consume_once() == 1
    [(_channel, digest)] = sink.delivered
    assert digest.message.text.startswith("2 नई शिकायतें: PG-UK-DDN-2026-000001, PG-UK-DDN-")
    assert await notifier.consume_once() == 0  # once


async def test_without_a_digest_each_new_complaint_goes_at_once(redis_client):
    sink = RecordingSink()
    store = SessionStore(redis_client)
    notifier = Notifier(redis_client, store, sink, router=simulator_delivery(redis_client, store))
    assert await notifier.handle(_created(5, [GRO, OTHER_GRO])) == 2
    assert [n.kind for _channel, n in sink.delivered] == ["new_complaint", "new_complaint"]


async def test_the_worker_batches_for_the_configured_window(app):
    from channels.queues import SystemClock
    from samvad.worker import build_notifier

    class Later(SystemClock):
        def now(self) -> float:
            return 1_800_000_000.0

    notifier = build_notifier(app, clock=Later())
    assert notifier.digest is not None and notifier.digest.window_s == 180  # the default
    assert notifier.digest.clock() == 1_800_000_000.0
    assert notifier.follow_ups is app.state.conversations.client.follow_ups
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"gro_digest_seconds": 0})
    try:
        assert build_notifier(app).digest is None  # each new complaint at once
    finally:
        app.state.settings = settings


async def test_a_notifier_killed_before_marking_holds_the_redelivered_event_once(
        redis_client):
    """The marker is written after the hold: a notifier that died in between leaves the
    event to its redelivery, which holds it again; the digest still counts it once."""
    clock, sink = Clock(), RecordingSink()
    notifier = _notifier(redis_client, clock, sink, "n1")
    await notifier.handle(_created(1, [GRO]))
    await redis_client.delete(f"samvad:notified:ev-1:{GRO['phone']}")  # died before marking
    await notifier.handle(_created(1, [GRO]))  # the relay delivers the event again
    await notifier.handle(_created(2, [GRO]))
    clock.now += WINDOW
    [digest] = await notifier.digest.due()
    assert digest.message.text.startswith("2 नई शिकायतें: PG-UK-DDN-2026-000001, "
                                          "PG-UK-DDN-2026-000002")
