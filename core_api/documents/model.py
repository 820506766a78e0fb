"""What a document says, and how its dates and amounts are written: light to import.

The PDF library (fpdf2 with fontTools, about 45 MB of a process's memory) is loaded by
``core_api.documents.pdf`` only, on the first render; the API and the worker import this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import format_time as _babel_time
from babel.numbers import format_currency

IST = ZoneInfo("Asia/Kolkata")


class FontNotFoundError(RuntimeError):
    """A required font package is not installed."""


@dataclass(frozen=True)
class ReceiptDoc:
    """Data for a payment receipt."""

    receipt_number: str
    tenant_name_en: str
    tenant_name_hi: str
    payer_name: str
    bill_type_en: str
    bill_type_hi: str
    consumer_number: str
    period: str
    lines: list[tuple[str, str, Decimal]]  # (label_en, label_hi, amount)
    total: Decimal
    paid_at: datetime  # tz-aware
    payment_mode: str
    transaction_id: str
    verify_url: str


@dataclass(frozen=True)
class CertificateDoc:
    """Data for a birth or death certificate."""

    kind: Literal["birth", "death"]
    certificate_number: str
    registration_number: str
    tenant_name_en: str
    tenant_name_hi: str
    name_en: str
    name_hi: str | None
    event_date: date
    place_en: str
    place_hi: str | None
    gender: str
    father_name: str | None
    mother_name: str | None
    spouse_name: str | None
    registered_on: date
    issued_at: datetime
    registrar_name: str
    verify_url: str


def format_inr(amount: Decimal) -> str:
    """Format an amount in Indian style with the rupee sign, e.g. ₹1,23,456.00."""
    return format_currency(amount, "INR", locale="en_IN")


def format_day(value: date) -> str:
    """Format a date as e.g. '23 Nov 2026'."""
    return _babel_date(value, format="medium", locale="en_IN")


def format_moment(value: datetime) -> str:
    """Format a tz-aware datetime in Asia/Kolkata, e.g. '23 Nov 2026, 2:05 pm IST'.

    "am"/"pm" in lower case is our choice, as in the chat (bot/i18n.format_moment): babel's
    CLDR data writes en_IN "PM" from 2.19 on and "pm" before."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    local = value.astimezone(IST)
    clock = _babel_time(local.time(), "h:mm", locale="en_IN")
    return f"{format_day(local.date())}, {clock} {'pm' if local.hour >= 12 else 'am'} IST"
