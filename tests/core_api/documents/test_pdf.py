"""Tests for the bilingual PDF receipt and certificate renderer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from pypdf import PdfReader

from core_api.documents import (
    CertificateDoc,
    FontNotFoundError,
    ReceiptDoc,
    font_paths,
    format_day,
    format_inr,
    format_moment,
    render_certificate,
    render_receipt,
)
from core_api.documents import pdf as pdf_module

RECEIPT = ReceiptDoc(
    receipt_number="PT-RCPT-2026-000123",
    tenant_name_en="Lucknow Municipal Corporation",
    tenant_name_hi="लखनऊ नगर निगम",
    payer_name="Rakesh Kumar Verma",
    bill_type_en="Property Tax",
    bill_type_hi="संपत्ति कर",
    consumer_number="PT-LKO-0045-7781",
    period="Apr 2026 - Mar 2027",
    lines=[
        ("Property tax", "संपत्ति कर", Decimal("110000.00")),
        ("Water charges", "जल शुल्क", Decimal("13456.00")),
    ],
    total=Decimal("123456.00"),
    paid_at=datetime(2026, 11, 23, 8, 35, tzinfo=UTC),
    payment_mode="UPI",
    transaction_id="UPI/632145987012",
    verify_url="https://samvad.example.gov.in/verify/r/PT-RCPT-2026-000123",
)

CERTIFICATE = CertificateDoc(
    kind="birth",
    certificate_number="BC-LKO-2026-004512",
    registration_number="B/2026/LKO/11873",
    tenant_name_en="Lucknow Municipal Corporation",
    tenant_name_hi="लखनऊ नगर निगम",
    name_en="Ananya Sharma",
    name_hi="अनन्या शर्मा",
    event_date=date(2026, 10, 2),
    place_en="Queen Mary's Hospital, Lucknow",
    place_hi="क्वीन मैरी अस्पताल, लखनऊ",
    gender="female",
    father_name="Rohit Sharma",
    mother_name="Priya Sharma",
    spouse_name=None,
    registered_on=date(2026, 10, 9),
    issued_at=datetime(2026, 11, 23, 8, 35, tzinfo=UTC),
    registrar_name="Dr. Sunita Mishra",
    verify_url="https://samvad.example.gov.in/verify/c/BC-LKO-2026-004512",
)


def _page(data: bytes):
    """Return page 1 of a PDF given as bytes."""
    reader = PdfReader(BytesIO(data))
    assert len(reader.pages) == 1
    return reader.pages[0]


def _font_names(data: bytes) -> set[str]:
    """Return the BaseFont names used on page 1."""
    fonts = _page(data)["/Resources"]["/Font"]
    return {str(font.get_object()["/BaseFont"]) for font in fonts.values()}


def _has_image(data: bytes) -> bool:
    """Tell whether page 1 has an image XObject."""
    xobjects = _page(data)["/Resources"].get("/XObject", {})
    return any(x.get_object()["/Subtype"] == "/Image" for x in xobjects.values())


def test_formatting_helpers() -> None:
    assert format_inr(Decimal("123456.00")) == "₹1,23,456.00"
    assert format_inr(Decimal("1000")) == "₹1,000.00"
    assert format_day(date(2026, 11, 23)) == "23 Nov 2026"
    assert format_moment(datetime(2026, 11, 23, 8, 35, tzinfo=UTC)) == "23 Nov 2026, 2:05 pm IST"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_moment(datetime(2026, 11, 23, 8, 35))


def test_fonts_resolve_to_ttf_files() -> None:
    latin, deva = font_paths()
    assert latin.suffix == deva.suffix == ".ttf"
    assert "NotoSansDevanagari" in deva.name
    assert latin.is_file() and deva.is_file()


def test_missing_font_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import fontpkg

    def missing(name: str, **_: object) -> None:
        raise fontpkg.FamilyNotInstalled(fontpkg.slugify(name))

    pdf_module._font_path.cache_clear()
    monkeypatch.setattr(fontpkg, "path", missing)
    try:
        with pytest.raises(FontNotFoundError, match="fontpkg-noto-sans"):
            font_paths()
    finally:
        pdf_module._font_path.cache_clear()


def test_receipt_text_fonts_and_qr() -> None:
    data = render_receipt(RECEIPT)
    assert data.startswith(b"%PDF-")
    text = _page(data).extract_text()
    for expected in (
        "Receipt / रसीद",
        "लखनऊ नगर",  # i-matra clusters (निगम) do not round-trip through extraction
        "PT-RCPT-2026-000123",
        "Rakesh Kumar Verma",
        "₹1,23,456.00",
        "1,10,000.00",
        "Amount paid / भुगतान की",  # "गई" is split into two glyphs and extracts with a stray code
        "राशि",
        "23 Nov 2026, 2:05 pm IST",
        "सत्यापन करें",
        RECEIPT.verify_url,
        f"Verify at {RECEIPT.verify_url}",
    ):
        assert expected in text, expected
    fonts = _font_names(data)
    assert any("NotoSansDevanagari" in name for name in fonts), fonts
    assert any(name.endswith("+NotoSans") for name in fonts), fonts
    assert _has_image(data)


def test_birth_certificate_text_fonts_and_qr() -> None:
    data = render_certificate(CERTIFICATE)
    text = _page(data).extract_text()
    for expected in (
        "Birth Certificate / जन्म प्रमाण पत्र",
        "अनन्या शर्मा",
        "Ananya Sharma",
        "BC-LKO-2026-004512",
        "B/2026/LKO/11873",
        "माता का नाम",
        "2 Oct 2026",
        "Female",
        CERTIFICATE.verify_url,
    ):
        assert expected in text, expected
    assert "Spouse" not in text
    assert any("NotoSansDevanagari" in name for name in _font_names(data))
    assert _has_image(data)


def test_death_certificate_without_optional_fields() -> None:
    doc = replace(
        CERTIFICATE,
        kind="death",
        name_hi=None,
        place_hi=None,
        father_name=None,
        mother_name=None,
        spouse_name="Rohit Sharma",
        gender="Male",
    )
    text = _page(render_certificate(doc)).extract_text()
    assert "मृत्यु प्रमाण पत्र" in text
    assert "Date of death" in text and "Place of death" in text
    assert "Spouse's name" in text and "Mother's name" not in text


def test_rendering_is_deterministic() -> None:
    assert render_receipt(RECEIPT) == render_receipt(RECEIPT)
    assert render_certificate(CERTIFICATE) == render_certificate(CERTIFICATE)
