"""Payment intents and the one path every gateway callback takes.

``process_callback`` is verified-input-only (gateways check signatures first) and
idempotent: the first statement records the callback, which on SQLite takes the
database's write lock; on PostgreSQL the intent row is locked ``FOR UPDATE``. Either
way concurrent callbacks for one intent run one after the other, and the unique
(gateway, gateway payment id) constraint backs that up: one payment per gateway payment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.auth.principal import Principal
from core_api.bills.models import Bill, BillStatus
from core_api.bills.service import SERVICE_NAMES, get_bill, is_owner
from core_api.db import Database, utcnow
from core_api.errors import Conflict
from core_api.events.outbox import emit
from core_api.payments.gateways import GatewayCallback, LinkRequest, PaymentGateway
from core_api.payments.hooks import run_bill_paid_hooks
from core_api.payments.models import (
    IntentStatus,
    Payment,
    PaymentCallback,
    PaymentIntent,
    PaymentStatus,
    Receipt,
)
from core_api.payments.receipts import ReceiptIssuer, issue_receipt
from core_api.users.models import User

log = structlog.get_logger(__name__)

INTENT_LIFETIME = timedelta(hours=24)


class Outcome(StrEnum):
    """What a callback did; stored on its ``payment_callbacks`` row."""

    PAID = "paid"  # payment recorded, bill paid, receipt issued
    DUPLICATE = "duplicate"  # this gateway payment was processed before: nothing new
    AMOUNT_MISMATCH = "amount_mismatch"  # payment recorded as MISMATCH; bill not paid
    REFUND_DUE = "refund_due"  # money for a bill already paid (or cancelled)
    FAILED = "failed"  # the attempt failed; the bill stays payable
    LATE_FAILURE = "late_failure"  # a failure after the success: ignored, bill stays PAID
    UNKNOWN_INTENT = "unknown_intent"  # no intent with that reference
    INVALID = "invalid"  # a success without payment id or amount
    IGNORED = "ignored"  # an event we do not act on
    ERROR = "error"  # processing raised; the gateway's retry runs it again


@dataclass
class CallbackOutcome:
    outcome: Outcome
    detail: str | None = None
    intent: PaymentIntent | None = None
    bill: Bill | None = None
    payment: Payment | None = None
    receipt: Receipt | None = None


def _new_reference() -> str:
    # UPI "tr" and Razorpay reference_id: short, unique, no ambiguous characters needed.
    return "PI" + secrets.token_hex(7).upper()


async def current_intent(session: AsyncSession, bill: Bill) -> PaymentIntent | None:
    """The bill's open intent, if any."""
    return await session.scalar(
        select(PaymentIntent).where(PaymentIntent.open_bill_id == bill.id))


async def open_intent(
    session: AsyncSession,
    *,
    bill: Bill,
    principal: Principal,
    gateway: PaymentGateway,
    public_url: str,
    channel: str | None = None,
) -> tuple[PaymentIntent, bool]:
    """The bill's open intent, or a new one; returns (intent, created).

    The amount always comes from the bill. Two concurrent calls may both create one: the
    unique ``open_bill_id`` lets one win, the caller sees IntegrityError for the other.
    ``channel`` is the chat channel the link was asked for on: asking again on another
    channel moves the receipt there (the payer pays where they asked last).
    """
    if bill.status == BillStatus.PAID:
        raise Conflict("This bill is already paid.", code="bill_paid")
    if bill.status != BillStatus.ACTIVE:
        raise Conflict("This bill was cancelled; it cannot be paid.", code="bill_cancelled")
    now = utcnow()
    existing = await current_intent(session, bill)
    if existing is not None:
        if existing.expires_at > now:
            if channel is not None:
                existing.channel = channel
            return existing, False
        existing.status = IntentStatus.EXPIRED
        existing.open_bill_id = None
        await session.flush()
    if principal.is_staff and not is_owner(bill, principal):
        payer_user_id, payer_phone = bill.owner_user_id, bill.owner_phone  # counter staff
    else:
        payer_user_id, payer_phone = principal.user_id, principal.phone
    reference = _new_reference()
    token = secrets.token_urlsafe(24)
    expires_at = now + INTENT_LIFETIME
    name_en, _ = SERVICE_NAMES.get(bill.service, (bill.service, ""))
    link = await gateway.create_link(LinkRequest(
        reference=reference, amount=bill.total,
        description=f"{name_en} {bill.bill_number} ({bill.consumer_number})",
        customer_name=bill.owner_name, customer_phone=payer_phone,
        callback_url=f"{public_url.rstrip('/')}/pay/{token}/done", expires_at=expires_at,
        notes={"bill_number": bill.bill_number, "tenant": bill.tenant_code},
    ))
    intent = PaymentIntent(
        reference=reference, token=token, bill_id=bill.id, open_bill_id=bill.id,
        tenant_code=bill.tenant_code, amount=bill.total, status=IntentStatus.OPEN,
        gateway=gateway.name, gateway_order_id=link.order_id, gateway_url=link.url,
        payer_user_id=payer_user_id, payer_phone=payer_phone, channel=channel, failures=0,
        expires_at=expires_at, created_at=now,
    )
    session.add(intent)
    await session.flush()
    return intent, True


