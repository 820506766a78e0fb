"""Open311 GeoReport v2 over complaints: services from complaint types, requests from complaints.

Field names and value formats follow GeoReport v2: date-times in ISO 8601 with the Indian
offset (+05:30), status ``open`` or ``closed``, errors as ``[{"code", "description"}]``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.complaints.catalog import active_catalogue
from core_api.complaints.models import Complaint, ComplaintType, Department
from core_api.complaints.service import ANSWERED_STATES, KOLKATA, PGR
from core_api.complaints.views import Signer
from core_api.db import utcnow
from core_api.tenants.models import Boundary, Tenant
from core_api.workflow.models import ProcessHistory, ProcessInstance

MAX_RESULTS = 1000
DEFAULT_SPAN = timedelta(days=90)
STATUSES = ("open", "closed")


class Open311Error(Exception):
    """An error answered in GeoReport form: ``[{"code": 400, "description": "..."}]``."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def w3c(moment: datetime | None) -> str | None:
    """ISO 8601 in India's zone, seconds precision: 2026-11-23T17:01:28+05:30."""
    if moment is None:
        return None
    return moment.astimezone(KOLKATA).isoformat(timespec="seconds")


def parse_moment(name: str, value: str | None) -> datetime | None:
    """A GeoReport date-time parameter; one without a zone is read as Indian time."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be an ISO 8601 date-time, "
                                "e.g. 2026-11-05T08:15:30+05:30.") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=KOLKATA)


def split_list(value: str | None) -> list[str]:
    """GeoReport's comma-delimited multi-values."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def open311_status(workflow_state: str) -> str:
    """``closed`` once the city has answered (resolved, rejected, closed); else ``open``."""
    return "closed" if workflow_state in ANSWERED_STATES else "open"


async def jurisdiction(session: AsyncSession, jurisdiction_id: str | None) -> Tenant | None:
    """The ULB (or state) a jurisdiction_id names; 404 for an unknown one."""
    if jurisdiction_id is None or not jurisdiction_id.strip():
        return None
    tenant = await session.get(Tenant, jurisdiction_id.strip())
    if tenant is None:
        raise Open311Error(404, f"jurisdiction_id {jurisdiction_id} was not found.")
    return tenant


def in_jurisdiction(tenant: Tenant) -> Any:
    """Complaints of the ULB, or of every ULB of a state."""
    return or_(Complaint.tenant_code == tenant.code,
               Complaint.tenant_code.startswith(tenant.code + ".", autoescape=True))


async def services(session: AsyncSession) -> list[dict[str, Any]]:
    """Every active complaint type as a GeoReport service."""
    result = []
    for category, types in await active_catalogue(session):
        for complaint_type, department in types:
            keywords = [word for words in complaint_type.keywords.values() for word in words]
            result.append({
                "service_code": complaint_type.code,
                "service_name": complaint_type.name_en,
                "description": (f"{complaint_type.name_en} ({complaint_type.name_hi}). "
                                f"Handled by {department.name_en}; answered within "
                                f"{complaint_type.sla_hours} hours."),
                "metadata": False,
                "type": "realtime",
                "keywords": ", ".join(keywords),
                "group": category.name_en,
            })
    return result


