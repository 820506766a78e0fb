"""Open311 GeoReport v2 over complaints: services from complaint types, requests from complaints.

Field names and value formats follow GeoReport v2: date-times in ISO 8601 with the Indian
offset (+05:30), status ``open`` or ``closed``, errors as ``[{"code", "description"}]``.

What a service request shows (SPEC §9: a public civic-issue map, nothing personal):

- Without an ``api_key`` (the public): service, status, dates, agency; ``address`` is the
  locality and city, never the typed address; ``lat``/``long`` are the locality's centre
  (without a locality the pin snapped to the centre of a 0.005° cell, about 550 m);
  ``description`` is the citizen's text after ``core_api.privacy.redact`` (phone numbers,
  e-mails, ID and vehicle numbers and the complainant's own name removed), or withheld
  with ``SAMVAD_OPEN311_DESCRIPTIONS=none``; ``media_url`` only for a photo staff marked
  public, as a stable ``/open311/v2/media/<id>`` link (never a personal signed link).
- With a valid ``api_key`` whose tenant covers the complaint (``SAMVAD_OPEN311_API_KEYS``;
  a key without ``@tenant`` covers all): also the description as typed, the exact pin and
  the typed address. Never names, phone numbers, internal comments or private photos.

``status_notes`` is the public note: the comment of the RESOLVE (the LME) or REJECT (the
GRO) that gave the current answer, meant for the citizen and the public. A REOPEN clears
it. ASSIGN and REASSIGN comments are internal routing notes and are never shown; REOPEN
and RATE comments are the citizen's own words (a reason, feedback) and are never shown
either. Without a key the note is redacted like the description.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.auth.principal import covers
from core_api.complaints.catalog import active_catalogue
from core_api.complaints.models import Complaint, ComplaintType, Department
from core_api.complaints.service import ANSWERED_STATES, KOLKATA, PGR
from core_api.complaints.views import public_photo_url
from core_api.db import utcnow
from core_api.privacy.redact import redact
from core_api.tenants.models import Boundary, Tenant
from core_api.users.models import User
from core_api.workflow.models import ProcessHistory, ProcessInstance

MAX_RESULTS = 1000
DEFAULT_SPAN = timedelta(days=90)
STATUSES = ("open", "closed")
# The actions whose comment is the public note, and the one that withdraws it.
PUBLIC_NOTE_ACTIONS = frozenset({"RESOLVE", "REJECT"})
NOTE_CLEARING_ACTIONS = frozenset({"REOPEN"})
GRID_DEGREES = 0.005  # public pins without a locality: ~550 m north-south, ~480 m east-west


@dataclass(frozen=True)
class Reader:
    """Who reads service requests: the public, or an Open311 client with a valid key."""

    keyed: bool = False
    key_tenant: str | None = None  # the tenant a key is limited to; None: every tenant
    descriptions: Literal["redacted", "none"] = "redacted"

    def full_view(self, tenant_code: str) -> bool:
        """True when this reader sees the complaint's typed text and exact pin."""
        return self.keyed and (self.key_tenant is None or covers(self.key_tenant, tenant_code))


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


TENANT_CODE = re.compile(r"[a-z0-9_-]{1,32}(\.[a-z0-9_-]{1,32}){0,3}")


async def jurisdiction(session: AsyncSession, jurisdiction_id: str | None) -> Tenant | None:
    """The ULB (or state) a jurisdiction_id names; 404 for an unknown one."""
    if jurisdiction_id is None or not jurisdiction_id.strip():
        return None
    code = jurisdiction_id.strip()
    # Not a tenant code (e.g. a NUL byte PostgreSQL cannot even compare): unknown, said
    # without echoing it and without asking the database.
    if not TENANT_CODE.fullmatch(code):
        raise Open311Error(404, "jurisdiction_id was not found.")
    tenant = await session.get(Tenant, code)
    if tenant is None:
        raise Open311Error(404, f"jurisdiction_id {code} was not found.")
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


def public_note(steps: Iterable[tuple[str, str | None]]) -> str | None:
    """The public status note from a complaint's workflow steps ``(action, comment)``, oldest
    first: the comment of the last RESOLVE or REJECT, unless a REOPEN came after it."""
    note = None
    for action, comment in steps:
        if action in PUBLIC_NOTE_ACTIONS:
            note = (comment or "").strip() or None
        elif action in NOTE_CLEARING_ACTIONS:
            note = None
    return note


