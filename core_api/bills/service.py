"""Bills: creation (for other modules and the seed), numbering, ownership and masking.

Other modules create bills through ``create_bill`` (e.g. certificate fees) and react to
their payment with ``core_api.payments.hooks.on_bill_paid``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, Select, bindparam, false, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.auth.principal import Principal
from core_api.bills.models import Bill, BillingSequence, BillLine, BillService, BillStatus
from core_api.db import utcnow
from core_api.errors import BadRequest, Conflict, NotFound
from core_api.phones import normalize_phone
from core_api.tenants.models import Tenant
from core_api.users.models import User

IST = ZoneInfo("Asia/Kolkata")

# (English, Hindi) names of each service, for pages, receipts and the bot.
SERVICE_NAMES: dict[str, tuple[str, str]] = {
    BillService.PT: ("Property tax", "संपत्ति कर"),
    BillService.WS: ("Water and sewerage charges", "जल एवं सीवर शुल्क"),
    BillService.TL: ("Trade licence fee", "व्यापार लाइसेंस शुल्क"),
    BillService.BND_CERT_FEE: ("Certificate fee", "प्रमाण पत्र शुल्क"),
}


async def next_number(session: AsyncSession, kind: str, tenant_code: str, year: int) -> int:
    """Take the next value of a (kind, tenant, year) counter in one atomic upsert.

    ``INSERT .. ON CONFLICT DO UPDATE .. RETURNING`` is race-safe on PostgreSQL (row lock)
    and on SQLite (one writer at a time), so two payments never share a receipt number.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(BillingSequence)
        .values(kind=kind, tenant_code=tenant_code, year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=["kind", "tenant_code", "year"],
            set_={"last_value": BillingSequence.last_value + 1},
        )
        .returning(BillingSequence.last_value)
    )
    return (await session.execute(statement)).scalar_one()


async def human_number(
    session: AsyncSession, kind: str, tenant_code: str, when: datetime | None = None
) -> str:
    """``<kind>-<ULB id code>-<year in IST>-<000001>``, e.g. RCPT-DDN-2026-000001."""
    tenant = await session.get(Tenant, tenant_code)
    if tenant is None:
        raise NotFound(f"No tenant {tenant_code}.", code="unknown_tenant")
    year = (when or utcnow()).astimezone(IST).year
    value = await next_number(session, kind, tenant_code, year)
    return f"{kind}-{tenant.id_code}-{year}-{value:06d}"


async def create_bill(
    session: AsyncSession,
    *,
    tenant_code: str,
    service: str,
    consumer_number: str,
    owner_user_id: int | None,
    owner_name: str,
    owner_phone: str | None,
    period_from: date,
    period_to: date,
    due_date: date,
    lines: list[tuple[str, str, str, Decimal]],
) -> Bill:
    """Create an ACTIVE bill; ``lines`` are (code, label_en, label_hi, amount) in rupees.

    The owner is linked to the citizen with ``owner_phone`` when ``owner_user_id`` is not
    given. Raises Conflict (code ``bill_exists``) when the tenant already has a bill for
    this service, consumer number and period. Flushes, never commits.
    """
    if service not in SERVICE_NAMES:
        raise BadRequest(f"Unknown bill service {service}.", code="unknown_bill_service")
    consumer_number = consumer_number.strip().upper()
    if not consumer_number or not owner_name.strip():
        raise BadRequest("A bill needs a consumer number and an owner name.",
                         code="invalid_bill")
    if not lines:
        raise BadRequest("A bill needs at least one line.", code="invalid_bill")
    if period_from > period_to:
        raise BadRequest("The billing period ends before it starts.", code="invalid_bill")
    amounts = [Decimal(amount) for *_, amount in lines]
    total = sum(amounts, Decimal("0.00"))
    if total <= 0:
        raise BadRequest("A bill's total must be more than zero.", code="invalid_bill")
    phone = normalize_phone(owner_phone) if owner_phone else None
    existing = await session.scalar(
        select(Bill.bill_number).where(
            Bill.tenant_code == tenant_code, Bill.service == service,
            Bill.consumer_number == consumer_number, Bill.period_from == period_from,
            Bill.period_to == period_to,
        )
    )
    if existing is not None:
        raise Conflict("A bill for this consumer number and period exists.",
                       code="bill_exists", details={"bill_number": existing})
    if owner_user_id is None and phone is not None:
        owner_user_id = await session.scalar(select(User.id).where(User.phone == phone))
    now = utcnow()
    bill = Bill(
        bill_number=await human_number(session, "BILL", tenant_code, now),
        tenant_code=tenant_code, service=service, consumer_number=consumer_number,
        owner_user_id=owner_user_id, owner_name=owner_name.strip(), owner_phone=phone,
        period_from=period_from, period_to=period_to, due_date=due_date,
        total=total, status=BillStatus.ACTIVE, created_at=now,
        lines=[
            BillLine(position=i, code=code, label_en=label_en, label_hi=label_hi, amount=amount)
            for i, ((code, label_en, label_hi, _), amount) in enumerate(
                zip(lines, amounts, strict=True), start=1)
        ],
    )
    session.add(bill)
    await session.flush()
    return bill


