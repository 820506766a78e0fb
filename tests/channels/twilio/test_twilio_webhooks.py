"""POST /webhooks/twilio and /webhooks/twilio/status: signature, parse, dedupe, enqueue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from bot.messages import Inbound, Location, Media
from channels.twilio.endpoints import EMPTY_TWIML
from tests.channels.twilio.twilio_testkit import (
    PUBLIC_URL,
    payload,
    signed_post,
    webhook_app,
)

MEDIA = ("https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef"
         "/Messages/")
WA_TO = "+14155238886"


@pytest.fixture
async def app(redis_client: Any) -> Any:
    return webhook_app(redis_client)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def received(app: Any) -> list[tuple[Inbound, str]]:
    """What the webhook enqueued, with the receive time blanked for comparison."""
    return [(replace(inbound, received_at=None), provider)
            for inbound, provider in app.state.channels.inbound.items]


ACCEPTED = [
    ("sms_text", Inbound(
        channel="sms", sender="+919876500002", text="Streetlight not working near Rajpur Road",
        message_id="SM1f0e2d3c4b5a69788796a5b4c3d2e1f0", to="+12025550143")),
    ("whatsapp_text", Inbound(
        channel="whatsapp", sender="+919876500001", text="नमस्ते", profile_name="सुनीता",
        message_id="SMa1b2c3d4e5f60718293a4b5c6d7e8f90", to=WA_TO,
        extra={"wa_id": "919876500001"})),
    ("whatsapp_image", Inbound(
        channel="whatsapp", sender="+919876500002", kind="image", profile_name="Rahul Verma",
        message_id="MM0a1b2c3d4e5f60718293a4b5c6d7e8f9", to=WA_TO,
        media=(Media(MEDIA + "MM0a1b2c3d4e5f60718293a4b5c6d7e8f9/Media/"
                     "ME0a1b2c3d4e5f60718293a4b5c6d7e8f9", "image/jpeg"),),
        extra={"wa_id": "919876500002"})),
    ("whatsapp_documents", Inbound(
        channel="whatsapp", sender="+919876500002", kind="document", text="Water bill receipt",
        profile_name="Rahul Verma", message_id="MM1b2c3d4e5f60718293a4b5c6d7e8f90a", to=WA_TO,
        media=(Media(MEDIA + "MM1b2c3d4e5f60718293a4b5c6d7e8f90a/Media/ME01", "application/pdf"),
               Media(MEDIA + "MM1b2c3d4e5f60718293a4b5c6d7e8f90a/Media/ME02", "image/png")),
        extra={"wa_id": "919876500002"})),
    ("whatsapp_voice", Inbound(
        channel="whatsapp", sender="+919876500001", kind="audio", profile_name="सुनीता",
        message_id="MM2c3d4e5f60718293a4b5c6d7e8f90a1b", to=WA_TO,
        media=(Media(MEDIA + "MM2c3d4e5f60718293a4b5c6d7e8f90a1b/Media/ME03", "audio/ogg"),),
        extra={"wa_id": "919876500001"})),
    ("whatsapp_location", Inbound(
        channel="whatsapp", sender="+919876500002", kind="location", profile_name="Rahul Verma",
        location=Location(30.3614, 78.0808, name="Clock Tower",
                          address="Rajpur Road, Dehradun, Uttarakhand"),
        message_id="SM3d4e5f60718293a4b5c6d7e8f90a1b2c", to=WA_TO,
        extra={"wa_id": "919876500002"})),
    ("whatsapp_button", Inbound(
        channel="whatsapp", sender="+919876500002", text="Track complaint", option_id="track",
        profile_name="Rahul Verma", message_id="SM4e5f60718293a4b5c6d7e8f90a1b2c3d", to=WA_TO,
        extra={"wa_id": "919876500002"})),
    ("whatsapp_list_reply", Inbound(
        channel="whatsapp", sender="+919876500002", text="Streetlight", option_id="streetlight",
        profile_name="Rahul Verma", message_id="SM5f60718293a4b5c6d7e8f90a1b2c3d4e", to=WA_TO,
        extra={"wa_id": "919876500002"})),
]


@pytest.mark.parametrize(("fixture", "expected"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
async def test_each_message_kind_is_enqueued_and_answered_with_empty_twiml(
    client: httpx.AsyncClient, app: Any, fixture: str, expected: Inbound
) -> None:
    response = await client.post("/webhooks/twilio", **signed_post("/webhooks/twilio",
                                                                   payload(fixture)))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == EMPTY_TWIML
    assert received(app) == [(expected, "twilio")]
    assert app.state.channels.inbound.items[0][0].received_at is not None


@pytest.mark.parametrize(("fixture", "status", "reason"), [
    ("ignored_status_on_inbound_url", 200, "status callback (delivered) sent to the inbound URL"),
    ("ignored_messenger", 200, "channel 'messenger' is not served"),
    ("ignored_empty", 200, "empty message"),
    ("malformed_no_from", 400, None),
    ("malformed_location", 400, None),
])
async def test_skipped_and_malformed_requests_enqueue_nothing(
    client: httpx.AsyncClient, app: Any, redis_client: Any, fixture: str, status: int,
    reason: str | None,
) -> None:
    response = await client.post("/webhooks/twilio", **signed_post("/webhooks/twilio",
                                                                   payload(fixture)))
    assert response.status_code == status, response.text
    if reason is None:
        assert response.json()["error"]["code"] == "malformed_webhook"
    else:
        assert response.headers["X-Samvad-Ignored"] == reason
        assert f"<!-- ignored: {reason} -->" in response.text
    assert app.state.channels.inbound.items == []
    assert await redis_client.keys("samvad:twilio:*") == []


def _tampered(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**kwargs, "content": kwargs["content"].replace("Streetlight", "Streetlamp")}


def _unsigned(kwargs: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in kwargs["headers"].items() if k != "X-Twilio-Signature"}
    return {**kwargs, "headers": headers}


SMS = payload("sms_text")
REFUSED = [
    ("missing signature", _unsigned(signed_post("/webhooks/twilio", SMS)), "missing_signature"),
    ("other auth token", signed_post("/webhooks/twilio", SMS, token="f" * 32),
     "invalid_signature"),
    ("body changed after signing", _tampered(signed_post("/webhooks/twilio", SMS)),
     "invalid_signature"),
    # Signed for the address the app sees rather than SAMVAD_PUBLIC_URL, which Twilio calls.
    ("internal URL", signed_post("/webhooks/twilio", SMS, url="http://testserver/webhooks/twilio"),
     "invalid_signature"),
    ("other path", signed_post("/webhooks/twilio", SMS, url=PUBLIC_URL + "/webhooks/twilio/status"),
     "invalid_signature"),
]


@pytest.mark.parametrize(("case", "kwargs", "code"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_forged_or_unsigned_requests_are_refused_without_side_effects(
    client: httpx.AsyncClient, app: Any, redis_client: Any, case: str, kwargs: dict[str, Any],
    code: str,
) -> None:
    response = await client.post("/webhooks/twilio", **kwargs)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == code
    assert app.state.channels.inbound.items == []
    assert await redis_client.keys("samvad:twilio:*") == []


async def test_without_an_auth_token_every_request_is_refused(redis_client: Any) -> None:
    app = webhook_app(redis_client, token=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as client:
        response = await client.post("/webhooks/twilio", **signed_post("/webhooks/twilio", SMS))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "twilio_not_configured"
    assert app.state.channels.inbound.items == []


async def test_the_signed_url_includes_the_query_string(
    client: httpx.AsyncClient, app: Any
) -> None:
    path = "/webhooks/twilio?tenant=uk.dehradun&v=2"
    response = await client.post(path, **signed_post(path, SMS))
    assert response.status_code == 200
    unsigned_query = await client.post(path, **signed_post("/webhooks/twilio", SMS))
    assert unsigned_query.status_code == 403
    assert len(app.state.channels.inbound.items) == 1


async def test_a_replayed_message_sid_is_enqueued_once(
    client: httpx.AsyncClient, app: Any
) -> None:
    request = signed_post("/webhooks/twilio", payload("whatsapp_text"))
    first = await client.post("/webhooks/twilio", **request)
    again = await client.post("/webhooks/twilio", **request)
    assert first.status_code == again.status_code == 200
    assert "X-Samvad-Ignored" not in first.headers
    assert again.headers["X-Samvad-Ignored"] == "duplicate MessageSid"
    assert [inbound.message_id for inbound, _ in app.state.channels.inbound.items] == [
        "SMa1b2c3d4e5f60718293a4b5c6d7e8f90"]


class QuietLog:
    """Stands in for the app's error log (rendering a traceback takes seconds)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def exception(self, event: str, **_fields: Any) -> None:
        self.events.append(event)


