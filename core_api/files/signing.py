"""Signed, expiring download links: /files/<key>?exp=<unix>&sig=<hmac>."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

DEFAULT_LIFETIME_S = 7 * 24 * 3600


def _signature(secret: str, key: str, expires: int) -> str:
    message = f"{key}\n{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return digest[:32]


def signed_url(base_url: str, secret: str, key: str, lifetime_s: int = DEFAULT_LIFETIME_S) -> str:
    """An absolute link to a stored file that works until it expires."""
    expires = int(time.time()) + lifetime_s
    return (f"{base_url.rstrip('/')}/files/{quote(key)}?exp={expires}"
            f"&sig={_signature(secret, key, expires)}")


def verify_signature(secret: str, key: str, expires: int, signature: str) -> bool:
    """True when the link is genuine and not expired."""
    if expires < time.time():
        return False
    # Bytes: compare_digest refuses non-ASCII str (a 500 for a mangled link).
    return hmac.compare_digest(_signature(secret, key, expires).encode(), signature.encode())
