"""``MetaSender``: delivers outbound jobs through the Cloud API ``/messages`` endpoint.

Inside the 24-hour window a job's ``Outgoing`` goes as ``render_meta`` payloads (text,
buttons, lists, media). A job the queue marked as a template (``template_of(job)``: the
approved template's name, its language code and the body variables ``{{1}}``, ``{{2}}``,
...) goes as one ``template`` message instead. Variables are flattened to one line:
Meta refuses newlines, tabs and runs of spaces in them.

One job can take several Cloud API messages (a photo before a list, a long text in
pieces). They go in order; the result names the last one. Once a part is out, a failed
later part is retried here a few times and then reported as a final ``partial_<code>``
rejection, so that a retry of the whole job never repeats the parts already delivered.
An answer lost after the request may have reached Meta (read timeout, dropped
connection) is ``SendError(CONNECTION, AMBIGUOUS)``. The Cloud API cannot say afterwards
whether a message went out (no lookup by recipient, no idempotency key), so this sender
has no ``find_sent``: the send worker sends such a job once more and counts it as a
possible duplicate (``samvad_send_possible_duplicates_total``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bot.i18n import translate
from channels.base import OutboundJob, SendError, SendErrorKind, SendResult
from channels.meta_whatsapp._errors import classify_response
from channels.meta_whatsapp._media import API_VERSION
from channels.queues import AMBIGUOUS, Template, template_of
from channels.render import meta_recipient, render_meta

Payload = dict[str, Any]

PART_RETRIES = 2  # in-place retries of a later part once earlier parts were delivered
PART_BACKOFF_S = 1.0

# Template parameters may not hold newlines, tabs or more than four spaces in a row.
_PARAM_SPACE = re.compile(r"[\s]+")


def _param_text(value: str) -> str:
    return _PARAM_SPACE.sub(" ", value).strip()


def template_payload(job: OutboundJob, template: Template) -> Payload:
    """The Cloud API template message that delivers ``job`` as ``template``."""
    body: Payload = {"name": template.id, "language": {"code": template.language}}
    if template.variables:
        body["components"] = [{"type": "body", "parameters": [
            {"type": "text", "text": _param_text(value)} for value in template.variables]}]
    return {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": meta_recipient(job.to), "type": "template", "template": body}


def job_payloads(job: OutboundJob) -> list[Payload]:
    """The Cloud API messages that deliver ``job``, in order."""
    if job.channel != "whatsapp":
        raise SendError(SendErrorKind.CONFIG, "unsupported_channel",
                        f"Meta delivers WhatsApp only, not {job.channel}")
    try:
        template = template_of(job)
        if template is not None:
            return [template_payload(job, template)]
        return render_meta(job.outgoing, job.to,
                           list_button=translate(job.locale, "common.choose"))
    except ValueError as exc:  # a bad number or a flow's invalid option ids
        raise SendError(SendErrorKind.REJECTED, "invalid_message", str(exc)) from exc


class MetaSender:
    """Sends jobs from one business number (``WHATSAPP_PHONE_NUMBER_ID``)."""

    provider = "meta"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_base: str,
        access_token: str | None,
        phone_number_id: str | None,
        api_version: str = API_VERSION,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.api_base = api_base.rstrip("/")
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.api_version = api_version
        self.sleep = sleep

    @classmethod
    def from_settings(cls, settings: Any, http: httpx.AsyncClient,
                      redis: Any = None) -> MetaSender | None:
        """A sender for the ``WHATSAPP_*`` settings; None when Meta is not configured."""
        if not settings.whatsapp_access_token or not settings.whatsapp_phone_number_id:
            return None
        return cls(http, api_base=settings.whatsapp_api_base,
                   access_token=settings.whatsapp_access_token,
                   phone_number_id=settings.whatsapp_phone_number_id)

    @property
    def messages_url(self) -> str:
        return f"{self.api_base}/{self.api_version}/{self.phone_number_id}/messages"

    async def send(self, job: OutboundJob) -> SendResult:
        """Deliver ``job``; raises ``SendError``."""
        if not self.access_token or not self.phone_number_id:
            raise SendError(SendErrorKind.CONFIG, "not_configured",
                            "WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID are needed")
        payloads = job_payloads(job)
        message_id = ""
        for index, payload in enumerate(payloads):
            if index == 0:
                message_id = await self._post(payload)
            else:
                message_id = await self._post_later_part(payload, index, len(payloads))
        return SendResult(message_id)

    async def _post_later_part(self, payload: Payload, index: int, total: int) -> str:
        """Post part ``index`` (> 0): earlier parts are out, so never fail retryably."""
        for attempt in range(PART_RETRIES + 1):
            try:
                return await self._post(payload)
            except SendError as exc:
                if exc.code == AMBIGUOUS:
                    raise  # this part may be out: the send worker resolves it
                if not exc.retryable or attempt == PART_RETRIES:
                    raise SendError(SendErrorKind.REJECTED, f"partial_{exc.code}",
                                    f"{index} of {total} parts sent; {exc.detail}") from exc
                await self.sleep(PART_BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable")

    async def _post(self, payload: Payload) -> str:
        headers = {"Authorization": f"Bearer {self.access_token}"}
        try:
            response = await self.http.post(self.messages_url, json=payload, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                httpx.WriteError, httpx.WriteTimeout) as exc:
            # Meta never got the whole request: safe to try again.
            raise SendError(SendErrorKind.CONNECTION, type(exc).__name__, str(exc)) from exc
        except httpx.TransportError as exc:
            # The request may have been accepted before the answer was lost.
            raise SendError(SendErrorKind.CONNECTION, AMBIGUOUS,
                            f"{type(exc).__name__}: {exc}") from exc
        if response.status_code // 100 != 2:
            raise classify_response(response)
        try:
            return str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SendError(SendErrorKind.CONNECTION, AMBIGUOUS,
                            "Meta accepted the request but named no message id") from exc
