"""Payment gateways behind one interface: the built-in sandbox and Razorpay payment links.

A gateway does two things: create a hosted payment link for an intent, and turn a
callback it sent us into a verified ``GatewayCallback`` (or refuse it: 400 when the
signature is missing, 401 when it is wrong). ``payments.service.process_callback``
does the rest, the same way for every gateway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

import httpx
import structlog

from core_api.errors import BadRequest, ServiceUnavailable, Unauthorized

log = structlog.get_logger(__name__)

SANDBOX = "sandbox"
RAZORPAY = "razorpay"

CallbackResult = Literal["success", "failure", "other"]


@dataclass(frozen=True)
class LinkRequest:
    """What a gateway needs to create a hosted payment page for an intent."""

    reference: str  # our intent reference; the gateway echoes it back in callbacks
    amount: Decimal  # rupees
    description: str
    customer_name: str
    customer_phone: str | None
    callback_url: str  # where the gateway sends the citizen afterwards
    expires_at: datetime
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayLink:
    order_id: str  # the gateway's id of the link or order
    url: str | None  # its hosted page; None: our own /pay page is the page (sandbox)


@dataclass(frozen=True)
class GatewayCallback:
    """A callback whose signature was verified, in gateway-neutral terms."""

    gateway: str
    event: str
    result: CallbackResult
    intent_reference: str | None
    gateway_payment_id: str | None = None
    amount: Decimal | None = None  # rupees, as the gateway reports them
    mode: str = "UPI"
    event_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


class PaymentGateway(Protocol):
    """The interface every gateway adapter implements."""

    name: str

    async def create_link(self, request: LinkRequest) -> GatewayLink: ...

    def read_callback(self, body: bytes, headers: Mapping[str, str]) -> GatewayCallback: ...


def hmac_hex(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _check_signature(secret: str, body: bytes, headers: Mapping[str, str], header: str) -> None:
    lowered = {key.lower(): value for key, value in headers.items()}
    signature = lowered.get(header.lower())
    if not signature:
        raise BadRequest(f"The {header} header is missing.", code="signature_missing")
    if not hmac.compare_digest(hmac_hex(secret, body).encode(), signature.strip().encode()):
        raise Unauthorized("The callback signature is not valid.", code="bad_signature")


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadRequest("The callback body is not JSON.", code="malformed_callback") from exc
    if not isinstance(data, dict):
        raise BadRequest("The callback body is not a JSON object.", code="malformed_callback")
    return data


def _rupees(paise: Any) -> Decimal | None:
    if paise is None or isinstance(paise, bool):
        return None
    try:
        return (Decimal(int(paise)) / 100).quantize(Decimal("0.01"))
    except (TypeError, ValueError, InvalidOperation):
        return None


def _clip(value: Any) -> str | None:
    """Identifiers as strings that fit our columns (gateway ids are far shorter)."""
    return str(value)[:64] if value else None


class SandboxGateway:
    """A pretend gateway for development: /pay/{token} is its hosted page.

    Its buttons post a callback signed with a key derived from SAMVAD_SECRET_KEY and
    handed to ``read_callback`` like any real gateway's webhook.
    """

    name = SANDBOX
    header = "X-Sandbox-Signature"

    def __init__(self, secret_key: str) -> None:
        self._secret = hmac_hex(secret_key, b"samvad sandbox gateway")

    def sign(self, body: bytes) -> str:
        return hmac_hex(self._secret, body)

    async def create_link(self, request: LinkRequest) -> GatewayLink:
        return GatewayLink(order_id=f"sbx_order_{request.reference}", url=None)

    def read_callback(self, body: bytes, headers: Mapping[str, str]) -> GatewayCallback:
        _check_signature(self._secret, body, headers, self.header)
        data = _json(body)
        status = data.get("status")
        amount = data.get("amount")
        return GatewayCallback(
            gateway=self.name, event=str(data.get("event", "sandbox.payment")),
            result="success" if status == "success" else "failure" if status == "failure"
            else "other",
            intent_reference=_clip(data.get("reference")),
            gateway_payment_id=_clip(data.get("payment_id")),
            amount=Decimal(amount) if isinstance(amount, str) else None,
            mode=str(data.get("method", "upi")).upper(), payload=data,
        )


class RazorpayGateway:
    """Razorpay payment links (REST API v1) and their ``payment_link.*`` webhooks."""

    name = RAZORPAY
    header = "X-Razorpay-Signature"

    def __init__(self, key_id: str, key_secret: str, webhook_secret: str,
                 api_base: str = "https://api.razorpay.com",
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._auth = (key_id, key_secret)
        self._webhook_secret = webhook_secret
        self._api_base = api_base.rstrip("/")
        self._transport = transport  # tests pass an httpx.MockTransport

    async def create_link(self, request: LinkRequest) -> GatewayLink:
        paise = int(request.amount * 100)
        customer = {"name": request.customer_name}
        if request.customer_phone:
            customer["contact"] = request.customer_phone
        body = {
            "amount": paise,
            "currency": "INR",
            "accept_partial": False,
            "reference_id": request.reference,
            "description": request.description[:2048],
            "customer": customer,
            # Samvad tells the citizen in the chat; Razorpay's own SMS would repeat it.
            "notify": {"sms": False, "email": False},
            "reminder_enable": False,
            "expire_by": int(request.expires_at.timestamp()),
            "callback_url": request.callback_url,
            "callback_method": "get",
            "notes": {**request.notes, "samvad_reference": request.reference},
        }
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=15.0) as client:
                response = await client.post(
                    f"{self._api_base}/v1/payment_links", json=body, auth=self._auth)
        except httpx.HTTPError as exc:
            log.warning("razorpay_unreachable", error=type(exc).__name__)
            raise ServiceUnavailable("The payment gateway cannot be reached; try again soon.",
                                     code="gateway_unavailable") from exc
        if response.status_code >= 300:
            error = response.json().get("error", {}) if response.headers.get(
                "content-type", "").startswith("application/json") else {}
            log.warning("razorpay_refused", status=response.status_code,
                        code=error.get("code"), description=error.get("description"))
            raise ServiceUnavailable("The payment gateway refused to create a payment link.",
                                     code="gateway_error",
                                     details={"gateway_status": response.status_code})
        link = response.json()
        if link.get("reference_id") != request.reference or link.get("amount") != paise:
            raise ServiceUnavailable("The payment gateway answered for another payment.",
                                     code="gateway_error")
        return GatewayLink(order_id=str(link["id"]), url=str(link["short_url"]))

    def read_callback(self, body: bytes, headers: Mapping[str, str]) -> GatewayCallback:
        _check_signature(self._webhook_secret, body, headers, self.header)
        data = _json(body)
        event = str(data.get("event", ""))
        payload = data.get("payload") or {}
        link = (payload.get("payment_link") or {}).get("entity") or {}
        payment = (payload.get("payment") or {}).get("entity") or {}
        event_id = {k.lower(): v for k, v in headers.items()}.get("x-razorpay-event-id")
        reference = link.get("reference_id") or (payment.get("notes") or {}).get(
            "samvad_reference")
        result: CallbackResult = "other"
        if event == "payment_link.paid":
            result = "success" if link.get("status") == "paid" else "other"
        elif event in ("payment_link.expired", "payment_link.cancelled", "payment.failed"):
            result = "failure"
        amount = link.get("amount_paid") or link.get("amount")
        return GatewayCallback(
            gateway=self.name, event=event[:40], result=result,
            intent_reference=_clip(reference), gateway_payment_id=_clip(payment.get("id")),
            amount=_rupees(amount), mode=str(payment.get("method") or "upi").upper()[:16],
            event_id=_clip(event_id), payload=data,
        )


def build_gateways(settings: Any) -> dict[str, PaymentGateway]:
    """The gateways this deployment can talk to (the sandbox only where it is active)."""
    gateways: dict[str, PaymentGateway] = {}
    if settings.active_payment_gateway == SANDBOX:
        gateways[SANDBOX] = SandboxGateway(settings.secret_key)
    if settings.razorpay_key_id and settings.razorpay_key_secret and (
            settings.razorpay_webhook_secret):
        gateways[RAZORPAY] = RazorpayGateway(
            settings.razorpay_key_id, settings.razorpay_key_secret,
            settings.razorpay_webhook_secret, settings.razorpay_api_base,
        )
    return gateways


def gateways_of(state: Any) -> dict[str, PaymentGateway]:
    """The app's gateways (built from its settings once; tests may set their own)."""
    found = getattr(state, "payment_gateways", None)
    if found is None:
        found = build_gateways(state.settings)
        state.payment_gateways = found
    return found
