"""Payment intents, payments, every gateway callback received, and receipts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core_api.db import Base, BigIntPK, Money, UTCDateTime, utcnow


class IntentStatus(StrEnum):
    OPEN = "OPEN"  # payable; at most one per bill
    PAID = "PAID"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


class PaymentStatus(StrEnum):
    SUCCESS = "SUCCESS"  # settled the bill; has a receipt
    MISMATCH = "MISMATCH"  # the gateway reported another amount: bill not paid, to reconcile
    REFUND_DUE = "REFUND_DUE"  # money arrived for a bill already paid or cancelled


class PaymentIntent(Base):
    """One attempt to collect a bill's amount: a pay link, a UPI reference, a gateway order."""

    __tablename__ = "payment_intents"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)  # UPI tr, gateway ref
    token: Mapped[str] = mapped_column(String(64), unique=True)  # /pay/{token}
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), index=True)
    # Equals bill_id while the intent is OPEN, else NULL: the unique constraint keeps one
    # open intent per bill on every backend (NULLs never collide).
    open_bill_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    tenant_code: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(12), default=IntentStatus.OPEN)
    gateway: Mapped[str] = mapped_column(String(16))
    gateway_order_id: Mapped[str | None] = mapped_column(String(64))  # e.g. plink_...
    gateway_url: Mapped[str | None] = mapped_column(String(500))  # the gateway's hosted page
    payer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payer_phone: Mapped[str | None] = mapped_column(String(20))
    # The chat channel the payer asked for the link on ("whatsapp", "sms"): the receipt goes
    # there (bot.notifier's delivery policy). None for links made elsewhere.
    channel: Mapped[str | None] = mapped_column(String(16))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """Money a gateway (or a counter) reported as received."""

    __tablename__ = "payments"
    __table_args__ = (
        # The same gateway payment reported twice (retries, races) is one payment.
        UniqueConstraint("gateway", "gateway_payment_id", name="uq_payments_gateway_payment"),
        Index("ix_payments_payer", "payer_user_id", "paid_at"),
        Index("ix_payments_tenant_paid", "tenant_code", "paid_at", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), index=True)
    intent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_intents.id"))
    tenant_code: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(12))
    mode: Mapped[str] = mapped_column(String(16))  # UPI, CARD, NETBANKING, WALLET, CASH, SANDBOX
    gateway: Mapped[str] = mapped_column(String(16))  # sandbox, razorpay, counter
    gateway_payment_id: Mapped[str] = mapped_column(String(64))
    payer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payer_phone: Mapped[str | None] = mapped_column(String(20))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentCallback(Base):
    """Every verified gateway callback, with what we made of it (for audits and support)."""

    __tablename__ = "payment_callbacks"
    __table_args__ = (Index("ix_payment_callbacks_reference", "intent_reference"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    gateway: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(40))  # e.g. payment_link.paid
    result: Mapped[str] = mapped_column(String(12))  # success, failure, other
    intent_reference: Mapped[str | None] = mapped_column(String(64))
    gateway_payment_id: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    outcome: Mapped[str] = mapped_column(String(24))  # see payments.service.Outcome
    detail: Mapped[str | None] = mapped_column(Text)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Receipt(Base):
    """The receipt of a successful payment: RCPT-DDN-2026-000001, with its PDF once rendered."""

    __tablename__ = "receipts"
    __table_args__ = (Index("ix_receipts_tenant_issued", "tenant_code", "issued_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    receipt_number: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_code: Mapped[str] = mapped_column(String(64))
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    payer_name: Mapped[str] = mapped_column(String(120))
    payer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    payer_phone: Mapped[str | None] = mapped_column(String(20))
    file_key: Mapped[str | None] = mapped_column(String(200))  # None until the PDF exists
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
