"""``POST /webhooks/twilio`` (inbound SMS and WhatsApp) and ``POST /webhooks/twilio/status``.

Inbound order: verify ``X-Twilio-Signature`` (403, nothing done, when missing or wrong)
-> parse the form (400 when malformed) -> ``channels_of(app).inbound.admit(inbound,
"twilio", ...)``: one atomic Redis script drops a repeated ``MessageSid`` (or a flood)
and queues the rest -> answer empty TwiML at once; the dialog turn runs in a worker and
replies go out through the Messages REST API. A Redis error is a 500 and Twilio retries.
Skipped requests get 200 with empty TwiML, the reason in an XML comment and in the
``X-Samvad-Ignored`` header (Twilio reports non-TwiML answers as errors).

Status callbacks are verified the same way and applied with
``channels_of(app).statuses.update("twilio", sid, status, error_code=...)`` (the
delivery record in the core API; statuses never move backwards there); a WhatsApp
notification reported failed with an SMS-fallback code (63016 outside the window ...)
then goes as SMS, once (``MessageStatusStore.update`` calls ``SmsFallback.on_status``).
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData

from channels.kill_points import kill_point
from channels.metrics import WEBHOOK_REQUESTS, Labelled
from channels.queues import channels_of, record_flood
from channels.twilio.inbound import Ignored, Malformed, parse_inbound
from channels.twilio.signature import verified_form
from channels.twilio.status import parse_status
from core_api.errors import BadRequest
from core_api.phones import mask_phone

log = structlog.get_logger(__name__)

PROVIDER = "twilio"
INBOUND_PATH = "/webhooks/twilio"
STATUS_PATH = "/webhooks/twilio/status"
SEEN_PREFIX = "twilio:"  # the claim lives under the sender's hash tag (admit)
SEEN_TTL_S = 2 * 24 * 3600  # Twilio gives up retrying a webhook long before this
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# samvad_webhook_requests_total{provider="twilio", endpoint, outcome}
WEBHOOKS = Labelled(WEBHOOK_REQUESTS, PROVIDER)

router = APIRouter(tags=["webhooks"])


def twiml(ignored: str | None = None) -> Response:
    """Empty TwiML (Twilio sends nothing back); a skipped request names its reason."""
    if ignored is None:
        return Response(EMPTY_TWIML, media_type="text/xml")
    # The reason may quote the request (a status, a channel prefix): keep it printable
    # ASCII for the header (non-Latin-1 text there was a 500, found by fuzzing) and the XML.
    reason = "".join(c if " " <= c <= "~" else "?" for c in ignored)[:200]
    comment = reason.replace("--", "- -").rstrip("-")
    body = EMPTY_TWIML.replace("</Response>", f"<!-- ignored: {comment} --></Response>")
    return Response(body, media_type="text/xml", headers={"X-Samvad-Ignored": reason})


def _first_values(form: FormData) -> dict[str, str]:
    return {key: value for key, value in form.items() if isinstance(value, str)}


@router.post(INBOUND_PATH, summary="Inbound SMS and WhatsApp messages from Twilio (signed)",
             response_class=Response,
             responses={200: {"content": {"text/xml": {}}, "description": "Empty TwiML"},
                        400: {"description": "Not a Twilio message webhook"},
                        403: {"description": "Missing or invalid X-Twilio-Signature"}})
async def receive(request: Request) -> Response:
    form = _first_values(await verified_form(request))
    try:
        parsed = parse_inbound(form)
    except Malformed as exc:
        WEBHOOKS.labels("inbound", "malformed").inc()
        raise BadRequest(f"Not a Twilio message webhook: {exc}.", code="malformed_webhook") from exc
    if isinstance(parsed, Ignored):
        WEBHOOKS.labels("inbound", "ignored").inc()
        log.info("twilio_inbound_ignored", reason=parsed.reason)
        return twiml(ignored=parsed.reason)

    kill_point(request.headers, "before_admit")
    admission = await channels_of(request.app).inbound.admit(
        parsed, PROVIDER, seen_key=f"{SEEN_PREFIX}{parsed.message_id}", seen_ttl_s=SEEN_TTL_S,
        per_minute=request.app.state.settings.inbound_per_minute,
        before_ring=lambda: kill_point(request.headers, "before_ring"))
    kill_point(request.headers, "after_admit")
    if admission == "duplicate":
        WEBHOOKS.labels("inbound", "duplicate").inc()
        return twiml(ignored="duplicate MessageSid")
    if admission != "accept":  # over the sender's per-minute limit: one notice, then drops
        record_flood(parsed, PROVIDER, admission)
        if admission == "drop":
            WEBHOOKS.labels("inbound", "flood").inc()
            return twiml(ignored="too many messages from this sender")
    WEBHOOKS.labels("inbound", "enqueued").inc()
    log.info("twilio_inbound_enqueued", channel=parsed.channel, kind=parsed.kind,
             sender=mask_phone(parsed.sender))
    return twiml()


@router.post(STATUS_PATH, summary="Twilio delivery status callbacks (signed)",
             responses={400: {"description": "No MessageSid or MessageStatus"},
                        403: {"description": "Missing or invalid X-Twilio-Signature"}})
async def status(request: Request) -> JSONResponse:
    form = _first_values(await verified_form(request))
    try:
        parsed = parse_status(form)
    except Malformed as exc:
        WEBHOOKS.labels("status", "malformed").inc()
        raise BadRequest(f"Not a Twilio status callback: {exc}.",
                         code="malformed_webhook") from exc
    if isinstance(parsed, Ignored):
        WEBHOOKS.labels("status", "ignored").inc()
        return JSONResponse({"status": "ignored", "reason": parsed.reason})
    await channels_of(request.app).statuses.update(
        PROVIDER, parsed.provider_message_id, parsed.status, error_code=parsed.error_code)
    WEBHOOKS.labels("status", "recorded").inc()
    return JSONResponse({"status": "recorded"})
