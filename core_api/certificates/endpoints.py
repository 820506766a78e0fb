"""Births and deaths API: registration search and certificate requests (under /api/v1)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Select, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core_api.auth.deps import CurrentPrincipal
from core_api.auth.principal import Principal
from core_api.certificates import records
from core_api.certificates.issuing import Issuer, issuing_with
from core_api.certificates.models import Certificate, CertificateRequest, Registration
from core_api.certificates.service import (
    BUSINESS_SERVICE,
    RECORD_ROLES,
    create_request,
    take_action,
)
from core_api.certificates.verification import make_code
from core_api.chat_channel import SENT_BY_THE_BOT, ChannelKind
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, BadRequest, Forbidden, NotFound
from core_api.tenants.models import Tenant
from core_api.text import FreeText
from core_api.workflow import service as workflow

registrations_router = APIRouter(prefix="/registrations", tags=["births and deaths"],
                                 responses=ERROR_RESPONSES)
requests_router = APIRouter(prefix="/certificate-requests", tags=["births and deaths"],
                            responses=ERROR_RESPONSES)

Kind = Literal["birth", "death"]
# The requester's relation to the person on the record (models.RELATIONS).
Relation = Literal["self", "parent", "spouse", "child", "other"]


# --- registrations -------------------------------------------------------------------------

class RegistrationOut(BaseModel):
    """A registration; names are masked for citizens, staff of the tenant see them whole."""

    registration_number: str
    kind: Kind
    tenant_code: str
    name: str
    name_hi: str | None
    event_date: date
    gender: str
    father_name: str | None
    mother_name: str | None
    spouse_name: str | None
    # Staff only:
    place_en: str | None = None
    place_hi: str | None = None
    registered_on: date | None = None
    informant_name: str | None = None
    informant_relation: str | None = None
    informant_phone: str | None = None


class RegistrationSearchOut(BaseModel):
    masked: bool = Field(description="True when names are masked (citizen callers)")
    results: list[RegistrationOut] = Field(max_length=records.MAX_RESULTS)


def registration_out(record: Registration, masked: bool) -> RegistrationOut:
    if masked:
        mask = records.mask_name
        return RegistrationOut(
            registration_number=record.registration_number, kind=record.kind,  # type: ignore[arg-type]
            tenant_code=record.tenant_code, name=mask(record.name_en) or "",
            name_hi=mask(record.name_hi), event_date=record.event_date, gender=record.gender,
            father_name=mask(record.father_name), mother_name=mask(record.mother_name),
            spouse_name=mask(record.spouse_name),
        )
    return RegistrationOut(
        registration_number=record.registration_number, kind=record.kind,  # type: ignore[arg-type]
        tenant_code=record.tenant_code, name=record.name_en, name_hi=record.name_hi,
        event_date=record.event_date, gender=record.gender, father_name=record.father_name,
        mother_name=record.mother_name, spouse_name=record.spouse_name,
        place_en=record.place_en, place_hi=record.place_hi, registered_on=record.registered_on,
        informant_name=record.informant_name, informant_relation=record.informant_relation,
        informant_phone=record.informant_phone,
    )


def _sees_masked(principal: Principal, tenant_code: str) -> bool:
    """Citizens see masked records; births-and-deaths staff of the tenant see them whole."""
    if principal.is_citizen:
        principal.require_user()
        return True
    if principal.is_staff:
        principal.require_tenant(tenant_code, set(RECORD_ROLES))
        return False
    raise Forbidden("Records are searched for a citizen or by registry staff.",
                    code="citizen_or_staff_only")


@registrations_router.get(
    "/search", response_model=RegistrationSearchOut,
    summary="Find a birth or death registration by number or by details",
)
async def search_registrations(
    session: SessionDep,
    principal: CurrentPrincipal,
    tenant: Annotated[str, Query(max_length=64, examples=["uk.dehradun"])],
    registration_number: Annotated[str | None, Query(max_length=40)] = None,
    kind: Kind | None = None,
    name: Annotated[str | None, Query(min_length=2, max_length=120)] = None,
    date_of_event: date | None = None,
    parent_name: Annotated[str | None, Query(
        min_length=2, max_length=120,
        description="Father's or mother's name (for a death, the spouse's also matches)",
    )] = None,
) -> RegistrationSearchOut:
    """Search within one ULB, either by the exact registration number or by kind + name
    (spelling-tolerant) + exact date of the event + a parent's name. At most three
    results; citizens get masked names."""
    masked = _sees_masked(principal, tenant)
    if await session.get(Tenant, tenant) is None:
        raise NotFound(f"No tenant {tenant}.", code="unknown_tenant")
    if registration_number:
        record = await records.find_by_number(session, tenant, registration_number)
        found = [record] if record else []
    elif kind and name and date_of_event and parent_name:
        matches = await records.find_by_details(
            session, tenant, kind=kind, name=name, event_date=date_of_event,
            parent_name=parent_name,
        )
        found = [m.record for m in matches]
    else:
        raise BadRequest(
            "Search by registration_number, or by kind, name, date_of_event and parent_name.",
            code="search_criteria_required",
        )
    return RegistrationSearchOut(masked=masked,
                                 results=[registration_out(r, masked) for r in found])


# --- certificate requests -------------------------------------------------------------------

class CertificateRequestIn(BaseModel):
    registration_number: str = Field(max_length=40, examples=["B-DDN-2019-00123"])
    copies: int = Field(1, ge=1, le=5)
    relation: Relation = Field(
        description="The requester's relation to the person on the record: self (it is their "
                    "own), parent, spouse, child or other. A death record takes no \"self\" "
                    "(422 invalid_relation).",
        examples=["parent"])
    applicant_name: FreeText | None = Field(None, max_length=120,
                                       description="CSR only: whom the request is for")
    applicant_phone: str | None = Field(None, max_length=20,
                                        description="CSR only: the applicant's phone")
    channel: ChannelKind | None = Field(
        None, description="The chat channel the request is made on: its news goes there. "
                          + SENT_BY_THE_BOT)


class ActionIn(BaseModel):
    action: Literal["APPROVE", "REJECT", "CANCEL"]
    comment: FreeText | None = Field(None, max_length=2000, description="Required to REJECT")


class CertificateRequestOut(BaseModel):
    request_number: str
    tenant_code: str
    status: str
    status_comment: str | None
    kind: Kind
    registration_number: str
    name: str = Field(description="Masked for citizens")
    name_hi: str | None
    event_date: date
    copies: int
    relation: Relation | None = Field(
        description="The requester's relation to the person on the record (none on requests "
                    "made before it was asked)")
    needs_verification: bool | None = Field(
        None, description="Staff only: the requester's verified number is not the informant's "
                          "phone on the record, so the registrar verifies them before approving")
    requester_name: str | None = Field(None, description="Staff only: who asked")
    requester_phone: str | None = Field(None, description="Staff only: the requester's number")
    fee: Decimal
    fee_bill_number: str | None = Field(description="Pay this bill when the fee is not zero")
    certificate_number: str | None
    issued_at: datetime | None
    download_url: str | None = Field(description="Signed link to the PDF once issued")
    verify_url: str | None
    actions: list[str] | None = Field(None, description="Actions the caller may take now")
    created_at: datetime
    updated_at: datetime


def _issuer(request: Request) -> Issuer:
    settings = request.app.state.settings
    return Issuer(files=request.app.state.files, public_url=settings.public_url,
                  secret_key=settings.secret_key)


def request_out(
    row: CertificateRequest, record: Registration, certificate: Certificate | None,
    principal: Principal, issuer: Issuer, actions: list[str] | None = None,
) -> CertificateRequestOut:
    masked = principal.is_citizen
    download = verify = None
    if certificate is not None and certificate.file_key:
        download = issuer.download_url(certificate.file_key)
        verify = issuer.verify_url(make_code(issuer.secret_key, certificate.id,
                                             certificate.certificate_number))
    return CertificateRequestOut(
        request_number=row.request_number, tenant_code=row.tenant_code, status=row.status,
        status_comment=row.status_comment, kind=record.kind,  # type: ignore[arg-type]
        registration_number=record.registration_number,
        name=(records.mask_name(record.name_en) if masked else record.name_en) or "",
        name_hi=records.mask_name(record.name_hi) if masked else record.name_hi,
        event_date=record.event_date, copies=row.copies,
        relation=row.relation,  # type: ignore[arg-type]
        needs_verification=None if masked else row.needs_verification,
        requester_name=None if masked else row.applicant_name,
        requester_phone=None if masked else row.applicant_phone,
        fee=row.fee, fee_bill_number=row.fee_bill_number,
        certificate_number=certificate.certificate_number if certificate else None,
        issued_at=certificate.issued_at if certificate else None,
        download_url=download, verify_url=verify, actions=actions,
        created_at=row.created_at, updated_at=row.updated_at,
    )


def _joined() -> Select[CertificateRequest, Registration, Certificate]:
    return (
        select(CertificateRequest, Registration, Certificate)
        .join(Registration, Registration.id == CertificateRequest.registration_id)
        .outerjoin(Certificate, Certificate.request_id == CertificateRequest.id)
    )


def _can_see(row: CertificateRequest, principal: Principal) -> bool:
    if principal.is_citizen:
        return principal.user_id is not None and row.owner_user_id == principal.user_id
    return principal.is_staff and principal.can_see_tenant(row.tenant_code)


async def _load(
    session: SessionDep, number: str, principal: Principal
) -> tuple[CertificateRequest, Registration, Certificate | None]:
    """The request if the caller may see it; NotFound otherwise (existence does not leak)."""
    result = (await session.execute(
        _joined().where(CertificateRequest.request_number == number.strip().upper())
        .execution_options(populate_existing=True)
    )).first()
    if result is None or not _can_see(result[0], principal):
        raise NotFound("No certificate request with this number.", code="request_not_found")
    return result[0], result[1], result[2]


async def _detail(
    session: SessionDep, request: Request, number: str, principal: Principal
) -> CertificateRequestOut:
    row, record, certificate = await _load(session, number, principal)
    if principal.is_staff:
        principal.require_tenant(row.tenant_code, set(RECORD_ROLES))
    process = await workflow.load_process(session, BUSINESS_SERVICE, row.request_number)
    definition = await workflow.get_definition(session, BUSINESS_SERVICE)
    actions = workflow.available_actions(definition, process, principal)
    return request_out(row, record, certificate, principal, _issuer(request), actions)


@requests_router.post("", response_model=CertificateRequestOut, status_code=201,
                      summary="Request copies of a birth or death certificate")
async def create_certificate_request(
    body: CertificateRequestIn, request: Request, session: SessionDep,
    principal: CurrentPrincipal,
) -> CertificateRequestOut:
    """A citizen (through the bot) or a CSR applies, saying how the requester is related to
    the person on the record. With a fee, pay ``fee_bill_number`` through the payments flow;
    a zero fee goes straight to the registrar. A requester whose verified number is not the
    record's informant phone (and every request a CSR files) is marked
    ``needs_verification`` for the registrar."""
    row = await create_request(
        session, principal, registration_number=body.registration_number, copies=body.copies,
        relation=body.relation, applicant_phone=body.applicant_phone,
        applicant_name=body.applicant_name, channel=body.channel,
    )
    return await _detail(session, request, row.request_number, principal)


@requests_router.get("", response_model=list[CertificateRequestOut],
                     summary="A citizen's own requests, or a tenant's inbox for staff")
async def list_certificate_requests(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    status: Annotated[str | None, Query(max_length=40, examples=["PENDINGAPPROVAL"])] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CertificateRequestOut]:
    query = _joined()
    if principal.is_citizen:
        query = query.where(CertificateRequest.owner_user_id == principal.require_user())
    elif principal.is_staff:
        if tenant:
            principal.require_tenant(tenant, set(RECORD_ROLES))
            scopes = {tenant}
        else:
            scopes = principal.tenants_for(set(RECORD_ROLES))
            if not scopes:
                raise Forbidden("This needs the REGISTRAR, CSR or ADMIN role.",
                                code="role_forbidden")
        clauses: list[ColumnElement[bool]] = []
        for scope in scopes:
            clauses += [CertificateRequest.tenant_code == scope,
                        CertificateRequest.tenant_code.startswith(scope + ".")]
        query = query.where(or_(*clauses))
    else:
        raise Forbidden("Requests are listed for a citizen or for staff.",
                        code="citizen_or_staff_only")
    if status:
        query = query.where(CertificateRequest.status == status.upper())
    query = query.order_by(CertificateRequest.id.desc()).limit(limit).offset(offset)
    issuer = _issuer(request)
    return [request_out(row, record, certificate, principal, issuer)
            for row, record, certificate in (await session.execute(query)).all()]


@requests_router.get("/{number}", response_model=CertificateRequestOut,
                     summary="One certificate request with its status and download link")
async def get_certificate_request(
    number: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> CertificateRequestOut:
    return await _detail(session, request, number, principal)


@requests_router.post("/{number}/actions", response_model=CertificateRequestOut,
                      summary="Registrar APPROVE / REJECT (with reason), owner CANCEL")
async def act_on_certificate_request(
    number: str, body: ActionIn, request: Request, session: SessionDep,
    principal: CurrentPrincipal,
) -> CertificateRequestOut:
    """APPROVE issues the certificate (PDF, certificate number, verification code)."""
    row, _record, _certificate = await _load(session, number, principal)
    with issuing_with(_issuer(request)):
        await take_action(session, row, principal, body.action, body.comment)
    return await _detail(session, request, row.request_number, principal)
