"""Twilio SMS and WhatsApp: signed webhooks, status callbacks and the REST sender.

- ``router``: ``POST /webhooks/twilio`` and ``POST /webhooks/twilio/status``
  (see ``endpoints``);
- ``parse_inbound`` / ``parse_status``: verified form fields as ``Inbound`` /
  ``StatusUpdate`` values, ``Ignored`` with a reason, or ``Malformed``;
- ``TwilioSender``: delivers ``OutboundJob`` values through the Messages REST API;
- ``TWILIO_ERRORS`` / ``kind_for``: Twilio error codes -> ``SendErrorKind``.
"""

from channels.twilio.endpoints import PROVIDER, router
from channels.twilio.errors import AMBIGUOUS, TWILIO_ERRORS, kind_for
from channels.twilio.inbound import Ignored, Malformed, parse_inbound
from channels.twilio.sender import DLT_PARAM, TEMPLATE_PARAM, TwilioSender, is_content_sid
from channels.twilio.signature import public_request_url, verified_form
from channels.twilio.status import StatusUpdate, parse_status

__all__ = [
    "AMBIGUOUS",
    "DLT_PARAM",
    "PROVIDER",
    "TEMPLATE_PARAM",
    "TWILIO_ERRORS",
    "Ignored",
    "Malformed",
    "StatusUpdate",
    "TwilioSender",
    "is_content_sid",
    "kind_for",
    "parse_inbound",
    "parse_status",
    "public_request_url",
    "router",
    "verified_form",
]
