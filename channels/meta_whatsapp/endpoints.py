"""``GET|POST /webhooks/whatsapp``: Meta's verify handshake and the signed event webhook.

POST order: verify ``X-Hub-Signature-256`` over the raw body (403, nothing done, when
missing or wrong) -> parse the envelope (400 when malformed) -> admit each message with
``channels_of(app).inbound.admit(inbound, "meta", ...)`` and apply each status with
``channels_of(app).statuses.update("meta", wamid, status)`` (a notification failed with
an SMS-fallback code, 131047 or 131026 ..., then goes as SMS once:
``MessageStatusStore.update`` calls ``SmsFallback.on_status``) -> answer 200 at once;
the dialog turn runs in a worker. Events we skip (reactions, echoes, unknown types) are
answered 200 with the reasons, so that Meta stops retrying them.

Meta redelivers a batch until it gets a 200 (for days, with backoff), so a message id
seen before is not enqueued again: ``admit`` claims the ``wamid`` (a Redis key kept as
long as Meta retries) and queues the message in one atomic script, so a redelivery after
a crash or a 500 finds each message either queued or unclaimed; the session store's own
dedupe stays the last line.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import UTC, datetime

import orjson
import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from bot.messages import Inbound
from channels.kill_points import kill_point
from channels.meta_whatsapp._envelope import Ignored, MalformedEnvelope, parse_envelope
from channels.meta_whatsapp._signature import SIGNATURE_HEADER, signature_valid
from channels.metrics import MetaEvents
from channels.queues import channels_of, record_flood

log = structlog.get_logger(__name__)

PROVIDER = "meta"
PATH = "/webhooks/whatsapp"
MAX_BODY_BYTES = 1024 * 1024  # Meta batches at most a few hundred events per delivery
SEEN_PREFIX = "meta:"  # the claim lives under the sender's hash tag (admit)
SEEN_TTL_S = 7 * 24 * 3600  # Meta stops redelivering a webhook after 7 days

# samvad_webhook_requests_total{provider="meta"} (verify, request) and
# samvad_webhook_events_total{provider="meta"} (message, status, event)
EVENTS = MetaEvents()

router = APIRouter(tags=["webhooks"])


def _refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": {}}},
                        status_code=status)


@router.get(PATH, response_class=PlainTextResponse, summary="Meta webhook verify handshake",
            responses={403: {"description": "Wrong mode or verify token"}})
async def verify(
    request: Request,
    mode: str | None = Query(None, alias="hub.mode"),
    token: str | None = Query(None, alias="hub.verify_token"),
    challenge: str | None = Query(None, alias="hub.challenge"),
) -> Response:
    expected = request.app.state.settings.whatsapp_verify_token
    if mode != "subscribe" or not expected or token is None or not hmac.compare_digest(
        token.encode(), expected.encode()
    ):
        EVENTS.labels("verify", "refused").inc()
        log.warning("meta_verify_refused", mode=mode)
        return _refuse(403, "verify_refused", "Wrong hub.mode or hub.verify_token.")
    if not challenge:
        return _refuse(400, "missing_challenge", "hub.challenge is required.")
    return PlainTextResponse(challenge)


async def _read_body(request: Request) -> bytes | None:
    """The raw body, or None when it is larger than MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


@router.post(PATH, summary="Meta WhatsApp Cloud API events (signed)",
             responses={400: {"description": "Not a webhook envelope"},
                        403: {"description": "Missing or invalid X-Hub-Signature-256"},
                        413: {"description": "Body too large"}})
async def receive(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    body = await _read_body(request)
    if body is None:
        return _refuse(413, "payload_too_large", "The body is too large.")
    if not signature_valid(settings.whatsapp_app_secret, body,
                           request.headers.get(SIGNATURE_HEADER)):
        EVENTS.labels("request", "forbidden").inc()
        log.warning("meta_signature_refused", signed=SIGNATURE_HEADER in request.headers)
        return _refuse(403, "invalid_signature", "Missing or invalid X-Hub-Signature-256.")
    try:
        envelope = parse_envelope(orjson.loads(body),
                                  phone_number_id=settings.whatsapp_phone_number_id)
    except (orjson.JSONDecodeError, MalformedEnvelope) as exc:
        EVENTS.labels("request", "malformed").inc()
        log.warning("meta_payload_malformed", error=str(exc))
        return _refuse(400, "malformed_payload", f"Not a WhatsApp webhook envelope: {exc}")

    ignored = list(envelope.ignored)
    enqueued = 0
    for inbound in envelope.messages:
        if await _enqueue_once(request, inbound):
            enqueued += 1
        else:
            ignored.append(Ignored(f"message:{inbound.message_id}", "duplicate message id"))
    statuses = channels_of(request.app).statuses
    # Together, in the order given: one write for the delivery's statuses. Raises when the
    # core API is unreachable: the 500 makes Meta deliver again. A notification failed
    # with an SMS-fallback code goes as SMS here, once.
    await asyncio.gather(*(statuses.update(
        PROVIDER, update.provider_message_id, update.status, error_code=update.error_code,
        at=datetime.fromtimestamp(update.at, UTC) if update.at is not None else None)
        for update in envelope.statuses))
    for update in envelope.statuses:
        EVENTS.labels("status", update.status).inc()
        if update.status == "failed":
            log.warning("meta_message_failed", message_id=update.provider_message_id,
                        error_code=update.error_code, error=update.error_title)
    for item in ignored:
        EVENTS.labels("event", "ignored").inc()
        log.info("meta_event_ignored", what=item.what, reason=item.reason)
    handled = enqueued + len(envelope.statuses)
    EVENTS.labels("request", "accepted").inc()
    return JSONResponse({
        "status": "ok" if handled or not ignored else "ignored",
        "messages": enqueued,
        "statuses": len(envelope.statuses),
        "ignored": [{"what": item.what, "reason": item.reason} for item in ignored],
    })


async def _enqueue_once(request: Request, inbound: Inbound) -> bool:
    """Admit ``inbound`` (queued unless a repeat or a flood); False for a repeat."""
    kill_point(request.headers, "before_admit")
    admission = await channels_of(request.app).inbound.admit(
        inbound, PROVIDER, seen_key=f"{SEEN_PREFIX}{inbound.message_id}", seen_ttl_s=SEEN_TTL_S,
        per_minute=request.app.state.settings.inbound_per_minute,
        before_ring=lambda: kill_point(request.headers, "before_ring"))
    kill_point(request.headers, "after_admit")
    if admission == "duplicate":
        EVENTS.labels("message", "duplicate").inc()
        return False
    if admission != "accept":  # over the sender's per-minute limit: one notice, then drops
        record_flood(inbound, PROVIDER, admission)
        if admission == "drop":
            EVENTS.labels("message", "flood").inc()
            return True
    EVENTS.labels("message", "enqueued").inc()
    log.info("meta_inbound_enqueued", kind=inbound.kind, message_id=inbound.message_id)
    return True