async def open_or_join_intent(
    session: AsyncSession,
    *,
    bill: Bill,
    principal: Principal,
    gateway: PaymentGateway,
    public_url: str,
    channel: str | None = None,
) -> tuple[PaymentIntent, Bill, bool]:
    """``open_intent``, except that losing a race to a concurrent caller answers with the
    winner's intent (after a rollback, so ``bill`` is read again); returns
    (intent, bill, created). The pay API and ``/r/`` payment links both come through here,
    so a bill never gets two open intents."""
    bill_number = bill.bill_number  # a rollback expires ``bill``
    try:
        intent, created = await open_intent(session, bill=bill, principal=principal,
                                            gateway=gateway, public_url=public_url,
                                            channel=channel)
    except IntegrityError:
        await session.rollback()
        bill = await get_bill(session, bill_number)
        winner = await current_intent(session, bill)
        if winner is None:
            raise Conflict("The bill changed meanwhile; try again.", code="retry") from None
        return winner, bill, False
    return intent, bill, created


async def process_callback(
    session: AsyncSession, callback: GatewayCallback, issuer: ReceiptIssuer | None
) -> CallbackOutcome:
    """Apply one verified gateway callback; record it with its outcome. Never commits."""
    record = PaymentCallback(
        gateway=callback.gateway, event_id=callback.event_id, event=callback.event or "-",
        result=callback.result, intent_reference=(callback.intent_reference or "")[:64] or None,
        gateway_payment_id=callback.gateway_payment_id, amount=callback.amount,
        outcome="received", payload=callback.payload, received_at=utcnow(),
    )
    session.add(record)
    await session.flush()  # first write: on SQLite this serialises concurrent callbacks
    outcome = await _apply(session, callback, issuer)
    record.outcome = outcome.outcome
    record.detail = outcome.detail
    record.payment_id = outcome.payment.id if outcome.payment is not None else None
    await session.flush()
    log.info("payment_callback", gateway=callback.gateway, callback_event=callback.event,
             reference=callback.intent_reference, outcome=outcome.outcome)
    return outcome


async def _apply(
    session: AsyncSession, callback: GatewayCallback, issuer: ReceiptIssuer | None
) -> CallbackOutcome:
    if callback.result == "other":
        return CallbackOutcome(Outcome.IGNORED, f"event {callback.event} needs no action")
    intent = None
    if callback.intent_reference:
        intent = await session.scalar(
            select(PaymentIntent).where(PaymentIntent.reference == callback.intent_reference)
            .with_for_update().execution_options(populate_existing=True))
    if intent is None:
        return CallbackOutcome(Outcome.UNKNOWN_INTENT,
                               f"no payment intent {callback.intent_reference!r}")
    bill = await session.scalar(
        select(Bill).where(Bill.id == intent.bill_id).with_for_update()
        .execution_options(populate_existing=True))
    assert bill is not None
    if callback.result == "failure":
        return _failure(session, callback, intent, bill)
    if not callback.gateway_payment_id or callback.amount is None:
        return CallbackOutcome(Outcome.INVALID, "a success needs a payment id and an amount",
                               intent, bill)
    existing = await session.scalar(select(Payment).where(
        Payment.gateway == callback.gateway,
        Payment.gateway_payment_id == callback.gateway_payment_id))
    if existing is not None:
        return CallbackOutcome(Outcome.DUPLICATE, f"payment {existing.id} already recorded",
                               intent, bill, existing)
    now = utcnow()
    payment = Payment(
        bill_id=bill.id, intent_id=intent.id, tenant_code=bill.tenant_code,
        amount=callback.amount, mode=callback.mode[:16] or "UPI", gateway=callback.gateway,
        gateway_payment_id=callback.gateway_payment_id, payer_user_id=intent.payer_user_id,
        payer_phone=intent.payer_phone, paid_at=now, created_at=now,
    )
    if callback.amount != intent.amount or intent.amount != bill.total:
        payment.status = PaymentStatus.MISMATCH
        detail = f"paid {callback.amount}, expected {intent.amount}"
        outcome = Outcome.AMOUNT_MISMATCH
    elif bill.status != BillStatus.ACTIVE:
        payment.status = PaymentStatus.REFUND_DUE
        detail = f"bill is {bill.status}"
        outcome = Outcome.REFUND_DUE
    else:
        payment.status = PaymentStatus.SUCCESS
        detail, outcome = None, Outcome.PAID
    session.add(payment)
    await session.flush()
    if outcome is not Outcome.PAID:
        _needs_review(session, bill, payment, outcome, detail)
        return CallbackOutcome(outcome, detail, intent, bill, payment)

    bill.status = BillStatus.PAID
    bill.paid_at = now
    intent.status = IntentStatus.PAID
    intent.paid_at = now
    intent.open_bill_id = None
    # A newer intent opened after this one expired has nothing left to collect.
    await session.execute(
        update(PaymentIntent).where(PaymentIntent.open_bill_id == bill.id)
        .values(status=IntentStatus.CANCELLED, open_bill_id=None))
    await session.flush()
    receipt = await issue_receipt(session, bill, payment, issuer)
    await _emit_completed(session, bill, intent, payment, receipt, issuer)
    await run_bill_paid_hooks(session, bill, payment)
    return CallbackOutcome(Outcome.PAID, None, intent, bill, payment, receipt)


