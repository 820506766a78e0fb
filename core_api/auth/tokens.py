"""Passwords (argon2) and signed tokens (JWT, HS256) for staff and for the bot service."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core_api.db import utcnow
from core_api.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "samvad"
ACCESS = "access"
SERVICE = "service"

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Hash a staff password for storage."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against its stored hash; False for users without a password."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(secret: str, subject: str, kind: str, lifetime: timedelta, **claims: Any) -> str:
    """Sign a token of ``kind`` (access or service) for ``subject``."""
    now = utcnow()
    payload = {"sub": subject, "typ": kind, "iss": ISSUER, "iat": now, "exp": now + lifetime}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


# Service tokens already verified: the bot sends the same one with every API call, so its
# signature is checked once per process and only its expiry on each call after that.
_SERVICE_CLAIMS: dict[tuple[str, str], dict[str, Any]] = {}
_SERVICE_CLAIMS_MAX = 16


def read_token(secret: str, token: str) -> dict[str, Any]:
    """Verify signature, issuer and expiry; raise Unauthorized otherwise."""
    known = _SERVICE_CLAIMS.get((secret, token))
    if known is not None and time.time() < known["exp"]:
        return dict(known)
    claims = _decode(secret, token)
    if claims.get("typ") == SERVICE and isinstance(claims.get("exp"), int | float):
        if len(_SERVICE_CLAIMS) >= _SERVICE_CLAIMS_MAX:
            _SERVICE_CLAIMS.clear()
        _SERVICE_CLAIMS[(secret, token)] = dict(claims)
    return claims


def _decode(secret: str, token: str) -> dict[str, Any]:
    try:
        return jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired; log in again.", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The token is not valid.", code="invalid_token") from exc


def service_token(secret: str, name: str = "bot", days: int = 3650) -> str:
    """The credential the bot uses to act on behalf of channel-verified numbers."""
    return issue_token(secret, f"service:{name}", SERVICE, timedelta(days=days))
