"""Background work: outbox relay, notifier, inbound turns, outbound sending, the overload
watch (a "we are busy" reply to messages waiting past SAMVAD_BUSY_AFTER_S).

``samvad worker`` runs these against the configured database and Redis; in embedded mode
``samvad serve`` runs them inside the web process (SPEC §2: one process is the system).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI

from bot.digest import GroDigest
from bot.notifier import Notifier
from bot.services import ServiceError
from channels.queues import (
    Clock,
    InboundWorker,
    OverloadWatch,
    SendWorker,
    SystemClock,
    channels_of,
)
from core_api.complaints.escalation import plan_for
from core_api.complaints.sla import PGR, sla_once
from core_api.events.relay import relay_once
from samvad.liveness import LivenessFile
from samvad.readiness import Heartbeat

if TYPE_CHECKING:
    from samvad.settings import Settings

log = structlog.get_logger(__name__)

RELAY_IDLE_S = 0.5
SLA_IDLE_S = 60.0  # complaint SLA timers: warnings, escalations, reminders, auto-close
WATCH_IDLE_S = 1.0  # how often the overload watch looks for messages waiting too long
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
    # One consumer per process: worker processes on one host must not share a name.
    return Notifier(app.state.redis, app.state.conversations.store, channels.notifications,
                    opted_out=opted_out, router=channels.delivery, digest=digest,
                    follow_ups=client.follow_ups,
                    consumer=f"{socket.gethostname()}-{os.getpid()}-notifier")


def build_inbound_worker(app: FastAPI, **options: Any) -> InboundWorker:
    """Runs the turns of messages the webhooks queued (given ``send``, a send worker, it
    sends their replies itself when it can: ``InboundWorker``)."""
    channels = channels_of(app)
    return InboundWorker(channels.inbound, app.state.conversations, channels.outbound,
                         **options)


def build_overload_watch(app: FastAPI, clock: Clock | None = None) -> OverloadWatch:
    """Tells people whose message waited past SAMVAD_BUSY_AFTER_S that it is queued."""
    channels = channels_of(app)
    return OverloadWatch(channels.inbound, channels.outbound,
                         app.state.conversations.locale_of,
                         busy_after_s=app.state.settings.busy_after_s, clock=clock)


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


async def serve_worker(settings: Settings,
                       announce: Callable[[FastAPI], None] | None = None) -> None:
    """One worker process: open the app's resources, run every background loop until
    SIGTERM or SIGINT (the messages in hand are finished), close them."""
    from samvad.app import close_resources, create_app, open_resources

    application = create_app(settings)
    await open_resources(application)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if announce is not None:
        announce(application)
    try:
        await run_background(application, stop)
    finally:
        await close_resources(application)


async def run_background(app: FastAPI, stop: asyncio.Event) -> None:
    """Relay events, notify, run inbound turns and send, until ``stop`` is set."""
    notifier = build_notifier(app)
    settings = app.state.settings
    # A broken escalation file stops the worker now rather than every sweep later.
    plan_for(PGR, settings.escalation_file)
    path = settings.worker_heartbeat_file
    app.state.liveness = LivenessFile(path, LOOPS) if path else None
    extra = [app.state.liveness.run(stop)] if app.state.liveness else []
    if settings.busy_after_s:
        watch = build_overload_watch(app)
        extra.append(_forever("overload", watch.check_once, WATCH_IDLE_S, stop))
    await asyncio.gather(
        *extra,
        _forever("relay", lambda: relay_once(app.state.db, app.state.redis), RELAY_IDLE_S, stop,
                 heartbeat(app, "relay", RELAY_IDLE_S)),
        _forever("notifier", lambda: notifier.consume_once(block_ms=1000), 0.1, stop,
                 heartbeat(app, "notifier")),
        build_inbound_worker(app, send=build_send_worker(app)).run(
            stop, heartbeat(app, "inbound")),
        build_send_worker(app).run(stop, heartbeat(app, "send")),
        _forever("sla", lambda: sla_once(app.state.db,
                                         auto_close_days=settings.auto_close_days,
                                         escalation_file=settings.escalation_file),
                 SLA_IDLE_S, stop, heartbeat(app, "sla", SLA_IDLE_S)),
        # Dashboard chat figures: this process's turn counters, posted as deltas.
        app.state.conversations.activity.run(app.state.conversations.client, stop,
                                             CHAT_ACTIVITY_FLUSH_S),
    )
