"""Abuse tests: the whole app with Twilio and Meta configured against local fakes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from samvad.settings import Settings
from tests.channels.twilio.conftest import twilio_settings  # noqa: F401 - a fixture

META_SECRET = "meta-app-secret-for-abuse-tests"
META_NUMBER_ID = "106540352242922"
META_API_BASE = "http://graph.test"
PER_MINUTE = 5  # a small flood limit, so that a flood is a few requests


@pytest.fixture
def settings(twilio_settings: Settings) -> Settings:  # noqa: F811 - the fixture above
    """The Twilio tests' settings, plus Meta and a small flood limit."""
    return twilio_settings.model_copy(update={
        "inbound_per_minute": PER_MINUTE,
        "whatsapp_app_secret": META_SECRET, "whatsapp_api_base": META_API_BASE,
        "whatsapp_access_token": "meta-token", "whatsapp_phone_number_id": META_NUMBER_ID,
    })


async def say(client: httpx.AsyncClient, phone: str, text: str, **extra: Any) -> str:
    """One simulator turn; the replies' text joined."""
    response = await client.post("/simulator/messages",
                                 json={"from": phone, "channel": "whatsapp", "text": text,
                                       **extra})
    assert response.status_code == 200, response.text
    return "\n".join(reply["text"] for reply in response.json()["replies"])
