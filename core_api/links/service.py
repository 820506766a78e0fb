"""Short links: random codes, targets built from a case (never from a caller's URL), reuse,
expiry and the lazy purge.

A link's ``target`` is one of:

- ``/files/<key>``: a receipt or certificate PDF; signed afresh on every opening, so the
  short link (not a long-lived signed URL) is what the SMS carries;
- ``/pay/<token>``: the bill's open payment page (opened with ``?choose=1``: a button to
  the UPI app and one to the gateway, since an SMS cannot carry a tappable ``upi://``);
- ``complaint:<number>``: the public status page of a complaint, which ``/r/<code>``
  renders itself (there is no public page by complaint number: numbers are sequential).

Who may ask: the bot's service credential. When it acts for a number (``X-On-Behalf-Of``),
the case must be that person's (or staff's of that ULB); a case that is not theirs answers
404 like an unknown one, so its existence does not leak.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.auth.principal import Principal
from core_api.bills.models import Bill
from core_api.bills.service import can_read, get_bill
from core_api.certificates.models import Certificate, CertificateRequest
from core_api.complaints.models import Complaint
from core_api.complaints.service import can_view
from core_api.errors import Conflict, NotFound
from core_api.files import signed_url
from core_api.links.models import ShortLink
from core_api.payments.gateways import gateways_of
from core_api.payments.models import PaymentIntent, Receipt
from core_api.payments.receipts import ReceiptIssuer, ensure_pdf
from core_api.payments.service import current_intent, open_or_join_intent

# No 0/O/o, 1/I/l: a code read aloud or copied by hand stays unambiguous.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
# Six characters keep https://samvad.ddn.gov.in/r/<code> at 34 characters (SMS budget);
# 56^6 is about 3 * 10^10 codes, and /r/ throttles addresses that miss repeatedly.
CODE_LENGTH = 6
CODE_PATTERN = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
FILE_PREFIX = "/files/"
PAY_PREFIX = "/pay/"
COMPLAINT_PREFIX = "complaint:"
OPENED_FILE_LIFETIME_S = 3600  # the signed URL one opening redirects to
REUSE_MARGIN = timedelta(days=1)  # a link closer than this to its end is not handed out again
EXPIRED_KEPT = timedelta(days=30)  # "expired" (410) this long, then purged ("unknown", 404)


class LinkKind(StrEnum):
    RECEIPT = "receipt"
    CERTIFICATE = "certificate"
    COMPLAINT = "complaint"
    PAYMENT = "payment"


@dataclass(frozen=True)
class Made:
    """The short link handed out, and whether it was made now (else reused)."""

    link: ShortLink
    created: bool


def new_code() -> str:
    """A random code (``secrets``): one link tells nothing about another."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def short_url(public_url: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/r/{code}"


def _acting(principal: Principal) -> bool:
    """True when the service acts for a number, whose case it must then be."""
    return not principal.is_service


async def _receipt_target(session: AsyncSession, ref: str, principal: Principal,
                          state: Any) -> str:
    row = (await session.execute(
        select(Receipt, Bill).join(Bill, Bill.id == Receipt.bill_id)
        .where(Receipt.receipt_number == ref.strip().upper())
    )).first()
    if row is None:
        raise NotFound("No such receipt.", code="receipt_not_found")
    receipt, bill = row
    if _acting(principal) and not (
        (principal.is_staff and principal.can_see_tenant(receipt.tenant_code))
        or (principal.user_id is not None
            and principal.user_id in (receipt.payer_user_id, bill.owner_user_id))
        or (bool(principal.phone) and principal.phone in (receipt.payer_phone, bill.owner_phone))
    ):
        raise NotFound("No such receipt.", code="receipt_not_found")
    return FILE_PREFIX + await ensure_pdf(session, receipt, ReceiptIssuer.of(state))


async def _certificate_target(session: AsyncSession, ref: str, principal: Principal,
                              state: Any) -> str:
    row = (await session.execute(
        select(CertificateRequest, Certificate)
        .outerjoin(Certificate, Certificate.request_id == CertificateRequest.id)
        .where(CertificateRequest.request_number == ref.strip().upper())
    )).first()
    if row is None:
        raise NotFound("No certificate request with this number.", code="request_not_found")
    request, certificate = row
    if _acting(principal) and not (
        (principal.is_citizen and principal.user_id is not None
         and request.owner_user_id == principal.user_id)
        # Without an owner account the request's news goes to the applicant's number.
        or (request.owner_user_id is None and bool(principal.phone)
            and request.applicant_phone == principal.phone)
        or (principal.is_staff and principal.can_see_tenant(request.tenant_code))
    ):
        raise NotFound("No certificate request with this number.", code="request_not_found")
    if certificate is None or not certificate.file_key:
        raise NotFound("No certificate has been issued for this request yet.",
                       code="certificate_not_issued")
    return FILE_PREFIX + certificate.file_key


