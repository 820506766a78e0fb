"""Signed provider webhooks of arbitrary shape through the whole app: never a 5xx.

The same generated Twilio forms and Meta envelopes as test_parsers, now correctly signed
(the SDK's RequestValidator; Meta's HMAC) and posted to the app with real Redis and the
inbound queue behind: the answer is 200 (queued or ignored with a reason) or a clear 4xx,
never a 5xx that would make the provider redeliver the same poison forever.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings

from channels.meta_whatsapp import signature_header
from samvad.app import close_resources, create_app, open_resources
from samvad.settings import Settings
from tests.channels.twilio.twilio_testkit import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, signed_post
from tests.fuzz.strategies import meta_envelope, twilio_form

APP_SECRET = "meta-app-secret-for-fuzzing"
ALLOWED = {200, 400, 413, 429}


@pytest.fixture
async def webhook_client(db_url: str, redis_url: str, tmp_path: Path, redis_client: Any):
    settings = Settings(
        SAMVAD_DATABASE_URL=db_url, SAMVAD_REDIS_URL=redis_url, SAMVAD_ENV="development",
        SAMVAD_DATA_DIR=tmp_path, SAMVAD_PUBLIC_URL=PUBLIC_URL,
        SAMVAD_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        SAMVAD_INBOUND_PER_MINUTE=0,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        WHATSAPP_APP_SECRET=APP_SECRET, WHATSAPP_PHONE_NUMBER_ID="1234567890",
        WHATSAPP_ACCESS_TOKEN="token", WHATSAPP_VERIFY_TOKEN="verify",
    )
    app = create_app(settings)
    await open_resources(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await close_resources(app)


@pytest.mark.reliability
@pytest.mark.timeout(300)
async def test_signed_webhooks_of_any_shape_never_fail(webhook_client, backend, reliability):
    loop = asyncio.get_running_loop()
    statuses: dict[str, dict[int, int]] = {"twilio": {}, "meta": {}}

    async def post_twilio(form: dict[str, str]) -> None:
        response = await webhook_client.post("/webhooks/twilio",
                                             **signed_post("/webhooks/twilio", list(form.items())))
        seen = statuses["twilio"]
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in ALLOWED, (form, response.text)

    async def post_meta(payload: Any) -> None:
        body = json.dumps(payload).encode()  # NaN and 10**30 included: not all of it is JSON
        response = await webhook_client.post(
            "/webhooks/whatsapp", content=body,
            headers={"Content-Type": "application/json",
                     "X-Hub-Signature-256": signature_header(APP_SECRET, body)})
        seen = statuses["meta"]
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in ALLOWED, (payload, response.text)

    @hsettings(max_examples=120)
    @given(twilio_form)
    @example({"MessageSid": "SM1", "From": "+919876500001", "MessageStatus": "ā"}).via(
        "found by this test: a non-Latin-1 reason in the X-Samvad-Ignored header was a 500")
    def twilio(form: dict[str, str]) -> None:
        asyncio.run_coroutine_threadsafe(post_twilio(form), loop).result(timeout=60)

    @hsettings(max_examples=80)
    @given(meta_envelope)
    def meta(payload: Any) -> None:
        asyncio.run_coroutine_threadsafe(post_meta(payload), loop).result(timeout=60)

    await asyncio.to_thread(twilio)  # the app lives on this loop; hypothesis runs beside it
    await asyncio.to_thread(meta)

    def shown(seen: dict[int, int]) -> str:
        return ", ".join(f"{code}×{n}" for code, n in sorted(seen.items()))

    reliability.record(
        area="fuzz", case=f"signed webhooks of any shape through the app (hypothesis, {backend})",
        sent=f"{sum(statuses['twilio'].values())} signed Twilio forms and "
             f"{sum(statuses['meta'].values())} signed Meta bodies of mutated shape",
        did=f"Twilio: {shown(statuses['twilio'])}; Meta: {shown(statuses['meta'])}",
        lost="nothing: no 5xx (a provider would redeliver it forever)",
    )
