"""Templates: WhatsApp messages outside the 24-hour window and DLT ids of Indian SMS.

A job that must go as a WhatsApp template carries it in ``params``::

    {"template": "<ContentSid HX... or Meta template name>",
     "template_language": "hi",          # Meta's language code
     "1": "<the message text>"}          # the body variables, "1", "2", ...

Senders read it with ``template_of(job)``. Templates are configured per message kind and
locale: ``channels/templates.yaml`` holds the default mapping (what a city registers with
Meta or Twilio), ``SAMVAD_WHATSAPP_TEMPLATES`` overrides it per kind; the approved
template is expected to carry the whole text in its variable {{1}}. An SMS job of a kind
with a DLT template id carries it as ``params["dlt_template_id"]``
(``SAMVAD_SMS_DLT_TEMPLATES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from channels.base import OutboundJob

TEMPLATE = "template"
TEMPLATE_LANGUAGE = "template_language"
DLT_TEMPLATE_ID = "dlt_template_id"
DEFAULT = "default"
# Provider errors meaning "outside the 24-hour window: send a template instead".
OUTSIDE_WINDOW_CODES = frozenset({"131047", "63016"})  # Meta re-engagement, Twilio freeform
# Failures after which a WhatsApp notification goes as SMS instead (``SmsFallback``):
# outside the window, undeliverable, or the template refused.
SMS_FALLBACK_CODES = OUTSIDE_WINDOW_CODES | frozenset({
    "131026",  # Meta: message undeliverable (not on WhatsApp, old app, terms not accepted)
    "131049",  # Meta: not delivered to keep ecosystem engagement healthy
    "130472",  # Meta: the user's number is part of an experiment
    "132000", "132001", "132005", "132007", "132012", "132015", "132016",  # Meta templates
    "63003",  # Twilio: the channel could not find the To address
    "63024",  # Twilio: invalid message recipient
    "bad_template",  # ours: the configured template is not one this provider takes
})
TEMPLATES_FILE = Path(__file__).resolve().parents[1] / "templates.yaml"


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
    """``job`` to be sent as ``template``, its text as variable 1. A template carries no
    buttons of ours: the options are written out ("1. Yes, fixed  2. No, still broken"),
    and a typed number answers them as it does on SMS."""
    message = job.outgoing
    text = message.text
    if message.options:
        text += "\n" + "  ".join(f"{n}. {option.label}"
                                 for n, option in enumerate(message.options, start=1))
    params = {**job.params, TEMPLATE: template.id, TEMPLATE_LANGUAGE: template.language,
              "1": text}
    return replace(job, params=params)


def _language(locale: str | None) -> str:
    return (locale or "en_IN").split("_")[0]


def default_whatsapp_templates(path: Path = TEMPLATES_FILE) -> dict[str, Any]:
    """The bundled mapping: notification kind -> {locale | "default": template}."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of notification kinds")
    return data


def whatsapp_templates(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The bundled mapping with ``SAMVAD_WHATSAPP_TEMPLATES`` replacing whole kinds."""
    return {**default_whatsapp_templates(), **(overrides or {})}


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
