"""Certificate requests: apply, pay the fee (or not), registrar decision, issue.

The BND-CERT workflow owns the state; ``_on_transition`` mirrors it onto the request
row and writes the domain events, whichever path took the action (these endpoints,
the payments hook, the generic workflow API).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.auth.principal import Principal
from core_api.bills.models import Bill, BillStatus
from core_api.bills.service import create_bill
from core_api.certificates.fees import Fee, compute_fee
from core_api.certificates.issuing import current_issuer, issue_certificate
from core_api.certificates.models import (
    RELATIONS,
    RELATIONS_BY_KIND,
    Certificate,
    CertificateRequest,
    Registration,
)
from core_api.certificates.numbering import IST, next_number
from core_api.complaints.recipients import role_recipients
from core_api.db import utcnow
from core_api.documents import format_inr
from core_api.errors import BadRequest, Conflict, Forbidden, NotFound, UnprocessableEntity
from core_api.events.outbox import emit
from core_api.payments.hooks import on_bill_paid
from core_api.phones import normalize_phone
from core_api.tenants.models import Tenant
from core_api.users.models import Role, User, UserKind
from core_api.workflow import service as workflow
from core_api.workflow.service import SYSTEM_PRINCIPAL, Move

log = structlog.get_logger(__name__)

BUSINESS_SERVICE = "BND-CERT"
FEE_SERVICE = "BND_CERT_FEE"
FEE_DUE_DAYS = 15
PENDING_PAYMENT, PENDING_APPROVAL, ISSUED = "PENDINGPAYMENT", "PENDINGAPPROVAL", "ISSUED"
REJECTED, CANCELLED = "REJECTED", "CANCELLED"
OPEN_STATES = (PENDING_PAYMENT, PENDING_APPROVAL)
# Staff who work with births and deaths records and requests.
RECORD_ROLES = frozenset({Role.REGISTRAR, Role.CSR, Role.ADMIN})
_KIND_HI = {"birth": "जन्म", "death": "मृत्यु"}


async def registration_by_number(session: AsyncSession, number: str) -> Registration:
    """The registration with this number in any tenant, or NotFound."""
    record = await session.scalar(
        select(Registration).where(
            Registration.registration_number == "".join(number.split()).upper())
    )
    if record is None:
        raise NotFound("No birth or death registration has this number.",
                       code="registration_not_found")
    return record


@dataclass(frozen=True)
class Applicant:
    owner_user_id: int | None
    name: str
    phone: str | None
    # The number is the one the channel verified (the citizen themselves, through the bot),
    # not one a CSR typed in.
    phone_verified: bool = False


def check_relation(registration: Registration, relation: str) -> None:
    """Refuse a relation that cannot hold for this kind of record (422)."""
    allowed = RELATIONS_BY_KIND.get(registration.kind, RELATIONS)
    if relation not in allowed:
        raise UnprocessableEntity(
            f"The relation {relation!r} does not fit a {registration.kind} record; "
            f"give one of: {', '.join(allowed)}.",
            code="invalid_relation", details={"kind": registration.kind, "allowed": list(allowed)},
        )


def linked_to_record(registration: Registration, applicant: Applicant) -> bool:
    """True when the requester's verified number is the informant's phone on the record."""
    if not (applicant.phone_verified and applicant.phone and registration.informant_phone):
        return False
    try:
        return normalize_phone(registration.informant_phone) == normalize_phone(applicant.phone)
    except BadRequest:  # a malformed number on the record links nobody
        return False


async def _applicant(
    session: AsyncSession, principal: Principal, registration: Registration,
    applicant_phone: str | None, applicant_name: str | None,
) -> Applicant:
    """Who the request is for: the citizen calling, or the citizen a CSR files for."""
    if principal.is_citizen:
        user_id = principal.require_user()
        # A bill needs an owner name; a citizen who never gave one is "Applicant".
        name = principal.name or (applicant_name or "").strip() or "Applicant"
        return Applicant(user_id, name, principal.phone, phone_verified=True)
    if not principal.is_staff:
        raise Forbidden("Certificates are requested by a citizen or a CSR.",
                        code="citizen_or_csr_only")
    principal.require_tenant(registration.tenant_code, {Role.CSR})
    if not (applicant_name and applicant_name.strip()):
        raise BadRequest("Give the applicant's name.", code="applicant_name_required")
    phone = normalize_phone(applicant_phone) if applicant_phone else None
    owner = None
    if phone:
        owner = await session.scalar(
            select(User.id).where(User.phone == phone, User.kind == UserKind.CITIZEN))
    return Applicant(owner, applicant_name.strip(), phone)


def _fee_lines(kind: str, fee: Fee) -> list[tuple[str, str, str, Any]]:
    paid = fee.copies - fee.free_copies
    en = (f"{kind.title()} certificate, {paid} {'copy' if paid == 1 else 'copies'}"
          f" × {format_inr(fee.per_copy)}")
    hi = (f"{_KIND_HI[kind]} प्रमाण पत्र, {paid} {'प्रति' if paid == 1 else 'प्रतियाँ'}"
          f" × {format_inr(fee.per_copy)}")
    if fee.free_copies:
        en += " (first copy free)"
        hi += " (पहली प्रति निःशुल्क)"
    return [("BND_CERT_COPY", en, hi, fee.total)]


async def create_request(
    session: AsyncSession,
    principal: Principal,
    *,
    registration_number: str,
    copies: int,
    relation: str,
    applicant_phone: str | None = None,
    applicant_name: str | None = None,
    channel: str | None = None,
) -> CertificateRequest:
    """Apply for copies; start BND-CERT, then bill the fee or waive a zero fee.

    ``relation`` is the requester's relation to the person on the record. A requester whose
    verified number is not the record's informant phone (or a request a CSR files) is
    marked ``needs_verification``: the registrar checks who they are before approving.
    ``channel`` is the chat channel the request is made on, where its news goes."""
    registration = await registration_by_number(session, registration_number)
    check_relation(registration, relation)
    applicant = await _applicant(session, principal, registration, applicant_phone,
                                 applicant_name)
    if applicant.owner_user_id is not None:
        open_request = await session.scalar(
            select(CertificateRequest.request_number).where(
                CertificateRequest.registration_id == registration.id,
                CertificateRequest.owner_user_id == applicant.owner_user_id,
                CertificateRequest.status.in_(OPEN_STATES),
            )
        )
        if open_request:
            raise Conflict(
                f"There is already an open request {open_request} for this record.",
                code="request_open", details={"request_number": open_request},
            )
    earlier = await session.scalar(
        select(CertificateRequest.id).where(
            CertificateRequest.registration_id == registration.id,
            CertificateRequest.status.not_in((REJECTED, CANCELLED)),
        ).limit(1)
    )
    now = utcnow()
    today = now.astimezone(IST).date()
    fee = compute_fee(registration.tenant_code, registration.kind, copies,
                      registered_on=registration.registered_on, today=today,
                      first_request=earlier is None)
    tenant = await session.get(Tenant, registration.tenant_code)
    assert tenant is not None  # a foreign key
    request = CertificateRequest(
        request_number=await next_number(session, "CR", tenant, now=now),
        tenant_code=registration.tenant_code,
        registration_id=registration.id,
        owner_user_id=applicant.owner_user_id,
        created_by_user_id=principal.user_id,
        applicant_name=applicant.name,
        applicant_phone=applicant.phone,
        relation=relation,
        needs_verification=not linked_to_record(registration, applicant),
        copies=copies,
        channel=channel,
        fee=fee.total,
        status="NEW",
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    await session.flush()
    await workflow.start(
        session, business_service=BUSINESS_SERVICE, business_id=request.request_number,
        tenant_code=request.tenant_code, principal=principal,
        owner_user_id=applicant.owner_user_id,
    )
    if fee.total == 0:
        await workflow.transition(
            session, business_service=BUSINESS_SERVICE, business_id=request.request_number,
            action="PAY", principal=SYSTEM_PRINCIPAL, comment="no fee",
        )
    else:
        bill = await create_bill(
            session, tenant_code=request.tenant_code, service=FEE_SERVICE,
            consumer_number=request.request_number, owner_user_id=applicant.owner_user_id,
            owner_name=applicant.name, owner_phone=applicant.phone,
            period_from=today, period_to=today, due_date=today + timedelta(days=FEE_DUE_DAYS),
            lines=_fee_lines(registration.kind, fee),
        )
        request.fee_bill_number = bill.bill_number
    await session.flush()
    return request


async def take_action(
    session: AsyncSession, request: CertificateRequest, principal: Principal,
    action: str, comment: str | None,
) -> Move:
    """A registrar's APPROVE/REJECT or the owner's CANCEL, under the workflow's rules."""
    return await workflow.transition(
        session, business_service=BUSINESS_SERVICE, business_id=request.request_number,
        action=action, principal=principal, comment=comment,
    )


