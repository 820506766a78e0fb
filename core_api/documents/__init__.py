"""Document rendering (PDF receipts and certificates).

What a document holds and the date/amount formats (``model``) are light; the PDF library
behind ``render_*`` (``pdf``: fpdf2, fontTools, about 45 MB of memory) is imported on the
first render, so a web or worker process that never renders one does not carry it.
"""

from __future__ import annotations

from pathlib import Path

from core_api.documents.model import (
    CertificateDoc,
    FontNotFoundError,
    ReceiptDoc,
    format_day,
    format_inr,
    format_moment,
)


def render_receipt(doc: ReceiptDoc) -> bytes:
    """The receipt as a PDF (CPU-bound: run it in a thread)."""
    from core_api.documents import pdf

    return pdf.render_receipt(doc)


def render_certificate(doc: CertificateDoc) -> bytes:
    """The certificate as a PDF (CPU-bound: run it in a thread)."""
    from core_api.documents import pdf

    return pdf.render_certificate(doc)


def font_paths() -> tuple[Path, Path]:
    """(Noto Sans, Noto Sans Devanagari) font files; ``FontNotFoundError`` names the
    package to install when one is missing."""
    from core_api.documents import pdf

    return pdf.font_paths()


__all__ = [
    "CertificateDoc",
    "FontNotFoundError",
    "ReceiptDoc",
    "font_paths",
    "format_day",
    "format_inr",
    "format_moment",
    "render_certificate",
    "render_receipt",
]
