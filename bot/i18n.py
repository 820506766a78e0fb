"""Message catalogs and locale-aware formatting.

Every user-visible sentence has a symbolic message id (``menu.prompt``) and lives in
gettext catalogs ``locales/<locale>/LC_MESSAGES/samvad.po``; ``en_IN`` is the source.
Compiled ``.mo`` files are used when present and current, else the ``.po`` is read.
Amounts and dates are formatted by babel for the citizen's locale in Asia/Kolkata.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "samvad"
SOURCE_LOCALE = "en_IN"
LOCALES = ("en_IN", "hi_IN", "pa_IN", "or_IN")
LANG_CODES = {"en_IN": "en", "hi_IN": "hi", "pa_IN": "pa", "or_IN": "or"}
TIMEZONE = ZoneInfo("Asia/Kolkata")

_FIELDS = Formatter()


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders of a message."""
    return {name for _, name, _, _ in _FIELDS.parse(text) if name}


def catalog_path(locale: str, suffix: str = ".po") -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


@cache
def load_catalog(locale: str) -> dict[str, str]:
    """All translated messages of ``locale`` (empty strings dropped)."""
    po, mo = catalog_path(locale), catalog_path(locale, ".mo")
    if not po.exists() and not mo.exists():
        return {}
    catalog: Catalog
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            catalog = read_mo(handle)
    else:
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
    result: dict[str, str] = {}
    for message in catalog:
        if message.id and isinstance(message.id, str) and isinstance(message.string, str):
            if message.string:
                result[message.id] = message.string
    return result


def available_locales() -> tuple[str, ...]:
    """Locales that have a catalog on disk, in the product's order."""
    return tuple(locale for locale in LOCALES if load_catalog(locale))


def has_message(msgid: str, locale: str) -> bool:
    return msgid in load_catalog(locale)


def translate(locale: str | None, msgid: str, **params: Any) -> str:
    """The message in ``locale`` (falling back to English), with ``params`` filled in."""
    text = load_catalog(locale or SOURCE_LOCALE).get(msgid)
    if text is None:
        text = load_catalog(SOURCE_LOCALE).get(msgid, msgid)
    if params:
        try:
            return text.format_map(_Params(params))
        except (ValueError, IndexError):
            return text
    return text


class _Params(dict[str, Any]):
    """format_map mapping that leaves unknown placeholders visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def words(locale: str | None, msgid: str) -> list[str]:
    """A comma-separated word list message (global words, yes/no), in locale and English."""
    found: list[str] = []
    for loc in dict.fromkeys((locale or SOURCE_LOCALE, SOURCE_LOCALE)):
        text = load_catalog(loc).get(msgid, "")
        found.extend(unicodedata.normalize("NFC", w.strip()).casefold()
                     for w in text.split(",") if w.strip())
    return found


def lang(locale: str | None) -> str:
    """en / hi / pa / or for a locale."""
    return LANG_CODES.get(locale or SOURCE_LOCALE, "en")


def babel_locale(locale: str | None) -> str:
    return locale or SOURCE_LOCALE


def format_amount(amount: Decimal | str | float, locale: str | None) -> str:
    """₹1,23,456.00 in en_IN; the locale's own format elsewhere."""
    # Indian grouping (lakh, crore) everywhere: babel's Odia data groups by thousands.
    return format_currency(Decimal(str(amount)), "INR", format="¤#,##,##0.00",
                           locale=babel_locale(locale), currency_digits=False)


def format_number(value: int | Decimal, locale: str | None) -> str:
    return format_decimal(value, locale=babel_locale(locale))


def format_day(value: date | datetime | str, locale: str | None) -> str:
    """A date as the locale writes it (12 Apr 2019 / 12 अप्रैल 2019)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(TIMEZONE).date() if value.tzinfo else value.date()
    return format_date(value, format="medium", locale=babel_locale(locale))


def format_moment(value: datetime | str, locale: str | None) -> str:
    """A point in time in Asia/Kolkata (12 Apr 2019, 4:05 pm).

    The day and the clock come from babel; the am/pm marker comes from our catalogs
    (``format.time_am``/``format.time_pm``): it is the product's choice, not CLDR's, whose
    case and wording change between babel releases (2.19 writes en_IN "PM", 2.18 "pm").
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(TIMEZONE)
    day = format_date(local.date(), format="d MMM y", locale=babel_locale(locale))
    clock = format_time(local.time(), format="h:mm", locale=babel_locale(locale))
    half = "format.time_pm" if local.hour >= 12 else "format.time_am"
    return f"{day}, {translate(locale, half, time=clock)}"


_SCRIPTS = (
    ("hi_IN", re.compile(r"[\u0900-\u097F]")),
    ("pa_IN", re.compile(r"[\u0A00-\u0A7F]")),
    ("or_IN", re.compile(r"[\u0B00-\u0B7F]")),
)


def guess_locale(text: str | None) -> str | None:
    """The locale a text's script suggests: Devanagari -> hi_IN, Gurmukhi -> pa_IN, Odia."""
    if not text:
        return None
    for locale, pattern in _SCRIPTS:
        if pattern.search(text):
            return locale
    return None
