"""Payments API: open a payment intent for a bill; list and fetch receipts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, or_, select

from core_api.auth.deps import CurrentPrincipal
from core_api.auth.principal import Principal
from core_api.bills.models import Bill
from core_api.bills.service import SERVICE_NAMES, can_read, get_bill, owned_by
from core_api.chat_channel import SENT_BY_THE_BOT, ChannelKind
from core_api.db import SessionDep
from core_api.documents import format_inr
from core_api.errors import (
    ERROR_RESPONSES,
    BadRequest,
    Forbidden,
    NotFound,
    ServiceUnavailable,
)
from core_api.payments.gateways import gateways_of
from core_api.payments.models import Payment, PaymentIntent, Receipt
from core_api.payments.receipts import MODE_NAMES, ReceiptIssuer, ensure_pdf
from core_api.payments.service import open_or_join_intent
from core_api.payments.upi import upi_link
from core_api.tenants.models import Tenant

router = APIRouter(tags=["payments"], responses=ERROR_RESPONSES)

_AMOUNT_FIELDS = {"amount", "total", "amount_paise", "value"}


class IntentIn(BaseModel):
    """Optional body. The amount is never accepted: it always comes from the bill."""

    model_config = ConfigDict(extra="allow")

    consumer_number: str | None = Field(
        None, max_length=64,
        description="When paying someone else's bill: the consumer number you searched by")
    channel: ChannelKind | None = Field(
        None, description="The chat channel the link is asked for on: the receipt goes there. "
                          + SENT_BY_THE_BOT)


class IntentOut(BaseModel):
    id: str  # the intent reference, also UPI "tr" and the gateway's reference id
    bill_number: str
    amount: Decimal
    amount_display: str
    currency: str = "INR"
    status: str
    gateway: str
    payment_url: str  # on our own origin: /pay/{token}
    upi_link: str | None
    upi_qr_url: str | None
    expires_at: datetime
    created_at: datetime


async def intent_view(request: Request, session: Any, intent: PaymentIntent,
                      bill: Bill) -> IntentOut:
    settings = request.app.state.settings
    base = settings.public_url.rstrip("/")
    link = await upi_link_of(session, settings, intent, bill)
    return IntentOut(
        id=intent.reference, bill_number=bill.bill_number, amount=intent.amount,
        amount_display=format_inr(intent.amount), status=intent.status, gateway=intent.gateway,
        payment_url=f"{base}/pay/{intent.token}", upi_link=link,
        upi_qr_url=f"{base}/pay/{intent.token}/upi.png" if link else None,
        expires_at=intent.expires_at, created_at=intent.created_at,
    )


async def upi_link_of(session: Any, settings: Any, intent: PaymentIntent,
                      bill: Bill) -> str | None:
    """The UPI deep link of an intent; None when no VPA is configured."""
    vpa = settings.active_upi_vpa
    if not vpa:
        return None
    payee = settings.upi_payee_name
    if not payee:
        tenant = await session.get(Tenant, bill.tenant_code)
        payee = tenant.name_en if tenant else "Municipal Corporation"
    name_en, _ = SERVICE_NAMES.get(bill.service, (bill.service, ""))
    return upi_link(vpa=vpa, payee=payee, amount=intent.amount,
                    note=f"{bill.bill_number} {name_en}", reference=intent.reference)


@router.post("/bills/{bill_number}/payment-intents", response_model=IntentOut,
             status_code=201, summary="Open a payment for a bill (or get its open one)",
             responses={200: {"model": IntentOut, "description": "the bill's open intent"}})
async def create_payment_intent(
    bill_number: str,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: Annotated[IntentIn | None, Body()] = None,
) -> IntentOut:
    """Owner, staff of the tenant, or a citizen paying someone else's bill (naming its
    consumer number). One open intent per bill: asking again returns it (200). The amount
    is the bill's total; a client-sent amount is refused."""
    body = body or IntentIn(consumer_number=None, channel=None)
    extra = set(body.model_extra or {})
    if extra & _AMOUNT_FIELDS:
        raise BadRequest("The amount comes from the bill; do not send one.",
                         code="amount_not_accepted")
    if extra:
        raise BadRequest(f"Unknown fields: {', '.join(sorted(extra))}.", code="unknown_fields")
    if principal.user_id is None and not principal.phone:
        raise Forbidden("Act on behalf of a number to pay a bill.", code="user_required")
    bill = await get_bill(session, bill_number)
    if can_read(bill, principal, body.consumer_number) is None:
        raise NotFound("No such bill.", code="bill_not_found")
    settings = request.app.state.settings
    gateway = gateways_of(request.app.state).get(settings.active_payment_gateway or "")
    if gateway is None:
        raise ServiceUnavailable("Online payment is not set up here; pay at the ULB office.",
                                 code="payments_unavailable")
    intent, bill, created = await open_or_join_intent(
        session, bill=bill, principal=principal, gateway=gateway,
        public_url=settings.public_url, channel=body.channel)
    if not created:
        response.status_code = 200
    return await intent_view(request, session, intent, bill)


