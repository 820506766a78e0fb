"""Text-only channels: SMS and Twilio WhatsApp without the Content API."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.messages import Option, Outgoing
from channels.render._limits import SMS_SEGMENT_BUDGET, SMS_TEXT_MAX, TWILIO_BODY_MAX
from channels.render._sms import gsm_friendly, is_gsm, sms_segments
from channels.render._text import ELLIPSIS, join_lines, one_line, truncate


def option_lines(
    options: Sequence[Option],
    *,
    descriptions: bool,
    style: Callable[[str], str] = str,
) -> list[str]:
    """Options as ``"1. Label"`` lines, optionally with ``" - description"``."""
    lines = []
    for number, option in enumerate(options, start=1):
        line = f"{number}. {one_line(option.label)}"
        if descriptions and option.description:
            line += f" - {style(one_line(option.description))}"
        lines.append(line)
    return lines


def _hints(footer: str | None, menu_hint: str | None) -> list[str]:
    hints = [footer] if footer else []
    if menu_hint and menu_hint != footer:
        hints.append(menu_hint)
    return hints


def _italic(text: str) -> str:
    text = one_line(text)
    # WhatsApp would misread underscores inside; leave such text plain.
    return f"_{text}_" if text and "_" not in text else text


def fit(text: str, rest: Sequence[str], limit: int, ellipsis: str = ELLIPSIS) -> str:
    """Lines ``text`` + ``rest`` within ``limit`` characters, shortening only ``text``."""
    whole = join_lines(text, *rest)
    if len(whole) <= limit:
        return whole
    tail = join_lines(*rest)
    room = limit - len(tail) - 1  # the newline between text and the rest
    if not tail or room <= len(ellipsis):  # nothing to keep, or the rest alone is too long
        return truncate(whole, limit, ellipsis)
    return join_lines(truncate(text, room, ellipsis), tail)


def _compose_sms(msg: Outgoing, menu_hint: str | None, *, descriptions: bool) -> str:
    rest = [
        *(media.url for media in msg.media),
        *option_lines(msg.options, descriptions=descriptions),
        *_hints(msg.footer, menu_hint),
    ]
    text, *rest = gsm_friendly([msg.text.strip(), *rest])
    ellipsis = "..." if is_gsm(join_lines(text, *rest)) else ELLIPSIS
    return fit(text, rest, SMS_TEXT_MAX, ellipsis)


def render_sms(msg: Outgoing, *, menu_hint: str | None = None) -> str:
    """The exact SMS body: text, media links, numbered options, footer and menu hint.

    Option descriptions are included only while the message stays within
    ``SMS_SEGMENT_BUDGET`` segments. Typographic quotes, dashes and ``₹`` become
    GSM look-alikes (``Rs.``) when that keeps the message GSM-7.
    """
    plain = _compose_sms(msg, menu_hint, descriptions=False)
    if any(option.description for option in msg.options):
        fuller = _compose_sms(msg, menu_hint, descriptions=True)
        if sms_segments(fuller).segments <= SMS_SEGMENT_BUDGET:
            return fuller
    return plain


def render_whatsapp_text(msg: Outgoing, *, menu_hint: str | None = None) -> str:
    """The body for Twilio WhatsApp without interactive messages (media are sent separately).

    Same numbered lines as SMS; descriptions, footer and menu hint in _italics_.
    """
    rest = [
        *option_lines(msg.options, descriptions=True, style=_italic),
        *(_italic(hint) for hint in _hints(msg.footer, menu_hint)),
    ]
    return fit(msg.text.strip(), rest, TWILIO_BODY_MAX)
