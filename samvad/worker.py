"""Background work: outbox relay, notifier, inbound turns and outbound sending.

``samvad worker`` runs these against the configured database and Redis; in embedded mode
``samvad serve`` runs them inside the web process (SPEC §2: one process is the system).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI

from bot.digest import GroDigest
from bot.notifier import Notifier
from bot.services import ServiceError
from channels.queues import Clock, InboundWorker, SendWorker, SystemClock, channels_of
from core_api.complaints.escalation import plan_for
from core_api.complaints.sla import PGR, sla_once
from core_api.events.relay import relay_once
from samvad.liveness import LivenessFile
from samvad.readiness import Heartbeat

log = structlog.get_logger(__name__)

RELAY_IDLE_S = 0.5
SLA_IDLE_S = 60.0  # complaint SLA timers: warnings, escalations, reminders, auto-close
# The loops that write heartbeats; /readyz reports any of them gone quiet.
LOOPS = ("relay", "notifier", "inbound", "send", "sla")
CHAT_ACTIVITY_FLUSH_S = 5.0  # how stale the dashboard's chat figures may be


def build_notifier(app: FastAPI, clock: Clock | None = None) -> Notifier:
    """The notifier of ``app``: notifications become outbound jobs (simulator inbox when no
    provider is configured for their channel); GROs' new complaints are batched for
    SAMVAD_GRO_DIGEST_SECONDS by ``clock`` (the wall clock unless a test moves it), and a
    "resolved" notice leaves its question for the citizen's answer (``bot.followup``)."""
    client = app.state.conversations.client

    async def opted_out(phone: str) -> bool:
        try:
            user = await client.request("GET", "/api/v1/citizens/me", phone)
        except ServiceError:
            return False  # employees and unknown numbers have no opt-out flag
        return bool(user and user.get("opted_out"))

    channels = channels_of(app)
    window = app.state.settings.gro_digest_seconds
    digest = GroDigest(app.state.redis, window, (clock or SystemClock()).now) if window else None
    return Notifier(app.state.redis, app.state.conversations.store, channels.notifications,
                    opted_out=opted_out, router=channels.delivery, digest=digest,
                    follow_ups=client.follow_ups)


def build_inbound_worker(app: FastAPI, **options: Any) -> InboundWorker:
    """Runs the turns of messages the webhooks queued."""
    channels = channels_of(app)
    return InboundWorker(channels.inbound, app.state.conversations, channels.outbound,
                         **options)


def build_send_worker(app: FastAPI, **options: Any) -> SendWorker:
    """Delivers queued replies and notifications through the configured providers."""
    channels = channels_of(app)
    return SendWorker(channels.outbound, channels.senders, reports=channels.statuses,
                      windows=channels.windows, templates=channels.templates,
                      policy=channels.policy, fallback=channels.fallback, **options)


def heartbeat(app: FastAPI, loop: str, idle_s: float = 1.0) -> Callable[[], Awaitable[None]]:
    """The heartbeat of one of ``LOOPS`` (what /readyz reads), to call every iteration;
    it also marks the loop alive for the liveness file when there is one."""
    beat = Heartbeat(app.state.redis, loop, idle_s=idle_s).beat
    liveness: LivenessFile | None = getattr(app.state, "liveness", None)
    if liveness is None:
        return beat
    liveness.expect(loop, idle_s)

    async def mark_and_beat() -> None:
        liveness.mark(loop)
        await beat()

    return mark_and_beat


async def _forever(name: str, step: Callable[[], Awaitable[int]], idle_s: float,
                   stop: asyncio.Event, beat: Callable[[], Awaitable[None]] | None = None,
                   ) -> None:
    """Run ``step`` until stopped; sleep when it found nothing; survive its failures."""
    while not stop.is_set():
        if beat is not None:
            await beat()
        try:
            done = await step()
        except Exception:
            log.exception("background_step_failed", loop=name)
            done = 0
        if not done:
            try:
                await asyncio.wait_for(stop.wait(), timeout=idle_s)
            except TimeoutError:
                pass


async def run_background(app: FastAPI, stop: asyncio.Event) -> None:
    """Relay events, notify, run inbound turns and send, until ``stop`` is set."""
    notifier = build_notifier(app)
    settings = app.state.settings
    # A broken escalation file stops the worker now rather than every sweep later.
    plan_for(PGR, settings.escalation_file)
    path = settings.worker_heartbeat_file
    app.state.liveness = LivenessFile(path, LOOPS) if path else None
    extra = [app.state.liveness.run(stop)] if app.state.liveness else []
    await asyncio.gather(
        *extra,
        _forever("relay", lambda: relay_once(app.state.db, app.state.redis), RELAY_IDLE_S, stop,
                 heartbeat(app, "relay", RELAY_IDLE_S)),
        _forever("notifier", lambda: notifier.consume_once(block_ms=1000), 0.1, stop,
                 heartbeat(app, "notifier")),
        build_inbound_worker(app).run(stop, heartbeat(app, "inbound")),
        build_send_worker(app).run(stop, heartbeat(app, "send")),
        _forever("sla", lambda: sla_once(app.state.db,
                                         auto_close_days=settings.auto_close_days,
                                         escalation_file=settings.escalation_file),
                 SLA_IDLE_S, stop, heartbeat(app, "sla", SLA_IDLE_S)),
        # Dashboard chat figures: this process's turn counters, posted as deltas.
        app.state.conversations.activity.run(app.state.conversations.client, stop,
                                             CHAT_ACTIVITY_FLUSH_S),
    )
