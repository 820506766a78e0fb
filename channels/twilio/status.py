"""Twilio delivery status callbacks (``MessageSid``, ``MessageStatus``, ``ErrorCode``).

Twilio's statuses map onto the status store's: ``accepted``/``scheduled``/``queued``/
``sending`` -> queued, ``sent``, ``delivered``, ``read``, ``undelivered``/``failed``/
``canceled`` -> failed. Other values (``receiving``, ``received``,
``partially_delivered``) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from channels.twilio.inbound import Ignored, Malformed

Status = Literal["queued", "sent", "delivered", "read", "failed"]

STATUSES: dict[str, Status] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}


@dataclass(frozen=True)
class StatusUpdate:
    """One message's new status as the status store records it."""

    provider_message_id: str
    status: Status
    recipient: str | None = None  # E.164 (``whatsapp:`` dropped)
    error_code: str | None = None


def parse_status(form: Mapping[str, str]) -> StatusUpdate | Ignored:
    """The update in a verified status callback; ``Malformed`` without sid or status."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not sid or not raw:
        raise Malformed("MessageSid and MessageStatus are required")
    if len(sid) > 64 or not sid.isprintable():
        raise Malformed("MessageSid is not a message id")
    status = STATUSES.get(raw)
    if status is None:
        return Ignored(f"status {raw!r} is not tracked")
    recipient = (form.get("To") or "").removeprefix("whatsapp:").strip() or None
    return StatusUpdate(sid, status, recipient=recipient, error_code=form.get("ErrorCode") or None)
