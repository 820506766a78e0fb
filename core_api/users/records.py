"""A user as one SQLAlchemy Core query: the row and its role grants, without the ORM.

Authentication runs on every request; the ORM spent about three times the CPU of a Core
select on this lookup (user, then its roles in a second ``selectin`` statement). Here the
roles come in the same statement through an outer join, one row per grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Select, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.db import utcnow
from core_api.users.models import User, UserRole

users = cast(Table, User.__table__)
user_roles = cast(Table, UserRole.__table__)

_COLUMNS = (users.c.id, users.c.kind, users.c.phone, users.c.name, users.c.locale,
            users.c.opted_out, users.c.tenant_code, users.c.department, users.c.active,
            users.c.created_at)


@dataclass(frozen=True, slots=True)
class UserRecord:
    """What requests read of a user: no password hash, grants as (role, tenant) pairs."""

    id: int
    kind: str
    phone: str | None
    name: str | None
    locale: str | None
    opted_out: bool
    tenant_code: str | None
    department: str | None
    active: bool
    created_at: datetime
    roles: tuple[tuple[str, str], ...]


def _record(rows: list[Row[Any]]) -> UserRecord | None:
    if not rows:
        return None
    first = rows[0]
    roles = tuple((row.role, row.role_tenant) for row in rows if row.role is not None)
    return UserRecord(**_fields(first), roles=roles)


def _fields(row: Row[Any]) -> dict[str, Any]:
    return {column.key: row._mapping[column.key] for column in _COLUMNS}


def _user_by(column: ColumnElement[Any]) -> Select[Any]:
    """The user whose unique ``column`` equals the parameter ``key``, one row per grant."""
    return (select(*_COLUMNS, user_roles.c.role, user_roles.c.tenant_code.label("role_tenant"))
            .select_from(users.outerjoin(user_roles, user_roles.c.user_id == users.c.id))
            .where(column == bindparam("key")).order_by(user_roles.c.id))


# Built once: a statement object keeps its SQLAlchemy cache key, so a request neither
# builds the query nor computes the key again (both showed in the profile).
_BY_PHONE = _user_by(users.c.phone)
_BY_ID = _user_by(users.c.id)


async def _load(session: AsyncSession, statement: Select[Any], key: Any) -> UserRecord | None:
    connection = await session.connection()
    return _record(list(await connection.execute(statement, {"key": key})))


async def user_by_phone(session: AsyncSession, phone: str) -> UserRecord | None:
    """The user with this number, with its grants, in one query."""
    return await _load(session, _BY_PHONE, phone)


async def user_by_id(session: AsyncSession, user_id: int) -> UserRecord | None:
    """The user with this id, with its grants, in one query."""
    return await _load(session, _BY_ID, user_id)


async def update_user(session: AsyncSession, user: UserRecord,
                      values: dict[str, Any]) -> UserRecord:
    """Change ``values`` of ``user`` in one ``UPDATE .. RETURNING`` (its grants stay)."""
    if not values:
        return user
    statement = (update(users).where(users.c.id == user.id)
                 .values(**values, updated_at=utcnow()).returning(*_COLUMNS))
    connection = await session.connection()
    row = (await connection.execute(statement)).one()
    return UserRecord(**_fields(row), roles=user.roles)
