"""GET /api/v1/dashboard/summary and /api/v1/dashboard/<table>.csv for staff; the bot's
workers post chat counters to /api/v1/dashboard/chat-activity.

Staff authenticate with a bearer token (POST /api/v1/auth/token) or, from the /dashboard
page, with the same token in an HttpOnly cookie. An ADMIN on the state sees the state and
every ULB; other staff see the ULBs of their role grants; citizens and the bare service
credential get 403. The tables hold no personal data (``core_api.dashboard.queries``), so
any staff role may download them.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from core_api.auth.deps import get_principal, get_service, oauth2_scheme
from core_api.auth.principal import Principal
from core_api.dashboard import queries
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, BadRequest, Forbidden, NotFound
from core_api.tenants.models import Tenant

router = APIRouter(prefix="/dashboard", tags=["dashboard"], responses=ERROR_RESPONSES)

COOKIE = "samvad_dashboard"
MAX_DAYS = 366
DEFAULT_DAYS = 30


async def dashboard_staff(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """A logged-in employee, by bearer token or the dashboard page's cookie."""
    principal = await get_principal(request, session, token or request.cookies.get(COOKIE),
                                    None)
    if not principal.is_staff:
        raise Forbidden("The dashboard is for municipal staff only.", code="staff_only")
    return principal


DashboardStaff = Annotated[Principal, Depends(dashboard_staff)]


def default_tenant(principal: Principal) -> str:
    """The widest tenant the caller holds a role in (the state for a state ADMIN)."""
    tenants = sorted(principal.tenants_for(), key=lambda code: (code.count("."), code))
    if not tenants:
        raise Forbidden("You hold no role in any tenant.", code="tenant_forbidden")
    return tenants[0]


def today_ist() -> date:
    return datetime.now(queries.KOLKATA).date()


async def resolve_scope(session: Any, principal: Principal, tenant_id: str | None,
                        day_from: date | None, day_to: date | None) -> queries.Scope:
    """Check the tenant and the date range, and build the query scope."""
    code = (tenant_id or default_tenant(principal)).strip()
    principal.require_tenant(code)  # before existence: no probing of tenant codes
    tenant = await session.get(Tenant, code)
    if tenant is None:
        raise NotFound(f"No tenant {code!r}.", code="tenant_not_found")
    day_to = day_to or today_ist()
    day_from = day_from or day_to - timedelta(days=DEFAULT_DAYS - 1)
    if day_from > day_to:
        raise BadRequest("'from' must not be after 'to'.", code="bad_date_range")
    if (day_to - day_from).days >= MAX_DAYS:
        raise BadRequest(f"Pick at most {MAX_DAYS} days.", code="bad_date_range")
    return await queries.tenant_scope(session, tenant, day_from, day_to)


TenantQuery = Annotated[str | None, Query(alias="tenantId", max_length=64,
                                          description="uk or a ULB such as uk.dehradun")]
FromQuery = Annotated[date | None, Query(alias="from", description="first IST day, "
                                         "YYYY-MM-DD (default: 29 days before 'to')")]
ToQuery = Annotated[date | None, Query(alias="to", description="last IST day (default today)")]


@router.get("/summary", summary="Every dashboard figure for a tenant and date range")
async def dashboard_summary(request: Request, session: SessionDep, principal: DashboardStaff,
                            tenant_id: TenantQuery = None, day_from: FromQuery = None,
                            day_to: ToQuery = None) -> dict[str, Any]:
    scope = await resolve_scope(session, principal, tenant_id, day_from, day_to)
    return await queries.summary(session, scope, request.app.state.db.is_sqlite)


def _rows(data: dict[str, Any], path: tuple[str, ...]) -> list[dict[str, Any]]:
    value: Any = data
    for key in path:
        value = value[key]
    return value if isinstance(value, list) else [value]


# name -> where the table sits in the summary
TABLES: dict[str, tuple[str, ...]] = {
    "complaints_by_status": ("complaints", "by_status"),
    "complaints_by_category": ("complaints", "by_category"),
    "complaints_by_ward": ("complaints", "by_ward"),
    "sla": ("complaints", "sla"),
    "resolution": ("complaints", "resolution"),
    "ratings": ("complaints", "ratings", "distribution"),
    "oldest_open": ("complaints", "oldest_open"),
    "collections_by_day": ("collections", "by_day"),
    "collections_by_bill_type": ("collections", "by_bill_type"),
    "certificates_by_state": ("certificates", "by_state"),
    "chat_conversations": ("chat", "conversations"),
    "chat_funnel": ("chat", "funnel"),
    "chat_messages": ("chat", "messages"),
    "message_costs": ("chat", "message_costs", "by_channel"),
}


def _cell(value: Any) -> Any:
    """Keep spreadsheets from running citizen text as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


class ChatActivityRow(BaseModel):
    day: date
    tenant: str = Field(max_length=64)
    channel: str = Field(min_length=1, max_length=16)
    locale: str = Field(max_length=10)
    flow: str = Field(max_length=40)
    step: str = Field(max_length=60)
    conversations: int = Field(ge=0, le=10_000_000)
    turns: int = Field(ge=0, le=10_000_000)
    entered: int = Field(ge=0, le=10_000_000)
    completed: int = Field(ge=0, le=10_000_000)


class ChatActivityIn(BaseModel):
    rows: list[ChatActivityRow] = Field(max_length=5000)


@router.post("/chat-activity", status_code=204,
             summary="Add chat counter deltas (the bot's workers; service credential)")
async def add_chat_activity(request: Request, session: SessionDep,
                            principal: Annotated[Principal, Depends(get_service)],
                            body: ChatActivityIn) -> Response:
    if not principal.is_service:
        raise Forbidden("This is for the channel service only.", code="service_only")
    known = set(await session.scalars(select(Tenant.code)))
    rows = [{**row.model_dump(), "tenant": row.tenant if row.tenant in known else ""}
            for row in body.rows]
    await queries.add_chat_activity(session, rows, request.app.state.db.is_sqlite)
    return Response(status_code=204)


@router.get("/{table}.csv", summary="One dashboard table as CSV",
            response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
async def dashboard_csv(request: Request, session: SessionDep, principal: DashboardStaff,
                        table: str, tenant_id: TenantQuery = None, day_from: FromQuery = None,
                        day_to: ToQuery = None) -> Response:
    if table not in TABLES:
        raise NotFound(f"No table {table!r}; tables: {', '.join(TABLES)}.",
                       code="table_not_found")
    scope = await resolve_scope(session, principal, tenant_id, day_from, day_to)
    data = await queries.summary(session, scope, request.app.state.db.is_sqlite)
    filename = f"{table}_{scope.tenant}_{scope.day_from}_{scope.day_to}.csv"
    return Response(to_csv(_rows(data, TABLES[table])), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
