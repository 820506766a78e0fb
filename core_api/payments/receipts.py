"""Receipts: race-safe numbers per tenant and year, the PDF, signed links, verify codes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.bills.models import Bill
from core_api.bills.service import SERVICE_NAMES, human_number
from core_api.documents import ReceiptDoc, format_day, render_receipt
from core_api.files import FileStore, signed_url
from core_api.payments.models import Payment, Receipt
from core_api.tenants.models import Tenant
from core_api.users.models import User

log = structlog.get_logger(__name__)

RECEIPT_LINK_LIFETIME_S = 30 * 24 * 3600  # long enough for an SMS read a few weeks later
MODE_NAMES = {
    "UPI": "UPI", "CARD": "Card", "NETBANKING": "Net banking", "WALLET": "Wallet",
    "EMI": "EMI", "CASH": "Cash", "SANDBOX": "Sandbox (test)",
}


@dataclass(frozen=True)
class ReceiptIssuer:
    """Where receipt PDFs go and how links to them are made."""

    files: FileStore
    public_url: str
    secret_key: str

    @classmethod
    def of(cls, state: Any) -> ReceiptIssuer:
        """From the application state (``request.app.state``)."""
        return cls(state.files, state.settings.public_url, state.settings.secret_key)

    def link(self, receipt: Receipt) -> str | None:
        """A signed, expiring download link of the PDF, once it exists."""
        if receipt.file_key is None:
            return None
        return signed_url(self.public_url, self.secret_key, receipt.file_key,
                          RECEIPT_LINK_LIFETIME_S, name=f"{receipt.receipt_number}.pdf")

    def verify_url(self, receipt_number: str) -> str:
        return (f"{self.public_url.rstrip('/')}/receipts/verify/"
                f"{verify_code(self.secret_key, receipt_number)}")


def _code_signature(secret: str, receipt_number: str) -> str:
    message = f"receipt-verify\n{receipt_number}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:20]


def verify_code(secret: str, receipt_number: str) -> str:
    """The public code of a receipt: its number and an HMAC, ``RCPT-DDN-2026-000001.9f2c...``."""
    return f"{receipt_number}.{_code_signature(secret, receipt_number)}"


def read_verify_code(secret: str, code: str) -> str | None:
    """The receipt number inside a genuine code, else None."""
    number, _, signature = code.rpartition(".")
    if not number or not hmac.compare_digest(_code_signature(secret, number).encode(),
                                             signature.encode()):  # bytes: any text
        return None
    return number


async def issue_receipt(
    session: AsyncSession, bill: Bill, payment: Payment, issuer: ReceiptIssuer | None
) -> Receipt:
    """Number and store the receipt of a successful payment; render its PDF when an
    issuer is given (otherwise the first download renders it)."""
    payer_name = bill.owner_name
    if payment.payer_user_id is not None and payment.payer_user_id != bill.owner_user_id:
        payer = await session.get(User, payment.payer_user_id)
        if payer is not None and payer.name:
            payer_name = payer.name
    receipt = Receipt(
        receipt_number=await human_number(session, "RCPT", bill.tenant_code, payment.paid_at),
        tenant_code=bill.tenant_code, bill_id=bill.id, payment_id=payment.id,
        amount=payment.amount, payer_name=payer_name, payer_user_id=payment.payer_user_id,
        payer_phone=payment.payer_phone, issued_at=payment.paid_at,
    )
    session.add(receipt)
    await session.flush()
    if issuer is not None:
        try:
            key = await _render_and_store(session, receipt, issuer)
        except Exception:  # the payment stands; the first download renders the PDF again
            log.exception("receipt_pdf_failed", receipt=receipt.receipt_number)
        else:
            receipt.file_key = key
            await session.flush()
    return receipt


async def receipt_doc(session: AsyncSession, receipt: Receipt, verify_url: str) -> ReceiptDoc:
    """The data printed on a receipt."""
    bill = await session.get(Bill, receipt.bill_id)
    payment = await session.get(Payment, receipt.payment_id)
    assert bill is not None and payment is not None
    tenant = await session.get(Tenant, bill.tenant_code)
    assert tenant is not None
    name_en, name_hi = SERVICE_NAMES.get(bill.service, (bill.service, bill.service))
    return ReceiptDoc(
        receipt_number=receipt.receipt_number,
        tenant_name_en=tenant.name_en, tenant_name_hi=tenant.name_hi,
        payer_name=receipt.payer_name, bill_type_en=name_en, bill_type_hi=name_hi,
        consumer_number=bill.consumer_number,
        period=f"{format_day(bill.period_from)} – {format_day(bill.period_to)}",
        lines=[(line.label_en, line.label_hi, line.amount) for line in bill.lines],
        total=receipt.amount, paid_at=payment.paid_at,
        payment_mode=MODE_NAMES.get(payment.mode, payment.mode.title()),
        transaction_id=payment.gateway_payment_id, verify_url=verify_url,
    )


async def ensure_pdf(session: AsyncSession, receipt: Receipt, issuer: ReceiptIssuer) -> str:
    """The file key of the receipt's PDF, rendering and storing it first if needed."""
    if receipt.file_key is None:
        receipt.file_key = await _render_and_store(session, receipt, issuer)
        await session.flush()
    return receipt.file_key


async def _render_and_store(session: AsyncSession, receipt: Receipt, issuer: ReceiptIssuer) -> str:
    doc = await receipt_doc(session, receipt, issuer.verify_url(receipt.receipt_number))
    data = await asyncio.to_thread(render_receipt, doc)  # CPU work off the event loop
    stored = await issuer.files.put(data, "application/pdf", "receipts")
    return stored.key
