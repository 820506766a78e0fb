"""Limits the renderers respect: the channel kinds' rows, and the providers' wire limits.

What a channel kind can show (buttons, list rows, title lengths, the SMS segment budget)
is read from its row in ``bot.channel_kinds``, the one table; only what belongs to a
provider's wire format (Meta's id, footer and caption lengths, Twilio's body limit) is
written here.
"""

from bot.channel_kinds import capabilities

_WHATSAPP = capabilities("whatsapp")
_SMS = capabilities("sms")

# WhatsApp interactive messages (Meta Cloud API), from the whatsapp row.
BUTTONS_MAX = _WHATSAPP.buttons
BUTTON_TITLE_MAX = _WHATSAPP.button_title_max
LIST_ROWS_MAX = _WHATSAPP.list_rows
LIST_ROW_TITLE_MAX = _WHATSAPP.list_row_title_max
LIST_ROW_DESCRIPTION_MAX = _WHATSAPP.list_row_description_max
TEXT_MAX = _WHATSAPP.text_max  # a plain text message

# Meta WhatsApp Cloud API wire limits.
BUTTON_ID_MAX = 256
LIST_ROW_ID_MAX = 200
LIST_BUTTON_MAX = 20
BODY_MAX = 1024  # body of button, list and location-request messages
FOOTER_MAX = 60
CAPTION_MAX = 1024

# Twilio rejects a message body longer than this (SMS and WhatsApp alike).
TWILIO_BODY_MAX = 1600

# SMS, from the sms row: the longest body, and the segments within which descriptions of
# options are added.
SMS_TEXT_MAX = _SMS.text_max
if _SMS.segment_budget is None:
    raise RuntimeError("the sms row of bot.channel_kinds needs a segment budget")
SMS_SEGMENT_BUDGET: int = _SMS.segment_budget
