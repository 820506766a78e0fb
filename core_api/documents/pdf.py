"""Bilingual (English/Hindi) PDF receipts and certificates rendered with fpdf2 + HarfBuzz."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path

import segno
from fpdf import FPDF, FontFace

from core_api.documents.model import (
    CertificateDoc,
    FontNotFoundError,
    ReceiptDoc,
    format_day,
    format_inr,
    format_moment,
)

_LATIN, _DEVA = "NotoSans", "NotoSansDevanagari"
# Codepoints Noto Sans must not claim, so they fall back to Noto Sans Devanagari; ZWJ/ZWNJ stay
# with the Devanagari run so HarfBuzz shapes whole clusters.
_DEVA_BLOCKS = ((0x0900, 0x097F), (0x1CD0, 0x1CFF), (0x200C, 0x200D), (0xA8E0, 0xA8FF))
_INK, _MUTED, _RULE, _TINT = (20, 20, 20), (95, 95, 95), (190, 190, 190), (234, 241, 250)
_PAGE_W, _MARGIN, _BORDER = 210.0, 18.0, 10.0
_CONTENT_W = _PAGE_W - 2 * _MARGIN
_BAND_TOP = 212.0  # start of the reserved bottom band (signature / QR / footer)
_QR_SIZE = 34.0
_Rgb = tuple[int, int, int]
_Note = tuple[str, float, _Rgb]  # (text, font size in pt, colour)


@functools.cache
def _font_path(family: str, package: str) -> Path:
    """Return the regular TTF of a fontpkg family, or raise naming the package to install."""
    try:
        import fontpkg

        path = fontpkg.path(family, weight=400)
    except (ImportError, LookupError) as exc:
        raise FontNotFoundError(f"font {family!r} not found: install {package!r}") from exc
    if not path.is_file():
        raise FontNotFoundError(f"font file {path} missing: reinstall {package!r}")
    return path


def font_paths() -> tuple[Path, Path]:
    """Return (Noto Sans, Noto Sans Devanagari) font file paths."""
    return (
        _font_path("Noto Sans", "fontpkg-noto-sans"),
        _font_path("Noto Sans Devanagari", "fontpkg-noto-sans-devanagari"),
    )


@functools.cache
def _latin_range() -> tuple[tuple[int, int], ...]:
    """Return the Unicode ranges (BMP + SMP) Noto Sans is used for: everything but Devanagari."""
    ranges, start = [], 0
    for lo, hi in _DEVA_BLOCKS:
        ranges.append((start, lo - 1))
        start = hi + 1
    return (*ranges, (start, 0x1FFFF))


class _Pdf(FPDF):
    """A4 page with a thin border and a bilingual verify footer on every page."""

    def __init__(self, verify_url: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.verify_url = verify_url
        latin, deva = font_paths()
        self.add_font(_LATIN, fname=latin, unicode_range=list(_latin_range()))
        self.add_font(_DEVA, fname=deva)
        self.set_text_shaping(True)
        self.set_fallback_fonts([_DEVA])
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(True, margin=297.0 - _BAND_TOP)
        self.set_font(_LATIN, size=10)
        self.set_lang("en-IN")

    def footer(self) -> None:
        """Draw the page border and the verify line."""
        self.set_draw_color(*_MUTED)
        self.set_line_width(0.35)
        self.rect(_BORDER, _BORDER, _PAGE_W - 2 * _BORDER, 297.0 - 2 * _BORDER)
        self.set_xy(_MARGIN, 275.0)
        with self.local_context(font_size_pt=8, text_color=_MUTED):
            self.cell(_CONTENT_W, 5, f"Verify at {self.verify_url} / सत्यापन करें", align="C")


def _strong(pdf: FPDF, size: float) -> None:
    """Switch to faux-bold text (fill + thin stroke) at the given size."""
    pdf.set_font(size=size)
    pdf.text_mode = "FILL_STROKE"
    pdf.set_line_width(size * 0.012)
    pdf.set_draw_color(*_INK)


def _plain(pdf: FPDF, size: float = 10) -> None:
    """Return to normal filled text."""
    pdf.text_mode = "FILL"
    pdf.set_font(size=size)


def _header(pdf: _Pdf, name_en: str, name_hi: str, title: str, subtitle: str | None) -> None:
    """Draw the municipal body's names, a rule, and the document title."""
    pdf.add_page()
    pdf.set_text_color(*_INK)
    _strong(pdf, 15)
    pdf.cell(_CONTENT_W, 8, name_en, align="C", new_x="LMARGIN", new_y="NEXT")
    _plain(pdf, 13)
    pdf.cell(_CONTENT_W, 8, name_hi, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.3)
    pdf.line(_MARGIN, pdf.get_y() + 2, _PAGE_W - _MARGIN, pdf.get_y() + 2)
    pdf.ln(6)
    _strong(pdf, 17)
    pdf.cell(_CONTENT_W, 10, title, align="C", new_x="LMARGIN", new_y="NEXT")
    _plain(pdf, 11)
    if subtitle:
        pdf.set_text_color(*_MUTED)
        pdf.cell(_CONTENT_W, 6, subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*_INK)
    pdf.ln(4)


