"""Twilio REST errors as ``SendError`` kinds: a code table first, then the HTTP status.

Twilio answers a refused ``POST .../Messages.json`` with JSON like
``{"code": 21610, "message": "...", "more_info": "https://www.twilio.com/docs/errors/21610",
"status": 400}``. The code decides when we know it; otherwise 429 is throttling, 5xx a
connection problem, 401/403/404 our configuration, anything else a rejection.

A network failure after the request went out (read timeout, dropped connection) leaves
the outcome unknown: Twilio may have accepted the message, and its Messages API takes no
idempotency key. Such failures are ``CONNECTION`` with code ``ambiguous``
(``channels.queues.AMBIGUOUS``): the send worker does not simply retry them; it asks
Twilio's message list whether the message went out (``TwilioSender.find_sent``) and
sends it again only if it did not, so a citizen gets it once.
"""

from __future__ import annotations

import httpx

from channels.base import SendError, SendErrorKind

AMBIGUOUS = "ambiguous"  # the send worker's code for "may have been sent"

# https://www.twilio.com/docs/api/errors/<code>
TWILIO_ERRORS: dict[int, SendErrorKind] = {
    20003: SendErrorKind.CONFIG,  # authentication failed: wrong account SID or auth token
    20404: SendErrorKind.CONFIG,  # resource not found: wrong account SID or API base
    20429: SendErrorKind.THROTTLED,  # too many requests
    21211: SendErrorKind.REJECTED,  # invalid 'To' phone number
    21212: SendErrorKind.CONFIG,  # invalid 'From' number
    21408: SendErrorKind.CONFIG,  # sending to this region is not enabled on the account
    21606: SendErrorKind.CONFIG,  # 'From' is not a message-capable number of the account
    21610: SendErrorKind.OPTED_OUT,  # the recipient replied STOP
    21614: SendErrorKind.REJECTED,  # 'To' is not a mobile number (landline)
    21617: SendErrorKind.REJECTED,  # body longer than 1600 characters
    63007: SendErrorKind.CONFIG,  # no WhatsApp sender for the 'From' address
    63016: SendErrorKind.REJECTED,  # outside the 24 h window: only a template may go
    63018: SendErrorKind.THROTTLED,  # WhatsApp rate limit of the sender
}


def kind_for(status: int, code: int | None) -> SendErrorKind:
    """The error kind of an HTTP ``status`` with Twilio error ``code``."""
    if code is not None and code in TWILIO_ERRORS:
        return TWILIO_ERRORS[code]
    if status == 429:
        return SendErrorKind.THROTTLED
    if status >= 500:
        return SendErrorKind.CONNECTION
    if status in (401, 403, 404):
        return SendErrorKind.CONFIG
    return SendErrorKind.REJECTED


def error_from_response(response: httpx.Response) -> SendError:
    """The ``SendError`` for a non-2xx answer of the Messages API."""
    code: int | None = None
    message = response.reason_phrase
    try:
        body = response.json()
    except ValueError:  # an HTML error page from a proxy, or nothing
        body = None
    if isinstance(body, dict):
        raw_code = body.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        message = str(body.get("message") or message)
    kind = kind_for(response.status_code, code)
    return SendError(kind, str(code) if code is not None else f"http_{response.status_code}",
                     message)


def error_from_transport(exc: httpx.TransportError) -> SendError:
    """The ``SendError`` for a network failure; ``AMBIGUOUS`` once the request may have
    reached Twilio, so that the send worker asks Twilio before repeating it."""
    name = type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol):  # TWILIO_API_BASE is not an http(s) URL
        return SendError(SendErrorKind.CONFIG, "unsupported_protocol", str(exc))
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                  | httpx.ProxyError | httpx.WriteError | httpx.WriteTimeout):
        # No complete request reached Twilio: nothing was sent, a retry is safe.
        return SendError(SendErrorKind.CONNECTION, name.lower(), str(exc))
    return SendError(SendErrorKind.CONNECTION, AMBIGUOUS,
                     f"{name} after the request was sent; it may have been delivered")