def _failure(session: AsyncSession, callback: GatewayCallback, intent: PaymentIntent,
             bill: Bill) -> CallbackOutcome:
    if intent.status == IntentStatus.PAID or bill.status == BillStatus.PAID:
        return CallbackOutcome(Outcome.LATE_FAILURE, "the bill is paid; failure ignored",
                               intent, bill)
    intent.failures += 1
    if callback.event in ("payment_link.expired", "payment_link.cancelled"):
        intent.status = (IntentStatus.EXPIRED if callback.event.endswith("expired")
                         else IntentStatus.CANCELLED)
        intent.open_bill_id = None
    emit(session, "payment.failed", bill.tenant_code, bill.bill_number, {
        "bill_number": bill.bill_number, "service": bill.service, "tenant": bill.tenant_code,
        "intent": intent.reference, "reason": callback.event,
        "payer_user_id": intent.payer_user_id, "payer_phone": intent.payer_phone,
    })
    return CallbackOutcome(Outcome.FAILED, callback.event, intent, bill)


def _needs_review(session: AsyncSession, bill: Bill, payment: Payment, outcome: Outcome,
                  detail: str | None) -> None:
    """Money that did not settle the bill: staff reconcile or refund it."""
    log.warning("payment_needs_review", bill=bill.bill_number, outcome=outcome, detail=detail)
    emit(session, "payment.needs_review", bill.tenant_code, bill.bill_number, {
        "bill_number": bill.bill_number, "tenant": bill.tenant_code, "outcome": outcome.value,
        "detail": detail, "amount": f"{payment.amount:.2f}", "gateway": payment.gateway,
        "gateway_payment_id": payment.gateway_payment_id,
    })


async def _emit_completed(session: AsyncSession, bill: Bill, intent: PaymentIntent,
                          payment: Payment, receipt: Receipt,
                          issuer: ReceiptIssuer | None) -> None:
    payer = None
    if payment.payer_user_id is not None:
        payer = await session.get(User, payment.payer_user_id)
    elif payment.payer_phone:
        payer = await session.scalar(select(User).where(User.phone == payment.payer_phone))
    emit(session, "payment.completed", bill.tenant_code, bill.bill_number, {
        "bill_number": bill.bill_number,
        "service": bill.service,
        "tenant": bill.tenant_code,
        "consumer_number": bill.consumer_number,
        "amount": f"{payment.amount:.2f}",
        "mode": payment.mode,
        "paid_at": payment.paid_at.isoformat(),
        "receipt_number": receipt.receipt_number,
        "receipt_link": issuer.link(receipt) if issuer else None,
        "receipt_verify_url": issuer.verify_url(receipt.receipt_number) if issuer else None,
        "payer_user_id": payer.id if payer else payment.payer_user_id,
        "payer_phone": payment.payer_phone or (payer.phone if payer else None),
        "payer_locale": payer.locale if payer else None,
        "owner_user_id": bill.owner_user_id,
        "channel": intent.channel,
    })


async def settle(
    database: Database, callback: GatewayCallback, issuer: ReceiptIssuer | None,
    attempts: int = 3,
) -> CallbackOutcome:
    """Process a callback in its own transaction and commit it.

    A unique-constraint race (the same payment arriving twice at once) is retried: the
    retry finds the payment and answers DUPLICATE. Any other error is recorded as an
    ``error`` callback and raised, so the gateway retries later.
    """
    for attempt in range(1, attempts + 1):
        async with database.sessions() as session:
            try:
                outcome = await process_callback(session, callback, issuer)
                await session.commit()
                return outcome
            except IntegrityError:
                await session.rollback()
                if attempt == attempts:
                    raise
            except Exception as exc:
                await session.rollback()
                await _record_error(database, callback, exc)
                raise
    raise AssertionError("unreachable")


async def _record_error(database: Database, callback: GatewayCallback, exc: Exception) -> None:
    log.exception("payment_callback_failed", gateway=callback.gateway,
                  reference=callback.intent_reference)
    async with database.sessions() as session:
        session.add(PaymentCallback(
            gateway=callback.gateway, event_id=callback.event_id, event=callback.event or "-",
            result=callback.result, intent_reference=callback.intent_reference,
            gateway_payment_id=callback.gateway_payment_id, amount=callback.amount,
            outcome=Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}"[:2000],
            payload=callback.payload, received_at=utcnow(),
        ))
        await session.commit()
