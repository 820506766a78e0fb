"""Meta WhatsApp Cloud API: webhook (verify handshake, signature, envelope), sender, media.

- ``router``: ``GET|POST /webhooks/whatsapp`` (see ``endpoints``);
- ``parse_envelope``: a webhook body as ``Inbound`` messages, ``StatusUpdate`` values and
  ``Ignored`` events;
- ``MetaSender``: delivers ``OutboundJob`` values (``render_meta`` payloads or templates);
- ``META_ERRORS`` / ``classify_response``: Graph API error codes -> ``SendErrorKind``;
- ``fetch_media`` / ``MetaMediaFetcher``: the bytes behind an inbound ``meta-media:<id>``
  url; ``MetaMediaSource``: the same as the bot's photo source (``bot.media.MediaSource``).
"""

from channels.meta_whatsapp._envelope import (
    MEDIA_URL_PREFIX,
    Envelope,
    Ignored,
    MalformedEnvelope,
    StatusUpdate,
    parse_envelope,
    wa_id_to_e164,
)
from channels.meta_whatsapp._errors import (
    META_ERRORS,
    WINDOW_CLOSED_CODE,
    classify_response,
    classify_status_error,
)
from channels.meta_whatsapp._media import (
    API_VERSION,
    MEDIA_HOSTS,
    FetchedMedia,
    MediaUnavailable,
    MetaMediaFetcher,
    MetaMediaSource,
    fetch_media,
    media_id_from_url,
)
from channels.meta_whatsapp._sender import MetaSender, job_payloads, template_payload
from channels.meta_whatsapp._signature import SIGNATURE_HEADER, signature_header, signature_valid
from channels.meta_whatsapp.endpoints import PROVIDER, router

__all__ = [
    "API_VERSION",
    "MEDIA_HOSTS",
    "MEDIA_URL_PREFIX",
    "META_ERRORS",
    "PROVIDER",
    "SIGNATURE_HEADER",
    "WINDOW_CLOSED_CODE",
    "Envelope",
    "FetchedMedia",
    "Ignored",
    "MalformedEnvelope",
    "MediaUnavailable",
    "MetaMediaFetcher",
    "MetaMediaSource",
    "MetaSender",
    "StatusUpdate",
    "classify_response",
    "classify_status_error",
    "fetch_media",
    "job_payloads",
    "media_id_from_url",
    "parse_envelope",
    "router",
    "signature_header",
    "signature_valid",
    "template_payload",
    "wa_id_to_e164",
]
