"""What a receipt and a UPI QR look like to the person who gets them (issue 20, part 7):
a receipt link ends in the receipt's number (Twilio WhatsApp cannot name a document, it
shows the link's last segment), and the QR is an 8-bit RGB PNG."""

from __future__ import annotations

import struct
from io import BytesIO
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from bot.messages import Media, Outgoing
from channels.base import OutboundJob, outgoing_to_dict
from channels.twilio import TwilioSender
from core_api.files.signing import named_like, signed_url
from core_api.payments.upi import qr_png

RAHUL = "+919876500002"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_the_upi_qr_is_an_8_bit_rgb_png() -> None:
    png = qr_png("upi://pay?pa=samvad.demo@sandbox&pn=Dehradun&am=634.00&cu=INR")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", png[16:26])
    assert (bit_depth, colour_type) == (8, 2)  # IHDR: 8 bits per sample, truecolour (RGB)
    with Image.open(BytesIO(png)) as image:
        assert image.mode == "RGB" and image.size == (width, height)
        assert {image.getpixel((0, 0)), image.getpixel((width // 2, height // 2))} <= {
            (0, 0, 0), (255, 255, 255)}


async def test_a_receipt_link_names_the_receipt_and_serves_it_under_that_name(
        client: httpx.AsyncClient, auth, settings) -> None:
    [receipt] = (await client.get("/api/v1/receipts", headers=auth.service(RAHUL))).json()
    number = receipt["receipt_number"]
    path = urlsplit(receipt["pdf_url"]).path
    assert path.startswith("/files/receipts/") and path.endswith(f"/as/{number}.pdf")

    pdf = await client.get(_path(receipt["pdf_url"]))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'inline; filename="{number}.pdf"'
    assert pdf.content.startswith(b"%PDF")

    renamed = _path(receipt["pdf_url"]).replace(f"/as/{number}.pdf", "/as/other.exe")
    assert (await client.get(renamed)).status_code == 404  # another kind of file: no
    forged = _path(receipt["pdf_url"]).replace("sig=", "sig=0")
    assert (await client.get(forged)).status_code == 403  # the key's signature still rules

    # Sent through Twilio WhatsApp, the document's URL ends in the receipt's name.
    sender = TwilioSender(httpx.AsyncClient(), account_sid="AC" + "0" * 32, auth_token="t",
                          api_base="http://twilio.test", public_url=settings.public_url,
                          whatsapp_from="whatsapp:+14155238886")
    message = Outgoing(f"Receipt {number}", media=(
        Media(receipt["pdf_url"], "application/pdf", f"{number}.pdf"),))
    form = sender.form_for(OutboundJob(provider="twilio", channel="whatsapp", to=RAHUL,
                                       message=outgoing_to_dict(message)))
    assert urlsplit(str(form["MediaUrl"])).path.rsplit("/", 1)[-1] == f"{number}.pdf"


@pytest.mark.parametrize(("key", "name", "shown"), [
    ("receipts/uk.dehradun/abc.pdf", "RCPT-DDN-2026-000001.pdf", True),
    ("receipts/uk.dehradun/abc.pdf", "RCPT-DDN-2026-000001.png", False),  # not its type
    ("receipts/uk.dehradun/abc.pdf", "../../etc.pdf", False),
    ("receipts/uk.dehradun/abc.pdf", 'a"b.pdf', False),
    ("receipts/uk.dehradun/abc", "receipt.pdf", False),
])
def test_only_a_safe_name_of_the_same_type_is_shown(key: str, name: str, shown: bool) -> None:
    assert named_like(key, name) is shown
    url = signed_url("https://samvad.example.in", "s" * 32, key, name=name)
    assert (f"/as/{name}?" in url) is shown
