"""Templates: WhatsApp messages outside the 24-hour window and DLT ids of Indian SMS.

A job that must go as a WhatsApp template carries it in ``params``::

    {"template": "<ContentSid HX... or Meta template name>",
     "template_language": "hi",          # Meta's language code
     "1": "<the message text>"}          # the body variables, "1", "2", ...

Senders read it with ``template_of(job)``. Templates are configured per message kind and
locale (``SAMVAD_WHATSAPP_TEMPLATES``); the approved template is expected to carry the
whole text in its variable {{1}}. An SMS job of a kind with a DLT template id carries it
as ``params["dlt_template_id"]`` (``SAMVAD_SMS_DLT_TEMPLATES``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from channels.base import OutboundJob

TEMPLATE = "template"
TEMPLATE_LANGUAGE = "template_language"
DLT_TEMPLATE_ID = "dlt_template_id"
DEFAULT = "default"
# Provider errors meaning "outside the 24-hour window: send a template instead".
OUTSIDE_WINDOW_CODES = frozenset({"131047", "63016"})  # Meta re-engagement, Twilio freeform


@dataclass(frozen=True)
class Template:
    id: str
    language: str
    variables: tuple[str, ...] = ()


def template_of(job: OutboundJob) -> Template | None:
    """The template a job must be sent as, or None for a free-form message."""
    template_id = job.params.get(TEMPLATE)
    if not template_id:
        return None
    numbered = sorted((int(k), v) for k, v in job.params.items() if k.isdigit())
    return Template(template_id, job.params.get(TEMPLATE_LANGUAGE, "en"),
                    tuple(v for _, v in numbered))


def with_template(job: OutboundJob, template: Template) -> OutboundJob:
    """``job`` to be sent as ``template``, its text as variable 1."""
    params = {**job.params, TEMPLATE: template.id, TEMPLATE_LANGUAGE: template.language,
              "1": job.outgoing.text}
    return replace(job, params=params)


def _language(locale: str | None) -> str:
    return (locale or "en_IN").split("_")[0]


class TemplateBook:
    """Template lookups by message kind and locale, falling back to "default" for either."""

    def __init__(self, whatsapp: dict[str, Any] | None = None,
                 sms_dlt: dict[str, Any] | None = None) -> None:
        self._whatsapp = whatsapp or {}
        self._dlt = sms_dlt or {}

    @staticmethod
    def _pick(table: dict[str, Any], kind: str, locale: str | None) -> Any:
        for kind_key in (kind, DEFAULT):
            by_locale = table.get(kind_key)
            if isinstance(by_locale, dict):
                for locale_key in (locale, _language(locale), DEFAULT):
                    if locale_key and locale_key in by_locale:
                        return by_locale[locale_key]
        return None

    def whatsapp(self, kind: str, locale: str | None) -> Template | None:
        """The approved WhatsApp template for ``kind`` in ``locale``, if configured."""
        found = self._pick(self._whatsapp, kind, locale)
        if isinstance(found, str):
            return Template(found, _language(locale))
        if isinstance(found, dict) and found.get("id"):
            return Template(found["id"], found.get("language") or _language(locale))
        return None

    def dlt(self, kind: str, locale: str | None) -> str | None:
        """The DLT template id of an SMS of ``kind`` in ``locale``, if configured."""
        found = self._pick(self._dlt, kind, locale)
        if isinstance(found, dict):
            found = found.get("id")
        return found if isinstance(found, str) and found else None
