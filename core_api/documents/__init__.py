"""Document rendering (PDF receipts and certificates)."""

from core_api.documents.pdf import (
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
