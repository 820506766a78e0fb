"""Users API: citizens (through the bot's service credential) and employees (admins)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core_api.auth.deps import CitizenPrincipal, ServicePrincipal, StaffPrincipal
from core_api.auth.principal import Principal
from core_api.auth.throttle import find_login, unlock
from core_api.auth.tokens import hash_password
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, BadRequest, Conflict, Forbidden, NotFound
from core_api.phones import normalize_phone
from core_api.tenants.models import Tenant
from core_api.text import FreeText
from core_api.users.locales import LocaleCode, LocaleQuery
from core_api.users.models import Role, User, UserKind, UserRole
from core_api.users.records import UserRecord, update_user

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)


class CitizenIn(BaseModel):
    phone: str = Field(examples=["+919876500001"])
    name: FreeText | None = Field(None, max_length=120)
    locale: LocaleCode | None = None


class CitizenPatch(BaseModel):
    name: FreeText | None = Field(None, min_length=1, max_length=120)
    locale: LocaleCode | None = None
    opted_out: bool | None = None


class UserOut(BaseModel):
    id: int
    kind: str
    phone: str | None
    name: str | None
    locale: str | None
    opted_out: bool
    tenant_code: str | None
    department: str | None
    roles: list[dict[str, str]]
    active: bool
    created_at: datetime

    @classmethod
    def of_record(cls, user: UserRecord) -> UserOut:
        return cls(
            id=user.id, kind=user.kind, phone=user.phone, name=user.name, locale=user.locale,
            opted_out=user.opted_out, tenant_code=user.tenant_code, department=user.department,
            roles=[{"role": role, "tenant": tenant} for role, tenant in user.roles],
            active=user.active, created_at=user.created_at,
        )

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id, kind=user.kind, phone=user.phone, name=user.name, locale=user.locale,
            opted_out=user.opted_out, tenant_code=user.tenant_code, department=user.department,
            roles=[{"role": r.role, "tenant": r.tenant_code} for r in user.roles],
            active=user.active, created_at=user.created_at,
        )


class RoleGrantIn(BaseModel):
    role: Role
    tenant: str


class EmployeeIn(BaseModel):
    phone: str
    name: FreeText = Field(min_length=1, max_length=120)
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9._-]+$")
    password: str = Field(min_length=10, max_length=128)
    tenant_code: str
    department: str | None = Field(None, max_length=40)
    locale: LocaleCode | None = None
    roles: list[RoleGrantIn] = Field(min_length=1)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalize_phone(value)


class EmployeePatch(BaseModel):
    active: bool | None = None
    department: str | None = Field(None, max_length=40)
    roles: list[RoleGrantIn] | None = None


@router.post("/citizens", response_model=UserOut, summary="Find or create a citizen by number",
             responses={201: {"model": UserOut}})
async def ensure_citizen(
    body: CitizenIn, session: SessionDep, principal: ServicePrincipal, response: Response
) -> UserOut:
    """The bot registers a channel-verified number on first contact (idempotent)."""
    phone = normalize_phone(body.phone)
    if principal.phone is not None and principal.phone != phone:
        raise Forbidden("A citizen can only register their own number.")
    user = await session.scalar(select(User).where(User.phone == phone))
    if user is None:
        user = User(kind=UserKind.CITIZEN, phone=phone, name=body.name, locale=body.locale)
        session.add(user)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent first contact won the race
            raise Conflict("This number was registered a moment ago; try again.") from exc
        response.status_code = 201
    elif user.kind == UserKind.CITIZEN:
        if body.name and not user.name:
            user.name = body.name
        if body.locale and not user.locale:
            user.locale = body.locale
    await session.refresh(user, ["roles"])
    return UserOut.of(user)


def _caller(principal: Principal) -> UserRecord:
    """The caller's user as authentication read it (no second query)."""
    if principal.user is None:
        raise NotFound("No such user.")
    return principal.user


@router.get("/citizens/me", response_model=UserOut, summary="The citizen the bot acts for")
async def citizen_me(principal: CitizenPrincipal) -> UserOut:
    return UserOut.of_record(_caller(principal))


@router.patch("/citizens/me", response_model=UserOut, summary="Update name, language, opt-out")
async def update_citizen_me(
    body: CitizenPatch, session: SessionDep, principal: CitizenPrincipal
) -> UserOut:
    changes = {name: value for name, value in body.model_dump(exclude_unset=True).items()
               if value is not None}
    return UserOut.of_record(await update_user(session, _caller(principal), changes))


@router.patch("/users/me/locale", response_model=UserOut, summary="Change the caller's language")
async def update_my_locale(
    locale: LocaleQuery,
    session: SessionDep,
    principal: StaffPrincipal,
) -> UserOut:
    return UserOut.of_record(await update_user(session, _caller(principal), {"locale": locale}))


def _require_admin(principal: Principal, tenant_code: str) -> None:
    principal.require_tenant(tenant_code, {Role.ADMIN})


async def _require_known_tenants(session: SessionDep, codes: set[str]) -> None:
    """Grants and home tenants must name tenants that exist (a typo would grant nothing)."""
    known = set(await session.scalars(select(Tenant.code).where(Tenant.code.in_(codes))))
    if unknown := sorted(codes - known):
        raise BadRequest(f"No tenant {', '.join(unknown)}.", code="unknown_tenant",
                         details={"unknown": unknown})


