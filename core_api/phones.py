"""Phone numbers: every spelling of an Indian number becomes one E.164 identity.

A value module: the channels parse and mask numbers with it too, so it imports nothing of
core_api but the error envelope (``core_api.errors``); the lint-imports contracts in
pyproject.toml keep it so."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from core_api.errors import BadRequest

DEFAULT_REGION = "IN"
_CHANNEL_PREFIXES = ("whatsapp:", "sms:", "tel:")


@lru_cache(maxsize=4096)  # every bot call parses its X-On-Behalf-Of number; errors are not cached
def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the E.164 form of ``raw`` ("9876500001", "whatsapp:+91 98765 00001", ...).

    Raises BadRequest when the text is not a valid phone number.
    """
    text = raw.strip()
    lowered = text.lower()
    for prefix in _CHANNEL_PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix) :].strip()
            break
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise BadRequest("That is not a phone number.", code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise BadRequest("That is not a valid phone number.", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str | None) -> str:
    """Mask a number for logs and other citizens' eyes: +91******0001."""
    if not e164:
        return ""
    if len(e164) <= 7:
        return "*" * len(e164)
    return e164[:3] + "*" * (len(e164) - 7) + e164[-4:]
