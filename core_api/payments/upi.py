"""UPI deep links (NPCI's ``upi://pay`` URL) and their QR codes."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO
from urllib.parse import quote, urlencode

import segno
from PIL import Image

NOTE_MAX = 50  # UPI apps cut the transaction note around here


def upi_link(*, vpa: str, payee: str, amount: Decimal, note: str, reference: str) -> str:
    """``upi://pay?pa=..&pn=..&am=..&cu=INR&tn=..&tr=..`` with every value percent-encoded.

    The ``@`` of the VPA stays as it is: some UPI apps do not decode ``%40`` in ``pa``.
    """
    params = [
        ("pa", vpa),
        ("pn", payee),
        ("am", f"{amount:.2f}"),
        ("cu", "INR"),
        ("tn", note[:NOTE_MAX]),
        ("tr", reference),
    ]
    return "upi://pay?" + urlencode(params, quote_via=quote, safe="@")


def qr_png(data: str, scale: int = 6) -> bytes:
    """A PNG QR code of ``data`` (error correction M, quiet zone of 2 modules), as 8-bit
    RGB: segno writes a 1-bit greyscale PNG, which some WhatsApp clients and UPI apps'
    scanners show or read badly; RGB is what every image pipeline takes."""
    drawn = BytesIO()
    segno.make(data, error="m").save(drawn, kind="png", scale=scale, border=2)
    drawn.seek(0)
    out = BytesIO()
    with Image.open(drawn) as image:
        image.convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()