@router.get("/employees", response_model=list[UserOut], summary="Employees of a tenant")
async def list_employees(
    session: SessionDep,
    principal: StaffPrincipal,
    tenant: Annotated[str, Query(description="ULB code, e.g. uk.dehradun")],
    role: Role | None = None,
    department: str | None = None,
    active: bool = True,
) -> list[UserOut]:
    """ADMIN, GRO and CSR of the tenant see its employees (GRO needs them to assign)."""
    principal.require_tenant(tenant, {Role.ADMIN, Role.GRO, Role.CSR})
    query = select(User).where(User.kind == UserKind.EMPLOYEE, User.active == active)
    if role is not None:
        query = query.where(User.id.in_(
            select(UserRole.user_id).where(UserRole.role == role)
            .where(UserRole.tenant_code.in_(_covering(tenant)))
        ))
    else:
        query = query.where(User.tenant_code == tenant)
    if department:
        query = query.where(User.department == department)
    rows = await session.scalars(query.order_by(User.name).limit(500))
    return [UserOut.of(u) for u in rows]


def _covering(tenant_code: str) -> list[str]:
    """``uk.dehradun`` is covered by grants on itself and on ``uk``."""
    parts = tenant_code.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@router.post("/employees", response_model=UserOut, status_code=201, summary="Create an employee")
async def create_employee(
    body: EmployeeIn, session: SessionDep, principal: StaffPrincipal
) -> UserOut:
    _require_admin(principal, body.tenant_code)
    for grant in body.roles:
        _require_admin(principal, grant.tenant)
    await _require_known_tenants(session, {body.tenant_code, *(g.tenant for g in body.roles)})
    exists = await session.scalar(
        select(User.id).where((User.phone == body.phone) | (User.username == body.username))
    )
    if exists is not None:
        raise Conflict("An account with this phone number or username exists.")
    user = User(
        kind=UserKind.EMPLOYEE, phone=body.phone, name=body.name, username=body.username,
        password_hash=await asyncio.to_thread(hash_password, body.password),
        tenant_code=body.tenant_code,
        department=body.department, locale=body.locale,
        roles=[UserRole(role=str(g.role), tenant_code=g.tenant) for g in body.roles],
    )
    session.add(user)
    await session.flush()
    return UserOut.of(user)


@router.get("/employees/{user_id}", response_model=UserOut, summary="One employee")
async def get_employee(user_id: int, session: SessionDep, principal: StaffPrincipal) -> UserOut:
    user = await session.get(User, user_id)
    if user is None or user.kind != UserKind.EMPLOYEE or not principal.can_see_tenant(
        user.tenant_code or ""
    ):
        raise NotFound("No such employee.")
    return UserOut.of(user)


@router.patch("/employees/{user_id}", response_model=UserOut, summary="Change roles or disable")
async def update_employee(
    user_id: int, body: EmployeePatch, session: SessionDep, principal: StaffPrincipal
) -> UserOut:
    user = await session.get(User, user_id)
    if user is None or user.kind != UserKind.EMPLOYEE:
        raise NotFound("No such employee.")
    _require_admin(principal, user.tenant_code or "")
    if body.active is not None:
        user.active = body.active
    if body.department is not None:
        user.department = body.department
    if body.roles is not None:
        for grant in body.roles:
            _require_admin(principal, grant.tenant)
        await _require_known_tenants(session, {g.tenant for g in body.roles})
        # Keep the rows of grants that stay: replacing them with equal new rows would insert
        # before deleting and trip the unique (user, role, tenant) constraint.
        wanted = {(str(g.role), g.tenant) for g in body.roles}
        held = {(r.role, r.tenant_code) for r in user.roles}
        user.roles = [r for r in user.roles if (r.role, r.tenant_code) in wanted] + [
            UserRole(role=role, tenant_code=tenant) for role, tenant in sorted(wanted - held)
        ]
    await session.flush()
    return UserOut.of(user)


class UnlockOut(BaseModel):
    username: str
    was_locked: bool
    failures_cleared: int


@router.post("/users/{username}/unlock", response_model=UnlockOut,
             summary="Unlock a staff login locked after failed passwords (ADMIN)")
async def unlock_login(
    username: Annotated[str, Path(min_length=1, max_length=64,
                                  description="Username or phone number of the employee")],
    request: Request,
    session: SessionDep,
    principal: StaffPrincipal,
) -> UnlockOut:
    """Lift the lock and back-off of an employee's login and clear its failure count
    (also ``samvad users unlock NAME``). ADMIN of the employee's tenant only."""
    if not principal.has_role(Role.ADMIN):
        raise Forbidden("This needs the role ADMIN.", code="role_forbidden")
    name = await find_login(session, username)
    if name.user is None:
        raise NotFound("No such employee.")
    _require_admin(principal, name.user.tenant_code or "")
    done = await unlock(request.app.state.redis, name, by=f"user:{principal.user_id}")
    return UnlockOut(username=name.user.username or name.account, was_locked=done.was_locked,
                     failures_cleared=done.failures_cleared)
