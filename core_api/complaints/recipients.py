"""Staff who hear about a case without being its assignee: the GROs of a complaint's city
(of its department, for a new or re-routed complaint), the registrars of a certificate's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.users.models import Role, User, UserKind, UserRole

MAX_GROS = 20  # bounds an event's payload; a city has a handful of GROs or registrars


def covering_tenants(tenant_code: str) -> list[str]:
    """``uk.dehradun`` is covered by grants on itself and on ``uk``."""
    parts = tenant_code.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


async def role_recipients(session: AsyncSession, role: str, tenant_code: str, *,
                          department: str | None = None) -> list[dict[str, Any]]:
    """Active employees with a phone whose ``role`` grant covers ``tenant_code``:
    ``[{user_id, phone, locale}]``; with ``department``, those of that department or of
    none (a GRO without a department handles every complaint of the city) when there are
    any, else all of them. One Core query: the department's come first."""
    users, grants = User.__table__, UserRole.__table__
    granted = select(grants.c.user_id).where(
        grants.c.role == role, grants.c.tenant_code.in_(covering_tenants(tenant_code)))
    query = select(users.c.id, users.c.phone, users.c.locale).where(
        users.c.id.in_(granted), users.c.kind == UserKind.EMPLOYEE, users.c.active.is_(True),
        users.c.phone.is_not(None))
    if department is not None:
        ours = or_(users.c.department == department, users.c.department.is_(None))
        query = query.add_columns(ours.label("ours")).order_by(ours.desc())
    connection = await session.connection()
    rows = list(await connection.execute(query.order_by(users.c.id).limit(MAX_GROS)))
    if department is not None and any(row.ours for row in rows):
        rows = [row for row in rows if row.ours]
    return [{"user_id": row.id, "phone": row.phone, "locale": row.locale} for row in rows]


async def gro_recipients(session: AsyncSession, tenant_code: str,
                         department: str | None = None) -> list[dict[str, Any]]:
    """The GROs to tell about a complaint of ``tenant_code``, of ``department`` when given.

    A city none of whose GROs belongs to that department (or to none) is told through all
    its GROs: a new complaint must reach somebody who can assign it, and a GRO's department
    is often just where they sit (the demo's GRO is in DEPT_ADMIN)."""
    return await role_recipients(session, Role.GRO, tenant_code, department=department)
