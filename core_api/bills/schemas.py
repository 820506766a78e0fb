"""Bill views: the full view (owner, staff) and the masked one (anyone who knows the number)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from core_api.bills.models import Bill, BillStatus
from core_api.bills.service import IST, SERVICE_NAMES, BillRecord, mask_name
from core_api.db import utcnow
from core_api.documents import format_inr


class BillLineOut(BaseModel):
    code: str
    label_en: str
    label_hi: str
    amount: Decimal


class BillOut(BaseModel):
    bill_number: str
    tenant: str
    service: str
    service_name_en: str
    service_name_hi: str
    consumer_number: str
    owner_name: str
    owner_phone: str | None  # None in the masked view
    masked: bool
    period_from: date
    period_to: date
    due_date: date
    overdue: bool
    lines: list[BillLineOut]
    total: Decimal  # rupees, exact ("4850.00")
    total_display: str  # Indian format, "₹4,850.00"
    status: str
    paid_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, bill: Bill, *, full: bool) -> BillOut:
        lines = [BillLineOut(code=line.code, label_en=line.label_en, label_hi=line.label_hi,
                             amount=line.amount) for line in bill.lines]
        return cls._of(bill, lines, full=full)

    @classmethod
    def of_record(cls, record: BillRecord, *, full: bool) -> BillOut:
        lines = [BillLineOut(code=line.line_code, label_en=line.line_en,
                             label_hi=line.line_hi, amount=line.line_amount)
                 for line in record.lines]
        return cls._of(record.bill, lines, full=full)

    @classmethod
    def _of(cls, bill: Any, lines: list[BillLineOut], *, full: bool) -> BillOut:
        """``bill``: the ORM bill or a Core row of the bills table."""
        name_en, name_hi = SERVICE_NAMES.get(bill.service, (bill.service, bill.service))
        today = utcnow().astimezone(IST).date()
        return cls(
            bill_number=bill.bill_number, tenant=bill.tenant_code, service=bill.service,
            service_name_en=name_en, service_name_hi=name_hi,
            consumer_number=bill.consumer_number,
            owner_name=bill.owner_name if full else mask_name(bill.owner_name),
            owner_phone=bill.owner_phone if full else None,
            masked=not full,
            period_from=bill.period_from, period_to=bill.period_to, due_date=bill.due_date,
            overdue=bill.status == BillStatus.ACTIVE and bill.due_date < today,
            lines=lines,
            total=bill.total, total_display=format_inr(bill.total), status=bill.status,
            paid_at=bill.paid_at, created_at=bill.created_at,
        )
