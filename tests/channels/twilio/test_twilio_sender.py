"""TwilioSender against a local fake of the Messages REST API (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bot.messages import Media, Option, Outgoing
from channels.base import OutboundJob, SendError, SendErrorKind, SendResult, outgoing_to_dict
from channels.queues import AMBIGUOUS, Template, with_template
from channels.twilio import TwilioSender
from samvad.settings import Settings
from tests.channels.twilio.twilio_testkit import (
    ACCOUNT_SID,
    API_BASE,
    AUTH_TOKEN,
    PUBLIC_URL,
    FakeTwilio,
    Reply,
    answer,
    created,
    refused,
)

CALLBACK = PUBLIC_URL + "/webhooks/twilio/status"
CREATED = answer("message_created")
CONTENT_SID = "HX0123456789abcdef0123456789abcdef"
MESSAGING_SERVICE = "MG0123456789abcdef0123456789abcdef"


def make_sender(fake: Callable[[httpx.Request], httpx.Response], **overrides: Any
                ) -> TwilioSender:
    options: dict[str, Any] = {
        "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base": API_BASE + "/",
        "public_url": PUBLIC_URL + "/", "sms_from": "+12025550143",
        "whatsapp_from": "whatsapp:+14155238886", **overrides}
    return TwilioSender(httpx.AsyncClient(transport=httpx.MockTransport(fake)), **options)


def job(channel: str, message: Outgoing, **fields: Any) -> OutboundJob:
    return OutboundJob(provider="twilio", channel=channel, to="+919876500002",
                       message=outgoing_to_dict(message), **fields)


MENU = Outgoing("Choose a service", options=(
    Option("complaint", "File a complaint"),
    Option("bills", "Pay bills", "Property tax, water")), footer="0 Menu")
RECEIPTS = Outgoing("Your receipts", media=(
    Media(PUBLIC_URL + "/files/r1.pdf?exp=1&sig=a", "application/pdf", "r1.pdf"),
    Media(PUBLIC_URL + "/files/r2.pdf?exp=1&sig=b", "application/pdf", "r2.pdf")))

SENT = [
    ("sms reply from the number written to",
     job("sms", MENU, sender="+12025550199"),
     {"To": ["+919876500002"], "From": ["+12025550199"], "StatusCallback": [CALLBACK],
      "Body": ["Choose a service\n1. File a complaint\n2. Pay bills - Property tax, water\n"
               "0 Menu"]}),
    ("whatsapp reply from the default sender, media as MediaUrl",
     job("whatsapp", RECEIPTS),
     {"To": ["whatsapp:+919876500002"], "From": ["whatsapp:+14155238886"],
      "StatusCallback": [CALLBACK], "MediaUrl": [RECEIPTS.media[0].url],
      "Body": [f"Your receipts\n{RECEIPTS.media[1].url}"]}),
    ("whatsapp reply with numbered options",
     job("whatsapp", MENU, sender="+14155238886"),
     {"To": ["whatsapp:+919876500002"], "From": ["whatsapp:+14155238886"],
      "StatusCallback": [CALLBACK],
      "Body": ["Choose a service\n1. File a complaint\n2. Pay bills - _Property tax, water_\n"
               "_0 Menu_"]}),
    ("whatsapp template outside the 24 h window",
     job("whatsapp", Outgoing("Complaint PGR-2024-000123 resolved"), kind="complaint_update",
         locale="hi_IN", params={"template": CONTENT_SID, "template_language": "hi",
                                 "1": "PGR-2024-000123", "2": "Resolved,\n\tlight fixed"}),
     {"To": ["whatsapp:+919876500002"], "From": ["whatsapp:+14155238886"],
      "StatusCallback": [CALLBACK], "ContentSid": [CONTENT_SID],
      "ContentVariables": ['{"1":"PGR-2024-000123","2":"Resolved, light fixed"}']}),
    ("whatsapp template as the send worker sets it",
     with_template(job("whatsapp", Outgoing("Complaint PGR-2024-000123:\nresolved"),
                       kind="complaint_update", locale="hi_IN"), Template(CONTENT_SID, "hi")),
     {"To": ["whatsapp:+919876500002"], "From": ["whatsapp:+14155238886"],
      "StatusCallback": [CALLBACK], "ContentSid": [CONTENT_SID],
      "ContentVariables": ['{"1":"Complaint PGR-2024-000123: resolved"}']}),
    ("sms notification with a DLT template id: the registered text, nothing invented",
     job("sms", Outgoing("Complaint PGR-2024-000123 resolved. - Samvad"),
         kind="complaint_update", params={"dlt_template_id": "1707168000000000001"}),
     {"To": ["+919876500002"], "From": ["+12025550143"], "StatusCallback": [CALLBACK],
      "Body": ["Complaint PGR-2024-000123 resolved. - Samvad"]}),
]


@pytest.mark.parametrize(("case", "outbound", "form"), SENT, ids=[c[0] for c in SENT])
async def test_jobs_are_posted_as_twilio_expects(
    case: str, outbound: OutboundJob, form: dict[str, list[str]]
) -> None:
    fake = FakeTwilio(created())
    result = await make_sender(fake).send(outbound)
    assert result == SendResult("SM9a8b7c6d5e4f30211203f4e5d6c7b8a9", "queued")
    assert fake.forms == [form]


async def test_a_messaging_service_sid_sends_as_messaging_service() -> None:
    fake = FakeTwilio(created())
    await make_sender(fake, sms_from=MESSAGING_SERVICE).send(job("sms", Outgoing("Hello")))
    assert fake.forms[0]["MessagingServiceSid"] == [MESSAGING_SERVICE]
    assert "From" not in fake.forms[0]


FAILED = [
    ("error_20429", refused("error_20429"), SendErrorKind.THROTTLED, "20429"),
    ("error_63018 (code decides over HTTP 400)", refused("error_63018"),
     SendErrorKind.THROTTLED, "63018"),
    ("error_21610", refused("error_21610"), SendErrorKind.OPTED_OUT, "21610"),
    ("error_21211", refused("error_21211"), SendErrorKind.REJECTED, "21211"),
    ("error_21614", refused("error_21614"), SendErrorKind.REJECTED, "21614"),
    ("error_63016", refused("error_63016"), SendErrorKind.REJECTED, "63016"),
    ("error_20003", refused("error_20003"), SendErrorKind.CONFIG, "20003"),
    ("unknown code", httpx.Response(400, json={"code": 99999, "message": "?", "status": 400}),
     SendErrorKind.REJECTED, "99999"),
    ("429 without a body", httpx.Response(429), SendErrorKind.THROTTLED, "http_429"),
    ("503 html page", httpx.Response(503, text="<html>Service Unavailable</html>"),
     SendErrorKind.CONNECTION, "http_503"),
    ("404 wrong account", httpx.Response(404, text="not found"), SendErrorKind.CONFIG,
     "http_404"),
    ("connection refused", httpx.ConnectError("refused"), SendErrorKind.CONNECTION,
     "connecterror"),
    ("answer lost after sending", httpx.ReadTimeout("timed out"), SendErrorKind.CONNECTION,
     AMBIGUOUS),
    ("accepted without a sid", httpx.Response(201, text="ok"), SendErrorKind.CONNECTION,
     AMBIGUOUS),
]


@pytest.mark.parametrize(("case", "reply", "kind", "code"), FAILED, ids=[c[0] for c in FAILED])
async def test_refusals_map_onto_the_send_error_set(
    case: str, reply: Reply, kind: SendErrorKind, code: str
) -> None:
    fake = FakeTwilio(reply)
    with pytest.raises(SendError) as caught:
        await make_sender(fake).send(job("sms", Outgoing("Hello")))
    assert (caught.value.kind, caught.value.code) == (kind, code)
    assert len(fake.forms) == 1
    if isinstance(reply, httpx.Response) and reply.headers.get("content-type", "").startswith(
            "application/json"):
        assert caught.value.detail == json.loads(reply.content)["message"]


async def test_throttled_then_sent() -> None:
    fake = FakeTwilio(refused("error_20429"), created())
    sender = make_sender(fake)
    outbound = job("whatsapp", Outgoing("Hello"))
    with pytest.raises(SendError) as caught:
        await sender.send(outbound)
    assert caught.value.retryable
    assert (await sender.send(outbound)).provider_message_id == CREATED["sid"]
    assert fake.forms[0] == fake.forms[1]


REFUSED_LOCALLY = [
    ("no credentials", {"auth_token": None}, job("sms", Outgoing("Hi")),
     SendErrorKind.CONFIG, "not_configured"),
    ("no sender", {"whatsapp_from": None}, job("whatsapp", Outgoing("Hi")),
     SendErrorKind.CONFIG, "no_sender"),
    ("whatsapp template that is no Content SID", {},
     job("whatsapp", Outgoing("Hi"), params={"template": "complaint_update_hi"}),
     SendErrorKind.CONFIG, "bad_template"),
    ("unknown channel", {}, job("telegram", Outgoing("Hi")), SendErrorKind.REJECTED,
     "unsupported_channel"),
]


@pytest.mark.parametrize(("case", "overrides", "outbound", "kind", "code"), REFUSED_LOCALLY,
                         ids=[c[0] for c in REFUSED_LOCALLY])
async def test_jobs_that_cannot_go_are_refused_without_a_request(
    case: str, overrides: dict[str, Any], outbound: OutboundJob, kind: SendErrorKind, code: str
) -> None:
    fake = FakeTwilio()
    with pytest.raises(SendError) as caught:
        await make_sender(fake, **overrides).send(outbound)
    assert (caught.value.kind, caught.value.code) == (kind, code)
    assert fake.forms == []


def test_the_registry_builds_a_sender_only_with_account_and_token() -> None:
    http = httpx.AsyncClient()
    base = {"SAMVAD_ENV": "development", "SAMVAD_PUBLIC_URL": PUBLIC_URL,
            "TWILIO_API_BASE": API_BASE, "TWILIO_SMS_FROM": "+12025550143"}
    off = Settings(**base, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=None)
    assert TwilioSender.from_settings(off, http, None) is None
    on = TwilioSender.from_settings(
        Settings(**base, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN), http, None)
    assert on is not None
    assert on.messages_url == f"{API_BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert on.status_callback == CALLBACK
