"""Verification codes printed (as a QR) on certificates.

A code is base32 of the certificate id (5 bytes) followed by an HMAC-SHA256 of the id and
certificate number truncated to 10 bytes (80 bits): 24 characters, unguessable, and it
names exactly one certificate. Changing SAMVAD_SECRET_KEY invalidates printed codes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

_ID_BYTES, _MAC_BYTES = 5, 10
CODE_LENGTH = (_ID_BYTES + _MAC_BYTES) * 8 // 5  # 24


def _mac(secret: str, certificate_id: int, certificate_number: str) -> bytes:
    key = hashlib.sha256(b"samvad/certificate-verify\n" + secret.encode()).digest()
    message = certificate_id.to_bytes(_ID_BYTES, "big") + certificate_number.encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def make_code(secret: str, certificate_id: int, certificate_number: str) -> str:
    """The verification code of one certificate."""
    raw = certificate_id.to_bytes(_ID_BYTES, "big") + _mac(secret, certificate_id,
                                                           certificate_number)
    return base64.b32encode(raw).decode("ascii")


def code_id(code: str) -> int | None:
    """The certificate id a well-formed code claims (check it with ``code_matches``)."""
    if len(code) != CODE_LENGTH:
        return None
    try:
        raw = base64.b32decode(code.upper())
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw[:_ID_BYTES], "big")


def code_matches(secret: str, code: str, certificate_id: int, certificate_number: str) -> bool:
    """True when ``code`` was made for this certificate with this secret."""
    expected = make_code(secret, certificate_id, certificate_number)
    return hmac.compare_digest(expected.encode(), code.upper().encode())  # bytes: any text
