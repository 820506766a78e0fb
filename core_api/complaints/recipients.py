"""Staff who hear about a complaint without being its assignee: the GROs of its city."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.users.models import Role, User, UserKind, UserRole

MAX_GROS = 20  # bounds an event's payload; a city has a handful of GROs


def covering_tenants(tenant_code: str) -> list[str]:
    """``uk.dehradun`` is covered by grants on itself and on ``uk``."""
    parts = tenant_code.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


async def gro_recipients(session: AsyncSession, tenant_code: str) -> list[dict[str, Any]]:
    """Active GROs whose grant covers ``tenant_code``: ``[{user_id, phone, locale}]``."""
    granted = select(UserRole.user_id).where(
        UserRole.role == Role.GRO, UserRole.tenant_code.in_(covering_tenants(tenant_code)))
    rows = await session.execute(
        select(User.id, User.phone, User.locale)
        .where(User.id.in_(granted), User.kind == UserKind.EMPLOYEE, User.active.is_(True),
               User.phone.is_not(None))
        .order_by(User.id).limit(MAX_GROS))
    return [{"user_id": user_id, "phone": phone, "locale": locale}
            for user_id, phone, locale in rows]
