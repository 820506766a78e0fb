"""Complaints API (PGR): the type catalogue, filing, inbox and "my complaints", actions, photos
(private until a GRO, LME or ADMIN makes one public for Open311)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Header, Path, Query, Request, Response, UploadFile
from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_api import reference
from core_api.auth.deps import CurrentPrincipal
from core_api.auth.principal import Principal
from core_api.complaints import service
from core_api.complaints.catalog import active_catalogue, names_of
from core_api.complaints.schemas import (
    ActionIn,
    CategoryOut,
    ComplaintDetail,
    ComplaintIn,
    ComplaintPage,
    ComplaintTypeOut,
    DepartmentOut,
    PhotoOut,
    PhotoVisibilityIn,
    RecategoriseIn,
)
from core_api.complaints.signing import Signer, signing_with
from core_api.complaints.views import detail, photo_out, summaries
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, BadRequest, Conflict, Forbidden
from core_api.files.store import MAX_IMAGE_BYTES, MAX_UPLOAD_BODY_BYTES
from core_api.phones import normalize_phone

router = APIRouter(tags=["complaints"], responses=ERROR_RESPONSES)

ComplaintId = Annotated[str, Path(max_length=40, examples=["PG-UK-DDN-2026-000123"])]
# A filer's key for one filing: sent again with a repeated request, it finds the complaint
# the first request filed (the bot sends one per inbound message, so a turn run again
# after a worker died does not file twice).
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=8, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
    description="Repeat it with a repeated request: the complaint filed by the first one "
                "is answered (200) instead of a new one (201). Kept per citizen.")]


def _signer(request: Request) -> Signer:
    settings = request.app.state.settings
    return Signer(settings.public_url, settings.secret_key)


_CATALOGUE_JSON = TypeAdapter(list[CategoryOut])


@router.get("/complaint-types", response_model=list[CategoryOut],
            summary="Complaint categories and types (names in every locale)")
async def list_complaint_types(session: SessionDep, _principal: CurrentPrincipal) -> Response:
    """Active categories in menu order; each type with its department, SLA and keywords.
    The JSON is built once per catalogue cache period (``core_api.reference``)."""
    body: bytes = await reference.cached(session, "complaint_types_json", _catalogue_json)
    return Response(body, media_type="application/json")


async def _catalogue_json(session: AsyncSession) -> bytes:
    return _CATALOGUE_JSON.dump_json([
        CategoryOut(
            code=category.code,
            names=names_of(category),
            types=[
                ComplaintTypeOut(
                    code=complaint_type.code, names=names_of(complaint_type),
                    department=DepartmentOut(code=department.code, names=names_of(department)),
                    sla_hours=complaint_type.sla_hours, keywords=complaint_type.keywords,
                )
                for complaint_type, department in types
            ],
        )
        for category, types in await active_catalogue(session)
    ])


async def _filer(session: AsyncSession, body: ComplaintIn, principal: Principal,
                 tenant_code: str) -> tuple[int, Principal, str]:
    """Who owns the new complaint (user id), who applies (workflow principal), the source."""
    if principal.is_staff:
        principal.require_tenant(tenant_code, set(service.FILING_ROLES))
        if not body.citizen_phone:
            raise BadRequest("Give the phone number of the citizen you file for.",
                             code="citizen_phone_required")
        citizen = await service.ensure_citizen(session, body.citizen_phone, body.citizen_name)
        return citizen.id, principal, "csr"
    if not principal.is_citizen or principal.phone is None:
        raise Forbidden("File complaints as a citizen (through the bot) or as CSR staff.",
                        code="citizen_or_csr_only")
    if body.citizen_phone and normalize_phone(body.citizen_phone) != principal.phone:
        raise Forbidden("A citizen files only for their own number.", code="other_citizen")
    if principal.user_id is None:  # a verified number writing for the first time
        citizen = await service.ensure_citizen(session, principal.phone, body.citizen_name)
        return citizen.id, service.citizen_principal(citizen), body.source or "whatsapp"
    return principal.user_id, principal, body.source or "whatsapp"


@router.post("/complaints", response_model=ComplaintDetail, status_code=201,
             summary="File a complaint (citizen through the bot, or CSR for a citizen)")
async def create_complaint(body: ComplaintIn, request: Request, response: Response,
                           session: SessionDep, principal: CurrentPrincipal,
                           idempotency_key: IdempotencyKey = None) -> ComplaintDetail:
    """Numbers the complaint (PG-UK-DDN-2026-000123), starts PGR and sets the SLA due date.
    With an ``Idempotency-Key`` the citizen used before, that filing's complaint is answered
    with 200 and nothing is filed."""
    if not (principal.is_staff or principal.is_citizen):
        raise Forbidden("File complaints as a citizen (through the bot) or as CSR staff.",
                        code="citizen_or_csr_only")
    complaint_type = await service.get_type(session, body.type_code)
    placement = await service.place(session, tenant_code=body.tenant_code,
                                    locality_id=body.locality_id, lat=body.lat, lng=body.lng)
    citizen_id, applicant, source = await _filer(session, body, principal,
                                                 placement.tenant.code)
    try:
        complaint = await service.file_complaint(
            session, placement=placement, complaint_type=complaint_type, citizen_id=citizen_id,
            principal=applicant, source=source, description=body.description,
            lat=body.lat, lng=body.lng, address=body.address, request_key=idempotency_key,
        )
    except IntegrityError as exc:
        if idempotency_key is None:
            raise
        # The key was used before: nothing of this request stays, the first filing answers.
        await session.rollback()
        earlier = await service.filed_with_key(session, citizen_id, idempotency_key)
        if earlier is None:
            raise Conflict("This filing is being stored by an earlier request; ask again in a "
                           "moment for its complaint.", code="request_in_progress") from exc
        response.status_code = 200
        complaint = earlier
    return await detail(session, complaint, applicant, _signer(request))


@router.get("/complaints", response_model=ComplaintPage,
            summary="My complaints (citizen) or the complaint inbox (staff)")
async def list_complaints(
    session: SessionDep,
    principal: CurrentPrincipal,
    tenant: Annotated[str | None, Query(description="Staff: a ULB (or state) code")] = None,
    status: Annotated[list[str] | None, Query(description="Workflow states to include")] = None,
    assignee: Annotated[Literal["me"] | None, Query(description="Staff: only mine")] = None,
    assignee_id: Annotated[int | None, Query(description="Staff: assigned to")] = None,
    type_code: Annotated[str | None, Query(alias="type")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    order: Annotated[Literal["newest", "oldest"],
                     Query(description="newest first (default) or oldest first")] = "newest",
) -> ComplaintPage:
    """Citizens get their own, staff the tenants they hold a PGR role in; newest first
    unless ``order=oldest`` (the bot asks for the longest waiting in one request)."""
    if principal.is_citizen:
        rows, total = await service.citizen_page(
            session, principal, statuses=status, type_code=type_code, oldest=order == "oldest",
            limit=limit, offset=offset)
    elif principal.is_staff:
        query = await service.inbox_query(
            session, principal, tenant_code=tenant, statuses=status, type_code=type_code,
            assignee_user_id=principal.user_id if assignee == "me" else assignee_id,
        )
        if order == "oldest":
            query = service.oldest_first(query)
        rows, total = await service.page(session, query, limit, offset)
    else:
        raise Forbidden("Complaints are listed for a citizen or for staff.",
                        code="citizen_or_staff_only")
    return ComplaintPage(items=await summaries(session, rows), total=total, limit=limit,
                         offset=offset)


@router.get("/complaints/{complaint_id}", response_model=ComplaintDetail,
            summary="One complaint with its history and the caller's possible actions")
async def get_complaint(complaint_id: ComplaintId, request: Request, session: SessionDep,
                        principal: CurrentPrincipal) -> ComplaintDetail:
    """The owner or staff of the complaint's city; anyone else gets 404."""
    complaint = await service.get_visible(session, complaint_id, principal)
    return await detail(session, complaint, principal, _signer(request))


