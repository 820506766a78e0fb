"""The payment link a chat hands out: on SMS a short /r/ link (never a bare upi://) that
fits the SMS budget in every locale; on WhatsApp the pay page, UPI link and QR as before."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.core_client import CallContext, CoreClient
from bot.engine import Outgoing
from bot.i18n import locale_codes, translate
from bot.links import ShortLinks
from bot.session import Session
from bot.slices import load_actions
from channels.render import render_sms, sms_segments

PHONE = "+919876500001"
PAY_URL = "https://samvad.ddn.gov.in/pay/q3VhZ-Ue_7kLmq3VhZ-Ue_7kLmq3VhZ"
SHORT_URL = "https://samvad.ddn.gov.in/r/AbC234"
INTENT = {
    "id": "PI0123456789ABCD", "payment_url": PAY_URL, "amount": "4850.00",
    "upi_link": "upi://pay?pa=ddn.nagarnigam@sbi&am=4850.00&cu=INR&tr=PI0123456789ABCD",
    "upi_qr_url": PAY_URL + "/upi.png", "expires_at": "2026-11-24T12:12:00+00:00",
}


def _client(short_links_status: int, seen: list[httpx.Request]) -> CoreClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/payment-intents"):
            return httpx.Response(201, json=INTENT)
        if request.url.path == "/api/v1/short-links":
            if short_links_status >= 400:
                return httpx.Response(short_links_status, json={
                    "error": {"code": "unavailable", "message": "down"}})
            return httpx.Response(201, json={"code": "AbC234", "url": SHORT_URL,
                                             "kind": "payment", "expires_at": "2027-01-01"})
        return httpx.Response(404)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://core")
    return CoreClient(http, "service-token", load_actions().operations)


async def _start_payment(channel: str, short_links_status: int = 201
                         ) -> tuple[dict[str, Any], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    client = _client(short_links_status, seen)
    context = CallContext(Session(channel=channel, locale="hi_IN"), PHONE)
    result = await client.call("start_payment", {"bill_number": "BILL-DDN-2026-000123"},
                               context)
    await client.http.aclose()
    return result, seen


async def test_sms_gets_a_short_link_and_no_upi_deep_link() -> None:
    result, seen = await _start_payment("sms")
    assert result["url"] == SHORT_URL and result["upi_mode"] == "page"
    assert result["upi"] == "" and result["media"] == []
    asked = seen[-1]
    assert json.loads(asked.content) == {"kind": "payment", "ref": "BILL-DDN-2026-000123"}
    assert asked.headers["X-On-Behalf-Of"] == PHONE  # the API checks the bill is theirs


async def test_a_failed_shortening_keeps_the_long_link() -> None:
    result, _seen = await _start_payment("sms", short_links_status=503)
    assert result["status"] == "ok" and result["url"] == PAY_URL
    assert "upi://" not in json.dumps(result)


async def test_whatsapp_keeps_the_pay_page_upi_link_and_qr() -> None:
    result, seen = await _start_payment("whatsapp")
    assert result["url"] == PAY_URL and result["upi_mode"] == "qr"
    assert result["upi"].startswith("upi://pay?") and result["media"][0]["url"].endswith(".png")
    assert all(request.url.path != "/api/v1/short-links" for request in seen)


async def test_shorten_answers_none_when_there_is_nothing_to_link() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"error": {"code": "bill_paid", "message": "paid"}})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://core")
    links = ShortLinks(CoreClient(http, "service-token", load_actions().operations))
    assert await links.shorten("payment", "BILL-DDN-2026-000123", PHONE) is None
    assert await links.shorten("website", "https://evil.example") is None  # never asked
    await http.aclose()


@pytest.mark.parametrize("locale", locale_codes())
def test_sms_payment_messages_fit_three_segments_with_a_short_link(locale: str) -> None:
    messages = [
        translate(locale, "pay_bill.link").format(
            amount="₹4,850.00", bill="BILL-DDN-2026-000123", url=SHORT_URL,
            expires="24 Nov 2026, 5:42 pm", upi=""),
        translate(locale, "certificate_request.pay_link").format(
            number="CR-DDN-2026-000123", fee="₹100.00", url=SHORT_URL, upi=""),
    ]
    for text in messages:
        assert SHORT_URL in text and "upi://" not in text
        assert sms_segments(render_sms(Outgoing(text))).segments <= 3, text
