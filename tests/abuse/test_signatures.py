"""Forged, missing and replayed webhook signatures (Twilio and Meta): 403 and no side effect;
a replayed genuine request is taken once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from channels.meta_whatsapp import router as meta_router
from channels.meta_whatsapp import signature_header
from core_api.errors import install_error_handlers
from samvad.settings import Settings
from tests.channels.twilio.twilio_testkit import (
    PUBLIC_URL,
    RecordingQueue,
    RecordingStatuses,
    payload,
    sign,
    signed_post,
    webhook_app,
)

pytestmark = pytest.mark.reliability

META_SECRET = "meta-app-secret-for-abuse-tests"
META_TESTDATA = Path(__file__).resolve().parents[2] / "channels" / "meta_whatsapp" / "testdata"
INBOUND = "/webhooks/twilio"


@pytest.fixture
async def twilio(redis_client: Any) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app = webhook_app(redis_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as client:
        yield client, app


@pytest.fixture
async def meta(redis_client: Any, tmp_path: Path,
               ) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(meta_router)
    app.state.redis = redis_client
    app.state.settings = Settings(SAMVAD_DATA_DIR=tmp_path, WHATSAPP_APP_SECRET=META_SECRET,
                                  WHATSAPP_VERIFY_TOKEN="verify",
                                  WHATSAPP_PHONE_NUMBER_ID="106540352242922")
    app.state.channels = SimpleNamespace(inbound=RecordingQueue(redis_client),
                                         statuses=RecordingStatuses())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as client:
        yield client, app


def _form(pairs: list[tuple[str, str]], signature: str | None) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return {"content": urlencode(pairs), "headers": headers}


async def test_twilio_forged_missing_and_misdirected_signatures_are_refused(
        twilio: tuple[httpx.AsyncClient, FastAPI], reliability: Any) -> None:
    client, app = twilio
    pairs = payload("whatsapp_text")
    url = PUBLIC_URL + INBOUND
    changed = [(k, "send me everything" if k == "Body" else v) for k, v in pairs]
    attempts = {
        "missing": (pairs, None, "missing_signature"),
        "forged (random)": (pairs, "bm90IGEgc2lnbmF0dXJl", "invalid_signature"),
        "signed with another auth token": (
            pairs, sign(url, pairs, token="f" * 32), "invalid_signature"),
        "signed for another URL": (
            pairs, sign("https://evil.example/webhooks/twilio", pairs), "invalid_signature"),
        "signed for another path": (
            pairs, sign(PUBLIC_URL + "/webhooks/twilio/status", pairs), "invalid_signature"),
        "Body changed after signing": (changed, sign(url, pairs), "invalid_signature"),
        "a field added after signing": (
            [*pairs, ("NumMedia", "1"), ("MediaUrl0", "http://169.254.169.254/")],
            sign(url, pairs), "invalid_signature"),
    }
    answers = {}
    for name, (sent, signature, _code) in attempts.items():
        response = await client.post(INBOUND, **_form(sent, signature))
        answers[name] = (response.status_code, response.json()["error"]["code"])
    assert answers == {name: (403, code) for name, (_p, _s, code) in attempts.items()}
    assert app.state.channels.inbound.items == []
    assert await app.state.redis.keys("samvad:{inbound:*}:seen:*") == []

    # A status callback with a forged signature changes no delivery record either.
    status = [("MessageSid", "SM" + "1" * 32), ("MessageStatus", "delivered")]
    forged = await client.post("/webhooks/twilio/status",
                               **_form(status, sign(url + "/status", status, token="0" * 32)))
    assert forged.status_code == 403
    assert app.state.channels.statuses.updates == []
    reliability.record(
        area="abuse", case="Twilio webhook: forged, missing or misdirected X-Twilio-Signature",
        sent=f"{len(attempts)} inbound requests ({', '.join(attempts)}) and 1 forged status "
             "callback",
        did="403 with the error envelope for each; nothing parsed, queued or recorded",
        lost="nothing; 0 messages queued, 0 statuses applied, 0 dedupe keys written")


async def test_twilio_replayed_request_is_taken_once(
        twilio: tuple[httpx.AsyncClient, FastAPI], reliability: Any) -> None:
    client, app = twilio
    request = signed_post(INBOUND, payload("whatsapp_text"))
    answers = [await client.post(INBOUND, **request) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert "X-Samvad-Ignored" not in answers[0].headers
    assert {a.headers.get("X-Samvad-Ignored") for a in answers[1:]} == {"duplicate MessageSid"}
    assert len(app.state.channels.inbound.items) == 1
    reliability.record(
        area="abuse", case="Twilio webhook: a genuine signed request replayed",
        sent="the same signed request 5 times",
        did="first queued; the 4 replays answered 200 'duplicate MessageSid' (so Twilio "
            "stops) and not queued",
        lost="nothing; processed exactly once (1 queued message)")


async def test_meta_forged_missing_and_altered_signatures_are_refused(
        meta: tuple[httpx.AsyncClient, FastAPI], reliability: Any) -> None:
    client, app = meta
    body = (META_TESTDATA / "text.json").read_bytes()
    altered = body.replace(b"\xe0\xa4\xa8\xe0\xa4\xae", b"\xe0\xa4\xa8\xe0\xa4\xa8", 1)
    assert altered != body
    attempts = {
        "missing": (body, None),
        "empty": (body, ""),
        "no sha256= prefix": (body, signature_header(META_SECRET, body).removeprefix("sha256=")),
        "sha1 scheme": (body, "sha1=" + "0" * 40),
        "signed with another secret": (body, signature_header("guessed-secret", body)),
        "body changed after signing": (altered, signature_header(META_SECRET, body)),
        "body with a trailing space": (body + b" ", signature_header(META_SECRET, body)),
    }
    answers = {}
    for name, (sent, signature) in attempts.items():
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        response = await client.post("/webhooks/whatsapp", content=sent, headers=headers)
        answers[name] = (response.status_code, response.json()["error"]["code"])
    assert answers == {name: (403, "invalid_signature") for name in attempts}
    assert app.state.channels.inbound.items == []
    assert app.state.channels.statuses.updates == []

    good = {"Content-Type": "application/json",
            "X-Hub-Signature-256": signature_header(META_SECRET, body)}
    first = await client.post("/webhooks/whatsapp", content=body, headers=good)
    again = await client.post("/webhooks/whatsapp", content=body, headers=good)
    assert (first.status_code, first.json()["messages"]) == (200, 1)
    assert (again.status_code, again.json()["messages"]) == (200, 0)
    assert len(app.state.channels.inbound.items) == 1
    reliability.record(
        area="abuse", case="Meta webhook: forged, missing or altered X-Hub-Signature-256; "
                           "replay",
        sent=f"{len(attempts)} requests ({', '.join(attempts)}), then one genuine delivery "
             "twice",
        did="403 invalid_signature for each forged one; the genuine one queued once, its "
            "replay answered 200 with 0 messages",
        lost="nothing; 1 message queued, 0 from forged requests")