def _table(pdf: FPDF, rows: Sequence[tuple[str, str]], *, amounts: bool = False) -> None:
    """Draw a label/value table; with amounts, values align right and the last row is tinted."""
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.2)
    _plain(pdf, 10)
    with pdf.table(
        width=_CONTENT_W,
        col_widths=(44, 56),
        first_row_as_headings=False,
        line_height=6,
        borders_layout="HORIZONTAL_LINES",
        padding=(1.6, 2.0),
        v_align="MIDDLE",
        text_align=("LEFT", "RIGHT" if amounts else "LEFT"),
    ) as table:
        for index, (label, value) in enumerate(rows):
            tint = _TINT if amounts and index == len(rows) - 1 else None
            row = table.row()
            row.cell(label, style=FontFace(color=_MUTED, fill_color=tint))
            row.cell(value, style=FontFace(color=_INK, fill_color=tint))
    pdf.ln(5)


def _bilingual(en: str, hi: str | None) -> str:
    """Join an English and optional Hindi value as 'en / hi'."""
    return f"{en} / {hi}" if hi else en


def _qr(pdf: FPDF, url: str) -> None:
    """Place a QR code for url at the bottom right, with the URL printed below it."""
    buf = BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=8, border=2)
    buf.seek(0)
    x = _PAGE_W - _MARGIN - _QR_SIZE
    pdf.image(buf, x=x, y=_BAND_TOP + 8, w=_QR_SIZE, h=_QR_SIZE)
    pdf.set_xy(_PAGE_W - _MARGIN - 100, _BAND_TOP + 8 + _QR_SIZE + 1)
    with pdf.local_context(font_size_pt=6.5, text_color=_MUTED):
        pdf.multi_cell(100, 3, url, align="R")


def _note(pdf: FPDF, lines: Sequence[_Note]) -> None:
    """Write (text, size, colour) lines in the bottom-left of the reserved band."""
    pdf.set_xy(_MARGIN, _BAND_TOP + 14)
    for text, size, colour in lines:
        with pdf.local_context(font_size_pt=size, text_color=colour):
            pdf.multi_cell(_CONTENT_W - 66, size * 0.5, text, align="L", new_x="LMARGIN")
        pdf.ln(1.5)


def _finish(pdf: FPDF, url: str, title: str, when: datetime, notes: Sequence[_Note]) -> bytes:
    """Add the QR and notes, set metadata, and return the PDF bytes."""
    if pdf.get_y() > _BAND_TOP:
        pdf.add_page()
    pdf.set_auto_page_break(False)
    _plain(pdf, 10)
    _qr(pdf, url)
    _note(pdf, notes)
    pdf.set_title(title)
    pdf.set_creation_date(when)
    return bytes(pdf.output())


_RECEIPT_NOTES: list[_Note] = [
    ("Thank you for your payment. / भुगतान के लिए धन्यवाद।", 10, _INK),
    ("This is a computer-generated receipt and needs no signature. / यह कंप्यूटर द्वारा "
     "जनित रसीद है, इस पर हस्ताक्षर की आवश्यकता नहीं है।", 8, _MUTED),
]  # fmt: skip
_SIGNED = "Digitally issued; no physical signature is required. / डिजिटल रूप से जारी; भौतिक हस्ताक्षर की आवश्यकता नहीं है।"  # noqa: E501
_EVENT_HI = {"birth": "जन्म", "death": "मृत्यु"}
_GENDER = {"male": "पुरुष", "female": "महिला", "other": "अन्य", "transgender": "ट्रांसजेंडर"}


