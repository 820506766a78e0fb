"""Journeys as data (``tests/journeys/*.yaml``; the format is in ``harness.py``).

Each journey runs the whole app with Twilio (SMS and WhatsApp) and Meta's Cloud API
configured, both served by local fakes that speak their wire formats; people act in turn
over signed webhooks, and every notification each of them receives is asserted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from channels.queues import channels_of
from channels.registry import build_senders
from samvad.settings import Settings
from tests.journeys.harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    JOURNEYS,
    META_GRAPH,
    META_NUMBER_ID,
    META_SECRET,
    PUBLIC_URL,
    TWILIO_API,
    TWILIO_SMS,
    TWILIO_WHATSAPP,
    FakeGraph,
    FakeTwilio,
    Journey,
    OffsetClock,
    Run,
    Sent,
)

PATHS = sorted(JOURNEYS.glob("*.yaml"))


@pytest.fixture(params=PATHS, ids=[p.stem for p in PATHS])
def journey(request: pytest.FixtureRequest) -> Journey:
    return Journey.load(request.param)


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Journeys are about people and channels: PostgreSQL, as a city runs it, is enough."""
    return str(request.param)


@pytest.fixture
def settings(db_url: str, redis_url: str, tmp_path: Path, journey: Journey) -> Settings:
    values: dict[str, Any] = {
        "SAMVAD_DATABASE_URL": db_url, "SAMVAD_REDIS_URL": redis_url,
        "SAMVAD_ENV": "development", "SAMVAD_DATA_DIR": tmp_path,
        "SAMVAD_PUBLIC_URL": PUBLIC_URL,
        "SAMVAD_SECRET_KEY": "journey-secret-key-that-is-long-enough-0123456789",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE": TWILIO_API, "TWILIO_WHATSAPP_FROM": TWILIO_WHATSAPP,
        "TWILIO_SMS_FROM": TWILIO_SMS,
        "WHATSAPP_APP_SECRET": META_SECRET, "WHATSAPP_VERIFY_TOKEN": "journey-verify",
        "WHATSAPP_PHONE_NUMBER_ID": META_NUMBER_ID, "WHATSAPP_ACCESS_TOKEN": "EAAG-journey",
        "WHATSAPP_API_BASE": META_GRAPH,
    }
    values.update(journey.settings)
    return Settings(**values)


@pytest.fixture
async def run(app: Any, client: httpx.AsyncClient, journey: Journey) -> AsyncIterator[Run]:
    sent: list[Sent] = []
    twilio, graph = FakeTwilio(sent), FakeGraph(sent)

    def route(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        return graph(request) if host == httpx.URL(META_GRAPH).host else twilio(request)

    transport = httpx.MockTransport(route)
    clock = OffsetClock()
    channels = channels_of(app)
    async with httpx.AsyncClient(transport=transport) as http:
        channels.senders.update(build_senders(app.state.settings, http, app.state.redis))
        channels.inbound.clock = clock
        core = app.state.conversations.client
        core.media_policy = dataclasses.replace(core.media_policy, transport=transport)
        yield Run(journey, app, client, sent, clock)


async def test_journey(run: Run) -> None:
    try:
        await run.play()
    finally:
        print(f"\n{run.journey.title}\n" + "\n".join(run.log))