async def _complaint_target(session: AsyncSession, ref: str, principal: Principal,
                            state: Any) -> str:
    complaint = await session.scalar(
        select(Complaint).where(Complaint.complaint_no == ref.strip().upper()))
    if complaint is None or (_acting(principal) and not can_view(principal, complaint)):
        raise NotFound(f"No complaint {ref}.", code="complaint_not_found")
    return COMPLAINT_PREFIX + complaint.complaint_no


async def _payment_target(session: AsyncSession, ref: str, principal: Principal,
                          state: Any) -> str:
    """The bill's open payment page, opening the intent the way the pay API does. Besides
    those who may read the bill, the payer who opened its current intent may link it (a
    citizen paying someone else's bill named its consumer number then)."""
    bill = await get_bill(session, ref)
    if _acting(principal) and can_read(bill, principal, None) is None:
        intent: PaymentIntent | None = await current_intent(session, bill)
        if intent is None or not principal.phone or intent.payer_phone != principal.phone:
            raise NotFound("No such bill.", code="bill_not_found")
    settings = state.settings
    gateway = gateways_of(state).get(settings.active_payment_gateway or "")
    if gateway is None:
        raise Conflict("Online payment is not set up here; pay at the ULB office.",
                       code="payments_unavailable")
    intent, _bill, _created = await open_or_join_intent(
        session, bill=bill, principal=principal, gateway=gateway,
        public_url=settings.public_url)
    return PAY_PREFIX + intent.token


_TARGETS = {
    LinkKind.RECEIPT: _receipt_target,
    LinkKind.CERTIFICATE: _certificate_target,
    LinkKind.COMPLAINT: _complaint_target,
    LinkKind.PAYMENT: _payment_target,
}


async def shorten(session: AsyncSession, kind: LinkKind, ref: str, principal: Principal,
                  state: Any, now: datetime) -> Made:
    """The short link to case ``ref`` of ``kind``: an unexpired one for the same target if
    there is one, else a new one valid ``SAMVAD_SHORT_LINK_DAYS``. NotFound/Conflict when
    there is nothing to link to (or it is not the caller's)."""
    target = await _TARGETS[kind](session, ref, principal, state)
    lifetime = timedelta(days=state.settings.short_link_days)
    reusable = await session.scalar(
        select(ShortLink)
        .where(ShortLink.kind == kind.value, ShortLink.target == target,
               ShortLink.expires_at > now + min(REUSE_MARGIN, lifetime / 2))
        .order_by(ShortLink.expires_at.desc()).limit(1))
    if reusable is not None:
        return Made(reusable, created=False)
    code = new_code()
    while await session.get(ShortLink, code) is not None:  # ~never: 3 * 10^10 codes
        code = new_code()
    link = ShortLink(code=code, target=target, kind=kind.value, expires_at=now + lifetime,
                     created_at=now)
    session.add(link)
    await purge_expired(session, now)
    await session.flush()
    return Made(link, created=True)


async def purge_expired(session: AsyncSession, now: datetime) -> None:
    """Forget links expired more than ``EXPIRED_KEPT`` ago (run lazily, on each new link)."""
    await session.execute(delete(ShortLink).where(ShortLink.expires_at < now - EXPIRED_KEPT))


async def find(session: AsyncSession, code: str) -> ShortLink | None:
    """The link with this code (expired or not); None for anything else."""
    if not CODE_PATTERN.fullmatch(code):
        return None
    return await session.get(ShortLink, code)


def redirect_location(link: ShortLink, secret_key: str) -> str | None:
    """Where opening ``link`` goes (a path on this site); None for in-place pages."""
    if link.target.startswith(FILE_PREFIX):
        return signed_url("", secret_key, link.target.removeprefix(FILE_PREFIX),
                          OPENED_FILE_LIFETIME_S)
    if link.target.startswith(PAY_PREFIX):
        return link.target + "?choose=1"  # the UPI app and the gateway, side by side
    return None
