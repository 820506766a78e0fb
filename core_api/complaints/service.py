"""Complaint rules: filing, numbering, who sees what, actions through the PGR workflow, photos.

Every status change goes through ``core_api.workflow.service``; the hook registered at the
bottom keeps ``Complaint.status`` in step and writes ``complaint.*`` outbox events, whichever
endpoint (complaints, workflow, Open311, a timer) took the action.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_api import reference
from core_api.auth.principal import Principal
from core_api.chat_channel import CHANNEL_KIND_PATTERN
from core_api.complaints.catalog import names_of
from core_api.complaints.models import (
    MAX_PHOTOS,
    STAFF_SOURCES,
    WEB_SOURCE,
    Complaint,
    ComplaintCounter,
    ComplaintPhoto,
    ComplaintType,
)
from core_api.complaints.recipients import gro_recipients
from core_api.complaints.signing import current_signer
from core_api.db import utcnow
from core_api.errors import BadRequest, Conflict, Forbidden, NotFound, UnprocessableEntity
from core_api.events.outbox import emit
from core_api.files.images import remove_metadata
from core_api.files.store import IMAGE_TYPES, MAX_IMAGE_BYTES, FileStore, check_upload
from core_api.phones import normalize_phone
from core_api.tenants import search
from core_api.tenants.models import Tenant
from core_api.users.models import Role, User, UserKind
from core_api.workflow import service as workflow
from core_api.workflow.models import ProcessHistory

PGR = "PGR"
KOLKATA = ZoneInfo("Asia/Kolkata")
PGR_ROLES = frozenset({Role.GRO, Role.LME, Role.CSR, Role.ADMIN})
FILING_ROLES = frozenset({Role.CSR, Role.GRO})
# Who decides that a complaint photo may be shown publicly (Open311).
PUBLISHING_ROLES = frozenset({Role.GRO, Role.LME, Role.ADMIN})
CLOSED_STATES = frozenset({"CLOSEDAFTERRESOLUTION", "CLOSEDAFTERREJECTION"})
# Open311 "closed": the city has answered (resolved or rejected), or the case is closed.
ANSWERED_STATES = CLOSED_STATES | {"RESOLVED", "REJECTED"}
AT_LME = "PENDINGATLME"
RETURNED = "PENDINGFORREASSIGNMENT"
# Re-routing: a GRO (or ADMIN) changes the type of a complaint nobody has finished.
RECATEGORISE = "RECATEGORISE"
ROUTING_ROLES = frozenset({Role.GRO, Role.ADMIN})
OPEN_STATES = frozenset({"PENDINGFORASSIGNMENT", AT_LME, RETURNED})


@dataclass(frozen=True)
class Placement:
    """Where a complaint is: its ULB (a cached tenant row) and, when known, its locality."""

    tenant: Row[Any]
    state_code: str  # UK in PG-UK-DDN-2026-000123
    locality_id: int | None


async def get_type(session: AsyncSession, code: str) -> Row[Any]:
    """An active complaint type (a cached catalogue row), or 400."""
    complaint_type = (await reference.catalogue(session)).types.get(code)
    if complaint_type is None or not complaint_type.active:
        raise BadRequest(f"There is no complaint type {code}.", code="unknown_complaint_type")
    return complaint_type


async def place(
    session: AsyncSession,
    *,
    tenant_code: str | None,
    locality_id: int | None = None,
    lat: float | None = None,
    lng: float | None = None,
    address_hint: str | None = None,
) -> Placement:
    """Resolve the ULB and locality from a locality id, a map point, or (Open311) an address."""
    locality: Any = None  # a boundary row
    if locality_id is not None:
        locality = await reference.boundary(session, locality_id)
        if locality is None or locality.kind != "locality":
            raise BadRequest("There is no such locality.", code="unknown_locality")
        if tenant_code is not None and locality.tenant_code != tenant_code:
            raise BadRequest("That locality belongs to another city.",
                             code="locality_outside_tenant")
    elif lat is not None and lng is not None:
        found = await search.locality_at(session, lat, lng, tenant_code)
        if found is None:
            raise BadRequest("That location is outside the area we serve.",
                             code="outside_service_area")
        locality = found[0]
    elif tenant_code is None:
        raise BadRequest("Give a locality or a map location.", code="location_required")
    elif address_hint:
        matches = await search.search_localities(session, address_hint, tenant_code, limit=1,
                                                 cutoff=90.0)
        if matches:
            locality = await reference.boundary(session, matches[0].boundary_id)
    code = locality.tenant_code if locality is not None else tenant_code
    tenants = await reference.tenants(session)
    tenant = tenants.get(code) if code else None
    if tenant is None or tenant.level != "ulb" or tenant.parent_code is None:
        raise BadRequest(f"{code} is not a city (ULB) we serve.", code="unknown_tenant")
    state = tenants.get(tenant.parent_code)
    state_code = state.id_code if state is not None else tenant.parent_code.upper()
    return Placement(tenant=tenant, state_code=state_code,
                     locality_id=locality.id if locality is not None else None)


async def next_complaint_no(session: AsyncSession, placement: Placement, now: datetime) -> str:
    """Issue the next number of the ULB's year, e.g. PG-UK-DDN-2026-000123.

    One atomic upsert on the counter row: PostgreSQL locks the row until commit and SQLite
    takes its single write lock, so concurrent filings get consecutive, unique numbers.
    """
    year = now.astimezone(KOLKATA).year
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(ComplaintCounter)
        .values(tenant_code=placement.tenant.code, year=year, value=1)
        .on_conflict_do_update(index_elements=["tenant_code", "year"],
                               set_={"value": ComplaintCounter.value + 1})
        .returning(ComplaintCounter.value)
    )
    value = (await session.execute(statement)).scalar_one()
    return f"PG-{placement.state_code}-{placement.tenant.id_code}-{year}-{value:06d}"


async def ensure_citizen(
    session: AsyncSession, phone: str, name: str | None = None, locale: str | None = None
) -> User:
    """The citizen with this number, created on first sight (CSR filings, Open311)."""
    phone = normalize_phone(phone)
    user = await session.scalar(select(User).where(User.phone == phone))
    if user is None:
        user = User(kind=UserKind.CITIZEN, phone=phone, name=name, locale=locale)
        session.add(user)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise Conflict("This number was registered a moment ago; try again.") from exc
    elif user.kind != UserKind.CITIZEN:
        raise BadRequest("That number belongs to a staff account, not a citizen.",
                         code="not_a_citizen")
    elif name and not user.name:
        user.name = name
    return user


def citizen_principal(user: User) -> Principal:
    """Act as the citizen owning ``user`` (the channel or an Open311 client verified them)."""
    return Principal(kind="citizen", user_id=user.id, phone=user.phone, name=user.name,
                     via_service=True)


async def file_complaint(
    session: AsyncSession,
    *,
    placement: Placement,
    complaint_type: Row[Any],
    citizen_id: int,
    principal: Principal,
    source: str,
    description: str | None,
    lat: float | None = None,
    lng: float | None = None,
    address: str | None = None,
    request_key: str | None = None,
) -> Complaint:
    """Create the complaint and its PGR process (APPLY); events come from the hook.

    The complaint row is written once, in the workflow's first state, together with the
    process. ``request_key`` (the filer's Idempotency-Key) is unique per citizen: a repeat
    raises ``IntegrityError`` (see ``filed_with_key``)."""
    if re.fullmatch(CHANNEL_KIND_PATTERN, source) is None:
        raise BadRequest(f"Unknown source {source}.", code="unknown_source")
    now = utcnow()
    definition = await workflow.get_definition(session, PGR)
    complaint = Complaint(
        complaint_no=await next_complaint_no(session, placement, now),
        tenant_code=placement.tenant.code,
        type_code=complaint_type.code,
        description=description,
        locality_id=placement.locality_id,
        lat=lat,
        lng=lng,
        address=address,
        source=source,
        citizen_user_id=citizen_id,
        request_key=request_key,
        filed_by_user_id=principal.user_id,
        status=definition.first_state,
        sla_due_at=now + timedelta(hours=complaint_type.sla_hours),
        created_at=now,
        updated_at=now,
        photos=[],
    )
    session.add(complaint)
    await workflow.start(
        session, business_service=PGR, business_id=complaint.complaint_no,
        tenant_code=complaint.tenant_code, principal=principal, owner_user_id=citizen_id,
        sla_hours=complaint_type.sla_hours, subject=complaint,
    )
    return complaint


async def filed_with_key(session: AsyncSession, citizen_id: int,
                         request_key: str) -> Complaint | None:
    """The citizen's complaint filed with this Idempotency-Key, if any.

    Filing does not look first (a repeat is rare, the look costs every filing a query):
    the unique key refuses the repeat's INSERT, the caller rolls back and asks here.
    On PostgreSQL a repeat racing the first request waits for it on the unique index,
    so it finds the complaint the first one stored."""
    return await session.scalar(select(Complaint).where(
        Complaint.citizen_user_id == citizen_id, Complaint.request_key == request_key))


def can_view(principal: Principal, complaint: Complaint) -> bool:
    """The owning citizen, or staff with a PGR role covering the complaint's ULB."""
    if principal.is_citizen:
        return principal.user_id is not None and complaint.citizen_user_id == principal.user_id
    return principal.is_staff and principal.has_any_role(PGR_ROLES, complaint.tenant_code)


async def get_visible(session: AsyncSession, complaint_no: str, principal: Principal,
                      *, fresh: bool = False) -> Complaint:
    """The complaint if the caller may see it; 404 otherwise (existence does not leak)."""
    query = select(Complaint).where(Complaint.complaint_no == complaint_no.strip().upper())
    if fresh:
        query = query.execution_options(populate_existing=True)
    complaint = await session.scalar(query)
    if complaint is None or not can_view(principal, complaint):
        raise NotFound(f"No complaint {complaint_no}.", code="complaint_not_found")
    return complaint


async def tenant_codes(session: AsyncSession, codes: set[str]) -> list[str]:
    """``codes`` and every ULB under a state among them, from the tenants table.

    The inbox then filters ``tenant_code IN (...)``, which PostgreSQL answers from the
    ``(tenant_code, status, created_at)`` index; ``LIKE 'uk.%'`` on the big table cannot
    use it (the database's collation is not C) and scanned every complaint.
    """
    under = [Tenant.code.startswith(code + ".", autoescape=True) for code in sorted(codes)]
    found = await session.scalars(select(Tenant.code).where(or_(Tenant.code.in_(codes), *under)))
    return sorted(set(found))


def citizen_query(principal: Principal) -> Select[Complaint]:
    """The caller's own complaints, newest first."""
    return (select(Complaint).where(Complaint.citizen_user_id == principal.require_user())
            .order_by(Complaint.created_at.desc(), Complaint.id.desc()))


def oldest_first(query: Select[Complaint]) -> Select[Complaint]:
    """``query`` ordered oldest first (the order newest-first pages read backwards)."""
    return query.order_by(None).order_by(Complaint.created_at.asc(), Complaint.id.asc())


async def inbox_query(
    session: AsyncSession,
    principal: Principal,
    *,
    tenant_code: str | None,
    statuses: list[str] | None = None,
    assignee_user_id: int | None = None,
    type_code: str | None = None,
) -> Select[Complaint]:
    """Complaints of the tenants where the staff member holds a PGR role, newest first."""
    if tenant_code is not None:
        principal.require_tenant(tenant_code, set(PGR_ROLES))
        scope = {tenant_code}
    else:
        scope = principal.tenants_for(set(PGR_ROLES))
        if not scope:
            raise Forbidden("Complaints are for GRO, LME, CSR and ADMIN staff.",
                            code="role_forbidden")
    query = select(Complaint).where(Complaint.tenant_code.in_(await tenant_codes(session, scope)))
    if statuses:
        query = query.where(Complaint.status.in_(statuses))
    if assignee_user_id is not None:
        query = query.where(Complaint.assignee_user_id == assignee_user_id)
    if type_code:
        query = query.where(Complaint.type_code == type_code)
    return query.order_by(Complaint.created_at.desc(), Complaint.id.desc())


def _with_photo_count(query: Select[Any], *, total: bool) -> Select[Any]:
    """``query``'s complaints as Core columns with their ``photo_count`` (and, with
    ``total``, the number of rows matched: ``count(*) OVER ()``)."""
    complaints, photos = Complaint.__table__, ComplaintPhoto.__table__
    photo_count = (select(func.count()).where(photos.c.complaint_id == complaints.c.id)
                   .scalar_subquery().label("photo_count"))
    columns = [*complaints.c, photo_count]
    if total:
        columns.append(func.count().over().label("total"))
    return query.with_only_columns(*columns)


async def page(session: AsyncSession, query: Select[Complaint], limit: int,
               offset: int = 0) -> tuple[list[Row[Any]], int]:
    """One page of ``query`` as Core rows (each with its ``photo_count``) and the total,
    counted apart: a staff inbox may match very many complaints, and the count reads only
    the index where ``count(*) OVER ()`` would read every row."""
    connection = await session.connection()
    rows = list(await connection.execute(
        _with_photo_count(query, total=False).limit(limit).offset(offset)))
    total = await connection.scalar(
        select(func.count()).select_from(query.order_by(None).subquery()))
    return rows, int(total or 0)


@cache
def _citizen_page(by_status: bool, by_type: bool, oldest: bool) -> Select[Any]:
    """The citizen's list query of one shape, built once (the values are parameters)."""
    query = select(Complaint).where(Complaint.citizen_user_id == bindparam("user_id"))
    if by_status:
        query = query.where(Complaint.status.in_(bindparam("statuses", expanding=True)))
    if by_type:
        query = query.where(Complaint.type_code == bindparam("type_code"))
    query = query.order_by(Complaint.created_at.desc(), Complaint.id.desc())
    if oldest:
        query = oldest_first(query)
    return (_with_photo_count(query, total=True)
            .limit(bindparam("limit")).offset(bindparam("offset")))


async def citizen_page(session: AsyncSession, principal: Principal, *,
                       statuses: list[str] | None, type_code: str | None, oldest: bool,
                       limit: int, offset: int) -> tuple[list[Row[Any]], int]:
    """One page of the caller's own complaints (newest first, or oldest) and their total,
    in one statement: a citizen has few complaints, so the total comes with the rows."""
    connection = await session.connection()
    rows = list(await connection.execute(
        _citizen_page(bool(statuses), bool(type_code), oldest),
        {"user_id": principal.require_user(), "statuses": statuses, "type_code": type_code,
         "limit": limit, "offset": offset}))
    if rows or offset == 0:
        return rows, rows[0].total if rows else 0
    query = citizen_query(principal)  # a page past the end: count apart
    if statuses:
        query = query.where(Complaint.status.in_(statuses))
    if type_code:
        query = query.where(Complaint.type_code == type_code)
    return rows, int(await connection.scalar(
        select(func.count()).select_from(query.order_by(None).subquery())) or 0)


async def take_action(
    session: AsyncSession,
    complaint: Complaint,
    principal: Principal,
    *,
    action: str,
    comment: str | None = None,
    assignee_id: int | None = None,
    rating: int | None = None,
    photo_keys: list[str] | None = None,
) -> workflow.Move:
    """Run one PGR action (roles, assignee, comment rules enforced by the workflow)."""
    if action == "RATE":
        if rating is None:
            raise BadRequest("Give a rating from 1 to 5.", code="rating_required")
    elif rating is not None:
        raise BadRequest("Only RATE takes a rating.", code="unexpected_rating")
    documents = []
    by_key = {photo.file_key: photo for photo in complaint.photos}
    for key in photo_keys or []:
        if key not in by_key:
            raise BadRequest("Attach only photos uploaded to this complaint.",
                             code="unknown_photo")
        documents.append(by_key[key].as_document())
    if action == "RATE":
        # Set before the move so the status event carries the rating; a refused move rolls
        # the whole request back.
        complaint.rating = rating
        complaint.feedback = (comment or "").strip() or None
    return await workflow.transition(
        session, business_service=PGR, business_id=complaint.complaint_no, action=action,
        principal=principal, comment=comment, assignee_id=assignee_id, documents=documents,
    )


async def add_photo(
    session: AsyncSession,
    store: FileStore,
    complaint: Complaint,
    principal: Principal,
    data: bytes,
    content_type: str,
) -> ComplaintPhoto:
    """Store an image (JPEG, PNG, WebP; at most 5 MB) as the complaint's next photo (max 3)."""
    if complaint.status in CLOSED_STATES:
        raise Conflict("This complaint is closed.", code="complaint_closed")
    content_type = content_type.split(";")[0].strip().lower()
    check_upload(data, content_type, IMAGE_TYPES, MAX_IMAGE_BYTES)
    # Re-encoded without metadata before any lock is taken (the store keeps these bytes).
    data = await remove_metadata(data, content_type)
    # Writing the row first takes its lock (PostgreSQL) or the write lock (SQLite), so
    # concurrent uploads count the photos one after another.
    complaint.updated_at = utcnow()
    await session.flush()
    count = int(await session.scalar(
        select(func.count()).where(ComplaintPhoto.complaint_id == complaint.id)) or 0)
    if count >= MAX_PHOTOS:
        raise BadRequest(f"A complaint has at most {MAX_PHOTOS} photos.", code="too_many_photos")
    stored = await store.put(data, content_type, prefix=f"complaints/{complaint.tenant_code}")
    photo = ComplaintPhoto(
        complaint_id=complaint.id, position=count + 1, file_key=stored.key,
        content_type=stored.content_type, size=stored.size, uploaded_by_user_id=principal.user_id,
        created_at=utcnow(),
    )
    session.add(photo)
    try:
        await session.flush()
    except IntegrityError as exc:
        await store.delete(stored.key)
        raise Conflict("Another photo was added at the same moment; try again.",
                       code="photo_conflict") from exc
    return photo


async def set_photo_public(
    session: AsyncSession,
    complaint: Complaint,
    principal: Principal,
    photo_id: int,
    public: bool,
) -> ComplaintPhoto:
    """Make a photo of ``complaint`` public (Open311 links it) or private again.

    Only a GRO, LME or ADMIN of the complaint's city decides; the first publication gives
    the photo a random ``public_id``, kept afterwards so the public link stays the same.
    """
    if not (principal.is_staff and principal.has_any_role(PUBLISHING_ROLES,
                                                          complaint.tenant_code)):
        raise Forbidden("Only the city's GRO, LME or ADMIN decide which photos are public.",
                        code="role_forbidden")
    photo = next((p for p in complaint.photos if p.id == photo_id), None)
    if photo is None:
        raise NotFound(f"Complaint {complaint.complaint_no} has no photo {photo_id}.",
                       code="photo_not_found")
    if photo.public != public:
        photo.public = public
        photo.published_by_user_id = principal.user_id
        photo.published_at = utcnow()
    if public and photo.public_id is None:
        photo.public_id = secrets.token_urlsafe(16)
    await session.flush()
    return photo


async def _check_department(session: AsyncSession, complaint: Complaint, user_id: int) -> None:
    complaint_type = (await reference.catalogue(session)).types.get(complaint.type_code)
    assignee = await session.get(User, user_id)
    if complaint_type is None or assignee is None or (
        assignee.department != complaint_type.department_code
    ):
        department = complaint_type.department_code if complaint_type else "?"
        raise BadRequest(
            f"Assign this complaint to an employee of {department}.",
            code="assignee_wrong_department", details={"department": department},
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def case_channel(complaint: Complaint) -> str | None:
    """The chat channel the complaint was filed on, where its news goes back (None for a
    web, CSR or Open311 filing: the notifier then uses the citizen's last channel)."""
    chat = complaint.source not in (WEB_SOURCE, *STAFF_SOURCES)
    return complaint.source if chat else None


async def locality_name(session: AsyncSession, complaint: Complaint) -> str | None:
    """The English name of the complaint's locality, for staff messages."""
    names = await locality_names(session, complaint)
    return names["en"] if names else None


async def locality_names(session: AsyncSession, complaint: Complaint) -> dict[str, str] | None:
    """The complaint's locality's name in each language it has: {"en", "hi", "pa", ...}."""
    if complaint.locality_id is None:
        return None
    locality = await reference.boundary(session, complaint.locality_id)
    return names_of(locality) if locality is not None else None


async def type_names(session: AsyncSession, code: str) -> dict[str, str] | None:
    """A complaint type's name in each language (the catalogue's names)."""
    row = (await reference.catalogue(session)).types.get(code)
    return names_of(row) if row is not None else None


async def step_photo_urls(session: AsyncSession, move: workflow.Move,
                          complaint: Complaint) -> list[str] | None:
    """Signed links to the photos the step just taken attached (the LME's resolution
    photo); None without photos or without a signer (``signing_with``)."""
    sign = current_signer()
    if sign is None:
        return None
    step = await session.scalar(
        select(ProcessHistory).where(ProcessHistory.process_id == move.process.id)
        .order_by(ProcessHistory.id.desc()).limit(1))
    documents = (step.documents if step is not None else None) or []
    keys = [d.get("file_key") if isinstance(d, dict) else d for d in documents]
    own = {photo.file_key for photo in complaint.photos}
    return [sign(key) for key in keys if key in own] or None


async def _contacts(session: AsyncSession,
                    ids: set[int | None]) -> dict[int, Row[Any, Any, Any]]:
    """Phone and locale of these users, in one Core query."""
    table = User.__table__
    connection = await session.connection()
    rows = await connection.execute(select(table.c.id, table.c.phone, table.c.locale).where(
        table.c.id.in_({i for i in ids if i is not None})))
    return {row.id: row for row in rows}


async def status_payload(session: AsyncSession, complaint: Complaint, *, action: str,
                         previous: str | None, comment: str | None) -> dict[str, Any]:
    """What notifiers need without another lookup: who to tell, in which language, on
    which channel, and where."""
    people = await _contacts(session, {complaint.citizen_user_id, complaint.assignee_user_id})
    citizen = people.get(complaint.citizen_user_id)
    assignee = people.get(complaint.assignee_user_id or 0)
    return {
        "complaint_id": complaint.complaint_no,
        "tenant_code": complaint.tenant_code,
        "status": complaint.status,
        "previous_status": previous,
        "action": action,
        "comment": (comment or "").strip() or None,
        "citizen_user_id": complaint.citizen_user_id,
        "citizen_phone": citizen.phone if citizen else None,
        "citizen_locale": citizen.locale if citizen else None,
        "assignee_user_id": complaint.assignee_user_id,
        "assignee_phone": assignee.phone if assignee else None,
        "assignee_locale": assignee.locale if assignee else None,
        "type_code": complaint.type_code,
        "rating": complaint.rating,
        "sla_due_at": _iso(complaint.sla_due_at),
        "channel": case_channel(complaint),
        "locality": await locality_name(session, complaint),
        "type_names": await type_names(session, complaint.type_code),
        "locality_names": await locality_names(session, complaint),
    }


async def department_gros(session: AsyncSession, complaint: Complaint) -> list[dict[str, Any]]:
    """The GROs who route the complaint: of its city and its type's department."""
    complaint_type = (await reference.catalogue(session)).types.get(complaint.type_code)
    department = complaint_type.department_code if complaint_type is not None else None
    return await gro_recipients(session, complaint.tenant_code, department)


def _mirror(complaint: Complaint, move: workflow.Move) -> None:
    complaint.status = move.to_state
    complaint.assignee_user_id = move.process.assignee_user_id
    complaint.updated_at = move.process.updated_at or utcnow()
    if move.to_state == "RESOLVED":
        complaint.resolved_at = complaint.updated_at  # the dashboard's resolution times
    if move.action == "REOPEN":
        complaint.reopen_count += 1


async def on_pgr_move(session: AsyncSession, move: workflow.Move, _principal: Principal,
                      comment: str | None) -> None:
    """Workflow hook: mirror the state onto the complaint and emit its events."""
    complaint = move.subject if isinstance(move.subject, Complaint) else await session.scalar(
        select(Complaint).where(Complaint.complaint_no == move.process.business_id))
    if complaint is None:  # a PGR process without a complaint row (not ours to mirror)
        return
    if move.to_state == AT_LME and move.process.assignee_user_id is not None:
        await _check_department(session, complaint, move.process.assignee_user_id)
    if move.subject is not complaint:  # a new complaint is written in its first state
        _mirror(complaint, move)
        await session.flush()
    payload = await status_payload(session, complaint, action=move.action,
                                   previous=move.from_state, comment=comment)
    photos = await step_photo_urls(session, move, complaint)
    if photos:
        payload["photo_urls"] = photos
    if complaint.status == RETURNED:  # the LME sent it back: the GROs must assign it again
        payload["gros"] = await gro_recipients(session, complaint.tenant_code)
    if move.from_state is None or move.action == "REOPEN":
        # Filed, or reopened by the citizen: the GROs of its department must assign it.
        payload["gros"] = await department_gros(session, complaint)
    if move.from_state is None:
        emit(session, "complaint.created", complaint.tenant_code, complaint.complaint_no,
             {**payload, "source": complaint.source, "locality_id": complaint.locality_id})
    emit(session, "complaint.status_changed", complaint.tenant_code, complaint.complaint_no,
         payload)


async def recategorise(
    session: AsyncSession,
    complaint: Complaint,
    principal: Principal,
    *,
    type_code: str,
    comment: str | None = None,
) -> ComplaintType:
    """Move an open complaint to another type (and so, maybe, another department).

    Only a GRO or ADMIN of the complaint's city (403 otherwise), while it is open (409
    once resolved, rejected or closed), to an active type (422). The state, the assignee
    and the SLA stay as they are: PGR has no step from an LME back to assignment, so an
    LME of the old department keeps the task until they resolve it or send it back, and
    the GRO then assigns within the new department. The step is recorded in the workflow
    history (same state before and after, the types in ``documents``) and announced as
    ``complaint.recategorised`` to the GROs of the new department.
    """
    tenant_code = complaint.tenant_code
    if not (principal.is_staff and principal.has_any_role(ROUTING_ROLES, tenant_code)):
        raise Forbidden("Only the city's GRO or ADMIN changes a complaint's category.",
                        code="role_forbidden")
    process = await workflow.load_process(session, PGR, complaint.complaint_no,
                                          for_update=True)
    if process.state not in OPEN_STATES:
        raise Conflict(f"Complaint {complaint.complaint_no} is {process.state}; only an open "
                       "complaint changes category.", code="complaint_not_open",
                       details={"state": process.state})
    new_type = await session.get(ComplaintType, type_code)
    if new_type is None or not new_type.active:
        raise UnprocessableEntity(f"There is no complaint type {type_code}.",
                                  code="unknown_complaint_type")
    previous = complaint.type_code
    if new_type.code == previous:
        raise UnprocessableEntity(f"The complaint is a {previous} complaint already.",
                                  code="same_complaint_type")
    now = utcnow()
    note = (comment or "").strip() or None
    session.add(ProcessHistory(
        process_id=process.id, action=RECATEGORISE, from_state=process.state,
        to_state=process.state, actor_user_id=principal.user_id,
        actor_role=Role.GRO if principal.has_role(Role.GRO, tenant_code) else Role.ADMIN,
        comment=note, documents=[{"from_type_code": previous, "type_code": new_type.code}],
        created_at=now,
    ))
    complaint.type_code = new_type.code
    complaint.updated_at = now
    await session.flush()
    emit(session, "complaint.recategorised", tenant_code, complaint.complaint_no, {
        "complaint_id": complaint.complaint_no,
        "tenant_code": tenant_code,
        "status": complaint.status,
        "from_type_code": previous,
        "type_code": new_type.code,
        "comment": note,
        "actor_user_id": principal.user_id,
        "locality": await locality_name(session, complaint),
        "gros": await gro_recipients(session, tenant_code, new_type.department_code),
        "from_type_names": await type_names(session, previous),
        "type_names": names_of(new_type),
        "locality_names": await locality_names(session, complaint),
    })
    return new_type


workflow.on_transition(PGR, on_pgr_move)
