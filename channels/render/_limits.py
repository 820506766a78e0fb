"""Provider limits the renderers respect (Meta WhatsApp Cloud API, Twilio, GSM SMS)."""

# Meta WhatsApp Cloud API, interactive messages.
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_ROWS_MAX = 10
LIST_ROW_TITLE_MAX = 24
LIST_ROW_DESCRIPTION_MAX = 72
LIST_ROW_ID_MAX = 200
LIST_BUTTON_MAX = 20
BODY_MAX = 1024  # body of button, list and location-request messages
FOOTER_MAX = 60
CAPTION_MAX = 1024
TEXT_MAX = 4096  # a plain text message

# Twilio rejects a message body longer than this (SMS and WhatsApp alike).
TWILIO_BODY_MAX = 1600

# SMS: descriptions of options are added only while the message fits this many segments.
SMS_SEGMENT_BUDGET = 3
