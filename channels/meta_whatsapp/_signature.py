"""Meta's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``.

The key is the app secret (``WHATSAPP_APP_SECRET``). The HMAC covers the exact bytes
received, so the body is verified before it is parsed.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SCHEME = "sha256="


def signature_header(app_secret: str, body: bytes) -> str:
    """The header value Meta sends with ``body`` (used by tests and local fakes)."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return _SCHEME + digest


def signature_valid(app_secret: str | None, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of ``body``; False when either is missing."""
    if not app_secret or not header or not header.startswith(_SCHEME):
        return False
    received = header[len(_SCHEME):].strip().lower().encode("utf-8", "replace")
    expected = signature_header(app_secret, body)[len(_SCHEME):].encode()
    return hmac.compare_digest(expected, received)
