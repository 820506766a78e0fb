"""Bills with their lines, and the per-tenant, per-year counters behind human numbers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core_api.db import Base, BigIntPK, Money, UTCDateTime, utcnow


class BillService(StrEnum):
    """What a bill is for (DIGIT business service codes, shortened)."""

    PT = "PT"  # property tax
    WS = "WS"  # water and sewerage
    TL = "TL"  # trade licence
    BND_CERT_FEE = "BND_CERT_FEE"  # birth/death certificate fee


class BillStatus(StrEnum):
    ACTIVE = "ACTIVE"  # payable
    PAID = "PAID"
    CANCELLED = "CANCELLED"


class Bill(Base):
    """One demand for payment from a ULB to the owner of a property, connection or request."""

    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("tenant_code", "service", "consumer_number", "period_from", "period_to",
                         name="uq_bills_consumer_period"),
        Index("ix_bills_consumer", "consumer_number", "tenant_code"),
        Index("ix_bills_tenant_status", "tenant_code", "service", "status"),
        Index("ix_bills_owner_phone", "owner_phone"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bill_number: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_code: Mapped[str] = mapped_column(ForeignKey("tenants.code"))
    service: Mapped[str] = mapped_column(String(16))
    consumer_number: Mapped[str] = mapped_column(String(64))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    owner_name: Mapped[str] = mapped_column(String(120))
    owner_phone: Mapped[str | None] = mapped_column(String(20))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    total: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(12), default=BillStatus.ACTIVE)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[BillLine]] = relationship(
        back_populates="bill", order_by="BillLine.position", cascade="all, delete-orphan",
        lazy="selectin",
    )


class BillLine(Base):
    """One head of a bill (tax, cess, rebate as a negative amount, ...)."""

    __tablename__ = "bill_lines"
    __table_args__ = (UniqueConstraint("bill_id", "position", name="uq_bill_lines_position"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    label_en: Mapped[str] = mapped_column(String(120))
    label_hi: Mapped[str] = mapped_column(String(120))
    amount: Mapped[Decimal] = mapped_column(Money)

    bill: Mapped[Bill] = relationship(back_populates="lines")


class BillingSequence(Base):
    """The last number handed out per (kind, tenant, year): BILL-DDN-2026-000042."""

    __tablename__ = "billing_sequences"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # BILL, RCPT
    tenant_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)
