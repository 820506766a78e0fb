"""Which offered option a typed reply names: by its number or by its exact label."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from bot.messages import Option
from channels.render._text import one_line


def _normal(text: str) -> str:
    return one_line(unicodedata.normalize("NFC", text)).casefold()


def option_from_reply(text: str | None, options: Sequence[Option]) -> Option | None:
    """The option a reply picks: ``"2"``, ``" 2. "``, ``"२"``, ``"੨"``, ``"୨"`` or its label.

    Numbers count from 1 in any script's decimal digits; labels match exactly after
    case folding and whitespace collapsing. Anything else is None (fuzzy matching is
    the NLU's job).
    """
    if not text:
        return None
    reply = _normal(text)
    number = reply.rstrip(".)").strip()
    if number.isdecimal():
        # int() reads every Unicode decimal digit: Devanagari, Gurmukhi, Odia, full-width.
        position = int(number)
        return options[position - 1] if 1 <= position <= len(options) else None
    for option in options:
        if _normal(option.label) == reply:
            return option
    return None