@router.post("/complaints/{complaint_id}/actions", response_model=ComplaintDetail,
             summary="Act on a complaint: ASSIGN, REJECT, REASSIGN, RESOLVE, REOPEN, RATE")
async def act_on_complaint(complaint_id: ComplaintId, body: ActionIn, request: Request,
                           session: SessionDep, principal: CurrentPrincipal) -> ComplaintDetail:
    """GRO assigns (to an LME of the type's department) or rejects; the assigned LME resolves
    or sends back; the citizen reopens (with a reason) or rates 1-5."""
    complaint = await service.get_visible(session, complaint_id, principal)
    sign = _signer(request)
    with signing_with(sign):  # the event links the photos attached to the action
        await service.take_action(
            session, complaint, principal, action=body.action, comment=body.comment,
            assignee_id=body.assignee_id, rating=body.rating, photo_keys=body.photos,
        )
    return await detail(session, complaint, principal, sign)


@router.post("/complaints/{complaint_id}/category", response_model=ComplaintDetail,
             summary="Re-route an open complaint to another type (and department): GRO, ADMIN")
async def recategorise_complaint(complaint_id: ComplaintId, body: RecategoriseIn,
                                 request: Request, session: SessionDep,
                                 principal: CurrentPrincipal) -> ComplaintDetail:
    """A GRO or ADMIN of the complaint's city changes the type of a complaint filed under
    the wrong one (403 for others, 404 outside their cities, 409 once it is resolved,
    rejected or closed, 422 for an unknown or inactive type). The state and assignee stay;
    the history gets a RECATEGORISE step and the new department's GROs are told."""
    complaint = await service.get_visible(session, complaint_id, principal)
    await service.recategorise(session, complaint, principal, type_code=body.type_code,
                               comment=body.comment)
    return await detail(session, complaint, principal, _signer(request))


@router.post("/complaints/{complaint_id}/photos", response_model=PhotoOut, status_code=201,
             summary="Add a photo (JPEG, PNG or WebP, at most 5 MB, 3 per complaint)",
             max_body_size=MAX_UPLOAD_BODY_BYTES)
async def upload_photo(
    complaint_id: ComplaintId,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="The image, multipart/form-data")],
) -> PhotoOut:
    """The owner or staff of the city attach a photo; the answer has a signed link."""
    complaint = await service.get_visible(session, complaint_id, principal)
    # Read one byte past the limit: enough to refuse an oversized file without holding it.
    data = await file.read(MAX_IMAGE_BYTES + 1)
    photo = await service.add_photo(session, request.app.state.files, complaint, principal,
                                    data, file.content_type or "")
    return photo_out(photo, _signer(request))


@router.patch("/complaints/{complaint_id}/photos/{photo_id}", response_model=PhotoOut,
              summary="Make a photo public on Open311, or private again (GRO, LME, ADMIN)")
async def set_photo_visibility(
    complaint_id: ComplaintId,
    photo_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: PhotoVisibilityIn,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> PhotoOut:
    """Staff of the complaint's city with GRO, LME or ADMIN decide; others see 404 (not their
    complaint) or 403. A public photo gets a stable link (``public_url``) that Open311 shows
    as ``media_url``; making it private again stops that link."""
    complaint = await service.get_visible(session, complaint_id, principal)
    photo = await service.set_photo_public(session, complaint, principal, photo_id, body.public)
    return photo_out(photo, _signer(request))
