"""Turning complaint rows into answers: names in every locale, people, signed photo links."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api import reference
from core_api.auth.principal import Principal
from core_api.complaints.catalog import names_of
from core_api.complaints.models import Complaint, ComplaintPhoto
from core_api.complaints.schemas import (
    ComplaintDetail,
    ComplaintSummary,
    HistoryOut,
    LocalityOut,
    PersonOut,
    PhotoOut,
    TypeRef,
)
from core_api.complaints.service import ANSWERED_STATES, PGR
from core_api.complaints.signing import Signer
from core_api.db import utcnow
from core_api.users.models import User
from core_api.workflow import service as workflow

# Where Open311 serves photos staff made public (core_api/open311/endpoints.py).
PUBLIC_MEDIA_PATH = "/open311/v2/media/"


def public_photo_url(public_url: str, photo: ComplaintPhoto) -> str | None:
    """The stable public link of a photo staff made public; None for a private photo."""
    if not photo.public or not photo.public_id:
        return None
    return f"{public_url.rstrip('/')}{PUBLIC_MEDIA_PATH}{photo.public_id}"


def photo_out(photo: ComplaintPhoto, sign: Signer) -> PhotoOut:
    return PhotoOut(id=photo.id, key=photo.file_key, url=sign(photo.file_key),
                    content_type=photo.content_type, size=photo.size,
                    uploaded_at=photo.created_at, public=photo.public,
                    public_url=public_photo_url(sign.public_url, photo))


def _type_ref(complaint_type: Row[Any]) -> TypeRef:
    return TypeRef(code=complaint_type.code, category_code=complaint_type.category_code,
                   department_code=complaint_type.department_code,
                   names=names_of(complaint_type))


def _locality_out(locality: Row[Any] | None) -> LocalityOut | None:
    if locality is None:
        return None
    return LocalityOut(id=locality.id, code=locality.code, names=names_of(locality))


def _summary_fields(complaint: Complaint | Row[Any], photo_count: int,
                    types: dict[str, Row[Any]],
                    localities: dict[int, Row[Any]]) -> dict[str, Any]:
    """``complaint``: the ORM complaint or a Core row of the complaints table."""
    return {
        "id": complaint.complaint_no,
        "tenant_code": complaint.tenant_code,
        "type": _type_ref(types[complaint.type_code]),
        "status": complaint.status,
        "locality": _locality_out(localities.get(complaint.locality_id or 0)),
        "address": complaint.address,
        "source": complaint.source,
        "assignee_user_id": complaint.assignee_user_id,
        "rating": complaint.rating,
        "reopen_count": complaint.reopen_count,
        "photo_count": photo_count,
        "sla_due_at": complaint.sla_due_at,
        "overdue": complaint.status not in ANSWERED_STATES and complaint.sla_due_at < utcnow(),
        "created_at": complaint.created_at,
        "updated_at": complaint.updated_at,
    }


async def summaries(session: AsyncSession, rows: list[Row[Any]]) -> list[ComplaintSummary]:
    """List rows (``service.page``) with type and locality names (cached reference data)."""
    types = (await reference.catalogue(session)).types
    localities = await reference.boundaries(session, (row.locality_id for row in rows))
    return [ComplaintSummary(**_summary_fields(row, row.photo_count, types, localities))
            for row in rows]


async def _people(session: AsyncSession,
                  ids: set[int | None]) -> dict[int, Row[Any, Any, Any]]:
    """Id, name and phone of these users, in one Core query (no roles, no ORM objects)."""
    table = User.__table__
    query = select(table.c.id, table.c.name, table.c.phone).where(
        table.c.id.in_({i for i in ids if i is not None}))
    connection = await session.connection()
    return {row.id: row for row in await connection.execute(query)}


def _person(user: Row[Any, Any, Any] | None, viewer: Principal) -> PersonOut | None:
    if user is None:
        return None
    # Citizens see staff names, never staff numbers; staff see everyone's numbers.
    phone = user.phone if viewer.is_staff or user.id == viewer.user_id else None
    return PersonOut(id=user.id, name=user.name, phone=phone)


def _type_change(documents: list[Any]) -> dict[str, str]:
    """``{from_type_code, type_code}`` of a RECATEGORISE step (service.recategorise keeps
    them among the step's documents); empty for every other step."""
    for document in documents or []:
        if isinstance(document, dict) and "from_type_code" in document:
            return {"from_type_code": document["from_type_code"],
                    "type_code": document["type_code"]}
    return {}


async def detail(session: AsyncSession, complaint: Complaint, viewer: Principal,
                 sign: Signer) -> ComplaintDetail:
    """The complaint with photos, workflow history (with names) and the viewer's actions."""
    process = await workflow.load_process(session, PGR, complaint.complaint_no)
    definition = await workflow.get_definition(session, PGR)
    user_ids = {complaint.citizen_user_id, complaint.assignee_user_id}
    for entry in process.history:
        user_ids.update((entry.actor_user_id, entry.assignee_user_id))
    users = await _people(session, user_ids)
    photo_keys = {photo.file_key for photo in complaint.photos}

    def step_photos(documents: list[Any]) -> list[str]:
        keys = [d.get("file_key") if isinstance(d, dict) else d for d in documents or []]
        return [sign(key) for key in keys if key in photo_keys]

    history = [
        HistoryOut(
            action=entry.action, from_state=entry.from_state, to_state=entry.to_state,
            actor=_person(users.get(entry.actor_user_id or 0), viewer),
            actor_role=entry.actor_role,
            assignee=_person(users.get(entry.assignee_user_id or 0), viewer),
            comment=entry.comment, photos=step_photos(entry.documents),
            **_type_change(entry.documents), at=entry.created_at,
        )
        for entry in process.history
    ]
    types = (await reference.catalogue(session)).types
    localities = await reference.boundaries(session, [complaint.locality_id])
    citizen = _person(users.get(complaint.citizen_user_id), viewer)
    assert citizen is not None
    return ComplaintDetail(
        **_summary_fields(complaint, len(complaint.photos), types, localities),
        description=complaint.description,
        lat=complaint.lat,
        lng=complaint.lng,
        citizen=citizen,
        assignee=_person(users.get(complaint.assignee_user_id or 0), viewer),
        feedback=complaint.feedback,
        photos=[photo_out(photo, sign) for photo in complaint.photos],
        history=history,
        actions=workflow.available_actions(definition, process, viewer),
    )
