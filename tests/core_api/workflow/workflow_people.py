"""Workflow test helpers: the demo users as principals, outbox counts (imported by tests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core_api.auth.principal import Principal
from core_api.events.models import OutboxEvent
from core_api.users.models import Role, User, UserKind, UserRole

GRO = "+919876510001"
LME_ELECTRICAL = "+919876510002"
LME_SANITATION = "+919876510003"
REGISTRAR = "+919876510004"
ADMIN = "+919876519999"
CITIZEN = "+919876500001"
OTHER_CITIZEN = "+919876500002"
HARIDWAR_LME = "+919876520011"
HARIDWAR_REGISTRAR = "+919876520012"


class People:
    """The demo users as workflow principals, plus a Haridwar LME and registrar."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def user(self, phone: str) -> User:
        user = await self.session.scalar(select(User).where(User.phone == phone))
        assert user is not None, phone
        return user

    async def id(self, phone: str) -> int:
        return (await self.user(phone)).id

    async def principal(self, phone: str) -> Principal:
        user = await self.user(phone)
        return Principal(
            kind="employee" if user.kind == UserKind.EMPLOYEE else "citizen",
            user_id=user.id, phone=user.phone, name=user.name,
            grants=tuple((r.role, r.tenant_code) for r in user.roles),
        )

    async def add_haridwar_staff(self) -> None:
        for phone, role, name in ((HARIDWAR_LME, Role.LME, "Haridwar LME"),
                                  (HARIDWAR_REGISTRAR, Role.REGISTRAR, "Haridwar Registrar")):
            self.session.add(User(kind=UserKind.EMPLOYEE, phone=phone, name=name,
                                  tenant_code="uk.haridwar",
                                  roles=[UserRole(role=str(role), tenant_code="uk.haridwar")]))
        await self.session.flush()


async def count_events(session: Any, business_id: str | None = None) -> int:
    """Workflow events in the database (flushed) for one business object, or all."""
    query = select(func.count()).select_from(OutboxEvent).where(
        OutboxEvent.topic == "workflow.transitioned")
    if business_id is not None:
        query = query.where(OutboxEvent.aggregate_id == business_id)
    return await session.scalar(query)
