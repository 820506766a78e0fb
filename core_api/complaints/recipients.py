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
    ``[{user_id, phone, locale}]``; with ``department``, only those of that department or
    of none (a GRO without a department handles every complaint of the city)."""
    granted = select(UserRole.user_id).where(
        UserRole.role == role, UserRole.tenant_code.in_(covering_tenants(tenant_code)))
    query = select(User.id, User.phone, User.locale).where(
        User.id.in_(granted), User.kind == UserKind.EMPLOYEE, User.active.is_(True),
        User.phone.is_not(None))
    if department is not None:
        query = query.where(or_(User.department == department, User.department.is_(None)))
    rows = await session.execute(query.order_by(User.id).limit(MAX_GROS))
    return [{"user_id": user_id, "phone": phone, "locale": locale}
            for user_id, phone, locale in rows]


async def gro_recipients(session: AsyncSession, tenant_code: str,
                         department: str | None = None) -> list[dict[str, Any]]:
    """The GROs to tell about a complaint of ``tenant_code``, of ``department`` when given.

    A city none of whose GROs belongs to that department (or to none) is told through all
    its GROs: a new complaint must reach somebody who can assign it, and a GRO's department
    is often just where they sit (the demo's GRO is in DEPT_ADMIN)."""
    if department is not None:
        found = await role_recipients(session, Role.GRO, tenant_code, department=department)
        if found:
            return found
    return await role_recipients(session, Role.GRO, tenant_code)
