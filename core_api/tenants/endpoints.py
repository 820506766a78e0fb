"""Tenants and boundaries API. Public reference data: any authenticated caller may read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from core_api import reference
from core_api.auth.deps import CurrentPrincipal
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, NotFound
from core_api.tenants import search
from core_api.tenants.models import Boundary, Tenant

router = APIRouter(tags=["tenants"], responses=ERROR_RESPONSES)


class TenantOut(BaseModel):
    code: str
    parent_code: str | None
    level: str
    id_code: str
    name_en: str
    name_hi: str
    short_en: str | None
    short_hi: str | None
    names: dict[str, str]
    short_names: dict[str, str]
    lat: float | None
    lng: float | None

    model_config = {"from_attributes": True}


class BoundaryOut(BaseModel):
    id: int
    code: str
    tenant_code: str
    kind: str
    parent_id: int | None
    name_en: str
    name_hi: str
    names: dict[str, str]
    aliases: list[str]
    lat: float | None
    lng: float | None

    model_config = {"from_attributes": True}


class LocalityMatch(BaseModel):
    score: float
    locality: BoundaryOut


class PointMatch(BaseModel):
    distance_km: float
    locality: BoundaryOut
    ward: BoundaryOut | None
    tenant: TenantOut


@router.get("/tenants", response_model=list[TenantOut], summary="The state and its ULBs")
async def list_tenants(session: SessionDep, _principal: CurrentPrincipal) -> list[TenantOut]:
    rows = await session.scalars(select(Tenant).order_by(Tenant.parent_code.is_not(None),
                                                         Tenant.code))
    return [TenantOut.model_validate(t) for t in rows]


@router.get("/tenants/{code}", response_model=TenantOut, summary="One tenant")
async def get_tenant(code: str, session: SessionDep, _principal: CurrentPrincipal) -> TenantOut:
    tenant = (await reference.tenants(session)).get(code)
    if tenant is None:
        raise NotFound(f"No tenant {code}.")
    return TenantOut.model_validate(tenant)


@router.get("/tenants/{code}/boundaries", response_model=list[BoundaryOut],
            summary="Zones, wards or localities of a ULB")
async def list_boundaries(
    code: str,
    session: SessionDep,
    _principal: CurrentPrincipal,
    kind: Annotated[str | None, Query(pattern="^(zone|ward|locality)$")] = None,
    parent_id: int | None = None,
) -> list[BoundaryOut]:
    if code not in await reference.tenants(session):
        raise NotFound(f"No tenant {code}.")
    table = Boundary.__table__
    query = select(table).where(table.c.tenant_code == code)
    if kind:
        query = query.where(table.c.kind == kind)
    if parent_id is not None:
        query = query.where(table.c.parent_id == parent_id)
    connection = await session.connection()
    rows = await connection.execute(query.order_by(table.c.kind, table.c.name_en))
    return [BoundaryOut.model_validate(b) for b in rows]


@router.get("/localities/search", response_model=list[LocalityMatch],
            summary="Fuzzy locality search (English, Hindi, romanised spellings)")
async def search_localities(
    session: SessionDep,
    _principal: CurrentPrincipal,
    q: Annotated[str, Query(min_length=1, max_length=100, examples=["raajpur"])],
    tenant: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10)] = 5,
) -> list[LocalityMatch]:
    matches = await search.search_localities(session, q, tenant, limit=limit)
    if not matches:
        return []
    # Read, not cached: the name index may be older than a deletion.
    table = Boundary.__table__
    connection = await session.connection()
    rows = {b.id: b for b in await connection.execute(
        select(table).where(table.c.id.in_([m.boundary_id for m in matches])))}
    # A locality deleted since the name index was built is skipped, not a 500.
    return [LocalityMatch(score=m.score, locality=BoundaryOut.model_validate(rows[m.boundary_id]))
            for m in matches if m.boundary_id in rows]


@router.get("/localities/at", response_model=PointMatch,
            summary="The locality at a point (polygon, else nearest centre)")
async def locality_at(
    session: SessionDep,
    _principal: CurrentPrincipal,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lng: Annotated[float, Query(ge=-180, le=180)],
    tenant: str | None = None,
) -> PointMatch:
    found = await search.locality_at(session, lat, lng, tenant)
    if found is None:
        raise NotFound("No locality of ours is near that point.", code="outside_service_area")
    locality, distance = found
    ward = await reference.boundary(session, locality.parent_id) if locality.parent_id else None
    tenant_row = (await reference.tenants(session))[locality.tenant_code]
    return PointMatch(
        distance_km=round(distance, 3),
        locality=BoundaryOut.model_validate(locality),
        ward=BoundaryOut.model_validate(ward) if ward else None,
        tenant=TenantOut.model_validate(tenant_row),
    )
