"""``TwilioSender``: delivers outbound jobs through the Messages REST API (async httpx).

``POST {TWILIO_API_BASE}/2010-04-01/Accounts/{sid}/Messages.json`` with Basic auth
``sid:token`` and these form fields:

- ``To``: the job's number, ``whatsapp:+91...`` on WhatsApp;
- ``From``: the number the person wrote to (``job.sender``), else ``TWILIO_SMS_FROM`` /
  ``TWILIO_WHATSAPP_FROM``; a Messaging Service SID (``MG...``) there is sent as
  ``MessagingServiceSid`` instead;
- ``Body``: ``render_sms`` on SMS, ``render_whatsapp_text`` on WhatsApp (numbered
  options); WhatsApp media go as ``MediaUrl`` (Twilio takes one per WhatsApp message:
  the first, further links join the text), SMS carries media links in its text;
- a WhatsApp menu, when ``TWILIO_CONTENT_SIDS`` names a template that fits it: a
  quick-reply or list-picker template (``ContentSid`` + ``ContentVariables``, no ``Body``;
  see ``channels.twilio.content``);
- ``StatusCallback``: ``SAMVAD_PUBLIC_URL`` + ``/webhooks/twilio/status``.

Templates (WhatsApp outside the 24-hour window, set by the send worker): when
``params["template"]`` holds a Content SID (``HX...``) the message goes as ``ContentSid``
+ ``ContentVariables`` (JSON of the other params, keys ``"1"``, ``"2"``, ... for
``{{1}}``, ``{{2}}``; whitespace runs become one space, as WhatsApp requires) and no
``Body``; the same holds for an SMS whose template is a Content SID.
``params["template_language"]`` is not sent: a Content SID names one language already.

Unknown outcomes (``find_sent``): when a send's answer was lost or its worker died during
the call, the send worker asks ``GET .../Messages.json?To=..&From=..&PageSize=..`` for the
messages to that address, newest first, and takes as ours the one created since the call
began whose body (and media) is what this job sends. No ``DateSent`` filter: it filters
on the time Twilio handed a message on, and a message still queued has none yet.

India's DLT rules: an SMS notification's DLT template id travels in
``params["dlt_template_id"]`` (or ``params["template"]`` when it is not a Content SID).
Twilio's Messages API has no field for it: Twilio registers the sender's entity id and
DLT templates out of band (its sender-ID registration) and the operators match the body
against the registered template text. So the body is sent as rendered, the id is kept in
the logs, and the template text configured on the DLT portal must be the rendered text.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import structlog

from bot.i18n import translate
from channels.base import OutboundJob, SendError, SendErrorKind, SendResult
from channels.render import render_sms, render_whatsapp_text
from channels.settings import ChannelSettings
from channels.twilio.content import session_content
from channels.twilio.endpoints import STATUS_PATH
from channels.twilio.errors import AMBIGUOUS, error_from_response, error_from_transport
from core_api.phones import mask_phone

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

# Job params (see channels.queues.template_of): the template, Meta's language code (not
# sent: a Content SID names one language version), the DLT id of an Indian SMS.
TEMPLATE_PARAM = "template"
LANGUAGE_PARAMS = frozenset({"template_language", "language"})
DLT_PARAM = "dlt_template_id"
RULE_PARAM = "rule"  # the delivery policy's rule, for the delivery record only
_RESERVED = frozenset({TEMPLATE_PARAM, DLT_PARAM, RULE_PARAM, *LANGUAGE_PARAMS})
_SPACES = re.compile(r"\s+")  # WhatsApp template variables may not hold newlines or tabs

Form = dict[str, str | list[str]]

LOOKUP_PAGE_SIZE = 100
LOOKUP_PAGES = 5  # more pages of one person's messages since the call: cannot tell
# Twilio's dates are whole seconds from Twilio's clock: one second of slack either way.
CLOCK_SLACK_S = 1.0


def is_content_sid(value: str | None) -> bool:
    """True for a Twilio Content API SID (``HX`` + 32 hex digits)."""
    return bool(value) and re.fullmatch(r"HX[0-9a-fA-F]{32}", value or "") is not None


def _address(channel: str, number: str) -> str:
    number = number.strip()
    if channel == "whatsapp" and not number.startswith("whatsapp:"):
        return f"whatsapp:{number}"
    return number


class TwilioSender:
    """Sends SMS and WhatsApp jobs from the account ``TWILIO_ACCOUNT_SID``."""

    provider = "twilio"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        account_sid: str | None,
        auth_token: str | None,
        api_base: str,
        public_url: str,
        sms_from: str | None = None,
        whatsapp_from: str | None = None,
        content_sids: dict[str, str] | None = None,
    ) -> None:
        self.http = http
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_base = api_base.rstrip("/")
        self.status_callback = public_url.rstrip("/") + STATUS_PATH
        self.default_from = {"sms": sms_from, "whatsapp": whatsapp_from}
        self.content_sids = dict(content_sids or {})

    @classmethod
    def from_settings(cls, settings: ChannelSettings, http: httpx.AsyncClient,
                      redis: Redis | None = None) -> TwilioSender | None:
        """A sender for the ``TWILIO_*`` settings and ``SAMVAD_PUBLIC_URL``; None without
        an account SID and auth token."""
        if not settings.twilio_account_sid or not settings.twilio_auth_token:
            return None
        return cls(http, account_sid=settings.twilio_account_sid,
                   auth_token=settings.twilio_auth_token, api_base=settings.twilio_api_base,
                   public_url=settings.public_url, sms_from=settings.twilio_sms_from,
                   whatsapp_from=settings.twilio_whatsapp_from,
                   content_sids=settings.twilio_content_sids)

    @property
    def messages_url(self) -> str:
        return f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def form_for(self, job: OutboundJob) -> Form:
        """The form fields that deliver ``job``; raises ``SendError`` for jobs we cannot send."""
        if job.channel not in ("sms", "whatsapp"):
            raise SendError(SendErrorKind.REJECTED, "unsupported_channel",
                            f"Twilio sends SMS and WhatsApp, not {job.channel}")
        sender = job.sender or self.default_from[job.channel]
        if not sender:
            raise SendError(SendErrorKind.CONFIG, "no_sender",
                            f"no From for {job.channel}: set TWILIO_{job.channel.upper()}_FROM")
        form: Form = {"To": _address(job.channel, job.to)}
        if re.fullmatch(r"MG[0-9a-fA-F]{32}", sender):
            form["MessagingServiceSid"] = sender
        else:
            form["From"] = _address(job.channel, sender)
        form["StatusCallback"] = self.status_callback

        template = job.params.get(TEMPLATE_PARAM)
        if is_content_sid(template):
            assert template is not None
            form["ContentSid"] = template
            variables = {key: _SPACES.sub(" ", value).strip()
                         for key, value in job.params.items() if key not in _RESERVED}
            if variables:
                form["ContentVariables"] = orjson.dumps(variables).decode()
            return form
        if template and job.channel == "whatsapp":
            raise SendError(SendErrorKind.CONFIG, "bad_template",
                            f"Twilio WhatsApp templates are Content SIDs (HX...), not {template!r}")
        message = job.outgoing
        if job.channel == "sms":
            form["Body"] = render_sms(message)
            return form
        content = session_content(message, self.content_sids,
                                  list_button=translate(job.locale, "common.choose"))
        if content is not None:
            form.update(content.form())
            return form
        media = message.media
        if len(media) > 1:
            links = "\n".join(item.url for item in media[1:])
            message = replace(message, text=f"{message.text}\n{links}")
        form["Body"] = render_whatsapp_text(message)
        if media:
            form["MediaUrl"] = media[0].url
        return form

    async def send(self, job: OutboundJob) -> SendResult:
        """Deliver ``job``; raises ``SendError``."""
        if not self.account_sid or not self.auth_token:
            raise SendError(SendErrorKind.CONFIG, "not_configured",
                            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed")
        form = self.form_for(job)
        dlt = job.params.get(DLT_PARAM) or (
            job.params.get(TEMPLATE_PARAM) if job.channel == "sms" else None)
        try:
            response = await self.http.post(self.messages_url, data=form,
                                            auth=(self.account_sid, self.auth_token))
        except httpx.TransportError as exc:
            raise error_from_transport(exc) from exc
        if not response.is_success:
            error = error_from_response(response)
            log.info("twilio_send_refused", job_id=job.job_id, kind=error.kind, code=error.code,
                     to=mask_phone(job.to))
            raise error
        try:
            body = response.json()
            sid = str(body["sid"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SendError(SendErrorKind.CONNECTION, AMBIGUOUS,
                            "Twilio accepted the request but named no message sid") from exc
        log.info("twilio_sent", job_id=job.job_id, sid=sid, channel=job.channel,
                 to=mask_phone(job.to), dlt_template_id=dlt)
        return SendResult(sid, str(body.get("status") or "queued"))

    async def find_sent(self, job: OutboundJob, since: float) -> SendResult | None:
        """Twilio's message for ``job`` created since ``since`` (unix time), or None when
        Twilio has none (it was not sent). Raises ``SendError``: retryable when Twilio
        cannot be asked now, ``REJECTED`` when the list is too long to tell."""
        if not self.account_sid or not self.auth_token:
            raise SendError(SendErrorKind.CONFIG, "not_configured",
                            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed")
        form = self.form_for(job)
        first = {"To": str(form["To"]), "PageSize": str(LOOKUP_PAGE_SIZE)}
        if "From" in form:  # a Messaging Service picks the number itself
            first["From"] = str(form["From"])
        query: dict[str, str] | None = first
        oldest = math.floor(since - CLOCK_SLACK_S)
        url = self.messages_url
        for _ in range(LOOKUP_PAGES):
            page = await self._get_page(url, query)
            messages = [m for m in page.get("messages") or () if isinstance(m, dict)]
            for message in messages:
                if (message.get("sid") and _created(message) >= oldest
                        and _is_ours(form, message, self._is_menu(form))):
                    log.info("twilio_found_sent", job_id=job.job_id, sid=message["sid"],
                             to=mask_phone(job.to))
                    return SendResult(str(message["sid"]), str(message.get("status")
                                                               or "queued"))
            next_uri = page.get("next_page_uri")
            # Newest first: a page reaching back before the call is the last one needed.
            if not next_uri or not messages or min(map(_created, messages)) < oldest:
                return None
            url, query = self.api_base + str(next_uri), None
        raise SendError(SendErrorKind.REJECTED, "lookup_inconclusive",
                        f"more than {LOOKUP_PAGES * LOOKUP_PAGE_SIZE} messages to the address")

    def _is_menu(self, form: Form) -> bool:
        """True when ``form`` sends a menu as one of the session's content templates."""
        return form.get("ContentSid") in self.content_sids.values()

    async def _get_page(self, url: str, query: dict[str, str] | None) -> dict[str, Any]:
        """One page of the Messages list; a GET is safe to repeat, so every transport
        failure is retryable."""
        assert self.account_sid is not None and self.auth_token is not None
        try:
            response = await self.http.get(url, params=query,
                                           auth=(self.account_sid, self.auth_token))
        except httpx.TransportError as exc:
            raise SendError(SendErrorKind.CONNECTION, type(exc).__name__.lower(),
                            str(exc)) from exc
        if not response.is_success:
            raise error_from_response(response)
        try:
            page = response.json()
        except ValueError as exc:
            raise SendError(SendErrorKind.CONNECTION, "bad_list", "not JSON") from exc
        if not isinstance(page, dict):
            raise SendError(SendErrorKind.CONNECTION, "bad_list", "not a JSON object")
        return page


def _created(message: dict[str, Any]) -> float:
    """``date_created`` (RFC 2822) as unix time; 0 when missing or unreadable."""
    try:
        return parsedate_to_datetime(str(message["date_created"])).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _is_ours(form: Form, message: dict[str, Any], menu: bool = False) -> bool:
    """Whether ``message`` is what ``form`` sends: the same body (whitespace aside) and a
    medium when one was attached; for a Content template, a body holding every variable
    (Twilio lists the rendered text), for a menu's template its body (``{{1}}``: the
    buttons and rows are not in the listed text)."""
    if "ContentSid" in form:
        variables = orjson.loads(str(form.get("ContentVariables") or "{}"))
        body = _text(message.get("body"))
        if menu:
            return _text(variables.get("1")) in body
        return all(_text(value) in body for value in variables.values())
    if _text(message.get("body")) != _text(form.get("Body")):
        return False
    try:
        media = int(message.get("num_media") or 0)
    except (TypeError, ValueError):
        media = 0
    return media > 0 if "MediaUrl" in form else True