def render_receipt(doc: ReceiptDoc) -> bytes:
    """Render a bilingual payment receipt as PDF bytes."""
    pdf = _Pdf(doc.verify_url)
    bill = _bilingual(doc.bill_type_en, doc.bill_type_hi)
    _header(pdf, doc.tenant_name_en, doc.tenant_name_hi, "Receipt / रसीद", bill)
    rows = [
        ("Receipt No. / रसीद संख्या", doc.receipt_number),
        ("Payer name / भुगतानकर्ता का नाम", doc.payer_name),
        ("Service / सेवा", bill),
        ("Consumer No. / उपभोक्ता संख्या", doc.consumer_number),
        ("Billing period / बिल अवधि", doc.period),
        ("Paid on / भुगतान तिथि", format_moment(doc.paid_at)),
        ("Payment mode / भुगतान का माध्यम", doc.payment_mode),
        ("Transaction ID / लेन-देन आईडी", doc.transaction_id),
    ]
    _table(pdf, rows)
    items = [(_bilingual(en, hi), format_inr(amount)) for en, hi, amount in doc.lines]
    _table(pdf, [*items, ("Amount paid / भुगतान की गई राशि", format_inr(doc.total))], amounts=True)
    doc_title = f"Receipt {doc.receipt_number}"
    return _finish(pdf, doc.verify_url, doc_title, doc.paid_at, _RECEIPT_NOTES)


def render_certificate(doc: CertificateDoc) -> bytes:
    """Render a bilingual birth or death certificate as PDF bytes."""
    ev, ev_hi = doc.kind, _EVENT_HI[doc.kind]
    title = f"{ev.title()} Certificate / {ev_hi} प्रमाण पत्र"
    pdf = _Pdf(doc.verify_url)
    _header(pdf, doc.tenant_name_en, doc.tenant_name_hi, title, None)
    attest = (
        f"This is to certify that the following information has been taken from the original "
        f"register of {ev}s maintained by {doc.tenant_name_en}.\nप्रमाणित किया जाता है कि "
        f"निम्नलिखित जानकारी {doc.tenant_name_hi} द्वारा रखे गए मूल {ev_hi} रजिस्टर से ली गई है।"
    )
    with pdf.local_context(font_size_pt=9.5, text_color=_MUTED):
        pdf.multi_cell(_CONTENT_W, 5, attest, align="C", new_x="LMARGIN")
    pdf.ln(4)
    gender_hi = _GENDER.get(doc.gender.strip().lower())
    optional = [
        ("Father's name / पिता का नाम", doc.father_name),
        ("Mother's name / माता का नाम", doc.mother_name),
        ("Spouse's name / पति/पत्नी का नाम", doc.spouse_name),
    ]
    rows = [
        ("Certificate No. / प्रमाण पत्र संख्या", doc.certificate_number),
        ("Registration No. / पंजीकरण संख्या", doc.registration_number),
        ("Name / नाम", _bilingual(doc.name_en, doc.name_hi)),
        ("Gender / लिंग", _bilingual(doc.gender.strip().title(), gender_hi)),
        (f"Date of {ev} / {ev_hi} तिथि", format_day(doc.event_date)),
        (f"Place of {ev} / {ev_hi} स्थान", _bilingual(doc.place_en, doc.place_hi)),
        *[(label, value) for label, value in optional if value],
        ("Date of registration / पंजीकरण तिथि", format_day(doc.registered_on)),
        ("Date of issue / जारी करने की तिथि", format_moment(doc.issued_at)),
    ]
    _table(pdf, rows)
    notes: list[_Note] = [
        ("Registrar (Births & Deaths) / रजिस्ट्रार (जन्म एवं मृत्यु)", 9, _MUTED),
        (doc.registrar_name, 11, _INK),
        (doc.tenant_name_en, 9, _MUTED),
        (_SIGNED, 8, _MUTED),
    ]
    doc_title = f"{ev.title()} Certificate {doc.certificate_number}"
    return _finish(pdf, doc.verify_url, doc_title, doc.issued_at, notes)
