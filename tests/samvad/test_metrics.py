"""``/metrics``: chat turns, latency, queue depth, sends, SLA events; multiprocess mode.

The registry is shared by every test of the run, so each test compares a scrape after
its action with one before.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from channels.base import OutboundJob
from channels.queues import channels_of
from core_api.complaints.sla import sla_once
from core_api.db import utcnow
from core_api.workflow.models import ProcessInstance
from samvad.worker import build_send_worker

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Any) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_a_simulator_turn_is_counted_and_timed(client: Any) -> None:
    before = await scrape(client)
    answer = await client.post("/simulator/messages", json={
        "from": "+919876500002", "channel": "sms", "text": "hello"})
    assert answer.status_code == 200, answer.text
    flow = answer.json()["flow"] or "none"
    repeat = await client.post("/simulator/messages", json={
        "from": "+919876500002", "channel": "sms", "text": "2", "message_id": "sim-1"})
    again = await client.post("/simulator/messages", json={
        "from": "+919876500002", "channel": "sms", "text": "2", "message_id": "sim-1"})
    assert repeat.status_code == again.status_code == 200 and again.json()["duplicate"]
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("samvad_chat_turns_total", channel="sms", flow=flow, outcome="ok") >= 1
    assert sum(v - value(before, name, **dict(labels)) for (name, labels), v in after.items()
               if name == "samvad_chat_turns_total"
               and dict(labels)["outcome"] == "ok") == 2
    assert delta("samvad_chat_turns_total", channel="sms", flow="none", outcome="repeat") == 1
    assert delta("samvad_chat_turn_seconds_count", channel="sms", flow=flow) >= 1
    # Every turn lands in a bucket; a menu turn is far below 5 s (no timing is asserted).
    assert delta("samvad_chat_turn_seconds_bucket", channel="sms", flow=flow, le="+Inf") >= 1


async def test_queue_depth_and_a_send(client: Any, app: Any) -> None:
    channels = channels_of(app)
    jobs = [OutboundJob(provider="simulator", channel="sms", to="+919876500002",
                        message={"text": f"note {i}"}, kind="notification") for i in range(3)]
    before = await scrape(client)
    await channels.outbound.enqueue(*jobs[:2])
    await channels.outbound.enqueue(jobs[2])
    waiting = await scrape(client)
    # Each enqueue rings one doorbell; nothing has read them yet.
    assert value(waiting, "samvad_queue_depth", queue="outbound", state="waiting") == 2
    assert value(waiting, "samvad_queue_depth", queue="outbound", state="in_progress") == 0
    assert value(waiting, "samvad_queue_depth", queue="inbound", state="waiting") == 0

    assert await build_send_worker(app).consume_once() == 3
    after = await scrape(client)
    assert value(after, "samvad_queue_depth", queue="outbound", state="waiting") == 0
    assert value(after, "samvad_queue_depth", queue="outbound", state="in_progress") == 0
    sent = ("samvad_outbound_sends_total", {"provider": "simulator", "channel": "sms",
                                            "outcome": "sent", "error_code": "none"})
    assert value(after, sent[0], **sent[1]) - value(before, sent[0], **sent[1]) == 3


async def test_inbound_queue_age(client: Any, app: Any) -> None:
    """The age of the oldest inbound doorbell no worker has read: 0 with none, else at
    least how long ago it was rung (its stream id is Redis's time of ringing)."""
    empty = await scrape(client)
    assert empty[("samvad_inbound_queue_age_seconds", frozenset())] == 0
    rung_ms = int((time.time() - 42) * 1000)
    await app.state.redis.xadd("samvad:inbound", {"key": "sms:+919876500003"},
                               id=f"{rung_ms}-0")
    assert value(await scrape(client), "samvad_inbound_queue_age_seconds") >= 42



async def test_sla_breaches_are_counted(client: Any, auth: Any, database: Any) -> None:
    filed = await client.post("/api/v1/complaints", headers=await auth.staff("gro.dehradun"),
                              json={"type_code": "StreetLightNotWorking",
                                    "tenant_code": "uk.dehradun", "lat": 30.378,
                                    "lng": 78.089, "citizen_phone": "+919876500001"})
    assert filed.status_code == 201, filed.text
    async with database.sessions() as session:
        process = await session.scalar(select(ProcessInstance).where(
            ProcessInstance.business_id == filed.json()["id"]))
        filed_at = process.created_at
    before = await scrape(client)
    # The GRO's 24 hours: warned at 80 %, breached after.
    assert await sla_once(database, filed_at + timedelta(hours=20)) == 1
    assert await sla_once(database, filed_at + timedelta(hours=25)) == 1
    assert await sla_once(database, utcnow() + timedelta(days=1)) == 0  # announced once
    after = await scrape(client)
    for event in ("warning", "breach"):
        assert (value(after, "samvad_sla_events_total", event=event)
                - value(before, "samvad_sla_events_total", event=event)) == 1


COUNT_ONE_TURN = """
from bot.metrics import observe_turn
from channels import metrics
observe_turn("whatsapp", "file_complaint", "ok", 0.04)
metrics.send("twilio", "whatsapp", "failed", "63016").inc()
"""

SCRAPE = """
import asyncio, sys
from types import SimpleNamespace
from redis.asyncio import Redis
from samvad.logs import configure_logging
from samvad.metrics import metrics_endpoint
configure_logging(json=True)  # to stderr
redis = Redis(host="127.0.0.1", port=int(sys.argv[1]))  # nothing listens: no queue depths
request = SimpleNamespace(headers={}, app=SimpleNamespace(state=SimpleNamespace(redis=redis)))
print(asyncio.run(metrics_endpoint(request)).body.decode())
"""


def test_multiprocess_mode_adds_up_every_process(tmp_path: Path) -> None:
    """Two processes count, a third answers the scrape for both (PROMETHEUS_MULTIPROC_DIR)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", COUNT_ONE_TURN], env=env, check=True,
                       timeout=60)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    scraped = subprocess.run([sys.executable, "-c", SCRAPE, str(closed)], env=env, check=True,
                             timeout=60, capture_output=True, text=True).stdout
    assert "samvad_queue_depth" not in scraped
    samples: Samples = {}
    for family in text_string_to_metric_families(scraped):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    assert value(samples, "samvad_chat_turns_total", channel="whatsapp",
                 flow="file_complaint", outcome="ok") == 2
    assert value(samples, "samvad_chat_turn_seconds_bucket", channel="whatsapp",
                 flow="file_complaint", le="0.05") == 2
    assert value(samples, "samvad_outbound_sends_total", provider="twilio",
                 channel="whatsapp", outcome="failed", error_code="63016") == 2
