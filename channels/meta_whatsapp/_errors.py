"""Graph API errors mapped onto the closed ``SendErrorKind`` set.

Meta answers a refused send with HTTP 4xx/5xx and
``{"error": {"message", "type", "code", "error_subcode", "error_data", "fbtrace_id"}}``.
The ``code`` decides; the HTTP status only matters when the code is unknown
(429 -> throttled, 5xx -> connection, other 4xx -> rejected).

``131047`` (more than 24 hours since the person last wrote) is ``rejected`` with code
``WINDOW_CLOSED_CODE``: the message was not sent and the same job can be retried as a
template message (set the job's template params). It usually arrives later, as a
``failed`` status with that code, rather than as the answer to the send.
"""

from __future__ import annotations

from typing import Any

import httpx

from channels.base import SendError, SendErrorKind

WINDOW_CLOSED_CODE = "131047"  # re-engagement needed: send a template instead

CONFIG = SendErrorKind.CONFIG
CONNECTION = SendErrorKind.CONNECTION
THROTTLED = SendErrorKind.THROTTLED
REJECTED = SendErrorKind.REJECTED

# Graph / Cloud API error codes; the comment is Meta's title.
META_ERRORS: dict[int, SendErrorKind] = {
    0: CONFIG,  # AuthException
    1: CONNECTION,  # API unknown (temporary)
    2: CONNECTION,  # API service (temporary downtime)
    3: CONFIG,  # API method: capability or permission missing
    4: THROTTLED,  # API too many calls (app rate limit)
    10: CONFIG,  # API permission denied
    33: CONFIG,  # the phone number id does not exist or is not ours
    100: REJECTED,  # invalid parameter
    190: CONFIG,  # access token expired or invalid
    368: CONFIG,  # temporarily blocked for policy violations
    80007: THROTTLED,  # WhatsApp Business Account rate limit
    130429: THROTTLED,  # Cloud API throughput reached
    130472: REJECTED,  # the user's number is part of an experiment
    131000: CONNECTION,  # something went wrong (Meta asks to retry)
    131005: CONFIG,  # access denied
    131008: REJECTED,  # required parameter missing
    131009: REJECTED,  # parameter value invalid
    131016: CONNECTION,  # service unavailable
    131021: REJECTED,  # recipient cannot be the sender
    131026: REJECTED,  # message undeliverable (not on WhatsApp, old app, terms not accepted)
    131030: CONFIG,  # recipient not in the test number's allowed list
    131031: CONFIG,  # business account locked
    131037: CONFIG,  # display name needs approval
    131042: CONFIG,  # business eligibility: payment issue
    131045: CONFIG,  # incorrect certificate: number not registered
    131047: REJECTED,  # re-engagement message: outside the 24-hour window
    131048: REJECTED,  # spam rate limit: quality restrictions, waiting does not help
    131049: REJECTED,  # not delivered to keep ecosystem engagement healthy
    131050: REJECTED,  # the user stopped marketing messages (utility ones still go)
    131051: REJECTED,  # unsupported message type
    131052: REJECTED,  # media download error
    131053: REJECTED,  # media upload error (our link could not be fetched or is too big)
    131056: THROTTLED,  # pair rate limit: too many messages to this person too fast
    131057: CONNECTION,  # account in maintenance mode
    132000: CONFIG,  # template parameter count mismatch
    132001: CONFIG,  # template does not exist in that language
    132005: REJECTED,  # template text too long after filling parameters
    132007: CONFIG,  # template format character policy violated
    132012: CONFIG,  # template parameter format mismatch
    132015: CONFIG,  # template paused for low quality
    132016: CONFIG,  # template disabled
    133010: CONFIG,  # phone number not registered
}


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def classify_response(response: httpx.Response) -> SendError:
    """The ``SendError`` for a non-2xx Graph API answer."""
    error = _error_body(response)
    code = error.get("code")
    detail = str(error.get("message") or response.reason_phrase or "")
    details = (error.get("error_data") or {}).get("details") if isinstance(
        error.get("error_data"), dict) else None
    if details:
        detail = f"{detail}: {details}"
    if isinstance(code, int) and code in META_ERRORS:
        return SendError(META_ERRORS[code], str(code), detail)
    status = response.status_code
    code_text = str(code) if code is not None else f"http_{status}"
    if status == 429:
        return SendError(THROTTLED, code_text, detail)
    if status >= 500:
        return SendError(CONNECTION, code_text, detail)
    if status in (401, 403):
        return SendError(CONFIG, code_text, detail)
    return SendError(REJECTED, code_text, detail)


def classify_status_error(code: str | None) -> SendErrorKind | None:
    """The kind of a ``failed`` status's error code (None when there is no code)."""
    if code is None:
        return None
    try:
        return META_ERRORS.get(int(code), REJECTED)
    except ValueError:
        return REJECTED
