"""``samvad flows check`` holds every notification kind against the WhatsApp template
mapping and the catalogs."""

from __future__ import annotations

from bot.flowcheck import check_notifications
from bot.i18n import available_locales
from bot.notifier import NOTIFICATION_KINDS
from channels.queues import TemplateBook, default_whatsapp_templates, whatsapp_templates


def test_the_bundled_mapping_covers_every_kind_in_every_locale():
    assert set(NOTIFICATION_KINDS) <= set(default_whatsapp_templates())
    assert check_notifications(TemplateBook(whatsapp_templates()),
                               list(available_locales())) == []


def test_a_kind_without_a_template_or_a_message_fails_the_check(monkeypatch):
    mapping = {k: v for k, v in default_whatsapp_templates().items() if k != "sla_warning"}
    mapping["payment_receipt"] = {"hi_IN": "samvad_payment_receipt"}  # Hindi only
    monkeypatch.setitem(NOTIFICATION_KINDS, "escalation",
                        (*NOTIFICATION_KINDS["escalation"], "notify.staff.no_such_message"))
    problems = {str(p) for p in check_notifications(TemplateBook(mapping), ["en_IN", "hi_IN"])}
    assert problems == {
        "notifications.sla_warning: no WhatsApp template for en_IN",
        "notifications.sla_warning: no WhatsApp template for hi_IN",
        "notifications.payment_receipt: no WhatsApp template for en_IN",
        "notifications.escalation: message notify.staff.no_such_message missing in en_IN",
        "notifications.escalation: message notify.staff.no_such_message missing in hi_IN",
    }


def test_settings_replace_whole_kinds_of_the_bundled_mapping():
    merged = whatsapp_templates({"payment_receipt": {"default": "HX" + "0" * 32}})
    assert merged["payment_receipt"] == {"default": "HX" + "0" * 32}
    assert merged["complaint_update"] == default_whatsapp_templates()["complaint_update"]
