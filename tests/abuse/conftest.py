"""Abuse tests: the whole app with Twilio and Meta configured against local fakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from samvad.settings import Settings
from tests.channels.twilio.conftest import TWILIO_SMS_NUMBER, TWILIO_WHATSAPP_NUMBER
from tests.channels.twilio.twilio_testkit import ACCOUNT_SID, API_BASE, AUTH_TOKEN, PUBLIC_URL

META_SECRET = "meta-app-secret-for-abuse-tests"
META_NUMBER_ID = "106540352242922"
META_API_BASE = "http://graph.test"
PER_MINUTE = 5  # a small flood limit, so that a flood is a few requests


@pytest.fixture
def settings(db_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        SAMVAD_DATABASE_URL=db_url, SAMVAD_REDIS_URL=redis_url, SAMVAD_ENV="development",
        SAMVAD_DATA_DIR=tmp_path, SAMVAD_PUBLIC_URL=PUBLIC_URL,
        SAMVAD_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        SAMVAD_INBOUND_PER_MINUTE=PER_MINUTE,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_API_BASE=API_BASE,
        TWILIO_WHATSAPP_FROM=TWILIO_WHATSAPP_NUMBER, TWILIO_SMS_FROM=TWILIO_SMS_NUMBER,
        WHATSAPP_APP_SECRET=META_SECRET, WHATSAPP_API_BASE=META_API_BASE,
        WHATSAPP_ACCESS_TOKEN="meta-token", WHATSAPP_PHONE_NUMBER_ID=META_NUMBER_ID,
    )


async def say(client: httpx.AsyncClient, phone: str, text: str, **extra: Any) -> str:
    """One simulator turn; the replies' text joined."""
    response = await client.post("/simulator/messages",
                                 json={"from": phone, "channel": "whatsapp", "text": text,
                                       **extra})
    assert response.status_code == 200, response.text
    return "\n".join(reply["text"] for reply in response.json()["replies"])
