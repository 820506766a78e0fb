"""Words that say what the screen shows: "choose" under a list, "reply with a number" under
numbered lines.

A message that tells the person how to answer has two wordings in the catalogs: its own
id for numbered text (SMS, WhatsApp without interactive messages), and ``tap.<id>`` for a
screen where the options or the location are tapped. Both travel in the ``Outgoing``
(``text`` and ``tap_text``); the renderer that draws buttons, a list or a "send location"
button shows ``tap_text``, every other shows ``text`` (``channels.render``). A message
without a ``tap.`` wording reads the same everywhere.
"""

from __future__ import annotations

from typing import Any

from bot.i18n import SOURCE_LOCALE, has_message, translate
from bot.messages import Option, Outgoing


def tap_id(msgid: str) -> str | None:
    """The id of ``msgid``'s wording for a tap screen, when the catalogs have one."""
    variant = f"tap.{msgid}"
    return variant if has_message(variant, SOURCE_LOCALE) else None


def tap_text(locale: str | None, msgid: str, **params: Any) -> str | None:
    """``msgid``'s wording for a tap screen in ``locale``, or None (it reads the same)."""
    variant = tap_id(msgid)
    return translate(locale, variant, **params) if variant else None


def said(locale: str | None, msgid: str, *, options: tuple[Option, ...] = (),
         **params: Any) -> Outgoing:
    """The message ``msgid`` with both of its wordings (``tap_text`` when it has one)."""
    return Outgoing(translate(locale, msgid, **params), options=options,
                    tap_text=tap_text(locale, msgid, **params))