class ReceiptOut(BaseModel):
    receipt_number: str
    bill_number: str
    tenant: str
    service: str
    service_name_en: str
    service_name_hi: str
    consumer_number: str
    amount: Decimal
    amount_display: str
    payer_name: str
    mode: str
    transaction_id: str
    issued_at: datetime
    pdf_url: str | None  # signed, expiring download link
    verify_url: str


async def _receipt_view(session: Any, issuer: ReceiptIssuer, receipt: Receipt,
                        bill: Bill, payment: Payment) -> ReceiptOut:
    await ensure_pdf(session, receipt, issuer)  # receipts seeded without a PDF get one now
    name_en, name_hi = SERVICE_NAMES.get(bill.service, (bill.service, bill.service))
    return ReceiptOut(
        receipt_number=receipt.receipt_number, bill_number=bill.bill_number,
        tenant=receipt.tenant_code, service=bill.service, service_name_en=name_en,
        service_name_hi=name_hi, consumer_number=bill.consumer_number, amount=receipt.amount,
        amount_display=format_inr(receipt.amount), payer_name=receipt.payer_name,
        mode=MODE_NAMES.get(payment.mode, payment.mode.title()),
        transaction_id=payment.gateway_payment_id, issued_at=receipt.issued_at,
        pdf_url=issuer.link(receipt), verify_url=issuer.verify_url(receipt.receipt_number),
    )


def _mine(principal: Principal) -> ColumnElement[bool]:
    """Receipts the caller paid, or of bills linked to them."""
    conditions: list[ColumnElement[bool]] = [
        Receipt.bill_id.in_(select(Bill.id).where(owned_by(principal)))]
    if principal.user_id is not None:
        conditions.append(Receipt.payer_user_id == principal.user_id)
    if principal.phone:
        conditions.append(Receipt.payer_phone == principal.phone)
    return or_(*conditions)


@router.get("/receipts", response_model=list[ReceiptOut], summary="My receipts, or a tenant's")
async def list_receipts(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    tenant: Annotated[str | None, Query(description="Staff: the tenant to list")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ReceiptOut]:
    """Newest first. Without ``tenant``: the caller's receipts (payments they made and
    bills linked to them). With ``tenant``: staff holding a role there."""
    if tenant is None:
        if principal.user_id is None and not principal.phone:
            raise Forbidden("Act on behalf of a number to see receipts.", code="user_required")
        condition = _mine(principal)
    else:
        if not principal.is_staff:
            raise Forbidden("A tenant's receipts are for its staff.", code="staff_only")
        principal.require_tenant(tenant)
        condition = or_(Receipt.tenant_code == tenant, Receipt.tenant_code.like(f"{tenant}.%"))
    rows = (await session.execute(
        select(Receipt, Bill, Payment).join(Bill, Bill.id == Receipt.bill_id)
        .join(Payment, Payment.id == Receipt.payment_id).where(condition)
        .order_by(Receipt.issued_at.desc(), Receipt.id.desc()).limit(limit).offset(offset)
    )).all()
    issuer = ReceiptIssuer.of(request.app.state)
    return [await _receipt_view(session, issuer, r, b, p) for r, b, p in rows]


@router.get("/receipts/{receipt_number}", response_model=ReceiptOut, summary="One receipt")
async def read_receipt(
    receipt_number: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> ReceiptOut:
    """The payer, the bill's owner and staff of the tenant; with a signed PDF link."""
    row = (await session.execute(
        select(Receipt, Bill, Payment).join(Bill, Bill.id == Receipt.bill_id)
        .join(Payment, Payment.id == Receipt.payment_id)
        .where(Receipt.receipt_number == receipt_number.strip().upper())
    )).first()
    if row is None:
        raise NotFound("No such receipt.", code="receipt_not_found")
    receipt, bill, payment = row
    allowed = (principal.is_staff and principal.can_see_tenant(receipt.tenant_code)) or (
        principal.user_id is not None and principal.user_id in (
            receipt.payer_user_id, bill.owner_user_id)
    ) or (bool(principal.phone) and principal.phone in (receipt.payer_phone, bill.owner_phone))
    if not allowed:
        raise NotFound("No such receipt.", code="receipt_not_found")
    return await _receipt_view(session, ReceiptIssuer.of(request.app.state), receipt, bill,
                               payment)