async def _recipient(session: AsyncSession, request: CertificateRequest) -> dict[str, Any]:
    """Whom to tell about the request: the owner's user id, phone and language (the
    ``citizen_*`` fields of ``certificate.*`` events, core_api.events.contract)."""
    user = await session.get(User, request.owner_user_id) if request.owner_user_id else None
    return {
        "citizen_user_id": user.id if user else None,
        "citizen_phone": user.phone if user else request.applicant_phone,
        "citizen_locale": user.locale if user else None,
    }


async def _on_transition(
    session: AsyncSession, move: Move, principal: Principal, comment: str | None
) -> None:
    """Keep the request row in step with the workflow, issue on ISSUED, emit events."""
    request = await session.scalar(
        select(CertificateRequest).where(
            CertificateRequest.request_number == move.process.business_id)
    )
    if request is None:
        raise NotFound(f"No certificate request {move.process.business_id}.")
    registration = await session.get(Registration, request.registration_id)
    assert registration is not None  # a foreign key
    request.status = move.to_state
    request.status_comment = (comment or "").strip() or None
    request.updated_at = utcnow()
    recipient = await _recipient(session, request)
    payload: dict[str, Any] = {
        "request_number": request.request_number,
        "registration_number": registration.registration_number,
        "kind": registration.kind,
        "action": move.action,
        "from_status": move.from_state,
        "status": move.to_state,
        "comment": request.status_comment,
        "fee": str(request.fee),
        "fee_bill_number": request.fee_bill_number,
        **recipient,
        "channel": request.channel,
    }
    if move.to_state == PENDING_APPROVAL:  # the registrars must decide
        payload["approvers"] = await role_recipients(session, Role.REGISTRAR,
                                                     request.tenant_code)
    emit(session, "certificate.status_changed", request.tenant_code, request.request_number,
         payload)
    if move.to_state == CANCELLED and request.fee_bill_number:
        await _cancel_fee_bill(session, request.fee_bill_number)
    if move.to_state == ISSUED:
        certificate, code = await issue_certificate(
            session, request, registration,
            registrar_user_id=principal.user_id, registrar_name=principal.name,
        )
        issuer = current_issuer()
        assert certificate.file_key is not None
        emit(session, "certificate.issued", request.tenant_code, request.request_number, {
            "request_number": request.request_number,
            "certificate_number": certificate.certificate_number,
            "registration_number": registration.registration_number,
            "kind": registration.kind,
            "issued_at": certificate.issued_at.isoformat(),
            "download_url": issuer.download_url(certificate.file_key),
            "verify_url": issuer.verify_url(code),
            **recipient,
            "channel": request.channel,
        })
    await session.flush()


