"""``X-Twilio-Signature`` checks with the official SDK's ``RequestValidator``.

Twilio signs the URL it called plus the sorted form parameters. Behind a proxy the URL
the app sees is not the one Twilio called, so the signed URL is rebuilt from
``SAMVAD_PUBLIC_URL`` + the request path + its query string, exactly as received.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from channels.metrics import webhook
from core_api.errors import Forbidden


def public_request_url(public_url: str, request: Request) -> str:
    """The URL Twilio called: the public base, the path and the raw query string."""
    url = public_url.rstrip("/") + request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{url}?{query}" if query else url


async def verified_form(request: Request) -> FormData:
    """The request's form, once its signature checks out; else ``Forbidden`` (403).

    Nothing about the request is acted on before this returns.
    """
    settings = request.app.state.settings
    token = settings.twilio_auth_token
    if not token:
        raise Forbidden("Twilio webhooks are off: TWILIO_AUTH_TOKEN is not set.",
                        code="twilio_not_configured")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        webhook("twilio", "status" if request.url.path.endswith("/status") else "inbound",
                "unsigned").inc()
        raise Forbidden("The request is not signed (X-Twilio-Signature).",
                        code="missing_signature")
    # FormData.getlist gives the validator every value of a repeated name.
    form = await request.form()
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    url = public_request_url(settings.public_url, request)
    if not RequestValidator(token).validate(url, form, signature, algorithm):
        webhook("twilio", "status" if url.split("?")[0].endswith("/status") else "inbound",
                "forbidden").inc()
        raise Forbidden("The request signature does not match.", code="invalid_signature")
    return form