async def _public_notes(session: AsyncSession, numbers: list[str]) -> dict[str, str | None]:
    """The public note of each complaint (only RESOLVE, REJECT and REOPEN steps are read)."""
    if not numbers:
        return {}
    rows = await session.execute(
        select(ProcessInstance.business_id, ProcessHistory.action, ProcessHistory.comment)
        .join(ProcessHistory, ProcessHistory.process_id == ProcessInstance.id)
        .where(ProcessInstance.business_service == PGR,
               ProcessInstance.business_id.in_(numbers),
               ProcessHistory.action.in_(PUBLIC_NOTE_ACTIONS | NOTE_CLEARING_ACTIONS))
        .order_by(ProcessHistory.id)
    )
    steps: dict[str, list[tuple[str, str | None]]] = {}
    for number, action, comment in rows:
        steps.setdefault(number, []).append((action, comment))
    return {number: public_note(entries) for number, entries in steps.items()}


def _snap(value: float) -> float:
    """The centre of the grid cell holding ``value`` (degrees)."""
    return round((math.floor(value / GRID_DEGREES) + 0.5) * GRID_DEGREES, 6)


def public_point(complaint: Complaint,
                 locality: Boundary | None) -> tuple[float | None, float | None]:
    """Where the public sees the complaint: its locality's centre, else a coarse grid cell."""
    if locality is not None and locality.lat is not None and locality.lng is not None:
        return locality.lat, locality.lng
    if complaint.lat is None or complaint.lng is None:
        return None, None
    return _snap(complaint.lat), _snap(complaint.lng)


async def service_requests(session: AsyncSession, complaints: list[Complaint],
                           reader: Reader, public_url: str) -> list[dict[str, Any]]:
    """Complaints as GeoReport service requests, as ``reader`` may see them."""
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
    notes = await _public_notes(session, [c.complaint_no for c in complaints])
    # The complainants' names, to take them out of what the public reads.
    citizen_ids = {c.citizen_user_id for c in complaints if not reader.full_view(c.tenant_code)}
    names = dict((await session.execute(
        select(User.id, User.name).where(User.id.in_(citizen_ids)))).all()) if citizen_ids else {}
    result = []
    for complaint in complaints:
        complaint_type, department = types[complaint.type_code]
        locality = localities.get(complaint.locality_id or 0)
        tenant = tenants.get(complaint.tenant_code)
        place = ", ".join(p for p in (locality.name_en if locality else None,
                                      tenant.name_en if tenant else None) if p) or None
        note = notes.get(complaint.complaint_no)
        if reader.full_view(complaint.tenant_code):
            description = complaint.description
            address = complaint.address or place
            lat = complaint.lat if complaint.lat is not None else (
                locality.lat if locality else None)
            lng = complaint.lng if complaint.lng is not None else (
                locality.lng if locality else None)
        else:
            complainant = [names.get(complaint.citizen_user_id)]
            description = (None if reader.descriptions == "none"
                           else redact(complaint.description, complainant))
            note = redact(note, complainant)
            address = place
            lat, lng = public_point(complaint, locality)
        media = next((url for url in (public_photo_url(public_url, photo)
                                      for photo in complaint.photos) if url), None)
        result.append({
            "service_request_id": complaint.complaint_no,
            "status": open311_status(complaint.status),
            "status_notes": note,
            "service_name": complaint_type.name_en,
            "service_code": complaint.type_code,
            "description": description,
            "agency_responsible": department.name_en,
            "service_notice": None,
            "requested_datetime": w3c(complaint.created_at),
            "updated_datetime": w3c(complaint.updated_at),
            "expected_datetime": w3c(complaint.sla_due_at),
            "address": address,
            "address_id": locality.code if locality else None,
            "zipcode": None,
            "lat": lat,
            "long": lng,
            "media_url": media,
        })
    return result


def service_notice(complaint: Complaint) -> str:
    """What the poster is told about the timeline."""
    due = complaint.sla_due_at.astimezone(KOLKATA)
    return (f"Complaint {complaint.complaint_no} registered; the city aims to resolve it by "
            f"{due:%d %b %Y, %H:%M} IST.")
