"""Which offered option a reply names: a typed number or exact label, or a tapped id.

A tapped button or list row comes back with the id it was sent with. Interactive
renderers send ``wire_option_id(question, id)``: the option's id behind the question it
answers (``file_complaint.confirm~yes``), so a tap on a list the person scrolled back to
is told apart from an answer to the question asked last (``bot.taps``);
``read_option_id`` splits it again where a provider's webhook is parsed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from bot.messages import Option
from channels.render._text import one_line

QUESTION_SEPARATOR = "~"
_QUESTION = re.compile(r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+")


def wire_option_id(question: str | None, option_id: str) -> str:
    """The id a tappable option is sent with: ``question~id``, or the bare id when the
    message answers no named question (a notification's buttons, "did you mean")."""
    if question and _QUESTION.fullmatch(question):
        return f"{question}{QUESTION_SEPARATOR}{option_id}"
    return option_id


def read_option_id(wire: str) -> tuple[str | None, str]:
    """(question, option id) of a tapped id; (None, id) for an id sent bare."""
    question, separator, option_id = wire.partition(QUESTION_SEPARATOR)
    if separator and option_id and _QUESTION.fullmatch(question):
        return question, option_id
    return None, wire


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