async def _cancel_fee_bill(session: AsyncSession, bill_number: str) -> None:
    """A cancelled request's unpaid fee bill is cancelled too, so nobody pays it by mistake."""
    bill = await session.scalar(select(Bill).where(Bill.bill_number == bill_number)
                                .with_for_update())
    if bill is not None and bill.status == BillStatus.ACTIVE:
        bill.status = BillStatus.CANCELLED


async def _on_fee_paid(session: AsyncSession, bill: Any, payment: Any) -> None:
    """A BND_CERT_FEE bill was paid: Samvad records the payment on the request (PAY)."""
    request = await session.scalar(
        select(CertificateRequest).where(CertificateRequest.fee_bill_number == bill.bill_number)
    )
    if request is None:
        log.warning("certificate_fee_without_request", bill_number=bill.bill_number)
        return
    if request.status != PENDING_PAYMENT:
        # Paid after a cancellation (or twice): the money is on the bill; nothing to move.
        log.warning("certificate_fee_paid_late", request_number=request.request_number,
                    status=request.status)
        return
    await workflow.transition(
        session, business_service=BUSINESS_SERVICE, business_id=request.request_number,
        action="PAY", principal=SYSTEM_PRINCIPAL, comment=f"fee paid (bill {bill.bill_number})",
    )


async def certificate_of(session: AsyncSession, request: CertificateRequest) -> Certificate | None:
    return await session.scalar(select(Certificate).where(Certificate.request_id == request.id))


workflow.on_transition(BUSINESS_SERVICE, _on_transition)
on_bill_paid(FEE_SERVICE, _on_fee_paid)
