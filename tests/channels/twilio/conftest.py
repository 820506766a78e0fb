"""Settings for tests that run the whole app with Twilio configured (a local fake API)."""

from __future__ import annotations

from pathlib import Path

import pytest

from samvad.settings import Settings
from tests.channels.twilio.twilio_testkit import ACCOUNT_SID, API_BASE, AUTH_TOKEN, PUBLIC_URL

TWILIO_WHATSAPP_NUMBER = "whatsapp:+14155238886"
TWILIO_SMS_NUMBER = "+12025550143"


@pytest.fixture
def twilio_settings(db_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        SAMVAD_DATABASE_URL=db_url, SAMVAD_REDIS_URL=redis_url, SAMVAD_ENV="development",
        SAMVAD_DATA_DIR=tmp_path, SAMVAD_PUBLIC_URL=PUBLIC_URL,
        SAMVAD_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_API_BASE=API_BASE,
        TWILIO_WHATSAPP_FROM=TWILIO_WHATSAPP_NUMBER, TWILIO_SMS_FROM=TWILIO_SMS_NUMBER,
    )
