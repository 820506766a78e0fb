"""Renderers: one channel-neutral ``Outgoing`` as each channel delivers it.

- ``render_sms``: SMS text with numbered options (``sms_segments`` counts its cost);
- ``fit_sms``: a pushed SMS (a notification) within a segment budget, its link kept;
- ``render_whatsapp_text``: the same for Twilio WhatsApp without interactive messages;
- ``render_meta``: Meta WhatsApp Cloud API payloads (buttons, lists, location requests,
  media); ``button_titles``, ``list_rows`` and ``wire_ids`` are its choices of buttons,
  list rows and option ids, which Twilio's Content API templates share;
- ``render_simulator``: one reply as the simulator shows it;
- ``renderer``: the ``Renderer`` of a channel kind (``RENDERERS``: one line per kind of
  ``bot.channel_kinds``), for code that shows a message on whichever kind it is for;
  ``message_segments``: the SMS segments a message takes on a kind;
- ``option_from_reply``: the option a typed number or label picks;
  ``wire_option_id`` / ``read_option_id``: a tappable option's id with the question it
  answers, and back.
"""

from channels.render._kinds import RENDERERS, Renderer, message_segments, renderer
from channels.render._limits import (
    BODY_MAX,
    BUTTON_ID_MAX,
    BUTTON_TITLE_MAX,
    BUTTONS_MAX,
    CAPTION_MAX,
    FOOTER_MAX,
    LIST_BUTTON_MAX,
    LIST_ROW_DESCRIPTION_MAX,
    LIST_ROW_ID_MAX,
    LIST_ROW_TITLE_MAX,
    LIST_ROWS_MAX,
    SMS_SEGMENT_BUDGET,
    SMS_TEXT_MAX,
    TEXT_MAX,
    TWILIO_BODY_MAX,
)
from channels.render._meta import (
    DEFAULT_LIST_BUTTON,
    button_titles,
    list_rows,
    meta_recipient,
    render_meta,
    wire_ids,
)
from channels.render._plain import render_sms, render_whatsapp_text
from channels.render._replies import option_from_reply, read_option_id, wire_option_id
from channels.render._simulator import render_simulator
from channels.render._sms import SmsCount, fit_sms, sms_segments

__all__ = [
    "BODY_MAX",
    "BUTTONS_MAX",
    "BUTTON_ID_MAX",
    "BUTTON_TITLE_MAX",
    "CAPTION_MAX",
    "DEFAULT_LIST_BUTTON",
    "FOOTER_MAX",
    "LIST_BUTTON_MAX",
    "LIST_ROWS_MAX",
    "LIST_ROW_DESCRIPTION_MAX",
    "LIST_ROW_ID_MAX",
    "LIST_ROW_TITLE_MAX",
    "RENDERERS",
    "SMS_SEGMENT_BUDGET",
    "SMS_TEXT_MAX",
    "TEXT_MAX",
    "TWILIO_BODY_MAX",
    "Renderer",
    "SmsCount",
    "button_titles",
    "fit_sms",
    "list_rows",
    "message_segments",
    "meta_recipient",
    "option_from_reply",
    "read_option_id",
    "render_meta",
    "render_simulator",
    "render_sms",
    "render_whatsapp_text",
    "renderer",
    "sms_segments",
    "wire_ids",
    "wire_option_id",
]
