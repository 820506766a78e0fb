"""Users: citizens keyed by their verified E.164 number, employees with roles per tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core_api.db import Base, BigIntPK, UTCDateTime, utcnow


class UserKind(StrEnum):
    CITIZEN = "citizen"
    EMPLOYEE = "employee"


class Role(StrEnum):
    """Staff roles (DIGIT names). Citizens hold no role rows."""

    GRO = "GRO"  # grievance routing officer: assigns and rejects complaints
    LME = "LME"  # last-mile employee: resolves complaints
    CSR = "CSR"  # customer service representative: files on behalf of citizens
    REGISTRAR = "REGISTRAR"  # births and deaths registrar
    ADMIN = "ADMIN"  # configuration, users, everything within the tenant


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    kind: Mapped[str] = mapped_column(String(16), default=UserKind.CITIZEN)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(120))
    locale: Mapped[str | None] = mapped_column(String(10))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    tenant_code: Mapped[str | None] = mapped_column(String(64), index=True)
    department: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def is_employee(self) -> bool:
        return self.kind == UserKind.EMPLOYEE


class UserRole(Base):
    """A role held within a tenant; a role on the state tenant covers all its ULBs."""

    __tablename__ = "user_roles"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "tenant_code", name="uq_user_roles_grant"),
        Index("ix_user_roles_role_tenant", "role", "tenant_code"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    tenant_code: Mapped[str] = mapped_column(String(64))

    user: Mapped[User] = relationship(back_populates="roles")
