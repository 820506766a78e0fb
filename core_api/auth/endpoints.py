"""Staff login (OAuth2 password flow, so /docs can authorize) and who-am-I."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import or_, select

from core_api.auth.deps import CurrentPrincipal
from core_api.auth.tokens import ACCESS, hash_password, issue_token, verify_password
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, BadRequest, Unauthorized
from core_api.users.models import User, UserKind
from core_api.users.phones import normalize_phone

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)

# Checked when the login name matches nobody, so that a miss costs as long as a wrong
# password and the answer time does not tell which usernames exist.
_DECOY_HASH = hash_password("samvad-decoy-password")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class RoleGrant(BaseModel):
    role: str
    tenant: str


class MeOut(BaseModel):
    kind: str
    user_id: int | None
    name: str | None
    phone: str | None
    roles: list[RoleGrant]


@router.post("/token", response_model=TokenOut, summary="Log in (staff and admin)")
async def login(
    request: Request,
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenOut:
    """Exchange a username (or phone number) and password for a bearer token."""
    login_name = form.username.strip()
    phone: str | None = None
    if login_name[:1] in "+0123456789":
        try:
            phone = normalize_phone(login_name)
        except BadRequest:
            phone = None
    query = select(User).where(User.kind == UserKind.EMPLOYEE)
    query = query.where(or_(User.username == login_name, User.phone == phone) if phone
                        else User.username == login_name)
    user = await session.scalar(query)
    # argon2 is deliberately slow CPU work: keep it off the event loop.
    password_ok = await asyncio.to_thread(
        verify_password, user.password_hash if user else _DECOY_HASH, form.password
    )
    if user is None or not user.active or not password_ok:
        raise Unauthorized("Wrong username or password.", code="bad_credentials")
    settings = request.app.state.settings
    minutes = settings.access_token_minutes
    token = issue_token(settings.secret_key, str(user.id), ACCESS, timedelta(minutes=minutes))
    return TokenOut(access_token=token, expires_in=minutes * 60)


@router.get("/me", response_model=MeOut, summary="The authenticated caller")
async def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        kind=principal.kind,
        user_id=principal.user_id,
        name=principal.name,
        phone=principal.phone,
        roles=[RoleGrant(role=r, tenant=t) for r, t in principal.grants],
    )
