"""Typed inputs of ``ask`` steps: each parser turns an inbound message into a value or a hint.

A parser returns ``Parsed(value)`` or ``Parsed(error="input.hint_id")``; the engine
shows the hint and asks again. Choice matching lives in the engine (it needs the NLU).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import phonenumbers
from babel.dates import get_month_names
from rapidfuzz import fuzz, process

from bot.flowspec import InputDef
from bot.i18n import locale_codes, words
from bot.messages import Inbound
from bot.nlu import normalize

SKIPPED = object()  # an optional input the citizen skipped


@dataclass(frozen=True)
class Parsed:
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def ascii_digits(text: str) -> str:
    """Devanagari, Gurmukhi and Odia digits become 0-9; other characters stay."""
    out = []
    for char in text:
        if char.isdigit() and not char.isascii():
            try:
                out.append(str(unicodedata.digit(char)))
                continue
            except ValueError:
                pass
        out.append(char)
    return "".join(out)


def is_skip(text: str | None, locale: str | None) -> bool:
    return bool(text and text.strip().casefold() in words(locale, "words.skip"))


def _text(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    text = (inbound.text or "").strip()
    if len(text) < spec.min_length:
        return Parsed(error="input.too_short")
    if len(text) > spec.max_length:
        return Parsed(error="input.too_long")
    return Parsed(text)


def _number(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    text = ascii_digits((inbound.text or "").strip()).replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return Parsed(error="input.need_number")
    if (spec.minimum is not None and value < spec.minimum) or (
        spec.maximum is not None and value > spec.maximum
    ):
        return Parsed(error="input.number_out_of_range")
    return Parsed(int(value) if value.is_integer() else value)


def _phone(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    text = ascii_digits((inbound.text or "").strip())
    try:
        number = phonenumbers.parse(text, "IN")
    except phonenumbers.NumberParseException:
        return Parsed(error="input.need_phone")
    if not phonenumbers.is_valid_number(number):
        return Parsed(error="input.need_phone")
    return Parsed(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _consumer_number(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    text = re.sub(r"\s+", "", ascii_digits(inbound.text or "")).upper()
    pattern = spec.pattern or r"[A-Z0-9][A-Z0-9/-]{3,29}"
    if not re.fullmatch(pattern, text):
        return Parsed(error="input.need_consumer_number")
    return Parsed(text)


# Dates are read day first, the Indian way: 3/8/24 is 3 August 2024. A month may be
# named in any registered language, in full or short (babel's names), or with typos.
MONTH_SCORE = 80.0  # rapidfuzz ratio: अक्तूबर for अक्टूबर, "febuary", ਸਿਤੰਬਰ for ਸਤੰਬਰ
MIN_MONTH_PREFIX = 3  # "sep", "दिसं": the start of one month's name
_IGNORED_WORDS = frozenset({"st", "nd", "rd", "th", "of"})  # 3rd of August
_DIGIT_EDGE = re.compile(r"(?<=\d)(?=\D)|(?<=\D)(?=\d)")
_NUKTAS = dict.fromkeys(map(ord, "\u093c\u0a3c\u0b3c"))


def fold(text: str) -> str:
    """Text as typed answers are compared: ``normalize``d (case, punctuation), nuktas
    dropped (बाजार for बाज़ार) and a half म before ब written as the anusvara (सितम्बर)."""
    return normalize(text).translate(_NUKTAS).replace("म्ब", "ंब")


@cache
def _month_names() -> dict[str, int]:
    """Every month name of every registered locale (full and short, folded) -> 1..12."""
    names: dict[str, int] = {}
    for code in locale_codes():
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                for number, name in get_month_names(width, context, locale=code).items():
                    names.setdefault(fold(name), number)
    return names


def _month(word: str) -> int | None:
    """The month a word names: exactly, by its first letters, or with a typo."""
    names = _month_names()
    if word in names:
        return names[word]
    starting = {number for name, number in names.items() if name.startswith(word)}
    if len(word) >= MIN_MONTH_PREFIX and len(starting) == 1:
        return starting.pop()
    found = process.extract(word, names.keys(), scorer=fuzz.ratio, score_cutoff=MONTH_SCORE,
                            limit=None)
    months = {names[name] for name, _score, _index in found}
    return months.pop() if len(months) == 1 else None


def _year(digits: str) -> int | None:
    """A year of four digits, or of two (24 is 2024, 95 is 1995: never in the future)."""
    if len(digits) == 4:
        return int(digits)
    if len(digits) == 2:
        year = 2000 + int(digits)
        return year if year <= date.today().year else year - 100
    return None


def read_date(text: str) -> date | None:
    """A date written day first in any common form, or None: 03-08-2024, 3/8/24, 3.8.2024,
    03082024, 2024-08-03, 3 Aug 2024, Aug 3, 2024, 3rd of August 2024, 3 अगस्त 2024,
    ੩ ਅਗਸਤ ੨੦੨੪, ୩ ଅଗଷ୍ଟ ୨୦୨୪."""
    tokens = _DIGIT_EDGE.sub(" ", fold(ascii_digits(text))).split()
    numbers = [t for t in tokens if t.isdigit()]
    named = [t for t in tokens if not t.isdigit() and t not in _IGNORED_WORDS]
    if len(numbers) == 1 and len(numbers[0]) == 8 and not named:  # 03082024
        numbers = [numbers[0][:2], numbers[0][2:4], numbers[0][4:]]
    if named:  # a month by name, with the day and the year in either order
        month = _month(named[0]) if len(named) == 1 else None
        if month is None or len(numbers) != 2:
            return None
        day, year = numbers if len(numbers[0]) <= 2 else numbers[::-1]
    elif len(numbers) == 3:
        day, numeric_month, year = numbers[::-1] if len(numbers[0]) == 4 else numbers
        month = int(numeric_month)
    else:
        return None
    full_year = _year(year)
    if full_year is None:
        return None
    try:
        return date(full_year, month, int(day))
    except ValueError:
        return None


def _date(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    value = read_date(inbound.text or "")
    if value is None:
        return Parsed(error="input.need_date")
    if value > date.today():
        return Parsed(error="input.date_in_future")
    return Parsed(value.isoformat())


def _location(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    if inbound.location is None:
        return Parsed(error="input.need_location")
    return Parsed({"lat": inbound.location.lat, "lng": inbound.location.lng})


def _image(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    images = [m for m in inbound.media if m.content_type.startswith("image/")]
    if not images:
        return Parsed(error="input.need_photo")
    return Parsed([{"url": m.url, "content_type": m.content_type} for m in images[:3]])


def _yes_no(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    if inbound.option_id in ("yes", "no"):
        return Parsed(inbound.option_id)
    text = ascii_digits((inbound.text or "").strip().casefold()).rstrip(".!")
    if text in ("1", *words(locale, "words.yes")):
        return Parsed("yes")
    if text in ("2", *words(locale, "words.no")):
        return Parsed("no")
    return Parsed(error="input.need_yes_no")


Parser = Callable[[InputDef, Inbound, "str | None"], Parsed]

PARSERS: dict[str, Parser] = {
    "text": _text,
    "number": _number,
    "phone": _phone,
    "consumer_number": _consumer_number,
    "date": _date,
    "location": _location,
    "image": _image,
    "yes_no": _yes_no,
}

# Inputs that need a text message (others need a pin or a photo).
TEXT_INPUTS = frozenset({"choice", "text", "number", "phone", "consumer_number", "date",
                         "yes_no"})


def parse(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    """Parse a non-choice input; optional inputs accept the locale's skip words."""
    if spec.optional and is_skip(inbound.text, locale):
        return Parsed(None)
    return PARSERS[spec.type](spec, inbound, locale)
