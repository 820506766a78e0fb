"""Issuing a certificate: number, verification code, bilingual PDF in the file store.

Issuing needs the file store and the public URL, which live on the application; the
certificate-request endpoints hand them over with ``issuing_with`` around the APPROVE
transition. Approving through any other path finds no issuer and is refused, so an
ISSUED request always has its certificate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy.ext.asyncio import AsyncSession

from core_api.certificates.models import BIRTH, Certificate, CertificateRequest, Registration
from core_api.certificates.numbering import next_number
from core_api.certificates.verification import make_code
from core_api.db import utcnow
from core_api.documents import CertificateDoc, render_certificate
from core_api.errors import Conflict
from core_api.files import FileStore, signed_url
from core_api.tenants.models import Tenant

CERTIFICATE_PREFIX = {"birth": "BC", "death": "DC"}


@dataclass(frozen=True)
class Issuer:
    """What issuing needs from the application."""

    files: FileStore
    public_url: str
    secret_key: str

    def verify_url(self, code: str) -> str:
        return f"{self.public_url.rstrip('/')}/verify/{code}"

    def download_url(self, key: str) -> str:
        return signed_url(self.public_url, self.secret_key, key)


_issuer: ContextVar[Issuer | None] = ContextVar("certificate_issuer", default=None)


@contextmanager
def issuing_with(issuer: Issuer) -> Iterator[None]:
    """Make ``issuer`` available to the workflow hook for the enclosed transition."""
    token = _issuer.set(issuer)
    try:
        yield
    finally:
        _issuer.reset(token)


def current_issuer() -> Issuer:
    issuer = _issuer.get()
    if issuer is None:
        raise Conflict(
            "Approve certificate requests with POST /api/v1/certificate-requests/{number}/actions.",
            code="use_certificate_actions",
        )
    return issuer


def _bilingual(en: str | None, hi: str | None) -> str | None:
    if en and hi:
        return f"{en} / {hi}"
    return en or hi


async def issue_certificate(
    session: AsyncSession,
    request: CertificateRequest,
    registration: Registration,
    *,
    registrar_user_id: int | None,
    registrar_name: str | None,
) -> tuple[Certificate, str]:
    """Number, render and store the certificate of ``request``; return it and its code."""
    issuer = current_issuer()
    tenant = await session.get(Tenant, registration.tenant_code)
    assert tenant is not None  # a foreign key
    now = utcnow()
    certificate = Certificate(
        certificate_number=await next_number(
            session, CERTIFICATE_PREFIX[registration.kind], tenant, now=now),
        request_id=request.id,
        registration_id=registration.id,
        tenant_code=registration.tenant_code,
        kind=registration.kind,
        issued_at=now,
        issued_by_user_id=registrar_user_id,
    )
    session.add(certificate)
    await session.flush()  # the id is part of the verification code printed on the PDF
    code = make_code(issuer.secret_key, certificate.id, certificate.certificate_number)
    doc = CertificateDoc(
        kind=cast(Literal["birth", "death"], registration.kind),
        certificate_number=certificate.certificate_number,
        registration_number=registration.registration_number,
        tenant_name_en=tenant.name_en,
        tenant_name_hi=tenant.name_hi,
        name_en=registration.name_en,
        name_hi=registration.name_hi,
        event_date=registration.event_date,
        place_en=registration.place_en,
        place_hi=registration.place_hi,
        gender=registration.gender,
        father_name=_bilingual(registration.father_name, registration.father_name_hi),
        mother_name=_bilingual(registration.mother_name, registration.mother_name_hi),
        spouse_name=(None if registration.kind == BIRTH else
                     _bilingual(registration.spouse_name, registration.spouse_name_hi)),
        registered_on=registration.registered_on,
        issued_at=now,
        registrar_name=registrar_name or "Registrar",
        verify_url=issuer.verify_url(code),
    )
    pdf = await asyncio.to_thread(render_certificate, doc)
    stored = await issuer.files.put(pdf, "application/pdf", f"certificates/{tenant.code}")
    certificate.file_key = stored.key
    await session.flush()
    return certificate, code