def request_query(
    *,
    scope: Tenant | None,
    ids: list[str],
    service_codes: list[str],
    start: datetime | None,
    end: datetime | None,
    statuses: list[str],
) -> Select[Complaint]:
    """The complaints a GET requests.json asks for, newest first, at most 1000."""
    query = select(Complaint)
    if scope is not None:
        query = query.where(in_jurisdiction(scope))
    if ids:  # GeoReport: given ids, the other filters are ignored
        return query.where(Complaint.complaint_no.in_([i.upper() for i in ids])).order_by(
            Complaint.created_at.desc()).limit(MAX_RESULTS)
    for status in statuses:
        if status not in STATUSES:
            raise Open311Error(400, "status must be open or closed (or both, comma-separated).")
    if start is None and end is None:
        end = utcnow()
    if start is None:
        assert end is not None
        start = end - DEFAULT_SPAN
    if end is None:
        end = start + DEFAULT_SPAN
    if end < start:
        raise Open311Error(400, "end_date is before start_date.")
    if end - start > DEFAULT_SPAN:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days.")
    query = query.where(Complaint.created_at >= start, Complaint.created_at <= end)
    if service_codes:
        query = query.where(Complaint.type_code.in_(service_codes))
    if set(statuses) == {"open"}:
        query = query.where(Complaint.status.not_in(ANSWERED_STATES))
    elif set(statuses) == {"closed"}:
        query = query.where(Complaint.status.in_(ANSWERED_STATES))
    return query.order_by(Complaint.created_at.desc(), Complaint.id.desc()).limit(MAX_RESULTS)


async def _last_comments(session: AsyncSession, numbers: list[str]) -> dict[str, str]:
    """The latest workflow comment of each complaint (its status notes)."""
    if not numbers:
        return {}
    rows = await session.execute(
        select(ProcessInstance.business_id, ProcessHistory.comment)
        .join(ProcessHistory, ProcessHistory.process_id == ProcessInstance.id)
        .where(ProcessInstance.business_service == PGR,
               ProcessInstance.business_id.in_(numbers),
               ProcessHistory.comment.is_not(None))
        .order_by(ProcessHistory.id)
    )
    return {number: comment for number, comment in rows if comment}


async def service_requests(session: AsyncSession, complaints: list[Complaint],
                           sign: Signer) -> list[dict[str, Any]]:
    """Complaints as GeoReport service requests."""
    type_rows = await session.execute(
        select(ComplaintType, Department)
        .join(Department, Department.code == ComplaintType.department_code)
        .where(ComplaintType.code.in_({c.type_code for c in complaints}))
    )
    types = {complaint_type.code: (complaint_type, department)
             for complaint_type, department in type_rows}
    locality_ids = {c.locality_id for c in complaints if c.locality_id is not None}
    localities = {b.id: b for b in await session.scalars(
        select(Boundary).where(Boundary.id.in_(locality_ids)))} if locality_ids else {}
    tenants = {t.code: t for t in await session.scalars(
        select(Tenant).where(Tenant.code.in_({c.tenant_code for c in complaints})))}
    notes = await _last_comments(session, [c.complaint_no for c in complaints])
    result = []
    for complaint in complaints:
        complaint_type, department = types[complaint.type_code]
        locality = localities.get(complaint.locality_id or 0)
        tenant = tenants.get(complaint.tenant_code)
        place = [p for p in (locality.name_en if locality else None,
                             tenant.name_en if tenant else None) if p]
        lat = complaint.lat if complaint.lat is not None else (locality.lat if locality else None)
        lng = complaint.lng if complaint.lng is not None else (locality.lng if locality else None)
        result.append({
            "service_request_id": complaint.complaint_no,
            "status": open311_status(complaint.status),
            "status_notes": notes.get(complaint.complaint_no),
            "service_name": complaint_type.name_en,
            "service_code": complaint.type_code,
            "description": complaint.description,
            "agency_responsible": department.name_en,
            "service_notice": None,
            "requested_datetime": w3c(complaint.created_at),
            "updated_datetime": w3c(complaint.updated_at),
            "expected_datetime": w3c(complaint.sla_due_at),
            "address": complaint.address or ", ".join(place) or None,
            "address_id": locality.code if locality else None,
            "zipcode": None,
            "lat": lat,
            "long": lng,
            "media_url": sign(complaint.photos[0].file_key) if complaint.photos else None,
        })
    return result


def service_notice(complaint: Complaint) -> str:
    """What the poster is told about the timeline."""
    due = complaint.sla_due_at.astimezone(KOLKATA)
    return (f"Complaint {complaint.complaint_no} registered; the city aims to resolve it by "
            f"{due:%d %b %Y, %H:%M} IST.")