BillOrder = Callable[[Any], list[ColumnElement[Any]]]


@dataclass(frozen=True)
class BillRecord:
    """A bill read with SQLAlchemy Core: the bill row and its line rows."""

    bill: Row[Any]
    lines: list[Row[Any]]


def bills_page(conditions: list[ColumnElement[bool]], order: BillOrder) -> Select[Any]:
    """A page of bills with their lines as ONE Core statement (the page as a subquery,
    outer-joined to its lines); the page size and start are the parameters ``limit`` and
    ``offset``. ``order(columns)`` gives the sort keys over a column collection: the page
    is cut in that order and read back in it."""
    bills, lines = Bill.__table__, BillLine.__table__
    page = (select(bills).where(*conditions).order_by(*order(bills.c))
            .limit(bindparam("limit")).offset(bindparam("offset")).subquery("page"))
    return (select(page, lines.c.code.label("line_code"), lines.c.label_en.label("line_en"),
                   lines.c.label_hi.label("line_hi"), lines.c.amount.label("line_amount"))
            .select_from(page.outerjoin(lines, lines.c.bill_id == page.c.id))
            .order_by(*order(page.c), lines.c.position))


async def read_bills(session: AsyncSession, statement: Select[Any],
                     parameters: dict[str, Any]) -> list[BillRecord]:
    """Run a ``bills_page`` statement: the bills, each with its lines."""
    connection = await session.connection()
    records: list[BillRecord] = []
    for row in await connection.execute(statement, parameters):
        if not records or records[-1].bill.id != row.id:
            records.append(BillRecord(row, []))
        if row.line_code is not None:
            records[-1].lines.append(row)
    return records


def mask_name(name: str | None) -> str:
    """Keep the first letter of each word: "Rahul Verma" -> "R**** V****"."""
    return " ".join(word[0] + "****" for word in (name or "").split())


def owned_by(principal: Principal) -> ColumnElement[bool]:
    """SQL condition: the bill is linked to the caller (by user id or by phone number)."""
    conditions = []
    if principal.user_id is not None:
        conditions.append(Bill.owner_user_id == principal.user_id)
    if principal.phone:
        conditions.append(Bill.owner_phone == principal.phone)
    return or_(*conditions) if conditions else false()


def is_owner(bill: Bill | Row[Any], principal: Principal) -> bool:
    """The caller is the bill's owner (linked by user id or by phone number)."""
    return (principal.user_id is not None and bill.owner_user_id == principal.user_id) or (
        bool(principal.phone) and bill.owner_phone == principal.phone
    )


def is_staff_of(bill_tenant: str, principal: Principal) -> bool:
    """The caller is an employee with any role covering the bill's tenant."""
    return principal.is_staff and principal.can_see_tenant(bill_tenant)


async def get_bill(session: AsyncSession, bill_number: str, *, for_update: bool = False) -> Bill:
    """The bill with this number, or NotFound."""
    query = select(Bill).where(Bill.bill_number == bill_number.strip().upper())
    if for_update:
        query = query.with_for_update()
    bill = await session.scalar(query)
    if bill is None:
        raise NotFound("No such bill.", code="bill_not_found")
    return bill


def can_read(bill: Bill, principal: Principal, consumer_number: str | None) -> bool | None:
    """How the caller may see a bill: True in full, False masked, None not at all.

    Owners and staff of the tenant see everything. Anyone else (paying someone else's
    bill is normal in India) sees the masked view only when they also name the bill's
    consumer number, which is what they searched by; bill numbers alone are sequential
    and would let a caller walk through every bill.
    """
    if is_owner(bill, principal) or is_staff_of(bill.tenant_code, principal):
        return True
    if (principal.is_citizen and consumer_number is not None
            and consumer_number.strip().upper() == bill.consumer_number):
        return False
    return None
