"""Demo bills (SPEC §3): unpaid property tax and water bills for +919876500001, a paid and
an unpaid bill for +919876500002, and unlinked bills findable by consumer number.

Idempotent: bills are keyed by (tenant, service, consumer number, period) and the demo
payment by its gateway payment id; a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.bills.models import Bill, BillStatus
from core_api.bills.service import create_bill
from core_api.payments.models import Payment, PaymentStatus, Receipt
from core_api.payments.receipts import issue_receipt

if TYPE_CHECKING:
    from core_api.seed.demo import SeedReport

D = Decimal
FY = (date(2026, 4, 1), date(2027, 3, 31))  # financial year 2026-27
Q2 = (date(2026, 7, 1), date(2026, 9, 30))  # water bills are quarterly


def _pt(tax: str, sanitation: str, fire: str, rebate: str) -> list[tuple[str, str, str, D]]:
    return [
        ("PT_TAX", "Property tax", "संपत्ति कर", D(tax)),
        ("PT_SANITATION_CESS", "Sanitation cess", "स्वच्छता उपकर", D(sanitation)),
        ("PT_FIRE_CESS", "Fire cess", "अग्निशमन उपकर", D(fire)),
        ("PT_REBATE", "Early payment rebate", "समय पूर्व भुगतान छूट", -D(rebate)),
    ]


def _ws(water: str, sewerage: str, meter: str, late: str | None = None
        ) -> list[tuple[str, str, str, D]]:
    lines = [
        ("WS_WATER", "Water charges", "जल शुल्क", D(water)),
        ("WS_SEWERAGE", "Sewerage charges", "सीवर शुल्क", D(sewerage)),
        ("WS_METER_RENT", "Meter rent", "मीटर किराया", D(meter)),
    ]
    if late:
        lines.append(("WS_LATE_FEE", "Late payment surcharge", "विलंब शुल्क", D(late)))
    return lines


@dataclass(frozen=True)
class DemoBill:
    service: str
    consumer_number: str
    owner_name: str
    owner_phone: str | None
    period: tuple[date, date]
    due: date
    lines: list[tuple[str, str, str, D]]
    tenant: str = "uk.dehradun"


DEMO_BILLS = (
    # सुनीता देवी (+919876500001, Hindi): property tax ₹4,850.00 and water ₹1,236.50, unpaid.
    DemoBill("PT", "PT-DDN-20451", "सुनीता देवी", "+919876500001", FY, date(2026, 12, 31),
             _pt("4600.00", "230.00", "250.00", "230.00")),
    DemoBill("WS", "WS-DDN-10219", "सुनीता देवी", "+919876500001", Q2, date(2026, 11, 30),
             _ws("820.00", "328.00", "60.00", "28.50")),
    # Rahul Verma (+919876500002, English): property tax paid (₹3,140.00), water unpaid.
    DemoBill("PT", "PT-DDN-31877", "Rahul Verma", "+919876500002", FY, date(2026, 9, 30),
             _pt("2980.00", "149.00", "160.00", "149.00")),
    DemoBill("WS", "WS-DDN-10477", "Rahul Verma", "+919876500002", Q2, date(2026, 11, 30),
             _ws("410.00", "164.00", "60.00")),
    # Not linked to any demo number: found by consumer number, shown masked.
    DemoBill("WS", "WS-DDN-10234", "Mohan Lal Sharma", None, Q2, date(2026, 11, 30),
             _ws("612.00", "245.00", "60.00", "101.00")),
    DemoBill("PT", "PT-DDN-52310", "Kavita Rawat", None, FY, date(2026, 12, 31),
             _pt("5900.00", "295.00", "375.00", "295.00")),
    DemoBill("TL", "TL-DDN-0871", "Deepak Sharma", None, FY, date(2026, 12, 31),
             [("TL_FEE", "Trade licence fee", "व्यापार लाइसेंस शुल्क", D("2500.00")),
              ("TL_SIGNBOARD", "Signboard fee", "साइनबोर्ड शुल्क", D("350.00"))]),
    DemoBill("WS", "WS-HDW-20877", "Sanjay Gupta", None, Q2, date(2026, 11, 30),
             _ws("540.00", "216.00", "60.00"), tenant="uk.haridwar"),
)

PAID_CONSUMER = "PT-DDN-31877"
DEMO_PAYMENT_ID = "sbx_demo_pt_ddn_31877"
DEMO_PAID_AT = datetime(2026, 6, 14, 5, 42, tzinfo=UTC)  # 11:12 am IST


async def _ensure_bill(session: AsyncSession, demo: DemoBill) -> Bill:
    bill = await session.scalar(select(Bill).where(
        Bill.tenant_code == demo.tenant, Bill.service == demo.service,
        Bill.consumer_number == demo.consumer_number, Bill.period_from == demo.period[0],
        Bill.period_to == demo.period[1],
    ))
    if bill is not None:
        return bill
    return await create_bill(
        session, tenant_code=demo.tenant, service=demo.service,
        consumer_number=demo.consumer_number, owner_user_id=None, owner_name=demo.owner_name,
        owner_phone=demo.owner_phone, period_from=demo.period[0], period_to=demo.period[1],
        due_date=demo.due, lines=demo.lines,
    )


async def _ensure_paid(session: AsyncSession, bill: Bill) -> bool:
    """Record the demo payment and its receipt (the PDF renders on first download)."""
    payment = await session.scalar(select(Payment).where(
        Payment.gateway == "sandbox", Payment.gateway_payment_id == DEMO_PAYMENT_ID))
    if payment is not None:
        return False
    payment = Payment(
        bill_id=bill.id, intent_id=None, tenant_code=bill.tenant_code, amount=bill.total,
        status=PaymentStatus.SUCCESS, mode="UPI", gateway="sandbox",
        gateway_payment_id=DEMO_PAYMENT_ID, payer_user_id=bill.owner_user_id,
        payer_phone=bill.owner_phone, paid_at=DEMO_PAID_AT, created_at=DEMO_PAID_AT,
    )
    session.add(payment)
    bill.status = BillStatus.PAID
    bill.paid_at = DEMO_PAID_AT
    await session.flush()
    if await session.scalar(select(Receipt.id).where(Receipt.payment_id == payment.id)) is None:
        await issue_receipt(session, bill, payment, issuer=None)
    return True


async def seed_bills(session: AsyncSession, report: SeedReport) -> None:
    """Seed step: the demo bills, one demo payment and its receipt."""
    for demo in DEMO_BILLS:
        bill = await _ensure_bill(session, demo)
        report.add("bills")
        if demo.consumer_number == PAID_CONSUMER and await _ensure_paid(session, bill):
            report.add("payments")
    await session.flush()
