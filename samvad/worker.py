"""Background work: the outbox relay and the notifier (more loops join in later issues).

``samvad worker`` runs these against the configured database and Redis; in embedded mode
``samvad serve`` runs them inside the web process (SPEC §2: one process is the system).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI

from bot.notifier import Notifier, SimulatorInbox
from core_api.events.relay import relay_once

log = structlog.get_logger(__name__)

RELAY_IDLE_S = 0.5


def build_notifier(app: FastAPI) -> Notifier:
    """The notifier of ``app``; delivery goes to the simulator inbox until providers exist."""
    return Notifier(app.state.redis, app.state.conversations.store, SimulatorInbox(app.state.redis))


async def _forever(name: str, step: Callable[[], Awaitable[int]], idle_s: float,
                   stop: asyncio.Event) -> None:
    """Run ``step`` until stopped; sleep when it found nothing; survive its failures."""
    while not stop.is_set():
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
    """Relay outbox events and deliver notifications until ``stop`` is set."""
    notifier = build_notifier(app)
    await asyncio.gather(
        _forever("relay", lambda: relay_once(app.state.db, app.state.redis), RELAY_IDLE_S, stop),
        _forever("notifier", lambda: notifier.consume_once(block_ms=1000), 0.1, stop),
    )
