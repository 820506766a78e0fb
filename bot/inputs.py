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
from typing import Any

import phonenumbers

from bot.flowspec import InputDef
from bot.i18n import words
from bot.messages import Inbound

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


_DATE_PATTERNS = (
    (re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$"), ("d", "m", "y")),
    (re.compile(r"^(\d{4})[./-](\d{1,2})[./-](\d{1,2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})\s+(\d{1,2})\s+(\d{4})$"), ("d", "m", "y")),
)


def _date(spec: InputDef, inbound: Inbound, locale: str | None) -> Parsed:
    text = ascii_digits((inbound.text or "").strip())
    for pattern, order in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            parts = dict(zip(order, (int(g) for g in match.groups()), strict=True))
            try:
                value = date(parts["y"], parts["m"], parts["d"])
            except ValueError:
                return Parsed(error="input.need_date")
            if value > date.today():
                return Parsed(error="input.date_in_future")
            return Parsed(value.isoformat())
    return Parsed(error="input.need_date")


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
