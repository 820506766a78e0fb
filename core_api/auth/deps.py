"""Request authentication: a staff JWT, or the bot's service token acting for a number.

The bot sends ``Authorization: Bearer <service token>`` and ``X-On-Behalf-Of: +91...``
(the number the channel verified). That caller becomes the user with that number:
a citizen, or an employee with their roles.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer

from core_api.auth.principal import Principal
from core_api.auth.tokens import ACCESS, SERVICE, read_token
from core_api.db import SessionDep
from core_api.errors import Forbidden, Unauthorized
from core_api.phones import normalize_phone
from core_api.users.models import UserKind
from core_api.users.records import UserRecord, user_by_id, user_by_phone

ON_BEHALF_HEADER = "X-On-Behalf-Of"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _principal_for(user: UserRecord, via_service: bool) -> Principal:
    if not user.active:
        raise Forbidden("This account is disabled.", code="account_disabled")
    kind = "employee" if user.kind == UserKind.EMPLOYEE else "citizen"
    return Principal(
        kind=kind,
        user_id=user.id,
        phone=user.phone,
        name=user.name,
        grants=user.roles,
        via_service=via_service,
        user=user,
    )


async def get_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    on_behalf_of: Annotated[str | None, Header(alias=ON_BEHALF_HEADER)] = None,
) -> Principal:
    """Authenticate the request or raise 401."""
    if not token:
        raise Unauthorized("Log in first: send a bearer token.", code="not_authenticated")
    claims = read_token(request.app.state.settings.secret_key, token)
    if claims["typ"] == SERVICE:
        if on_behalf_of is None:
            return Principal(kind="service")
        phone = normalize_phone(on_behalf_of)
        user = await user_by_phone(session, phone)
        if user is None:
            return Principal(kind="citizen", phone=phone, via_service=True)
        return _principal_for(user, via_service=True)
    if claims["typ"] != ACCESS:
        raise Unauthorized("The token is not valid.", code="invalid_token")
    if on_behalf_of is not None:
        raise Forbidden("Only the service credential may act on behalf of a number.")
    try:
        user_id = int(claims["sub"])
    except ValueError as exc:
        raise Unauthorized("The token is not valid.", code="invalid_token") from exc
    user = await user_by_id(session, user_id)
    if user is None or user.kind != UserKind.EMPLOYEE:
        raise Unauthorized("The token is not valid.", code="invalid_token")
    return _principal_for(user, via_service=False)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_staff(principal: CurrentPrincipal) -> Principal:
    """Only employees (logged in, or through the bot's employee chat)."""
    if not principal.is_staff:
        raise Forbidden("This is for municipal staff only.", code="staff_only")
    return principal


async def get_service(principal: CurrentPrincipal) -> Principal:
    """Only the bot's service credential (with or without a number)."""
    if not (principal.is_service or principal.via_service):
        raise Forbidden("This is for the channel service only.", code="service_only")
    return principal


async def get_citizen(principal: CurrentPrincipal) -> Principal:
    """Only a registered citizen, through the bot."""
    if not principal.is_citizen or principal.user_id is None:
        raise Forbidden("This is for registered citizens only.", code="citizen_only")
    return principal


StaffPrincipal = Annotated[Principal, Depends(get_staff)]
ServicePrincipal = Annotated[Principal, Depends(get_service)]
CitizenPrincipal = Annotated[Principal, Depends(get_citizen)]


def require_roles(*roles: str) -> Any:  # Any: what FastAPI's Depends() returns
    """Dependency: the caller is staff holding at least one of ``roles`` in some tenant."""
    wanted = frozenset(roles)

    async def _check(principal: StaffPrincipal) -> Principal:
        if not principal.roles & wanted:
            raise Forbidden(
                f"This needs one of the roles {', '.join(sorted(wanted))}.", code="role_forbidden"
            )
        return principal

    return Depends(_check)