async def test_a_message_the_queue_refused_is_taken_when_twilio_retries(
    client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = QuietLog()
    monkeypatch.setattr("core_api.errors.log", quiet)
    request = signed_post("/webhooks/twilio", SMS)
    app.state.channels.inbound.fail = True
    failed = await client.post("/webhooks/twilio", **request)
    assert failed.status_code == 500
    assert quiet.events == ["unhandled_error"]
    app.state.channels.inbound.fail = False
    retried = await client.post("/webhooks/twilio", **request)
    assert retried.status_code == 200
    assert "X-Samvad-Ignored" not in retried.headers
    assert len(app.state.channels.inbound.items) == 1


STATUSES = [
    ("status_whatsapp_read", ("SMb5c6d7e8f90a1b2c3d4e5f60718293a4", "read", None)),
    ("status_whatsapp_failed", ("SMc6d7e8f90a1b2c3d4e5f60718293a4b5", "failed", "63016")),
    ("status_sms_delivered", ("SMd7e8f90a1b2c3d4e5f60718293a4b5c6", "delivered", None)),
    ("status_sms_sending", ("SMe8f90a1b2c3d4e5f60718293a4b5c6d7", "queued", None)),
    ("status_partially_delivered", None),
]


@pytest.mark.parametrize(("fixture", "expected"), STATUSES, ids=[c[0] for c in STATUSES])
async def test_status_callbacks_are_recorded(
    client: httpx.AsyncClient, app: Any, fixture: str, expected: tuple[str, ...] | None
) -> None:
    path = "/webhooks/twilio/status"
    response = await client.post(path, **signed_post(path, payload(fixture)))
    assert response.status_code == 200
    if expected is None:
        assert response.json() == {"status": "ignored",
                                    "reason": "status 'partially_delivered' is not tracked"}
        assert app.state.channels.statuses.updates == []
    else:
        assert response.json() == {"status": "recorded"}
        assert app.state.channels.statuses.updates == [("twilio", *expected)]


async def test_status_callbacks_must_be_signed_and_complete(
    client: httpx.AsyncClient, app: Any
) -> None:
    path = "/webhooks/twilio/status"
    read = payload("status_whatsapp_read")
    forged = await client.post(path, **signed_post(path, read, token="f" * 32))
    assert forged.status_code == 403
    no_status = [(k, v) for k, v in read if k not in ("MessageStatus", "SmsStatus")]
    malformed = await client.post(path, **signed_post(path, no_status))
    assert malformed.status_code == 400
    assert app.state.channels.statuses.updates == []
