"""Staff login (OAuth2 password flow, so /docs can authorize) and who-am-I."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from core_api.auth.deps import CurrentPrincipal
from core_api.auth.throttle import client_address, find_login, guard_of
from core_api.auth.tokens import ACCESS, hash_password, issue_token
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, ErrorEnvelope, Unauthorized

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


# Answers of the login besides 200 and 401: throttling (core_api/auth/throttle.py).
_THROTTLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    423: {"model": ErrorEnvelope, "description": "account_locked: after repeated failures; "
          "Retry-After says when it ends (absent: until an admin unlocks it)"},
    429: {"model": ErrorEnvelope, "description": "login_backoff (this account) or "
          "login_address_backoff (this address) failed too often; wait Retry-After seconds"},
    503: {"model": ErrorEnvelope, "description": "login_busy (too many password checks at "
          "once) or login_unavailable; retry after Retry-After seconds"},
}


@router.post("/token", response_model=TokenOut, summary="Log in (staff and admin)",
             responses=_THROTTLE_RESPONSES)
async def login(
    request: Request,
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenOut:
    """Exchange a username (or phone number) and password for a bearer token.

    Throttled per account and per client address: repeated failures are answered 429
    (back-off) and, at ten within 15 minutes (by default), 423 (locked) until the lock ends
    or an admin unlocks the account; a correct password is refused too meanwhile. Every failure,
    known user or not, is the same 401 after the same work.
    """
    name = await find_login(session, form.username)
    user = name.user
    if session.in_transaction():
        # Nothing else is read or written: the connection goes back to the pool before the
        # (throttled, possibly waiting) password check, so guessing cannot hold the pool.
        await session.rollback()
    guard = guard_of(request.app)
    attempt = await guard.begin(name, client_address(request))
    accepted = False
    try:
        # Unknown names and accounts without a password are checked against a decoy hash,
        # so that a miss costs as long as a wrong password.
        stored = user.password_hash if user is not None else None
        password_ok = await attempt.verify(stored or _DECOY_HASH, form.password)
        if user is None:
            attempt.failed("unknown_user")
        elif not stored or not password_ok:
            attempt.failed("wrong_password")
        elif not user.active:
            attempt.failed("disabled")
        else:
            accepted = True
            attempt.succeeded()
    finally:
        await attempt.finish()
    if not accepted or user is None:
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
