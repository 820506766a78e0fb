"""Signed, expiring download links: /files/<key>?exp=<unix>&sig=<hmac>.

A link may also name the file as people should see it: /files/<key>/as/<name>?exp=..&sig=..
(a receipt sent through Twilio WhatsApp, which cannot set a document's file name, shows
the URL's last segment: ``RCPT-DDN-2026-000001.pdf`` instead of a storage key). The name
is cosmetic: only the key is signed, and the name is held to ``SAFE_NAME``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import quote

DEFAULT_LIFETIME_S = 7 * 24 * 3600
# A file name a link may show: letters, digits, dot, dash, underscore; an extension.
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,78}\.[A-Za-z0-9]{1,8}")


def _signature(secret: str, key: str, expires: int) -> str:
    message = f"{key}\n{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return digest[:32]


def signed_url(base_url: str, secret: str, key: str, lifetime_s: int = DEFAULT_LIFETIME_S,
               *, name: str | None = None) -> str:
    """An absolute link to a stored file that works until it expires; ``name`` (when it
    is a ``SAFE_NAME`` with the key's extension) ends its path."""
    expires = int(time.time()) + lifetime_s
    shown = f"/as/{name}" if name and named_like(key, name) else ""
    return (f"{base_url.rstrip('/')}/files/{quote(key)}{shown}?exp={expires}"
            f"&sig={_signature(secret, key, expires)}")


def named_like(key: str, name: str) -> bool:
    """True when ``name`` may show the file ``key``: a safe name with the same extension."""
    extension = key.rsplit(".", 1)[-1].lower() if "." in key else None
    return bool(SAFE_NAME.fullmatch(name)) and name.rsplit(".", 1)[-1].lower() == extension


def verify_signature(secret: str, key: str, expires: int, signature: str) -> bool:
    """True when the link is genuine and not expired."""
    if expires < time.time():
        return False
    # Bytes: compare_digest refuses non-ASCII str (a 500 for a mangled link).
    return hmac.compare_digest(_signature(secret, key, expires).encode(), signature.encode())
